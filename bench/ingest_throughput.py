"""Ingest throughput: `add` end to end, as a share of what the model alone manages in the same run.

    .venv/bin/python bench/ingest_throughput.py [--images 1000] [--camera 300] [--backbone lite0] [--write]

Two kinds of file: the WikiArt paintings as shared (224 px JPEG, small enough to flatter decoding)
and camera-size files made from them (3000 x 2400 px JPEG of about 0.6 MB: upscaled, with grain so
the entropy-coded data is as dense as a real photo's; made once and kept under /tmp).

End to end = scan, decode, hash (sha256, pixel hash, pHash), thumbnail, colour features, the
backbone, catalog commits, then fitting the facet transforms and building every index. Model only
= ONNX Runtime on the same images, already decoded and resized, in batches of the same size, in
the better of two set-ups: one session using every core (intra-op threads), or one single-thread
session per core working on separate batches (what `add` does). Each kind's model-only rate is
measured just before and just after its ingest and averaged, so machine load drifts affect both
sides alike. Goal: ratio >= 0.8 for both kinds.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from artlens import Collection  # noqa: E402
from artlens.features.backbone import (
    BACKBONES,  # noqa: E402
    Backbone,  # noqa: E402
)
from artlens.features.embed import WORKING_SIDE, model_input  # noqa: E402
from artlens.features.facets import color_features  # noqa: E402
from artlens.features.images import load_image  # noqa: E402
from artlens.machine import usable_cores  # noqa: E402
from artlens.pipeline.ingest import BATCH_SIZE  # noqa: E402
from artlens.vocabulary import DEFAULT_BACKBONE  # noqa: E402
from bench.report import machine, write_section  # noqa: E402

WIKIART = Path(__file__).resolve().parents[2] / "shared" / "data" / "wikiart"

# Camera-size files: size, grain (std of grey noise, in 8-bit levels) and JPEG quality chosen so a
# file is about 0.6 MB, like a typical 7 Mpx camera JPEG.
CAMERA_SIZE = (3000, 2400)
CAMERA_GRAIN = 4.0
CAMERA_QUALITY = 75
CAMERA_CACHE = Path(tempfile.gettempdir()) / f"artlens-bench-camera-{CAMERA_SIZE[0]}x{CAMERA_SIZE[1]}-g{CAMERA_GRAIN:g}-q{CAMERA_QUALITY}"


def cpu_seconds() -> float:
    """CPU time of this process, all threads: with wall time it says how busy the cores were."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def camera_file(painting: Path, target: Path, seed: int) -> Path:
    """One camera-size JPEG from a painting: upscaled, grain added (written whole or not at all)."""
    if target.exists():
        return target
    big = Image.open(painting).convert("RGB").resize(CAMERA_SIZE, Image.Resampling.BICUBIC)
    grain = np.random.default_rng(seed).normal(0.0, CAMERA_GRAIN, (CAMERA_SIZE[1], CAMERA_SIZE[0], 1))
    pixels = np.clip(np.asarray(big, dtype=np.float32) + grain.astype(np.float32), 0, 255).astype(np.uint8)
    partial = target.with_suffix(".part")
    Image.fromarray(pixels).save(partial, "JPEG", quality=CAMERA_QUALITY)
    os.replace(partial, target)
    return target


def camera_files(paintings: list[Path]) -> list[Path]:
    """Camera-size versions of `paintings`, made once and kept in CAMERA_CACHE for later runs."""
    CAMERA_CACHE.mkdir(exist_ok=True)
    jobs = [(p, CAMERA_CACHE / f"{i:04d}.jpg", i) for i, p in enumerate(paintings)]
    with ThreadPoolExecutor(usable_cores()) as pool:
        return list(pool.map(lambda job: camera_file(*job), jobs))


def decode_floor_ms(files: list[Path]) -> float:
    """ms per file to decode at libjpeg's smallest scale (1/8): the entropy-coded data is still read
    whole, so no decoder of these files does less. One thread."""
    start = time.perf_counter()
    for f in files:
        with Image.open(f) as im:
            im.draft("RGB", (1, 1))
            im.load()
    return (time.perf_counter() - start) / len(files) * 1000


def model_only_rate(backbone: Backbone, inputs: np.ndarray, workers: int = 1) -> tuple[float, float]:
    """(images/s, CPU core-ms per image) of the backbone alone, batches spread over `workers` threads."""
    batches = [inputs[i : i + BATCH_SIZE] for i in range(0, len(inputs), BATCH_SIZE)]
    start, cpu = time.perf_counter(), cpu_seconds()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(backbone.run, batches))
    return len(inputs) / (time.perf_counter() - start), (cpu_seconds() - cpu) / len(inputs) * 1000


