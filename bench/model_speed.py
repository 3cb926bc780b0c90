"""Throughput of the tapped EfficientNet-Lite backbone: ONNX Runtime vs the same PyTorch wrapper.

    .venv/bin/python bench/model_speed.py [--backbone lite0-art] [--batch 32] [--threads 2] [--repeats 5]
        [--versus lite0-art-int8]   # another shipped backbone, interleaved in one run: its speed / this one's
        [--write]                   # the INT8 / float line to docs/benchmarks.md

Uses real WikiArt images (../shared/data/wikiart) when present, random pixels otherwise (speed does not
depend on content). Prints images/s; the best of ``--repeats`` timed runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from artlens.features.backbone import BACKBONES, Backbone  # noqa: E402

DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "wikiart" / "images"


def load_batch(n: int, size: int) -> np.ndarray:
    """n uint8 RGB images (size x size): real paintings if available, else noise."""
    files = sorted(DATA.glob("*/*.jpg"))[:n] if DATA.is_dir() else []
    if len(files) < n:
        return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    from PIL import Image

    return np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BILINEAR)) for f in files])


def best_rate(fn, n: int, repeats: int) -> float:
    """Images/s of the fastest of `repeats` calls (after one warm-up call)."""
    fn()
    best = min(_timed(fn) for _ in range(repeats))
    return n / best


def interleaved_rates(fns, n: int, repeats: int) -> list[float]:
    """Images/s of each fn, best of `repeats`, the calls alternating so a busy machine slows all alike."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        best = [min(b, _timed(fn)) for b, fn in zip(best, fns)]
    return [n / b for b in best]


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="lite0-art", choices=sorted(BACKBONES))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--torch", action="store_true", help="also the same network in PyTorch (needs the train extra)")
    ap.add_argument("--versus", choices=sorted(BACKBONES), help="another backbone of the same input size, interleaved with this one")
    ap.add_argument("--write", action="store_true", help="write the --versus comparison to docs/benchmarks.md")
    args = ap.parse_args()

    bb = Backbone(args.backbone, threads=args.threads)
    batch = load_batch(args.batch, bb.input_size)
    ort_rate = best_rate(lambda: bb.run(batch), args.batch, args.repeats)
    print(f"{args.backbone} {bb.input_size}px batch {args.batch}, {args.threads} threads")
    print(f"  onnxruntime : {ort_rate:7.1f} images/s  ({1000 / ort_rate:.1f} ms/image)")
    if args.versus:
        other = Backbone(args.versus, threads=args.threads)
        base, rate = interleaved_rates([lambda: bb.run(batch), lambda: other.run(batch)], args.batch, args.repeats)
        line = (f"{args.versus}: {rate:.1f} images/s against {base:.1f} for {args.backbone} in the same run "
                f"(batch {args.batch}, {args.threads} threads, best of {args.repeats} interleaved): **{rate / base:.2f}x**")
        print("  " + line)
        if args.write:
            from bench.report import machine, write_section

            write_section("model-speed-int8", "\n".join(["## INT8 backbone: model-only throughput", "", f"`bench/model_speed.py --backbone "
                                                          f"{args.backbone} --versus {args.versus}` on {machine()}: {line}."]))
    if not args.torch:
        return

    import torch

    from artlens.features.backbone_export import build_torch_wrapper

    torch.set_num_threads(args.threads)
    model = build_torch_wrapper(BACKBONES[args.backbone].architecture)
    x = torch.from_numpy(batch)

    def torch_run() -> None:
        with torch.inference_mode():
            model(x)

    torch_rate = best_rate(torch_run, args.batch, args.repeats)
    print(f"  pytorch     : {torch_rate:7.1f} images/s  ({1000 / torch_rate:.1f} ms/image)")
    print(f"  onnxruntime / pytorch = {ort_rate / torch_rate:.2f}x")


if __name__ == "__main__":
    main()
