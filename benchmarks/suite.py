"""Every benchmark in one command: the tables and the chart of the performance page.

Runs ``serving.py`` (echo, handshakes, idle memory on uvicorn and daphne),
``fanout.py`` (in process, and across processes through Redis and
PostgreSQL) and ``fanout_sockets.py`` (over real sockets, on uvicorn, with
10 of the 1,000 subscribers stalled as well), then writes, into ``--output``
(``docs/benchmarks`` by default):

- ``results.md``: the tables, as Markdown;
- ``results.rst``: the same tables for the documentation (``docs/performance.rst``);
- ``results.json``: every median and ratio, for other programs;
- ``chart.png``: each stack's figures as ratios to bare ASGI (matplotlib);
- ``fanout_sockets.png``: the same for fan-out over sockets;

and prints the budget: each ratio the project promises, measured in this run,
with what it must be. A budget missed is reported, never asserted: the run
exits 0 as long as every measurement completed.

From the repository root, with the benchmark venv (``benchmarks/README.md``)::

    python benchmarks/suite.py            # the full run, about 13 minutes on 2 cores
    python benchmarks/suite.py --smoke    # every target and mode, tiny sizes, into a temp dir
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fanout_report
import serving

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "benchmarks"
#: fanout_sockets.py's targets in the suite: on uvicorn, ours through the
#: entry point, in one process and in two over Redis, and the others.
SOCKET_TARGETS = ["bare-uvicorn", "ours-view-uvicorn-entry", "ours-function-uvicorn-entry",
                  "ours-tutorial-uvicorn-entry", "ours-view-uvicorn-redis-workers2",
                  "django-socket-uvicorn", "channels-uvicorn"]  # fmt: skip
STALLED = 10  # of the 1,000 subscribers (smoke: 2 of 20)


@dataclass(frozen=True)
class Promise:
    """One line of the budget: *figure* of *target* against *reference*."""

    text: str
    source: str  # "serving", "fanout" or "sockets"
    target: str
    reference: str
    figure: str  # a serving figure, "rate" for fan-out, "stalled" or "lost" for sockets
    at_least: float | None = None  # the ratio target/reference must be at least this...
    at_most: float | None = None  # ...or at most this (memory)


def promises(memory_counts: list[int]) -> list[Promise]:
    found = [
        Promise("echo >= 0.93x bare", "serving", "ours-uvicorn", "bare-uvicorn", "echo", 0.93),
        Promise("echo, 8 in flight, >= 0.93x bare", "serving", "ours-uvicorn", "bare-uvicorn",
                "echo8", 0.93),
        Promise("echo on daphne >= 0.90x bare daphne", "serving", "ours-daphne", "bare-daphne",
                "echo", 0.90),
        Promise("echo, 8 in flight, on daphne >= 0.90x bare daphne", "serving", "ours-daphne",
                "bare-daphne", "echo8", 0.90),
        Promise("handshakes/s >= 0.85x bare", "serving", "ours-uvicorn", "bare-uvicorn",
                "handshake", 0.85),
    ]  # fmt: skip
    for count in memory_counts:
        found.append(
            Promise(f"memory per idle socket, {count:,} open, <= 1.15x bare", "serving",
                    "ours-uvicorn", "bare-uvicorn", f"memory{count}", at_most=1.15)
        )  # fmt: skip
    found += [
        Promise("fan-out in process >= 0.80x bare", "fanout", "ours-memory", "bare", "rate", 0.80),
        Promise("fan-out through Redis >= 10x channels_redis", "fanout", "ours-redis",
                "channels-redis", "rate", 10.0),
    ]  # fmt: skip
    # Ahead of Channels and django-socket on every figure, on the same server.
    for server in ("uvicorn", "daphne"):
        for other in ("channels", "django-socket"):
            for figure in ("echo", "echo8", "handshake"):
                found.append(
                    Promise(f"{figure} on {server}: ahead of {other}", "serving",
                            f"ours-{server}", f"{other}-{server}", figure, at_least=1.0)
                )  # fmt: skip
            for count in memory_counts:
                found.append(
                    Promise(f"memory, {count:,} open, on {server}: below {other}", "serving",
                            f"ours-{server}", f"{other}-{server}", f"memory{count}", at_most=1.0)
                )  # fmt: skip
    found.append(
        Promise("fan-out in process: ahead of Channels", "fanout", "ours-memory",
                "channels-memory", "rate", 1.0)
    )  # fmt: skip
    for target in ("ours-view-uvicorn-entry", "ours-tutorial-uvicorn-entry"):
        found += [
            Promise(f"fan-out over sockets, {target}, {STALLED} of 1,000 subscribers stalled: "
                    "the others' deliveries/s >= 0.90x all reading", "sockets", target, target,
                    "stalled", 0.90),
            Promise(f"fan-out over sockets, {target}, {STALLED} of 1,000 subscribers stalled: "
                    "messages lost to the others", "sockets", target, target, "lost", at_most=0),
        ]  # fmt: skip
    return found


def serving_ratio(document: dict[str, Any], promise: Promise) -> float | None:
    """The median of the per-round ratios of two serving targets, for one figure."""
    flat = serving.flatten(document["rounds"], argparse.Namespace(**document["args"]))
    return serving.median_ratio(flat, promise.target, promise.reference, promise.figure)


def fanout_ratio(document: dict[str, Any], promise: Promise) -> float | None:
    entry = document["summary"].get(promise.target)
    if entry is None:
        return None
    key = {"bare": "vs_bare", "channels-memory": "vs_channels_memory",
           "channels-redis": "vs_channels_redis"}[promise.reference]  # fmt: skip
    value = entry.get(key)
    return float(value) if value is not None else None


def sockets_figure(document: dict[str, Any], promise: Promise) -> float | None:
    """With stalled subscribers: the readers' ratio to all reading, or the messages lost."""
    stalled = document["summary"].get(promise.target, {}).get("stalled")
    if stalled is None:
        return None
    value = stalled["vs_all_reading"] if promise.figure == "stalled" else stalled["lost"]
    return float(value) if value is not None else None


