"""Search by region: detected people and faces, each with its own vectors, found from a box of a query.

Every region a detector stores gets the raw features of its crop (one backbone pass per crop, the same
features as a whole artwork: content, style, colour). The crop is the box widened by a margin of its
kind (a face with its hair and collar, a person with a little ground) and then grown towards a square
with more of the picture, so the backbone's square input does not squash it. At query time the raw
features are projected with the collection's own facet transforms (fitted on whole artworks), so a
region and a whole work live in the same spaces and every facet's meaning stays the same.

A query is a box on an image (a file, or an artwork of the collection) or a stored region; results are
artworks ranked by their best-matching region, which each result names so it can be highlighted.
Exact scoring (one matrix product per facet): the regions of a collection are few enough for that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from artlens.retrieval.search import Hit
from artlens.store.database import RegionTable
from artlens.store.vectors import FacetVectors, score_quantiles
from artlens.vocabulary import FACETS, LEARNED_STYLE

if TYPE_CHECKING:
    from artlens.features.backbone import Backbone

# How far each side of a box is widened for its crop, as a share of the box's side.
MARGIN = {"face": 0.25, "person": 0.05}
DEFAULT_MARGIN = 0.1  # a box a person drew: a little context, as for a detected one


def crop_box(box: Sequence[float], width: int, height: int, kind: str | None = None) -> tuple[int, int, int, int]:
    """The crop of a box (x0, y0, x1, y1 in an image of width x height): widened by the kind's margin,
    grown towards a square inside the image, in whole pixels, at least 1 x 1."""
    x0, y0, x1, y1 = (float(v) for v in box)
    m = MARGIN.get(kind or "", DEFAULT_MARGIN)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    x0, x1, y0, y1 = x0 - m * w, x1 + m * w, y0 - m * h, y1 + m * h
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # Grow the short side to the long one, shifted back inside the picture where it runs over an edge.
    x0, x1 = _span(cx, side, width)
    y0, y1 = _span(cy, side, height)
    ix0, iy0 = int(np.floor(x0)), int(np.floor(y0))
    ix1, iy1 = max(int(np.ceil(x1)), ix0 + 1), max(int(np.ceil(y1)), iy0 + 1)
    return max(ix0, 0), max(iy0, 0), min(ix1, width), min(iy1, height)


def _span(centre: float, length: float, limit: int) -> tuple[float, float]:
    if length >= limit:
        return 0.0, float(limit)
    lo = min(max(centre - length / 2, 0.0), limit - length)
    return lo, lo + length


def crops(rgb: np.ndarray, boxes: Sequence[Sequence[float]], kinds: Sequence[str | None], scale: float = 1.0) -> list[np.ndarray]:
    """Pixels of each box's crop (see `crop_box`); boxes are in original pixels, `rgb` is the image
    decoded at `scale` times its original size."""
    h, w = rgb.shape[:2]
    out = []
    for box, kind in zip(boxes, kinds):
        x0, y0, x1, y1 = crop_box([v * scale for v in box], w, h, kind)
        out.append(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
    return out


@dataclass(frozen=True)
class RegionVectors:
    """The collection's regions in its facet spaces: rows of `table`, one unit vector per facet."""

    table: RegionTable
    matrices: dict[str, np.ndarray]  # facet -> (n, d)
    quantiles: dict[str, np.ndarray]  # facet -> similarity quantiles of random region pairs

    def __len__(self) -> int:
        return len(self.table.ids)

    def row(self, region_id: int) -> int | None:
        n = int(np.searchsorted(self.table.ids, region_id))
        return n if n < len(self.table.ids) and int(self.table.ids[n]) == region_id else None

    def percentile(self, facet: str, scores: np.ndarray) -> np.ndarray:
        q = self.quantiles[facet]
        return np.searchsorted(q, np.asarray(scores, np.float32), side="right") / len(q)


def project(table: RegionTable, vecs: FacetVectors) -> RegionVectors:
    """Regions' raw features -> unit vectors in the collection's fitted facets (content, style, colour)."""
    matrices = {f: vecs.transforms[f].apply(table.raw[f]) if len(table.ids) else np.zeros((0, vecs.transforms[f].dim), np.float32)
                for f in FACETS}
    rng = np.random.default_rng(0)
    return RegionVectors(table, matrices, {f: score_quantiles(m, rng) for f, m in matrices.items()})


