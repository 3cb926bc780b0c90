"""Query images -> their vectors in every facet. An image the collection already holds (same bytes or
pixels) reuses its stored vectors; any other image is decoded and embedded once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from artlens.errors import ImageError, InputError
from artlens.features.backbone import Backbone
from artlens.features.embed import WORKING_SIDE, embed_rgb
from artlens.features.images import load_image
from artlens.store.database import Catalog
from artlens.store.vectors import FacetVectors


def image_vectors(paths: Sequence[str | Path], vecs: FacetVectors, store: Catalog, backbone: Backbone,
                  style_variant: str) -> tuple[dict[str, np.ndarray], set[int]]:
    """(facet -> (len(paths), d) vectors, ids of the query images that are in the collection)."""
    rows: list[dict[str, np.ndarray]] = []
    in_collection: set[int] = set()
    outside: list[np.ndarray] = []
    for p in paths:
        path = Path(p).expanduser()
        if not path.is_file():
            raise InputError(f"{path}: query image not found")
        try:
            img = load_image(path, max_side=WORKING_SIDE)
        except ImageError as exc:
            raise InputError(f"cannot use {path} as a query: {exc}") from None
        same = store.artwork_by_hash(img.sha256, img.pixel_hash)
        if same is not None and vecs.has(same.id):
            rows.append(stored_vectors(vecs, same.id))
            in_collection.add(same.id)
        else:
            outside.append(img.rgb)
    if outside:
        projected = vecs.project(embed_rgb(backbone, outside, style_variant))
        rows.extend({f: projected[f][i] for f in vecs.facets} for i in range(len(outside)))
    return {f: np.stack([r[f] for r in rows]) for f in vecs.facets}, in_collection


def stored_vectors(vecs: FacetVectors, artwork_id: int) -> dict[str, np.ndarray]:
    """An indexed artwork's vector in every facet, as a query (no decoding)."""
    row = int(vecs.rows(np.array([artwork_id]))[0])
    return {f: np.asarray(vecs.matrices[f][row], np.float32) for f in vecs.facets}