def budget(
    serving_doc: dict[str, Any],
    fanout_doc: dict[str, Any],
    sockets_doc: dict[str, Any],
    memory_counts: list[int],
) -> list[str]:
    lines = ["| promise | measured | verdict |", "|---|---:|---|"]
    for promise in promises(memory_counts):
        if promise.source == "serving":
            value = serving_ratio(serving_doc, promise)
        elif promise.source == "fanout":
            value = fanout_ratio(fanout_doc, promise)
        else:
            value = sockets_figure(sockets_doc, promise)
        if value is None:
            verdict = "not measured"
        elif promise.at_least is not None:
            verdict = "met" if value >= promise.at_least else "**MISSED**"
        else:
            assert promise.at_most is not None
            verdict = "met" if value <= promise.at_most else "**MISSED**"
        shown = "-" if value is None else f"{value:.3f}x"
        if value is not None and promise.figure == "lost":
            shown = f"{value:,.0f}"
        lines.append(f"| {promise.text} | {shown} | {verdict} |")
    return lines


def chart(serving_doc: dict[str, Any], fanout_doc: dict[str, Any], path: Path) -> None:
    """Grouped bars: each stack's figures as a ratio to bare ASGI on the same server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = serving_doc["summary"]
    memory = [f"memory{c}" for c in serving_doc["args"]["memory_counts"]]
    figures = ["echo", "echo8", "handshake", *memory]
    names = {"echo": "echo", "echo8": "echo,\n8 in flight", "handshake": "handshakes"}
    for count, figure in zip(serving_doc["args"]["memory_counts"], memory, strict=True):
        names[figure] = f"idle sockets\nper MiB, {count:,}"
    stacks = [("ours", "django-asgi-ws"), ("django-socket", "django-socket"),
              ("channels", "Channels 4")]  # fmt: skip
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), width_ratios=[len(figures), len(figures), 2])
    tallest = 1.0
    for axis, server in zip(axes[:2], ("uvicorn", "daphne"), strict=True):
        width = 0.8 / len(stacks)
        for index, (stack, label) in enumerate(stacks):
            entry = summary.get(f"{stack}-{server}")
            heights = []
            for figure in figures:
                row = entry["figures"].get(figure) if entry else None
                ratio = row["vs_bare"] if row else None
                # Memory: fewer bytes is better, so plot sockets per MiB, as a ratio.
                if ratio and figure.startswith("memory"):
                    ratio = 1 / ratio
                heights.append(ratio or 0)
            tallest = max(tallest, *heights)
            positions = [i + (index - 1) * width for i in range(len(figures))]
            axis.bar(positions, heights, width, label=label)
        axis.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        axis.set_xticks(range(len(figures)), [names[f] for f in figures], fontsize=8)
        axis.set_title(
            f"on {server}: ratio to bare ASGI on {server} (higher is better)", fontsize=9
        )
    for axis in axes[:2]:
        axis.set_ylim(0, max(1.3, tallest * 1.1))
    fan = fanout_doc["summary"]
    keys = [("ours-memory", "django-asgi-ws"), ("channels-memory", "Channels 4")]
    axes[2].bar([label for _, label in keys], [fan.get(k, {}).get("vs_bare") or 0 for k, _ in keys],
                color=["C0", "C2"])  # fmt: skip
    axes[2].axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    axes[2].set_title("fan-out to 1,000 subscribers in process:\nratio to bare asyncio", fontsize=9)
    axes[2].tick_params(axis="x", labelsize=8)
    axes[0].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown_to_rst(lines: list[str]) -> list[str]:
    """Markdown headings and tables as reStructuredText (csv-table), for Sphinx."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if not table:
            return
        out.extend([".. csv-table::", "   :header-rows: 1", ""])
        for row in table:
            cells = ['"' + cell.replace('"', '""') + '"' for cell in row]
            out.append("   " + ",".join(cells))
        out.append("")
        table.clear()

    for line in lines:
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(set(cell) <= set("-:") for cell in cells):
                table.append(cells)
            continue
        flush()
        if line.startswith("## "):
            title = line[3:]
            out.extend([title, "-" * len(title)])
        else:
            out.append(line)
    flush()
    return out


