"""Learning: calibrated label heads on raw backbone features (`heads`, trained by `training`), the default
models shipped with ArtLens (`registry`), the learned style space (`style_space`), active learning
(`labelling`), and the small-model file format they share (`small_model`).

Names load on first use: reading a collection (`artlens info`) must not pay for SciPy or scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from artlens.lazy import lazy_names

if TYPE_CHECKING:
    from artlens.learn.heads import FORMAT_VERSION, KINDS, UNSURE, Decision, LabelHead
    from artlens.learn.registry import DEFAULT_MODELS, default_model_path, load_default_model
    from artlens.learn.training import HeadConfig, train_head
    from artlens.learn.vocabularies import IMAGENET_CONTENT, VOCABULARIES

_LAZY = (dict.fromkeys(("FORMAT_VERSION", "KINDS", "UNSURE", "Decision", "LabelHead"), "artlens.learn.heads")
         | dict.fromkeys(("DEFAULT_MODELS", "default_model_path", "load_default_model"), "artlens.learn.registry")
         | dict.fromkeys(("HeadConfig", "train_head"), "artlens.learn.training")
         | dict.fromkeys(("IMAGENET_CONTENT", "VOCABULARIES"), "artlens.learn.vocabularies"))

__all__ = [
    "DEFAULT_MODELS",
    "FORMAT_VERSION",
    "IMAGENET_CONTENT",
    "KINDS",
    "UNSURE",
    "VOCABULARIES",
    "Decision",
    "HeadConfig",
    "LabelHead",
    "default_model_path",
    "load_default_model",
    "train_head",
]


__getattr__ = lazy_names(__name__, globals(), _LAZY)
