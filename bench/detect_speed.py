"""Face and person detection speed, and what `add --detect` costs next to `add`, as ratios measured in one run.

    .venv/bin/python bench/detect_speed.py [--images 300] [--write]

Data: People-Art works (../shared/data/peopleart, about 500 px, paintings with people). Detection
images/s: the works decoded as `detect` decodes them (up to 1,024 px) once, then each detector on all
cores (one single-thread detector shared by the workers, as `detect` runs). Cost: the same files added
to a new collection, then detected (both detectors, and every region's crop embedded for search by
region), timed in the same run: (add + detect) / add.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from artlens import Collection  # noqa: E402
from artlens.features.faces import FaceDetector  # noqa: E402
from artlens.features.images import load_image  # noqa: E402
from artlens.features.people import PersonDetector  # noqa: E402
from artlens.machine import usable_cores  # noqa: E402
from artlens.pipeline.detect import DETECT_SIDE  # noqa: E402
from bench.report import machine, write_section  # noqa: E402

PEOPLEART = Path(__file__).resolve().parents[2] / "shared" / "data" / "peopleart"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--write", action="store_true", help="write the result to docs/benchmarks.md")
    args = ap.parse_args()
    with open(PEOPLEART / "labels.csv", newline="", encoding="utf-8") as f:
        files = [PEOPLEART / r["image"] for r in csv.DictReader(f)][: args.images]
    images = [load_image(p, max_side=DETECT_SIDE).rgb for p in files]
    workers = usable_cores()
    rates, found = {}, {}
    for kind, detector in (("faces", FaceDetector()), ("people", PersonDetector())):  # each shared by the workers, as `detect` shares it
        detector.detect(images[0])  # sessions warm
        with ThreadPoolExecutor(max_workers=workers) as pool:
            start = time.perf_counter()
            found[kind] = sum(len(f) for f in pool.map(detector.detect, images))
            rates[kind] = len(images) / (time.perf_counter() - start)

    work = Path(tempfile.mkdtemp(prefix="artlens-detect-bench-"))
    try:
        col = Collection.create(work / "col")
        start = time.perf_counter()
        col.add(files)
        add_seconds = time.perf_counter() - start
        start = time.perf_counter()
        report = col.detect()
        detect_seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join([
        "## Face and person detection", "",
        f"`bench/detect_speed.py --images {len(files)}` on {machine()}: People-Art works, decoded at up to {DETECT_SIDE} px.", "",
        "| measure | value |", "|---|---|",
        f"| face detection alone ({workers} workers, decoded images in memory) | **{rates['faces']:.1f} images/s** (aim: 20), "
        f"{found['faces']} faces |",
        f"| person detection alone (same; mirror pass included) | **{rates['people']:.1f} images/s** (aim: 20), "
        f"{found['people']} boxes above the score floor |",
        f"| `add` of the same files | {len(files) / add_seconds:.1f} images/s ({add_seconds:.1f} s) |",
        f"| `detect` after it (decoding again, both detectors, {report.embedded} region crops embedded) | "
        f"{len(files) / detect_seconds:.1f} images/s ({detect_seconds:.1f} s) |",
        f"| **`add --detect` / `add` time** | **{(add_seconds + detect_seconds) / add_seconds:.2f}x** |",
    ])
    print(text)
    if args.write:
        print(f"written to {write_section('detect-speed', text)}")


if __name__ == "__main__":
    main()
