"""Facets: content, style and colour descriptors and the transforms fitted on a collection.

Raw features come from one backbone pass (content, style) and from the pixels (colour). Before
indexing, each facet is normalised by a transform fitted on the collection itself: a fixed
pre-normalisation, PCA with regularised whitening, then L2, so that inner product = cosine and
the facets are comparable when mixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms
from sklearn.utils.extmath import randomized_svd

from artlens.images import as_pil

FACETS: tuple[str, ...] = ("content", "style", "color")
STYLE_VARIANTS: tuple[str, ...] = ("adain", "gram")
# Chosen on WikiArt (movement P@10 of the joint facet, see docs/benchmarks.md): style carries most
# of what "looks alike" means for artworks; colour is a light touch (more colour lowers P@10).
DEFAULT_WEIGHTS: dict[str, float] = {"content": 0.35, "style": 0.55, "color": 0.1}

_SRGB_TO_LAB = ImageCms.buildTransformFromOpenProfiles(
    ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
)
_L_BINS, _AB_BINS, _AB_RANGE = 4, 6, 64.0
COLOR_DIM = _L_BINS * _AB_BINS * _AB_BINS + 6


def to_lab(rgb: np.ndarray | Image.Image) -> np.ndarray:
    """sRGB uint8 (H, W, 3) -> CIE Lab float32 (H, W, 3): L in [0, 100], a and b roughly in [-128, 127]."""
    lab = np.asarray(ImageCms.applyTransform(as_pil(rgb), _SRGB_TO_LAB))
    out = np.empty(lab.shape, np.float32)
    out[..., 0] = lab[..., 0].astype(np.float32) * (100.0 / 255.0)
    out[..., 1:] = lab[..., 1:].view(np.int8).astype(np.float32)  # PIL stores a, b as signed bytes
    return out


def color_features(rgb: np.ndarray | Image.Image) -> np.ndarray:
    """Colour descriptor of an image: a Lab histogram (Hellinger-mapped) plus Lab mean and spread.

    The histogram says which colours are present and how much; the moments say how light,
    warm and contrasted the palette is. Computed at 64 px: colour statistics do not need more.
    """
    small = as_pil(rgb).resize((64, 64), Image.Resampling.BILINEAR)
    lab = to_lab(small).reshape(-1, 3)
    l_idx = np.clip((lab[:, 0] / 100.0 * _L_BINS).astype(int), 0, _L_BINS - 1)
    ab = np.clip((lab[:, 1:] + _AB_RANGE) / (2 * _AB_RANGE) * _AB_BINS, 0, _AB_BINS - 1).astype(int)
    flat = (l_idx * _AB_BINS + ab[:, 0]) * _AB_BINS + ab[:, 1]
    hist = np.bincount(flat, minlength=_L_BINS * _AB_BINS * _AB_BINS).astype(np.float32)
    hist = np.sqrt(hist / hist.sum())
    scale = np.array([100.0, _AB_RANGE, _AB_RANGE], np.float32)
    channels = np.ascontiguousarray(lab.T)  # reducing along contiguous rows is 5x faster here
    moments = np.concatenate([channels.mean(1) / scale, channels.std(1) / scale])
    return np.concatenate([hist, moments]).astype(np.float32)


@dataclass(frozen=True)
class TransformSpec:
    """How one facet is normalised before indexing."""

    pre: str            # "l2": unit length first (CNN activations); "zscore": per-dimension standardise
    dim: int            # PCA output size (capped by the data)
    whiten: float       # regulariser of PCA whitening: larger = closer to plain PCA (no whitening)


# Measured on WikiArt (movement P@10, fitted on all 2,848 and on 240-painting subsets): 128 axes
# are as good as 256, and mild whitening (regulariser 10) beats both full whitening and none.
TRANSFORM_SPECS: dict[str, TransformSpec] = {
    "content": TransformSpec(pre="l2", dim=128, whiten=10.0),
    "style": TransformSpec(pre="zscore", dim=128, whiten=10.0),
    "color": TransformSpec(pre="zscore", dim=64, whiten=10.0),
}


def _l2(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass
class FacetTransform:
    """pre-normalise -> centre -> project on principal axes -> whiten (regularised) -> L2."""

    pre: str
    mean_in: np.ndarray      # per-dimension mean (zscore) or zeros
    scale_in: np.ndarray     # per-dimension std (zscore) or ones
    center: np.ndarray       # mean of the pre-normalised data
    components: np.ndarray   # (dim, D) principal axes
    scale_out: np.ndarray    # (dim,) whitening factors

    @property
    def dim(self) -> int:
        return int(self.components.shape[0])

    def apply(self, raw: np.ndarray) -> np.ndarray:
        x = np.asarray(raw, np.float32)
        x = _l2(x) if self.pre == "l2" else (x - self.mean_in) / self.scale_in
        y = (x - self.center) @ self.components.T
        return _l2(y * self.scale_out)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, pre=np.array(self.pre), mean_in=self.mean_in, scale_in=self.scale_in,
                 center=self.center, components=self.components, scale_out=self.scale_out)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "FacetTransform":
        with np.load(path) as z:
            return cls(pre=str(z["pre"]), mean_in=z["mean_in"], scale_in=z["scale_in"], center=z["center"],
                       components=z["components"], scale_out=z["scale_out"])


def fit_transform(raw: np.ndarray, spec: TransformSpec, max_fit: int = 100_000, seed: int = 0) -> FacetTransform:
    """Fit a facet's transform on the collection's raw features (a sample of at most `max_fit` rows)."""
    x = np.asarray(raw, np.float32)
    if len(x) > max_fit:
        x = x[np.random.default_rng(seed).choice(len(x), max_fit, replace=False)]
    d_in = x.shape[1]
    if spec.pre == "l2":
        mean_in, scale_in = np.zeros(d_in, np.float32), np.ones(d_in, np.float32)
        x = _l2(x)
    else:
        mean_in = x.mean(0)
        scale_in = np.maximum(x.std(0), 1e-6).astype(np.float32)
        x = (x - mean_in) / scale_in
    center = x.mean(0)
    xc = x - center
    # The number of axes is capped by the rows available, so a small collection keeps every
    # direction it actually has. Randomized SVD computes only the kept axes (7 s -> 0.25 s on WikiArt);
    # two power iterations lose nothing measurable (WikiArt joint P@10 0.470 with 2, 0.469 with 5).
    keep = int(min(spec.dim, d_in, max(1, len(x) - 1)))
    _, s, vt = randomized_svd(xc, n_components=keep, n_iter=2, power_iteration_normalizer="QR", random_state=seed)
    eig = (s**2) / max(1, len(x) - 1)
    scale_out = 1.0 / np.sqrt(eig + spec.whiten * eig.mean() + 1e-12)
    return FacetTransform(
        pre=spec.pre, mean_in=mean_in.astype(np.float32), scale_in=scale_in.astype(np.float32),
        center=center.astype(np.float32), components=vt.astype(np.float32), scale_out=scale_out.astype(np.float32),
    )


def parse_weights(text: str | None) -> dict[str, float] | None:
    """'style=0.6,content=0.3,color=0.1' -> {'style': 0.6, ...}; None stays None (use the defaults)."""
    if text is None or not text.strip():
        return None
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in FACETS:
            raise ValueError(f"bad weight {part.strip()!r}: expected FACET=NUMBER with FACET one of {', '.join(FACETS)}")
        try:
            weights[name] = float(value)
        except ValueError:
            raise ValueError(f"bad weight {part.strip()!r}: {value.strip()!r} is not a number") from None
        if weights[name] < 0:
            raise ValueError(f"bad weight {part.strip()!r}: weights must be >= 0")
    if sum(weights.values()) <= 0:
        raise ValueError("at least one weight must be positive")
    return weights
