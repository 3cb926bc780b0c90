"""Images -> raw facet features: one backbone pass per image, plus colour from the pixels.

Ingest and search both go through `raw_features`, so a query image outside the collection is
described exactly as the collection's own images were.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from artlens.backbone import Backbone
from artlens.facets import color_features
from artlens.images import square

# Decoded working size: enough for the largest backbone input (260 px) and a 256 px thumbnail,
# small enough that JPEG draft mode (DCT scaling) skips most of the decoding work on big scans.
WORKING_SIDE = 384


def model_input(rgb: np.ndarray | Image.Image, backbone: Backbone) -> np.ndarray:
    """The backbone's view of an image: the whole work squashed to its square input (no crop)."""
    return square(rgb, backbone.input_size)


def raw_features(backbone: Backbone, inputs: np.ndarray, colors: Sequence[np.ndarray], style_variant: str) -> dict[str, np.ndarray]:
    """Raw content, style and colour features (and ImageNet logits, for label heads) for a batch.

    inputs: (N, S, S, 3) uint8 from `model_input`; colors: `color_features` of each image.
    style_variant: "adain" (per-channel mean and std of several stages, as in ALADIN) or
    "gram" (Gram matrices of mid stages, as in DeepArt).
    """
    out = backbone.run(inputs)
    style = out["style"] if style_variant == "adain" else out["gram"]
    return {"content": out["content"], "style": style, "color": np.stack(list(colors)).astype(np.float32), "logits": out["logits"]}


def raw_dims(backbone: Backbone, style_variant: str) -> dict[str, int]:
    """Length of each raw facet vector, as stored in the catalog."""
    from artlens.facets import COLOR_DIM

    return {
        "content": backbone.output_dims["content"],
        "style": backbone.output_dims["style" if style_variant == "adain" else "gram"],
        "color": COLOR_DIM,
        "logits": backbone.output_dims["logits"],
    }


def embed_rgb(backbone: Backbone, images: Sequence[np.ndarray], style_variant: str) -> dict[str, np.ndarray]:
    """Convenience for a few decoded images (queries): raw features of each."""
    inputs = np.stack([model_input(rgb, backbone) for rgb in images])
    return raw_features(backbone, inputs, [color_features(rgb) for rgb in images], style_variant)
