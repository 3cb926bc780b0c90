"""Export a fine-tuned EfficientNet-Lite0 (training/train_backbone.py) to the ONNX graph ArtLens runs, and check it.

    .venv/bin/python training/export_backbone.py --weights /tmp/artlens-backbone/backbone-lite0-art.pt \
        --out /tmp/artlens-backbone/efficientnet-lite0-art.onnx [--variant art-v1]

The graph is the one the ImageNet backbone uses (same taps: content, style, gram, logits; uint8 pixels
in), with the fine-tuned weights. The check runs real paintings through the PyTorch wrapper and the
ONNX file: every output must agree (cosine >= 0.9999), so search and ingest, which run the ONNX file
without PyTorch, see exactly the network that was trained and measured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from artlens.features.backbone import BACKBONES, INPUT_NAME, OUTPUT_NAMES, build_torch_wrapper, export_onnx_bytes  # noqa: E402
from artlens.features.images import load_image, square  # noqa: E402

DATA = HERE.parents[1] / "shared" / "data"


def check(onnx_file: Path, state_dict: dict, n: int = 16) -> dict[str, float]:
    """Lowest cosine between the PyTorch and the ONNX outputs, per output, on `n` WikiArt paintings."""
    import onnxruntime as ort
    import torch

    files = sorted((DATA / "wikiart" / "images").glob("*/*.jpg"))[:: max(1, 2848 // n)][:n]
    size = BACKBONES["lite0"].input_size
    batch = np.stack([np.asarray(square(load_image(f).image, size)) for f in files]).astype(np.uint8)
    with torch.no_grad():
        expected = [t.numpy() for t in build_torch_wrapper("lite0", state_dict)(torch.from_numpy(batch))]
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
    out = {}
    for name, a, b in zip(OUTPUT_NAMES, expected, got):
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        out[name] = float(cos.min())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, required=True, help="state dict written by train_backbone.py")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variant", default="art-v1", help="the weights' name, recorded in the model's metadata")
    args = ap.parse_args()
    import torch

    state = torch.load(args.weights, weights_only=True)
    args.out.write_bytes(export_onnx_bytes(BACKBONES["lite0"], state, args.variant))
    agreement = check(args.out, state)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB); lowest PyTorch/ONNX cosine per output: "
          + ", ".join(f"{k} {v:.6f}" for k, v in agreement.items()))
    return 0 if min(agreement.values()) >= 0.9999 else 1


if __name__ == "__main__":
    raise SystemExit(main())
