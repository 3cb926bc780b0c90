"""How fast the `artlens` command answers: `artlens --help` and `artlens info` on the bundled demo collection,
each run as a fresh process (what a user waits for), with the floor of a bare `python -c pass` beside them.

    .venv/bin/python bench/cli_startup.py [--runs 15] [--write]

The demo collection is built first when missing (build/demo-collection, as `scripts/demo` does). The
goal is under 0.5 s for both: heavy libraries load only in the commands that need them.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import machine, write_section  # noqa: E402

ARTLENS = Path(sys.executable).with_name("artlens")
COLLECTION = ROOT / "build" / "demo-collection"


def seconds(cmd: list[str], runs: int) -> tuple[float, float]:
    """(median, max) wall time of `runs` fresh processes, after one warm-up run (disk cache)."""
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--write", action="store_true", help="write the section of docs/benchmarks.md")
    args = ap.parse_args()
    if not (COLLECTION / "artlens.db").exists():
        subprocess.run([str(ARTLENS), "add", str(COLLECTION), str(ROOT / "demo" / "images"),
                        "--metadata", str(ROOT / "demo" / "labels.csv")], check=True, capture_output=True)
    rows = [
        ("python -c pass (the floor)", seconds([sys.executable, "-c", "pass"], args.runs)),
        ("artlens --help", seconds([str(ARTLENS), "--help"], args.runs)),
        ("artlens info build/demo-collection", seconds([str(ARTLENS), "info", str(COLLECTION)], args.runs)),
    ]
    lines = [
        "## CLI start-up",
        "",
        f"`bench/cli_startup.py` on {machine()}: wall time of a fresh process, median and worst of {args.runs} runs "
        "(goal: under 0.5 s for `--help` and `info`).",
        "",
        "| command | median | worst |",
        "| --- | --- | --- |",
        *(f"| `{name}` | {med:.2f} s | {worst:.2f} s |" for name, (med, worst) in rows),
    ]
    print("\n".join(lines))
    if args.write:
        write_section("cli-startup", "\n".join(lines))


if __name__ == "__main__":
    main()
