"""Query images -> their vectors in every facet. An image the collection already holds (same bytes or
pixels) reuses its stored vectors; any other image is decoded and embedded once. An artwork named by
id uses its stored vectors without reading its file.

Query decoding is bounded: images are decoded at the working side (JPEG draft mode decodes a big
baseline JPEG at 1/2-1/8 scale), and `decode_query_image` can refuse, from the header alone, an image
whose decoder would hold more than `max_pixels` pixels at full size (formats without reduced
decoding: PNG, TIFF, WebP, BMP, GIF, progressive JPEG). The web app sets that limit; local paths
given to `Collection.search` keep the ingest limits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from artlens.errors import CollectionError, ImageError, InputError, NotFoundError
from artlens.features.backbone import Backbone
from artlens.features.embed import WORKING_SIDE, embed_rgb
from artlens.features.images import DecodedImage, load_image
from artlens.store.database import Catalog
from artlens.store.vectors import FacetVectors

# The largest id SQLite stores (a signed 64-bit integer): larger ids name no artwork.
MAX_ARTWORK_ID = 2**63 - 1
# What the header probe opens: the formats load_image accepts (MPO comes back from the JPEG opener).
_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "GIF", "BMP")

QueryItem = str | Path | DecodedImage


def decode_query_image(path: str | Path, max_pixels: int | None = None) -> DecodedImage:
    """Decode `path` at the working side for a search; ImageError with the reason if it cannot be used.

    max_pixels: refuse (reason "too-large") an image whose decoder would hold more pixels than this at
    once, judged from the header before any pixel is decoded; None keeps the ingest limit.
    """
    path = Path(path)
    if max_pixels is not None:
        held = held_pixels(path)
        if held is not None and held[0] > max_pixels:
            n, width, height = held
            raise ImageError("too-large", f'"{path}" is too large to use as a query: {width}x{height} decodes to {n:,} pixels '
                             f"(limit {max_pixels:,}); downscale it, or send a baseline JPEG (decoded at 1/8 scale)", path)
    return load_image(path, max_side=WORKING_SIDE)


def held_pixels(path: Path) -> tuple[int, int, int] | None:
    """(pixels the decoder holds at once, width, height) from the header, for a decode at the working side;
    None when the header cannot be read (load_image then says what is wrong with the file)."""
    from PIL import Image

    try:
        with Image.open(path, formats=_FORMATS) as im:
            width, height = im.size
            baseline_jpeg = im.format in ("JPEG", "MPO") and not (im.info.get("progressive") or im.info.get("progression"))
    except Exception:  # noqa: BLE001 - any header problem is load_image's to classify and report
        return None
    if not baseline_jpeg:
        # PNG, TIFF, WebP, BMP and GIF decode whole; so does a progressive JPEG (its coefficient buffers
        # are full size whatever the scale).
        return width * height, width, height
    scale = _draft_scale(width, height, WORKING_SIDE)
    return math.ceil(width / scale) * math.ceil(height / scale), width, height


def _draft_scale(width: int, height: int, max_side: int) -> int:
    """The DCT scale (1, 2, 4 or 8) libjpeg decodes at for load_image(max_side=...): as PIL's draft picks it."""
    if max(width, height) <= max_side:
        return 1
    r = (max_side // 2 + 1) / max(width, height)  # the size features.images._draft asks for
    ratio = min(width // max(1, math.ceil(width * r)), height // max(1, math.ceil(height * r)))
    return next(s for s in (8, 4, 2, 1) if ratio >= s)


def image_vectors(items: Sequence[QueryItem], vecs: FacetVectors, store: Catalog, backbone: Backbone,
                  style_variant: str) -> tuple[dict[str, np.ndarray], set[int]]:
    """(facet -> (len(items), d) vectors, ids of the query images that are in the collection).

    items: paths (decoded here) or images already decoded with `decode_query_image` (not decoded again).
    """
    rows: list[dict[str, np.ndarray]] = []
    in_collection: set[int] = set()
    outside: list[np.ndarray] = []
    for item in items:
        img = item if isinstance(item, DecodedImage) else decode_path(Path(item))
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


def decode_path(path: Path, max_side: int = WORKING_SIDE) -> DecodedImage:
    """A query image given by path, decoded at `max_side`; InputError saying why it cannot be used."""
    path = path.expanduser()
    if not path.is_file():
        raise InputError(f"{path}: query image not found")
    try:
        return load_image(path, max_side=max_side)
    except ImageError as exc:
        raise InputError(f"cannot use {path} as a query: {exc}") from None


def artwork_vectors(ids: Sequence[int], vecs: FacetVectors, store: Catalog) -> tuple[dict[str, np.ndarray], set[int]]:
    """(facet -> (len(ids), d) stored vectors, the indexed ids they come from) for artworks named by id.

    An exact copy (not indexed itself) uses its original's vectors. NotFoundError for an id the catalog
    does not have (any size: ids beyond SQLite's range name nothing); CollectionError for an artwork
    that is not in the index yet (an add still running).
    """
    known = {i for i in ids if 0 < i <= MAX_ARTWORK_ID}
    catalogued = store.artworks(sorted(known)) if known else {}
    rows: list[dict[str, np.ndarray]] = []
    used: set[int] = set()
    for i in ids:
        row = catalogued.get(i)
        if row is None:
            raise NotFoundError(f"no artwork with id {i}", {"id": i})
        indexed = row.duplicate_of if row.duplicate_of is not None and not vecs.has(i) else i
        if not vecs.has(indexed):
            raise CollectionError(f"artwork {i} is not in the search index yet; try again when the add that is running ends", {"id": i})
        rows.append(stored_vectors(vecs, indexed))
        used.add(indexed)
    return {f: np.stack([r[f] for r in rows]) for f in vecs.facets}, used


def stored_vectors(vecs: FacetVectors, artwork_id: int) -> dict[str, np.ndarray]:
    """An indexed artwork's vector in every facet, as a query (no decoding)."""
    row = int(vecs.rows(np.array([artwork_id]))[0])
    return {f: np.asarray(vecs.matrices[f][row], np.float32) for f in vecs.facets}
