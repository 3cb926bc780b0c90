"""Images -> raw facet features: one backbone pass per image, plus colour from the same pixels.

Ingest and search both go through `raw_features`, so a query image outside the collection is
described exactly as the collection's own images were.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from artlens.features.backbone import Backbone
from artlens.features.facets import color_features
from artlens.features.images import as_pil, square

# Longest side of the decoded working copy. A JPEG larger than this is decoded at the DCT scale
# (1/2, 1/4, 1/8) that lands it above half of it, with no resampling: so it must be twice what the
# pixels are needed for, the largest backbone input (260 px) and the 256 px thumbnail.
WORKING_SIDE = 520


def model_input(rgb: np.ndarray | Image.Image, backbone: Backbone) -> np.ndarray:
    """The backbone's view of an image: the whole work squashed to its square input (no crop)."""
    return square(rgb, backbone.input_size)


def raw_features(backbone: Backbone, inputs: np.ndarray, style_variant: str) -> dict[str, np.ndarray]:
    """Raw content, style and colour features (and ImageNet logits, for label heads) for a batch.

    inputs: (N, S, S, 3) uint8 from `model_input`; colour statistics come from the same pixels.
    style_variant: "adain" (per-channel mean and std of several stages, as in ALADIN) or
    "gram" (Gram matrices of mid stages, as in DeepArt).
    """
    out = backbone.run(inputs)
    style = out["style"] if style_variant == "adain" else out["gram"]
    return {"content": out["content"], "style": style, "color": color_features(inputs), "logits": out["logits"]}


def raw_dims(backbone: Backbone, style_variant: str) -> dict[str, int]:
    """Length of each raw facet vector, as stored in the catalog."""
    from artlens.features.facets import COLOR_DIM

    return {
        "content": backbone.output_dims["content"],
        "style": backbone.output_dims["style" if style_variant == "adain" else "gram"],
        "color": COLOR_DIM,
        "logits": backbone.output_dims["logits"],
    }


def embed_rgb(backbone: Backbone, images: Sequence[np.ndarray], style_variant: str) -> dict[str, np.ndarray]:
    """Convenience for a few decoded images (queries): raw features of each."""
    return raw_features(backbone, np.stack([model_input(rgb, backbone) for rgb in images]), style_variant)


# Test-time augmentation: the whole work (what the heads were trained on) plus five crops (four
# corners and the centre) of 80% of each side; label scores are averaged over the six views.
TTA_CROP = 0.8


def tta_views(image: np.ndarray | Image.Image) -> list[Image.Image]:
    """The whole image, then its centre and four corner crops, each TTA_CROP of the width and height."""
    im = as_pil(image)
    w, h = im.size
    cw, ch = max(1, round(w * TTA_CROP)), max(1, round(h * TTA_CROP))
    corners = [((w - cw) // 2, (h - ch) // 2), (0, 0), (w - cw, 0), (0, h - ch), (w - cw, h - ch)]
    return [im, *(im.crop((x, y, x + cw, y + ch)) for x, y in corners)]


def embed_views(backbone: Backbone, images: Sequence[np.ndarray | Image.Image], style_variant: str) -> dict[str, np.ndarray]:
    """Raw features of every TTA view of each image: {facet: (N, views, d)}."""
    views = [v for image in images for v in tta_views(image)]
    per_view = len(views) // max(1, len(images))
    raw = raw_features(backbone, np.stack([model_input(v, backbone) for v in views]), style_variant)
    return {f: x.reshape(len(images), per_view, -1) for f, x in raw.items()}
