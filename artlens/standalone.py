"""What the facade offers without a collection: checking an image file, parsing filters and weights as
people write them, and evaluating detection boxes from two CSV files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from artlens.results import BoxesReport
from artlens.retrieval.filters import parse_weights, parse_where

__all__ = ["ImageFacts", "evaluate_boxes", "inspect_image", "parse_weights", "parse_where"]


@dataclass(frozen=True)
class ImageFacts:
    """A file that decodes as an image: its content hash and decoded format (JPEG, PNG, ...)."""

    sha256: str
    format: str
    width: int
    height: int


def inspect_image(path: str | Path) -> ImageFacts:
    """Decode `path` as ArtLens would (size limits, orientation, colour modes); ImageError with the reason if it cannot."""
    from artlens.features.images import load_image

    img = load_image(Path(path))
    return ImageFacts(img.sha256, img.format, img.width, img.height)


def evaluate_boxes(truth: str | Path, predictions: str | Path) -> BoxesReport:
    """Detection AP at IoU 0.5 and 0.75 (PASCAL VOC rules, difficult boxes ignored), per class and mean."""
    from artlens.evaluation import evaluate

    return BoxesReport(evaluate.evaluate_boxes(Path(truth), Path(predictions)))
