"""INT8 variant of the art-tuned backbone: ONNX Runtime static quantisation calibrated on real paintings.

    .venv/bin/python training/quantize_backbone.py --fp32 artlens/models/backbones/efficientnet-lite0-art.onnx \\
        --out artlens/models/backbones/efficientnet-lite0-art-int8.onnx [--work /tmp/int8] [--calibration 320] [--repeats 10]

The shipped INT8 file (2026-11-30, "int8-v2") was made from the float export before its weights were stored
in float16 (/tmp/artlens-backbone-noartist/efficientnet-lite0-art.onnx, written by training/train_backbone.py);
the shipped float file, as above, serves as well (within 0.0042 of float on every figure with the first recipe).
Measured on the 1,628 paintings of the 86 validation artists: every figure below within 0.0043 of float
(docs/backbone.md), and `training/check_int8_heads.py`: every default head within 0.0032 (coverage 0.005).

The recipe (each step measured against plain `quantize_static`, see the report of the issue):

1. `quant_pre_process` (shape inference + ORT basic optimisation). It folds the exporter's dynamic
   "same"-padding subgraphs (Shape/Slice/Pad) into the Conv pads; without it the int8 graph is broken up by
   float Pads and barely faster than FP32.
2. Exact input quantisation. The graph normalises pixels as (p - 127.5) / 128: as uint8 with scale 1/128
   the zero point would have to be 127.5, so every pixel is off by half a step (high-frequency noise the
   stem's edge filters amplify). Subtracting 128 instead and folding the 0.5/128 difference into the stem
   bias makes the quantised input exact (only the one-pixel padded border moves by 0.5/128).
3. QDQ format, uint8 activations (per tensor, Percentile 99.999 calibration), symmetric per-channel weights in
   7 bits (`REDUCE_RANGE`: x86 CPUs without VNNI sum pairs of uint8 x int8 products in int16, which 8-bit
   weights can saturate; with 7 bits the file computes alike everywhere, at mean content cosine 0.9977 ->
   0.9954 and no figure moved beyond 0.0043), every op ORT can quantise; calibrated on paintings of TRAINING
   artists only.
4. Bias correction (Nagel et al. 2019): int8 weights shift each conv's output mean by (Wq - W) E[x];
   the shift is measured on the calibration paintings and subtracted from the float bias, then the model
   is quantised again (same weights, so the same Wq). Depthwise convs with few taps need this most.
5. The first block stays float (`FLOAT_NODES`: the stem conv and block 0's depthwise and project convs,
   ~3% of the MACs). Quantising the weights of one conv at a time in a float model, the stem and block 0's
   depthwise conv cost more than all 47 others together (content cosine 0.9989 and 0.9992 alone, the next
   0.9999); with them float the whole INT8 model's mean content cosine to float on training-artist
   paintings goes 0.9951 -> 0.9978, style 0.9993 -> 0.9997, logits top-1 agreement ~0.91 -> 0.94.
   Activation ranges are calibrated in chunks of 32 paintings (in one pass ORT keeps every intermediate
   tensor of all 320: ~20 GB) and handed to quantize_static as a calibration cache.

Then features of all 10,605 paintings from both models, the validation figures of
`train_backbone.figures` side by side, per-output cosine and logits top-1 agreement, the int8 ops left in
the optimised graph, and model-only throughput INT8/FP32 (the two sessions interleaved in one run, best
of --repeats). Printed and written to <work>/report.json. The "artlens" metadata of the FP32 model is
copied into the INT8 one with "precision": PRECISION added.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from train_backbone import figures, read_works, validation_artists  # noqa: E402

from artlens.features.images import load_image, square  # noqa: E402
from artlens.learn.style_space import train_style_space  # noqa: E402

SIZE = 224
SEED = 0
META_KEY = "artlens"
COLOR_CACHE = Path("/tmp/artlens-backbone/cache.npz")  # the training cache: its "color" rows, if present
FIGURE_TOLERANCE = 0.01
# Activation ranges: the 99.999th percentile of |activation| beats MinMax (residual-stream outliers set the
# MinMax step): learned-style artist P@1 -0.0148 with MinMax, -0.0006 with this.
PERCENTILE = 99.999
# Kept float (step 5): stem + block 0, where int8 weights and activations cost the most fidelity per MAC.
FLOAT_NODES = ("/_conv_stem/Conv", "/_blocks.0/_depthwise_conv/Conv", "/_blocks.0/_project_conv/Conv")
CALIBRATION_CHUNK = 32
# 7-bit weights: without VNNI, x86 int8 kernels add pairs of uint8 x int8 products in int16 (vpmaddubsw),
# which saturates with 8-bit weights; 7-bit ones cannot overflow, so the file decides alike on every CPU.
REDUCE_RANGE = True
PRECISION = "int8-v2"  # what the runtime expects (BackboneSpec.precision): this recipe's files, not the first one's
MARKS: Mapping[str, Any] = MappingProxyType({"precision": PRECISION})  # set in the copied metadata


# -- data -----------------------------------------------------------------------------------------


def _decode(path: Path) -> np.ndarray:
    return square(load_image(path, max_side=448).rgb, SIZE)  # as the training cache made the inputs


def model_inputs(paths: list[Path], work: Path) -> np.ndarray:
    """uint8 (N, 224, 224, 3) of every painting, decoded once into <work>/inputs.npy and memory-mapped."""
    path = work / "inputs.npy"
    if path.exists():
        x = np.load(path, mmap_mode="r")
        if x.shape == (len(paths), SIZE, SIZE, 3):
            return x
    tmp = work / "inputs.tmp.npy"
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), SIZE, SIZE, 3))
    with ProcessPoolExecutor(2) as pool:
        for i, rgb in enumerate(pool.map(_decode, paths, chunksize=16)):
            out[i] = rgb
    out.flush()
    del out
    tmp.replace(path)
    return np.load(path, mmap_mode="r")


def color_rows(x: np.ndarray) -> np.ndarray:
    """The colour facet of every painting: from the training cache when it matches, else from the pixels."""
    if COLOR_CACHE.exists():
        with np.load(COLOR_CACHE) as z:  # an npz reads only the keys asked for
            if int(z["n"]) == len(x):
                return z["color"]
    from artlens.features.facets import color_features

    return np.concatenate([color_features(np.asarray(x[lo:lo + 256])) for lo in range(0, len(x), 256)])


class Paintings(CalibrationDataReader):
    """Calibration batches of model inputs (fixed size: the histogram calibrators need equal shapes)."""

    def __init__(self, x: np.ndarray, batch: int = 16) -> None:
        self.x, self.batch, self.i = x, batch, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i + self.batch > len(self.x):
            return None
        self.i += self.batch
        return {"image": np.ascontiguousarray(self.x[self.i - self.batch:self.i])}

    def rewind(self) -> None:
        self.i = 0


# -- graph preparation ----------------------------------------------------------------------------


def exact_input(src: Path, dst: Path) -> None:
    """Normalise with mean 128 instead of 127.5 and fold the difference into the stem bias (see step 2)."""
    m = onnx.load(src)
    init = {i.name: i for i in m.graph.initializer}
    nodes = list(m.graph.node)
    cast = next(n for n in nodes if n.op_type == "Cast" and n.input[0] == "image")
    sub = next(n for n in nodes if n.op_type == "Sub" and n.input[0] == cast.output[0])
    div = next(n for n in nodes if n.op_type == "Div" and n.input[0] == sub.output[0])
    stem = next(n for n in nodes if n.op_type == "Conv")
    mean = numpy_helper.to_array(init[sub.input[1]])
    std = float(numpy_helper.to_array(init[div.input[1]]))
    w, b = (numpy_helper.to_array(init[name]) for name in stem.input[1:3])
    shift = 128.0 - float(mean.ravel()[0])
    init[sub.input[1]].CopyFrom(numpy_helper.from_array(np.full_like(mean, 128.0), sub.input[1]))
    init[stem.input[2]].CopyFrom(numpy_helper.from_array((b + w.sum(axis=(1, 2, 3)) * shift / std).astype(np.float32), stem.input[2]))
    onnx.save(m, dst)


def conv_input_means(model: Path, x: np.ndarray, work: Path) -> dict[str, np.ndarray]:
    """Per-channel mean of every Conv's input over `x`, from one augmented FP32 run."""
    m = onnx.load(model)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    names = [f"__mean_{j}" for j in range(len(convs))]
    for n, name in zip(convs, names):
        m.graph.node.append(helper.make_node("ReduceMean", [n.input[0]], [name], axes=[0, 2, 3], keepdims=0))
        m.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    aug = work / "means.onnx"
    onnx.save(m, aug)
    sess = session(aug)
    reader = Paintings(x)
    sums: list[Any] = [0.0] * len(names)
    count = 0
    while (batch := reader.get_next()) is not None:
        sums = [s + r for s, r in zip(sums, sess.run(names, batch))]
        count += 1
    return {n.name: s / count for n, s in zip(convs, sums)}


