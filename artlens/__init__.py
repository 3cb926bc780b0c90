"""ArtLens: search and describe art collections by content, style and colour.

    from artlens import Collection
    col = Collection.create("my-collection")
    col.add(["scans/"], metadata="scans/labels.csv")
    results = col.search(images=["query.jpg"], facet="style", k=5)

This package is the facade: `Collection`, its typed results, the errors, and a few functions that
need no collection. The CLI and the web app import nothing else. Names load on first use, so that
`artlens --help` does not pay for numpy, SQLAlchemy or ONNX Runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from artlens.errors import (
    AccessError,
    ArtLensError,
    CollectionBusyError,
    CollectionError,
    ImageError,
    InputError,
    NotFoundError,
    RequestError,
)
from artlens.lazy import lazy_names

if TYPE_CHECKING:
    from artlens.collection import Collection
    from artlens.results import (
        AddReport,
        Annotation,
        Artwork,
        ArtworkPage,
        BoxesReport,
        CheckReport,
        Duplicates,
        Info,
        LabelsReport,
        ModelCard,
        Neighbour,
        RetrievalReport,
        SearchResult,
        StyleSpaceReport,
        Suggestion,
    )
    from artlens.standalone import ImageFacts, QueryImage, evaluate_boxes, inspect_image, load_query_image, parse_box, parse_weights, parse_where

_RESULTS = ("AddReport", "Annotation", "Artwork", "ArtworkPage", "BoxesReport", "CheckReport", "Duplicates", "Info", "LabelsReport",
            "ModelCard", "Neighbour", "RetrievalReport", "SearchResult", "StyleSpaceReport", "Suggestion")
_STANDALONE = ("ImageFacts", "QueryImage", "evaluate_boxes", "inspect_image", "load_query_image", "parse_box", "parse_weights", "parse_where")
_LAZY = {"Collection": "artlens.collection"} | dict.fromkeys(_RESULTS, "artlens.results") | dict.fromkeys(_STANDALONE, "artlens.standalone")

__all__ = [
    "AccessError", "AddReport", "Annotation", "ArtLensError", "Artwork", "ArtworkPage", "BoxesReport", "CheckReport",
    "Collection", "CollectionBusyError", "CollectionError", "Duplicates", "ImageError", "ImageFacts", "Info", "InputError", "LabelsReport", "ModelCard",
    "Neighbour", "NotFoundError", "QueryImage", "RequestError", "RetrievalReport", "SearchResult", "StyleSpaceReport", "Suggestion",
    "evaluate_boxes", "inspect_image", "load_query_image", "parse_box", "parse_weights", "parse_where",
]


__getattr__ = lazy_names(__name__, globals(), _LAZY)