@dataclass(frozen=True)
class RegionHit:
    """An artwork found through one of its regions: the artwork's `hit` and the region that matched."""

    hit: Hit
    region: dict[str, object]  # id, kind, box [x0, y0, x1, y1] in the artwork's pixels, score (the detector's)


def region_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """The part of a joint mix that regions have (content, style, colour); the learned style space's
    share goes to style (regions have no vector in it); content alone if nothing is left."""
    use = {f: float(w) for f, w in weights.items() if f in FACETS and w > 0}
    if weights.get(LEARNED_STYLE, 0) > 0:
        use["style"] = use.get("style", 0.0) + float(weights[LEARNED_STYLE])
    return use or {"content": 1.0}


def rank_regions(rv: RegionVectors, query: Mapping[str, np.ndarray], weights: Mapping[str, float], k: int,
                 allowed: np.ndarray | None = None, exclude_artworks: set[int] | frozenset[int] = frozenset(),
                 kinds: Sequence[str] = ()) -> list[RegionHit]:
    """Top `k` artworks by their best region for per-facet query vectors (weighted mean of cosines).

    allowed: artwork ids a filter lets through (None: all); kinds: region kinds to search (empty: all).
    """
    table = rv.table
    keep = np.ones(len(table.ids), bool)
    if allowed is not None:
        keep &= np.isin(table.artwork_ids, np.asarray(allowed, np.int64))
    if exclude_artworks:
        keep &= ~np.isin(table.artwork_ids, np.fromiter(exclude_artworks, np.int64))
    if kinds:
        keep &= np.isin(table.kinds, list(kinds))
    rows = np.flatnonzero(keep)
    if k <= 0 or len(rows) == 0:
        return []
    total = sum(weights.values())
    per_facet = {f: rv.matrices[f][rows] @ np.asarray(query[f], np.float32) for f in FACETS}
    score: np.ndarray = np.sum([w * per_facet[f] for f, w in weights.items()], axis=0) / total
    # Best region per artwork: sort by artwork then score, keep each artwork's first row.
    order = np.lexsort((-score, table.artwork_ids[rows]))
    first = order[np.r_[True, np.diff(table.artwork_ids[rows][order]) != 0]]
    top = first[np.argsort(-score[first], kind="stable")][:k]
    pct = {f: rv.percentile(f, per_facet[f][top]) for f in FACETS}
    out = []
    for n, i in enumerate(top):
        r = rows[i]
        hit = Hit(id=int(table.artwork_ids[r]), score=float(score[i]),
                  scores={f: round(float(per_facet[f][i]), 4) for f in FACETS},
                  percentiles={f: float(pct[f][n]) for f in FACETS})
        region = {"id": int(table.ids[r]), "kind": str(table.kinds[r]),
                  "box": [round(float(v), 1) for v in table.boxes[r]], "score": round(float(table.scores[r]), 4)}
        out.append(RegionHit(hit, region))
    return out


MIN_BOX = 8  # px of the original image: a smaller box is grown to this about its centre


def check_box(box: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    """A box (x0, y0, x1, y1) made usable on a width x height image: corners in order, clipped to the
    image, at least MIN_BOX px a side (grown about its centre). ValueError unless it is four finite numbers."""
    if len(box) != 4:
        raise ValueError(f"a box is four numbers x0,y0,x1,y1, not {len(box)}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(np.isfinite([x0, y0, x1, y1])):
        raise ValueError("a box's corners must be finite numbers")
    xa, xb = _inside(min(x0, x1), max(x0, x1), width)
    ya, yb = _inside(min(y0, y1), max(y0, y1), height)
    return xa, ya, xb, yb


def _inside(lo: float, hi: float, limit: int) -> tuple[float, float]:
    lo, hi = min(max(lo, 0.0), float(limit)), min(max(hi, 0.0), float(limit))
    if hi - lo < MIN_BOX:
        return _span((lo + hi) / 2, min(MIN_BOX, limit), limit)
    return lo, hi


def box_vectors(rgb: np.ndarray, width: int, box: Sequence[float], vecs: FacetVectors, backbone: Backbone,
                style_variant: str) -> dict[str, np.ndarray]:
    """The vectors (facet -> (d,)) of a box drawn on an image: `rgb` decoded from an original `width` px
    wide, `box` in original pixels (already checked)."""
    from artlens.features.embed import embed_rgb

    raw = embed_rgb(backbone, crops(rgb, [box], [None], rgb.shape[1] / max(width, 1)), style_variant)
    return {f: vecs.transforms[f].apply(raw[f])[0] for f in FACETS}
