"""The backbones ArtLens ships, as ONNX files run by ONNX Runtime on CPU (no PyTorch needed).

One ``session.run`` per batch yields every raw facet feature an image needs:

* ``content`` - global-average-pooled output of the final 1x1 conv head (before the classifier);
* ``style``   - AdaIN statistics (per-channel mean and std over positions, as in ALADIN) of several stages;
* ``gram``    - Gram matrices (Gatys et al. / DeepArt) of one or two mid stages, upper triangle;
* ``logits``  - the 1000 ImageNet class logits.

The files live in ``artlens/models/backbones/`` and are made by ``training/export_backbone.py`` (with
`artlens.features.backbone_export`, the PyTorch side). Each carries its tap layout and version in its
metadata, so the runtime describes the features without torch.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from artlens.vocabulary import DEFAULT_BACKBONE

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["BACKBONES", "DEFAULT_BACKBONE", "BackboneSpec", "Backbone", "model_file", "OUTPUT_NAMES"]

# Bump whenever the wrapper's graph (taps, statistics, input handling) changes: part of every
# backbone's version, so a collection never mixes features of two graphs.
WRAPPER_VERSION = "1"
INPUT_NAME = "image"
OUTPUT_NAMES: tuple[str, ...] = ("content", "style", "gram", "logits")
# Added to the variance before sqrt: keeps std differentiable/finite for constant channels (as in AdaIN).
STD_EPS = 1e-5
META_KEY = "artlens"
MODEL_DIR = pathlib.Path(__file__).resolve().parents[1] / "models" / "backbones"


@dataclass(frozen=True)
class BackboneSpec:
    """One shipped backbone."""

    name: str  # the name collections record, e.g. "lite0-art"
    architecture: str  # EfficientNet-Lite width/depth: "lite0" or "lite2"
    input_size: int  # square input side in pixels (the model's static "same" padding is built for it)
    weights: str  # "imagenet", or the fine-tuned weights' name ("art-v1")
    summary: str  # one line for --help and docs
    precision: str = "fp32"  # or "int8-v2": quantised by training/quantize_backbone.py (its second recipe)
    features: str = ""  # the feature space its default models are trained on (default: its own name)

    def __post_init__(self) -> None:
        if not self.features:
            object.__setattr__(self, "features", self.name)

    @property
    def version(self) -> str:
        """What a collection records beside the name: features of two versions never mix."""
        return f"{self.weights}/taps-v{WRAPPER_VERSION}" + ("" if self.precision == "fp32" else f"/{self.precision}")

    @property
    def file(self) -> str:
        return f"efficientnet-{self.name}.onnx"


BACKBONES: dict[str, BackboneSpec] = {
    "lite0-art": BackboneSpec("lite0-art", "lite0", 224, "art-v1",
                              "EfficientNet-Lite0 fine-tuned on 8,977 WikiArt paintings (training/train_backbone.py)"),
    # The default: ~1.8x faster, every retrieval and label figure within 0.005 of lite0-art (docs/backbone.md).
    # "int8-v2": the recipe that keeps the first block float and uses 7-bit weights (the first INT8 file,
    # "int8", moved one head figure by 0.013); collections of the first one re-embed to take new works.
    "lite0-art-int8": BackboneSpec("lite0-art-int8", "lite0", 224, "art-v1",
                                   "lite0-art quantised to INT8 (training/quantize_backbone.py)", precision="int8-v2", features="lite0-art"),
    "lite0": BackboneSpec("lite0", "lite0", 224, "imagenet", "EfficientNet-Lite0, ImageNet weights"),
    "lite2": BackboneSpec("lite2", "lite2", 260, "imagenet", "EfficientNet-Lite2, ImageNet weights"),
}


def _spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}") from None


def model_file(name: str) -> pathlib.Path:
    """The shipped ONNX file of backbone `name`; FileNotFoundError says how to make it when missing."""
    path = MODEL_DIR / _spec(name).file
    if not path.is_file():
        raise FileNotFoundError(f"the {name} backbone is missing from this installation: {path} "
                                "(a source checkout makes it with training/export_backbone.py)")
    return path


class Backbone:
    """EfficientNet-Lite feature extractor: one ONNX Runtime call per batch gives all facet features."""

    def __init__(self, name: str = "lite0", threads: int | None = None) -> None:
        """Load the shipped backbone ``name``; ``threads`` = intra-op threads (None: ORT default)."""
        import onnxruntime as ort

        spec = _spec(name)
        self.name: str = spec.name
        self.input_size: int = spec.input_size
        self.version: str = spec.version
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # a CNN is a chain: parallelism is intra-op
        opts.inter_op_num_threads = 1
        if threads is not None:
            opts.intra_op_num_threads = int(threads)
        self._session: onnxruntime.InferenceSession = ort.InferenceSession(
            str(model_file(name)), sess_options=opts, providers=["CPUExecutionProvider"])
        self._meta: dict[str, Any] = json.loads(self._session.get_modelmeta().custom_metadata_map[META_KEY])
        if (self._meta.get("weights"), self._meta.get("version"), self._meta.get("precision", "fp32")) != (spec.weights, WRAPPER_VERSION, spec.precision):
            # A file left from another release: its features would not match the version collections record.
            raise ValueError(f"{model_file(name)} holds weights {self._meta.get('weights')} (graph v{self._meta.get('version')}), "
                             f"this ArtLens expects {spec.version}; reinstall ArtLens or re-export with training/export_backbone.py")
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
