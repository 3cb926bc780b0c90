"""Annotation: calibrated label heads on raw backbone features, and the default models shipped with ArtLens."""

from artlens.learn.heads import FORMAT_VERSION, KINDS, UNSURE, Decision, LabelHead, train_head
from artlens.learn.registry import DEFAULT_MODELS, default_model_path, load_default_model
from artlens.learn.vocabularies import IMAGENET_CONTENT, VOCABULARIES

__all__ = [
    "DEFAULT_MODELS",
    "FORMAT_VERSION",
    "IMAGENET_CONTENT",
    "KINDS",
    "UNSURE",
    "VOCABULARIES",
    "Decision",
    "LabelHead",
    "default_model_path",
    "load_default_model",
    "train_head",
]