def dequantized_weights(qmodel: Path) -> dict[str, np.ndarray]:
    """{float initializer name: its int8 values times scale} of a QDQ model."""
    m = onnx.load(qmodel)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    out = {}
    for n in m.graph.node:
        if n.op_type == "DequantizeLinear" and init.get(n.input[0], np.zeros(0, np.float32)).dtype == np.int8:
            q, scale = init[n.input[0]].astype(np.float32), init[n.input[1]]
            axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
            shape = [1] * q.ndim
            shape[axis] = -1
            out[n.input[0].removesuffix("_quantized")] = q * (scale.reshape(shape) if scale.ndim else scale)
    return out


def correct_bias(model: Path, qmodel: Path, x: np.ndarray, dst: Path, work: Path) -> None:
    """Subtract each conv's output-mean shift (Wq - W) E[x] from its float bias (see step 4)."""
    means = conv_input_means(model, x, work)
    wq = dequantized_weights(qmodel)
    m = onnx.load(model)
    init = {i.name: i for i in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type != "Conv" or len(n.input) < 3 or n.input[1] not in wq:
            continue
        w = numpy_helper.to_array(init[n.input[1]])
        dw = wq[n.input[1]] - w
        group = next((a.i for a in n.attribute if a.name == "group"), 1)
        # Dense: sum over input channels and taps; depthwise: each output channel sees its own input channel.
        shift = np.einsum("oikl,i->o", dw, means[n.name]) if group == 1 else dw.sum(axis=(1, 2, 3)) * means[n.name]
        b = numpy_helper.to_array(init[n.input[2]])
        init[n.input[2]].CopyFrom(numpy_helper.from_array((b - shift).astype(np.float32), n.input[2]))
    onnx.save(m, dst)


def quantize(model: Path, out: Path, x: np.ndarray, work: Path, percentile: float | None = PERCENTILE,
             float_nodes: Sequence[str] = FLOAT_NODES) -> None:
    """QDQ, uint8 activations, per-channel weights in int8 (7-bit range: REDUCE_RANGE), `float_nodes` left float; activation ranges at
    `percentile` (None: MinMax), calibrated CALIBRATION_CHUNK paintings at a time (the histograms merge)."""
    method = CalibrationMethod.MinMax if percentile is None else CalibrationMethod.Percentile
    ops = sorted(set(QLinearOpsRegistry) | set(QDQRegistry))
    calibrator = create_calibrator(model, ops, augmented_model_path=str(work / "augmented.onnx"), calibrate_method=method,
                                   extra_options={} if percentile is None else {"percentile": percentile})
    for lo in range(0, len(x) - 15, CALIBRATION_CHUNK):  # a last chunk under one batch of 16 would give no data
        calibrator.collect_data(Paintings(x[lo:lo + CALIBRATION_CHUNK]))
    cache = work / f"ranges-{out.stem}.json"
    cache.unlink(missing_ok=True)
    save_tensors_data(calibrator.compute_data(), cache)
    del calibrator
    quantize_static(str(model), str(out), None, quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True, reduce_range=REDUCE_RANGE, calibrate_method=method,
                    nodes_to_exclude=list(float_nodes), calibration_cache_path=str(cache))


def copy_metadata(fp32: Path, int8: Path, marks: Mapping[str, Any] = MARKS) -> None:
    """The runtime reads the tap layout from the "artlens" entry: copy it, with `marks` (the PRECISION) set in it."""
    meta = {p.key: p.value for p in onnx.load(fp32).metadata_props}
    m = onnx.load(int8)
    del m.metadata_props[:]
    for key, value in meta.items():
        if key == META_KEY:
            value = json.dumps({**json.loads(value), **marks})
        m.metadata_props.add(key=key, value=value)
    onnx.save(m, int8)


def build_int8(fp32: Path, out: Path, calib: np.ndarray, work: Path, float_nodes: Sequence[str] = FLOAT_NODES,
               marks: Mapping[str, Any] = MARKS, symbolic_shapes: bool = True) -> None:
    """The whole recipe (steps 1-5 above) from a float32 graph to `out`. symbolic_shapes=False for graphs ORT's
    symbolic shape inference cannot follow (the person detector's upsampling)."""
    pre, exact, corrected, first = (work / f"{name}.onnx" for name in ("pre", "exact", "corrected", "first-pass"))
    quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=not symbolic_shapes)
    exact_input(pre, exact)
    quantize(exact, first, calib, work, percentile=None, float_nodes=float_nodes)  # only for its int8 weights (the same whatever the ranges)
    correct_bias(exact, first, calib, corrected, work)  # float nodes have no int8 weights in `first`: left alone
    quantize(corrected, out, calib, work, float_nodes=float_nodes)
    copy_metadata(fp32, out, marks)