def run_fanout(smoke: bool, json_path: Path) -> None:
    command = [sys.executable, str(HERE / "fanout.py"), "--json", str(json_path)]
    if smoke:
        command.append("--smoke")
    subprocess.run(command, check=True, cwd=HERE.parent)


def run_fanout_sockets(smoke: bool, json_path: Path, chart_path: Path) -> None:
    command = [sys.executable, str(HERE / "fanout_sockets.py"), "--json", str(json_path),
               "--chart", str(chart_path), "--targets", *SOCKET_TARGETS,
               "--stalled", str(2 if smoke else STALLED)]  # fmt: skip
    if smoke:
        command.append("--smoke")
    subprocess.run(command, check=True, cwd=HERE.parent)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, into a temporary dir")
    parser.add_argument("--output", type=Path, help=f"default {DOCS} (smoke: a temporary dir)")
    args = parser.parse_args(argv)
    output = args.output or (Path(tempfile.mkdtemp(prefix="bench-")) if args.smoke else DOCS)
    output.mkdir(parents=True, exist_ok=True)

    serving_json = output / "serving.json"
    status = serving.main([*(["--smoke"] if args.smoke else []), "--json", str(serving_json)])
    fanout_json = output / "fanout.json"
    run_fanout(args.smoke, fanout_json)
    serving_doc = json.loads(serving_json.read_text())
    fanout_doc = json.loads(fanout_json.read_text())
    sockets_json = output / "fanout_sockets.json"
    run_fanout_sockets(args.smoke, sockets_json, output / "fanout_sockets.png")
    sockets_doc = json.loads(sockets_json.read_text())
    memory_counts = serving_doc["args"]["memory_counts"]

    tables = [
        "## Serving",
        "",
        *serving.table(serving_doc["summary"], argparse.Namespace(**serving_doc["args"])),
        "",
        "## Fan-out",
        "",
        fanout_doc["header"],
        "",
        "| target | deliveries/s | p50 ms | p99 ms | vs bare | vs Channels in-memory "
        "| vs channels_redis |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for entry in fanout_doc["summary"].values():
        ratios = [entry["vs_bare"], entry["vs_channels_memory"], entry["vs_channels_redis"]]
        cells = " | ".join("-" if r is None else f"{r:.2f}x" for r in ratios)
        tables.append(
            f"| {entry['label']} | {entry['rate']:,.0f}{' ⚠' if entry['lossy'] else ''} "
            f"| {entry['p50_ms']:.2f} | {entry['p99_ms']:.2f} | {cells} |"
        )
    sockets_summary = sockets_doc["summary"]
    stalled = fanout_report.stalled_table(sockets_summary, sockets_doc["args"]["subscribers"])
    tables += ["", "## Fan-out over sockets", "", sockets_doc["header"], "",
               *fanout_report.table(sockets_summary), "", sockets_doc["stalled_header"], "",
               *stalled]  # fmt: skip
    verdicts = budget(serving_doc, fanout_doc, sockets_doc, memory_counts)
    lines = [*tables, "", "## Budget", "", *verdicts]
    (output / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rst = [".. Written by benchmarks/suite.py: edit that, not this.", "", *markdown_to_rst(lines)]
    (output / "results.rst").write_text("\n".join(rst) + "\n", encoding="utf-8")
    combined = {"serving": serving_doc["summary"], "fanout": fanout_doc["summary"],
                "fanout_sockets": sockets_summary}  # fmt: skip
    (output / "results.json").write_text(json.dumps(combined, indent=1), encoding="utf-8")
    for used in (serving_json, fanout_json, sockets_json):
        used.unlink()
    chart(serving_doc, fanout_doc, output / "chart.png")
    print("\n".join(lines))
    print(f"\nWritten to {output}: results.md, results.rst, results.json, chart.png, "
          "fanout_sockets.png")  # fmt: skip
    return status


if __name__ == "__main__":
    sys.exit(main())
