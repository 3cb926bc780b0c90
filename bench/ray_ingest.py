"""Ray ingest overhead: `add --ray` on a local Ray cluster against a plain `add`, on the same files in one run.

    .venv/bin/python bench/ray_ingest.py [--images 1000] [--camera] [--write]

Both add the same WikiArt paintings into new collections (catalog commits and the index build included),
alternately plain / Ray / plain / Ray, so machine-load drifts touch both alike; the ratio is of the median
rates. The Ray cluster is started here (`ray start --head` on 127.0.0.1 with one CPU per core) and its
start-up is not counted: a cluster outlives one add. Each Ray worker holds one single-thread model session,
as each of the plain add's worker threads does. Goal (issue 16): Ray at least 0.85 of plain `add` on one
machine. --camera adds camera-size files (bench/ingest_throughput.py makes them) instead of the 224 px ones.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from artlens import Collection  # noqa: E402
from artlens.machine import usable_cores  # noqa: E402
from bench.report import machine, write_section  # noqa: E402

WIKIART = Path(__file__).resolve().parents[2] / "shared" / "data" / "wikiart"
RAY = Path(sys.executable).parent / "ray"


def start_cluster(temp: Path) -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", f"--num-cpus={usable_cores()}",
                    "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                   check=True, capture_output=True, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}, timeout=300)
    return f"127.0.0.1:{port}"


def one_add(files: list[Path], work: Path, ray: str | None) -> float:
    """Images per second of one add of `files` into a new collection."""
    directory = work / f"col-{time.monotonic_ns()}"
    start = time.perf_counter()
    with Collection.create(directory) as col:
        report = col.add(files, ray=ray)
    seconds = time.perf_counter() - start
    assert report.added == len(files), report
    shutil.rmtree(directory)
    return len(files) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="plain/Ray pairs")
    parser.add_argument("--camera", action="store_true", help="camera-size files instead of the 224 px paintings")
    parser.add_argument("--write", action="store_true", help="write the section of docs/benchmarks.md")
    args = parser.parse_args()
    with open(WIKIART / "labels.csv", newline="", encoding="utf-8") as f:
        files = [WIKIART / row["image"] for row in csv.DictReader(f)][: args.images]
    if args.camera:
        from bench.ingest_throughput import camera_files

        files = camera_files(files)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        address = start_cluster(work / "ray")
        try:
            one_add(files[:64], work, address)  # workers' first model load, outside the timing
            plain, on_ray = [], []
            for r in range(args.rounds):
                plain.append(one_add(files, work, None))
                on_ray.append(one_add(files, work, address))
                print(f"round {r + 1}: plain {plain[-1]:.1f} images/s, Ray {on_ray[-1]:.1f} images/s", flush=True)
        finally:
            import ray

            ray.shutdown()  # leave the cluster before it stops (else its raylet's last log lines land here)
            subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120)
    ratio = statistics.median(on_ray) / statistics.median(plain)
    kind = "camera-size (3000 x 2400 px) JPEGs" if args.camera else "WikiArt paintings (224 px JPEGs)"
    body = (f"## Ray ingest overhead (`bench/ray_ingest.py`)\n\n"
            f"{machine()}; {len(files)} {kind}, `add` into a new collection (commits and index build included), "
            f"plain and on a local Ray cluster ({usable_cores()} worker CPUs on 127.0.0.1) alternately, {args.rounds} rounds each.\n\n"
            f"| | images/s (median) | runs |\n| --- | --- | --- |\n"
            f"| plain `add` | {statistics.median(plain):.1f} | {', '.join(f'{x:.1f}' for x in plain)} |\n"
            f"| `add --ray` | {statistics.median(on_ray):.1f} | {', '.join(f'{x:.1f}' for x in on_ray)} |\n\n"
            f"Ray / plain: **{ratio:.2f}** (goal: at least 0.85).\n")
    print(body)
    if args.write:
        write_section("ray-ingest" + ("-camera" if args.camera else ""), body)


if __name__ == "__main__":
    main()