def best_model_only(per_core: Backbone, all_cores: Backbone, inputs: np.ndarray) -> tuple[float, float, str]:
    """The faster of the two ways to run the model alone: (images/s, core-ms per image, which)."""
    runs = {
        f"1 session x {usable_cores()} threads": model_only_rate(all_cores, inputs),
        f"{usable_cores()} sessions x 1 thread": model_only_rate(per_core, inputs, usable_cores()),
    }
    name = max(runs, key=lambda k: runs[k][0])
    return (*runs[name], name)


@dataclass
class Result:
    """One kind of file, measured: model only around `add`, and `add` itself."""

    files: int
    mb_per_file: float
    decode_ms: float  # load_image alone, one thread, per file
    floor_ms: float  # PIL's decode alone at 1/8 scale, one thread, per file
    model: float  # images/s, mean of before and after
    model_runs: str  # the two model-only runs, for the table
    model_cpu: float  # core-ms per image
    ingest: float  # images/s end to end
    ingest_cpu: float
    build_s: float

    @property
    def ratio(self) -> float:
        return self.ingest / self.model

    @property
    def ceiling(self) -> float:
        """The ratio if `add` spent nothing besides the model but the least decode (both in core-ms per image)."""
        return self.model_cpu / (self.model_cpu + self.floor_ms)


def measure(files: list[Path], backbone: Backbone, all_cores: Backbone, work: Path) -> Result:
    """Model only, then `add` of `files` into a new collection, then model only again."""
    start = time.perf_counter()
    inputs = np.stack([model_input(load_image(f, max_side=WORKING_SIDE).rgb, backbone) for f in files])
    decode_ms = (time.perf_counter() - start) / len(files) * 1000
    before, cpu_before, how_before = best_model_only(backbone, all_cores, inputs)
    col = Collection.create(work, backbone=backbone.name)
    col._backbone = backbone  # the same loaded session, so start-up is not counted against ingest
    start, cpu = time.perf_counter(), cpu_seconds()
    report = col.add(files)
    ingest_s = time.perf_counter() - start
    ingest_cpu = (cpu_seconds() - cpu) / len(files) * 1000
    col.close()
    if report.failed or report.added != len(files):
        raise SystemExit(f"ingest did not add every image: {report.as_dict()}")
    after, cpu_after, how_after = best_model_only(backbone, all_cores, inputs)
    return Result(
        files=len(files),
        mb_per_file=sum(f.stat().st_size for f in files) / len(files) / 1e6,
        decode_ms=decode_ms,
        floor_ms=decode_floor_ms(files),
        model=(before + after) / 2,
        model_runs=f"before {before:.1f}: {how_before}; after {after:.1f}: {how_after}",
        model_cpu=(cpu_before + cpu_after) / 2,
        ingest=len(files) / ingest_s,
        ingest_cpu=ingest_cpu,
        build_s=ingest_s - report.seconds,
    )


