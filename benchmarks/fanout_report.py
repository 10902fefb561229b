"""The summary, tables and chart of ``fanout_sockets.py``, from its rounds.

A round is ``{key: result}``; a target measured with stalled subscribers as
well has a second key, :func:`stalled_key`, measured in the same round by a
server of its own. Ratios are medians of per-round ratios: to bare ASGI on
the same server, and for a stalled measurement to the same target with every
subscriber reading.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

FLAGS = ("lost", "duplicates", "closed")


def stalled_key(key: str, stalled: int) -> str:
    return f"{key}-stalled{stalled}"


def median_of(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def ratios(rounds: list[dict[str, Any]], key: str, reference: str) -> float | None:
    """The median of the per-round ratios of *key*'s rate to *reference*'s."""
    found = [r[key]["rate"] / r[reference]["rate"] for r in rounds
             if key in r and r.get(reference, {}).get("rate")]  # fmt: skip
    return median_of(found)


def figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and totals of one key's results, one per round."""
    return {
        "rates": [m["rate"] for m in results],
        "median": statistics.median(m["rate"] for m in results),
        **{name: median_of([m.get(name) for m in results])
           for name in ("p50_ms", "p99_ms", "cpu_us", "gc_share", "gc_longest_ms")},
        "lost": sum(m["lost"] for m in results),
        "duplicates": sum(m["duplicates"] for m in results),
        "closed": max(m["closed"] for m in results),  # a count since the start
    }  # fmt: skip


def summarize(
    rounds: list[dict[str, Any]], targets: list[tuple[str, str]], stalled: int
) -> dict[str, Any]:
    """Per target key (with its server): its figures, and those with *stalled* subscribers."""
    summary: dict[str, Any] = {}
    for key, server in targets:
        mine = [r[key] for r in rounds if key in r]
        if not mine:
            continue
        row = summary[key] = {"server": server, **figures(mine)}
        row["vs_bare"] = ratios(rounds, key, f"bare-{server}")
        twin = stalled_key(key, stalled)
        if stalled and (theirs := [r[twin] for r in rounds if twin in r]):
            row["stalled"] = {
                "count": stalled,
                **figures(theirs),
                "vs_all_reading": ratios(rounds, twin, key),
                "vs_bare": ratios(rounds, twin, f"bare-{server}"),
                "held": min(m.get("stalled_held", 0) for m in theirs),
                "kib": median_of([m.get("stalled_kib") for m in theirs]),
            }
    return summary


def problems(row: dict[str, Any]) -> str:
    return ", ".join(f"{row[flag]:,} {flag}" for flag in FLAGS if row[flag])


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def table(summary: dict[str, Any]) -> list[str]:
    lines = [
        "| target | deliveries/s (each round) | vs bare | p50 | p99 | server CPU µs/delivery "
        "| collector: share, longest pause |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for key, row in summary.items():
        rounds = ", ".join(f"{rate:,.0f}" for rate in row["rates"])
        if found := problems(row):
            notes.append(f"⚠ {key}: {found}")
        ratio = "-" if row["vs_bare"] is None else f"{row['vs_bare']:.2f}x"
        cpu = "-" if row["cpu_us"] is None else f"{row['cpu_us']:.1f}"
        collector = "-"
        if row.get("gc_share") is not None:
            collector = f"{row['gc_share']:.1%}, {ms(row['gc_longest_ms'])}"
        lines.append(f"| {key} | {row['median']:,.0f}{' ⚠' if found else ''} ({rounds}) | "
                     f"{ratio} | {ms(row['p50_ms'])} | {ms(row['p99_ms'])} | {cpu} "
                     f"| {collector} |")  # fmt: skip
    return lines + (["", *notes] if notes else [])


def stalled_table(summary: dict[str, Any], subscribers: int) -> list[str]:
    """Readers' deliveries/s with and without stalled subscribers, and what was lost."""
    rows = {key: row for key, row in summary.items() if "stalled" in row}
    if not rows:
        return []
    count = next(iter(rows.values()))["stalled"]["count"]
    lines = [
        f"| target | all {subscribers:,} reading | {count:,} stalled: the other "
        f"{subscribers - count:,} (each round) | ratio | lost to readers | p99 all / stalled "
        "| stalled held by the server | KiB in their kernel buffers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for key, row in rows.items():
        twin = row["stalled"]
        rounds = ", ".join(f"{rate:,.0f}" for rate in twin["rates"])
        if found := problems(twin):
            notes.append(f"⚠ {key} with {count} stalled: {found}")
        ratio = "-" if twin["vs_all_reading"] is None else f"{twin['vs_all_reading']:.2f}x"
        kib = "-" if twin["kib"] is None else f"{twin['kib']:,.0f}"
        lines.append(
            f"| {key} | {row['median']:,.0f} | {twin['median']:,.0f}{' ⚠' if found else ''} "
            f"({rounds}) | {ratio} | {twin['lost']:,} | {ms(row['p99_ms'])} / "
            f"{ms(twin['p99_ms'])} | {twin['held']:,} of {count:,} | {kib} |"
        )
    return lines + (["", *notes] if notes else [])


def chart(summary: dict[str, Any], path: Path, title: str) -> None:
    """Horizontal bars per server: each target's deliveries/s as a ratio to bare ASGI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = [s for s in ("uvicorn", "daphne") if any(r["server"] == s for r in summary.values())]
    if not servers:
        return
    per_server = {s: [(k, r) for k, r in summary.items() if r["server"] == s] for s in servers}
    tallest = max(len(rows) for rows in per_server.values())
    stalled = any("stalled" in row for row in summary.values())
    fig, axes = plt.subplots(1, len(servers), figsize=(7 * len(servers), 1.2 + 0.42 * tallest),
                             squeeze=False)  # fmt: skip
    widest = 1.0
    for axis, server in zip(axes[0], servers, strict=True):
        rows = per_server[server]
        height = 0.4 if stalled else 0.7
        positions = [float(index) for index in range(len(rows))]
        series = [("every subscriber reading", [row["vs_bare"] for _, row in rows])]
        if stalled:
            count = next(r["stalled"]["count"] for r in summary.values() if "stalled" in r)
            series.append((f"{count:,} stalled: deliveries/s to the others",
                           [row.get("stalled", {}).get("vs_bare") for _, row in rows]))  # fmt: skip
        for index, (label, values) in enumerate(series):
            bars = axis.barh([p + index * height for p in positions],
                             [value or 0 for value in values], height, label=label,
                             color=f"C{index}")  # fmt: skip
            names = ["" if value is None else f"{value:.2f}x" for value in values]
            axis.bar_label(bars, names, padding=2, fontsize=7)
            widest = max(widest, *(value or 0 for value in values))
        axis.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
        labels = [key.replace(f"-{server}", "") for key, _ in rows]
        middle = height / 2 if stalled else 0
        axis.set_yticks([p + middle for p in positions], labels, fontsize=8)
        axis.invert_yaxis()
        axis.set_title(f"on {server}: deliveries/s, ratio to bare ASGI on {server}", fontsize=9)
    for axis in axes[0]:
        axis.set_xlim(0, widest * 1.15)
    fig.suptitle(title, fontsize=10)
    legend = 0.0  # the height of the legend under the bars, as a fraction of the figure's
    if stalled:
        fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=2,
                   fontsize=8)  # fmt: skip
        legend = 0.4 / fig.get_figheight()
    fig.tight_layout(rect=(0, legend, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
