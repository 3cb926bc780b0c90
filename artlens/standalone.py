"""What the facade offers without a collection: checking an image file, decoding a query image once,
parsing filters and weights as people write them, and evaluating detection boxes from two CSV files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from artlens.results import BoxesReport
from artlens.retrieval.filters import parse_box, parse_weights, parse_where

if TYPE_CHECKING:
    from artlens.features.images import DecodedImage

__all__ = ["ImageFacts", "QueryImage", "evaluate_boxes", "inspect_image", "load_query_image", "parse_box", "parse_weights", "parse_where"]


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


@dataclass(frozen=True)
class QueryImage(ImageFacts):
    """An image decoded once, at the size search works at: give it to `Collection.search` in place of a
    path and it is not read or decoded again."""

    decoded: DecodedImage = field(repr=False, compare=False)


def load_query_image(path: str | Path, max_pixels: int | None = None) -> QueryImage:
    """Decode `path` for searching (ImageError with the reason if it cannot be used).

    max_pixels: refuse, from the header alone, an image whose decoder would hold more pixels than this
    at once (a baseline JPEG counts its 1/2-1/8-scale decode): what a server sets for uploads.
    """
    from artlens.retrieval.query import decode_query_image

    img = decode_query_image(Path(path), max_pixels)
    return QueryImage(img.sha256, img.format, img.width, img.height, img)


def evaluate_boxes(truth: str | Path, predictions: str | Path) -> BoxesReport:
    """Detection AP at IoU 0.5 and 0.75 (PASCAL VOC rules, difficult boxes ignored), per class and mean."""
    from artlens.evaluation import evaluate

    return BoxesReport(evaluate.evaluate_boxes(Path(truth), Path(predictions)))