def table(args: argparse.Namespace, small: Result, camera: Result) -> str:
    w, h = CAMERA_SIZE
    rows = [
        ("files", f"{small.files} WikiArt paintings, 224 px, {small.mb_per_file * 1000:.0f} kB",
         f"{camera.files} of them at {w} x {h} px with grain, {camera.mb_per_file:.2f} MB"),
        ("`load_image` alone (one thread)", f"{small.decode_ms:.1f} ms per file", f"{camera.decode_ms:.1f} ms per file"),
        ("of which the least any decode costs (PIL at 1/8 scale)", f"{small.floor_ms:.1f} ms", f"{camera.floor_ms:.1f} ms"),
        (f"model only (ONNX Runtime, batches of {BATCH_SIZE}, the faster set-up)",
         f"{small.model:.1f} images/s ({small.model_runs})", f"{camera.model:.1f} images/s ({camera.model_runs})"),
        ("`add` end to end (decode, hashes, thumbnail, colour, model, commits, transforms, indexes)",
         f"{small.ingest:.1f} images/s", f"{camera.ingest:.1f} images/s"),
        ("of which fitting transforms and building indexes", f"{small.build_s:.1f} s", f"{camera.build_s:.1f} s"),
        ("**ratio end to end / model only** (goal >= 0.8)", f"**{small.ratio:.2f}**", f"**{camera.ratio:.2f}**"),
        ("ceiling: the ratio if `add` did nothing but the least decode besides the model",
         f"{small.ceiling:.2f}", f"{camera.ceiling:.2f}"),
        ("CPU per image, model only", f"{small.model_cpu:.1f} core-ms", f"{camera.model_cpu:.1f} core-ms"),
        ("CPU per image, `add` end to end", f"{small.ingest_cpu:.1f} core-ms", f"{camera.ingest_cpu:.1f} core-ms"),
    ]
    return "\n".join([
        f"`bench/ingest_throughput.py --images {small.files} --camera {camera.files} --backbone {args.backbone}` on {machine()}.",
        "",
        "| measure | WikiArt files | camera-size files |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000, help="WikiArt files (224 px)")
    ap.add_argument("--camera", type=int, default=300, help="camera-size files made from the first WikiArt files")
    ap.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=list(BACKBONES))
    ap.add_argument("--write", action="store_true", help="write the result to docs/benchmarks.md")
    args = ap.parse_args()
    if args.images < 1 or args.camera < 1:
        ap.error("--images and --camera must each be at least 1: the table compares both kinds of file")
    paintings = sorted((WIKIART / "images").glob("*/*.jpg"))
    small_files = paintings[: args.images]
    big_files = camera_files(paintings[: args.camera])
    backbone = Backbone(args.backbone, threads=1)  # what a collection uses
    all_cores = Backbone(args.backbone, threads=usable_cores())
    warm = np.stack([model_input(load_image(f, max_side=WORKING_SIDE).rgb, backbone) for f in small_files[:BATCH_SIZE]])
    backbone.run(warm)
    all_cores.run(warm)
    # What a process pays once, not per image: libraries loaded on first use and the colour lookup
    # tables (counted nowhere, as the backbone's session is not).
    import faiss  # noqa: F401
    import sklearn.utils.extmath  # noqa: F401

    color_features(warm[:1])
    work = Path(tempfile.mkdtemp(prefix="artlens-bench-"))
    try:
        small = measure(small_files, backbone, all_cores, work / "small")
        camera = measure(big_files, backbone, all_cores, work / "camera")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join([f"## Ingest throughput ({args.backbone})", "", table(args, small, camera)])
    print(text)
    if args.write:
        section = "ingest" if args.backbone == "lite0" else f"ingest-{args.backbone}"  # one section per backbone
        print(f"written to {write_section(section, text + chr(10) + chr(10) + NOTES)}")


# The doc's explanation under the table, kept with the script that writes the section.
NOTES = """\
Both runs keep every core busy, so the ratio is set by CPU work, not by waiting: whatever `add` does
besides the model (decoding, hashes, thumbnail, colour features, catalog writes, fitting and indexing)
must fit in (1/0.8 - 1) x the model's core-ms per image to reach the goal. `add` runs one worker per
core, each decoding and embedding whole batches with a single-thread session (PIL and ONNX Runtime
both release the GIL, so the workers' decoding and inference overlap on the cores): one session spread
over both cores lost a third of its speed to the decoding beside it (ratio 0.60 in that design).

Camera-size files: a JPEG larger than the working side (520 px) is decoded at the smallest DCT scale
that keeps its longest side above half of it, 260 px (the largest model input; the thumbnail is 256),
and used as it is: 1/8 scale here, 375 x 300 px, with no resampling. Until this change it was decoded
at 1/4 (750 x 600) and resampled to 384 px; in A/B runs alternating the two versions of the code on
the same afternoon, the camera-size ratio went from 0.32-0.36 to 0.37-0.51 (the spread is the
machine's load), and the CPU besides the model from about 21 to 13 core-ms a file (measured file by
file, old and new interleaved).

What is left is mostly the entropy decoding: libjpeg must read all of a file's Huffman-coded data
whatever the scale (the row "the least any decode costs"). On dense camera JPEGs that alone costs more
than the model does, so even with nothing else to do `add` could not pass the "ceiling" row
(model core-ms / (model + least decode)): the 0.8 goal is out of reach for them with this model and
decoder, and the faster the model (INT8), the lower that ceiling. The other work besides the model
is small pieces (on camera files, single thread: thumbnail resize and encoding about 2 ms, model-input
resize 1.5, pHash 0.7, reading and sha256 1.1; on the 224 px files pHash 0.3, colour 0.1, decoding 0.4,
the pixel copy and hash 0.25, and the catalog commits on the main thread about 0.5 ms a work).

Noise: this machine is a shared VM; the model-only rates before and after one ingest can differ by up to
40% on a busy day (the "before/after" figures say how much in this run), so single rates are rough, and
the ratios, each measured within one run, are the figures to compare (the 224 px ratio was 0.59 in a run
at load average 3-9 and 0.66-0.73 in four runs on a quiet machine)."""


if __name__ == "__main__":
    main()
