"""ArtLens: search and describe art collections by content, style and colour.

    from artlens import Collection
    col = Collection.create("my-collection")
    col.add(["scans/"], metadata="scans/labels.csv")
    results = col.search(images=["query.jpg"], facet="style", k=5)
"""

from artlens.collection import Collection, SearchResult
from artlens.errors import ArtLensError, CollectionError, InputError
from artlens.pipeline.ingest import AddReport

__all__ = ["AddReport", "ArtLensError", "Collection", "CollectionError", "InputError", "SearchResult"]
