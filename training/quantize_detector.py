"""INT8 person detector: the backbone's quantisation recipe (training/quantize_backbone.py) on the detector's graph.

    .venv/bin/python training/quantize_detector.py [--src /tmp/persondet/person-float.onnx] [--out artlens/models/people/person.onnx]

`training/train_person_detector.py` calls `build` after each export, so the shipped `person.onnx` is this INT8
graph and the float one stays in /tmp/persondet (run this by hand only to quantise an export again). The recipe
is the backbone's (static QDQ, uint8 activations at the 99.999th percentile, 7-bit per-channel weights, exact
input quantisation, bias correction), calibrated on People-Art *train* works only; kept float: the stem and
block 0 (as in the backbone) and the two output convs, so the heatmap and the box distances (in pixels) are
not rounded to 256 levels. The version gains "-int8", so `artlens detect` looks again at works a float model
detected. What it costs and gains is in docs/people.md ("INT8").
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import quantize_backbone as qb  # noqa: E402
import train_person_detector as tpd  # noqa: E402

FLOAT_NODES = ("/model/_conv_stem/Conv", "/model/_blocks.0/_depthwise_conv/Conv", "/model/_blocks.0/_project_conv/Conv",
               "/model/heat/heat.2/Conv", "/model/box/box.2/Conv")
CALIBRATION_WORKS = 96
SEED = 0


def float32_weights(src: Path, dst: Path) -> None:
    """The export stores weights in float16 behind Cast nodes; the quantiser wants float32 initialisers."""
    m = onnx.load(src)
    init = {i.name: i for i in m.graph.initializer}
    kept = []
    for n in m.graph.node:
        if n.op_type == "Cast" and n.input[0] in init and init[n.input[0]].data_type == onnx.TensorProto.FLOAT16:
            weights = numpy_helper.to_array(init[n.input[0]]).astype(np.float32)
            m.graph.initializer.append(numpy_helper.from_array(weights, n.output[0]))
        else:
            kept.append(n)
    del m.graph.node[:]
    m.graph.node.extend(kept)
    used = {name for n in m.graph.node for name in n.input}
    inits = [i for i in m.graph.initializer if i.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(inits)
    onnx.save(m, dst)


def calibration(items: list[dict], size: int) -> np.ndarray:
    """CALIBRATION_WORKS training works, squashed to the input size as PersonDetector does."""
    from PIL import Image

    chosen = random.Random(SEED).sample(items, min(CALIBRATION_WORKS, len(items)))
    return np.stack([np.asarray(Image.open(r["path"]).convert("RGB").resize((size, size), Image.Resampling.BILINEAR), np.uint8)
                     for r in chosen])


def build(src: Path, out: Path, items: list[dict], work: Path) -> None:
    """INT8 `out` from the float export `src`, calibrated on `items` (People-Art train rows)."""
    work.mkdir(parents=True, exist_ok=True)
    info = tpd.read_meta(onnx.load(src))
    f32 = work / "float32.onnx"
    float32_weights(src, f32)
    qb.build_int8(f32, out, calibration(items, int(info["input_size"])), work, float_nodes=FLOAT_NODES,
                  marks={"precision": "int8", "version": f"{info['version']}-int8"}, symbolic_shapes=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=tpd.FLOAT_OUT, help="float export (train_person_detector.py writes it)")
    ap.add_argument("--out", type=Path, default=tpd.OUT)
    ap.add_argument("--work", type=Path, default=tpd.WORK / "int8")
    args = ap.parse_args()
    build(args.src, args.out, tpd.rows("train"), args.work)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB), version {tpd.read_meta(onnx.load(args.out))['version']}")


if __name__ == "__main__":
    main()
