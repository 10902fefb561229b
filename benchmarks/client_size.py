"""What the JavaScript client weighs: raw, minified and gzipped, against its budget.

Prints, for each file a page loads (``client.js`` as a classic script, and
``client.mjs`` on top of it as an ES module), its size as shipped, gzipped
(what a server that compresses sends), minified by terser, and minified then
gzipped, with the budget of the last figure for the two files together: 5 KB
(5,120 bytes). A budget missed is reported, never asserted: the run exits 0.

terser runs through ``npx --yes terser@5`` (Node.js and the npm registry, or
npm's cache); without ``npx``, or with ``--no-minify``, the minified figures are
left out. gzip is Python's, at level 9.

From the repository root, with any Python 3.10+ (no dependency)::

    python benchmarks/client_size.py
    python benchmarks/client_size.py --no-minify    # raw and gzipped only, offline
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
import sys
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "django_asgi_ws" / "static" / "django_asgi_ws"
FILES = ["client.js", "client.mjs"]
BUDGET = 5 * 1024  # minified and gzipped, both files
TERSER = ["npx", "--yes", "terser@5", "--compress", "--mangle", "--ecma", "2020"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-minify", action="store_true", help="do not run terser")
    return parser.parse_args()


def gzipped(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def minify(path: Path) -> bytes:
    """*path* minified by terser; modules are parsed as modules."""
    argv = [*TERSER, *(["--module"] if path.suffix == ".mjs" else []), str(path)]
    result = subprocess.run(argv, capture_output=True, check=False, timeout=300)
    if result.returncode != 0:
        sys.exit(f"terser failed on {path.name}:\n{result.stderr.decode(errors='replace')}")
    return result.stdout


def main() -> None:
    args = parse_args()
    minifying = not args.no_minify and shutil.which("npx") is not None
    if not args.no_minify and not minifying:
        print("npx not found: minified sizes left out (install Node.js to get them).")
    header = f"{'file':<12} {'raw':>8} {'raw+gzip':>9}"
    print(header + (f" {'minified':>9} {'min+gzip':>9}" if minifying else ""))
    total = 0
    for name in FILES:
        source = (STATIC / name).read_bytes()
        line = f"{name:<12} {len(source):>8,} {gzipped(source):>9,}"
        if minifying:
            small = minify(STATIC / name)
            total += gzipped(small)
            line += f" {len(small):>9,} {gzipped(small):>9,}"
        print(line)
    if minifying:
        verdict = "met" if total <= BUDGET else "MISSED"
        print(f"\nbudget: minified and gzipped {total:,} bytes, at most {BUDGET:,}: {verdict}")


if __name__ == "__main__":
    main()