# -- measuring ------------------------------------------------------------------------------------


def session(path: Path, optimized: Path | None = None) -> ort.InferenceSession:
    """The runtime's session options (artlens.features.backbone.Backbone), 2 intra-op threads."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 2
    if optimized is not None:
        opts.optimized_model_filepath = str(optimized)
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def batches(x: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for lo in range(0, len(x), size):
        yield np.ascontiguousarray(x[lo:lo + size])


def features(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    sess = session(path)
    names = [o.name for o in sess.get_outputs()]
    parts = [sess.run(names, {"image": b}) for b in batches(x, 64)]
    return {name: np.concatenate([p[i] for p in parts]) for i, name in enumerate(names)}


def agreement(ref: dict[str, np.ndarray], q: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per-output cosine (min, mean) to FP32 and top-1 agreement of the logits."""
    out: dict[str, Any] = {}
    for key in ref:
        a, b = ref[key], q[key]
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
        out[f"{key} cosine"] = {"min": round(float(cos.min()), 4), "mean": round(float(cos.mean()), 4)}
    out["logits top-1 agreement"] = round(float((ref["logits"].argmax(1) == q["logits"].argmax(1)).mean()), 4)
    return out


def speed(fp32: Path, int8: Path, x: np.ndarray, repeats: int) -> dict[str, float]:
    """Model-only images/s of both, runs interleaved so a busy machine slows both alike; best of `repeats`."""
    sessions = {"fp32": session(fp32), "int8": session(int8)}
    feed = {"image": np.ascontiguousarray(x)}
    best = dict.fromkeys(sessions, float("inf"))
    for sess in sessions.values():
        sess.run(None, feed)  # warm-up
    for _ in range(repeats):
        for key, sess in sessions.items():
            t = time.perf_counter()
            sess.run(None, feed)
            best[key] = min(best[key], time.perf_counter() - t)
    rates = {f"{k} images/s": round(len(x) / v, 1) for k, v in best.items()}
    return {**rates, "int8 / fp32": round(best["fp32"] / best["int8"], 2)}


