"""Throughput of the tapped EfficientNet-Lite backbone: ONNX Runtime vs the same PyTorch wrapper.

    .venv/bin/python bench/model_speed.py [--backbone lite0] [--batch 32] [--threads 2] [--repeats 5]

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
from artlens.features.backbone import BACKBONES, Backbone, build_torch_wrapper  # noqa: E402

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


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="lite0", choices=sorted(BACKBONES))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = ap.parse_args()

    bb = Backbone(args.backbone, threads=args.threads)
    batch = load_batch(args.batch, bb.input_size)
    ort_rate = best_rate(lambda: bb.run(batch), args.batch, args.repeats)
    print(f"{args.backbone} {bb.input_size}px batch {args.batch}, {args.threads} threads")
    print(f"  onnxruntime : {ort_rate:7.1f} images/s  ({1000 / ort_rate:.1f} ms/image)")
    if args.no_torch:
        return

    import torch

    torch.set_num_threads(args.threads)
    model = build_torch_wrapper(args.backbone)
    x = torch.from_numpy(batch)

    def torch_run() -> None:
        with torch.inference_mode():
            model(x)

    torch_rate = best_rate(torch_run, args.batch, args.repeats)
    print(f"  pytorch     : {torch_rate:7.1f} images/s  ({1000 / torch_rate:.1f} ms/image)")
    print(f"  onnxruntime / pytorch = {ort_rate / torch_rate:.2f}x")


if __name__ == "__main__":
    main()