def optimized_ops(int8: Path, work: Path) -> dict[str, int]:
    """Op types of the graph ORT actually runs (after its QDQ fusions): which parts stay float."""
    path = work / "int8-optimized.onnx"
    session(int8, optimized=path)
    return dict(collections.Counter(n.op_type for n in onnx.load(path).graph.node).most_common())


def side_by_side(ref: dict[str, float], q: dict[str, float]) -> dict[str, dict[str, float]]:
    return {k: {"fp32": round(ref[k], 4), "int8": round(q[k], 4), "change": round(q[k] - ref[k], 4)} for k in ref}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fp32", type=Path, required=True, help="FP32 ONNX backbone")
    ap.add_argument("--out", type=Path, required=True, help="where to write the INT8 ONNX model")
    ap.add_argument("--work", type=Path, default=Path("/tmp/int8"))
    ap.add_argument("--calibration", type=int, default=320, help="training-artist paintings to calibrate on")
    ap.add_argument("--batch", type=int, default=32, help="batch of the speed measurement")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.time()

    works = read_works()
    val = np.isin(works.artist, sorted(validation_artists(works)))
    train, valid = np.flatnonzero(~val), np.flatnonzero(val)
    x = model_inputs(works.paths, args.work)
    calib = x[np.sort(np.random.default_rng(SEED).choice(train, args.calibration, replace=False))]
    print(f"{len(x):,} paintings decoded ({time.time() - start:.0f} s); calibrating on {len(calib)} of training artists", flush=True)

    build_int8(args.fp32, args.out, calib, args.work)
    print(f"INT8 model {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {time.time() - start:.0f} s)", flush=True)

    outputs = {name: features(path, x) for name, path in (("fp32", args.fp32), ("int8", args.out))}
    print(f"features of both models ({time.time() - start:.0f} s)", flush=True)
    color = color_rows(x)

    def rows(out: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
        return {"content": out["content"][idx], "style": out["style"][idx], "color": color[idx]}

    # One learned style space, trained on the FLOAT features of the training artists, applied to both:
    # a collection on the INT8 backbone uses the shipped space trained on float features, and a space
    # retrained per model would add its training noise (seed spread ~0.008) to the comparison.
    space, _ = train_style_space({"style": outputs["fp32"]["style"][train]}, [works.artists[a] for a in works.artist[train]])
    figs = {name: figures(rows(out, train), rows(out, valid), works, train, valid, space) for name, out in outputs.items()}

    table = side_by_side(figs["fp32"], figs["int8"])
    report = {
        "fp32": str(args.fp32), "int8": str(args.out), "int8 MB": round(args.out.stat().st_size / 1e6, 2),
        "calibration paintings": len(calib), "validation paintings": len(valid),
        "figures": table, "within tolerance": all(abs(r["change"]) <= FIGURE_TOLERANCE for r in table.values()),
        "agreement": agreement(outputs["fp32"], outputs["int8"]),
        "speed": speed(args.fp32, args.out, x[:args.batch], args.repeats) | {"batch": args.batch},
        "int8 graph ops": optimized_ops(args.out, args.work),
    }
    report["minutes"] = round((time.time() - start) / 60, 1)
    for key, row in table.items():
        print(f"  {key:32s} fp32 {row['fp32']:.4f}  int8 {row['int8']:.4f}  {row['change']:+.4f}")
    print(json.dumps({k: report[k] for k in ("within tolerance", "agreement", "speed", "minutes")}, indent=1))
    (args.work / "report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
