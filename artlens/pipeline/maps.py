"""The collection map's two jobs: lay out facets from scratch (`artlens map`) and keep them up to date
after an `add` (new works placed, removed ones dropped, the old ones never moved).

Layouts live in the catalog (tables `layouts` and `layout_points`), beside the artworks they show:
a PostgreSQL catalog keeps them too, and a rebuilt vectors/ folder loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from artlens.maps import clusters, layout
from artlens.store.database import Catalog, LayoutRows
from artlens.store.vectors import FacetVectors

# A re-layout is advised once more than this share of the works on a map were placed rather than
# fitted: bench/map_layout.py measured what placing costs (docs/map.md).
RELAYOUT_SHARE = 0.2


@dataclass
class Made:
    facet: str
    method: str
    works: int
    seconds: float


def make(store: Catalog, vecs: FacetVectors, facets: Sequence[str], method: str, feature_space: str) -> list[Made]:
    """Lay out each facet from scratch over every indexed work and store it (replacing an older map)."""
    made = []
    for facet in facets:
        start = time.perf_counter()
        x = np.asarray(vecs.matrices[facet], np.float32)
        ids = vecs.ids
        sample = layout.FIT_SAMPLE.get(method, len(x))
        if len(x) > sample:
            # Large collections: fit a sample, place the rest by the same rule `add` uses.
            fit_rows = np.sort(np.random.default_rng(0).choice(len(x), sample, replace=False))
        else:
            fit_rows = np.arange(len(x))
        xy = np.zeros((len(x), 2), np.float32)
        xy[fit_rows], used = layout.fit(x[fit_rows], method)
        rest = np.setdiff1d(np.arange(len(x)), fit_rows)
        if len(rest):
            xy[rest] = layout.place(x[rest], x[fit_rows], xy[fit_rows])
        centres = clusters.fit_centres(xy)
        # `fitted` < works: the rest was placed as part of this layout; `placed` flags only later adds.
        info = {"fitted": int(len(fit_rows)), "asked": method, "centres": centres.round(5).tolist(),
                "feature_space": feature_space, "seconds": 0.0}
        info["seconds"] = round(time.perf_counter() - start, 2)
        store.write_layout(facet, used, info, ids, xy, np.zeros(len(x), bool), clusters.assign(xy, centres))
        made.append(Made(facet, used, int(len(ids)), float(info["seconds"])))
    return made


def update(store: Catalog, vecs: FacetVectors) -> dict[str, int]:
    """Place every indexed work missing from a stored map and drop works no longer indexed; the works
    already on it keep their place. Returns facet -> works placed now."""
    placed_now: dict[str, int] = {}
    for facet in store.layout_facets():
        current = store.layout(facet)
        if current is None or facet not in vecs.matrices:
            continue  # a facet gone from the vectors (e.g. a learned space removed): its map stays as it was
        gone = np.setdiff1d(current.ids, vecs.ids)
        new = np.setdiff1d(vecs.ids, current.ids)
        if not len(gone) and not len(new):
            continue
        keep = ~np.isin(current.ids, gone)
        mat = vecs.matrices[facet]
        xy = layout.place(np.asarray(mat[vecs.rows(new)]), np.asarray(mat[vecs.rows(current.ids[keep])]), current.xy[keep])
        centres = np.asarray(current.info.get("centres", []), np.float32).reshape(-1, 2)
        store.extend_layout(facet, current.info, [int(i) for i in gone], new, xy, np.ones(len(new), bool), clusters.assign(xy, centres))
        placed_now[facet] = int(len(new))
    return placed_now


def relayout_reason(works: int, placed: int, info: dict[str, Any], feature_space: str) -> str | None:
    """Why a full re-layout of a map (of `works`, `placed` of them since the layout) would help now, or None."""
    share = placed / works if works else 0.0
    if share > RELAYOUT_SHARE:
        return f"{share:.0%} of its works were placed after the layout (over {RELAYOUT_SHARE:.0%})"
    made_on = info.get("feature_space")
    if made_on and made_on != feature_space:
        return f"it was laid out on {made_on} features; the collection now has {feature_space}"
    return None


def cluster_table(rows: LayoutRows, columns: dict[str, list[str | None]], by: str) -> list[dict[str, Any]]:
    """Per cluster: id, centre, size, name (from column `by`) and common values of every column given
    (values row-aligned with `rows.ids`)."""
    centres = np.asarray(rows.info.get("centres", []), np.float32).reshape(-1, 2)
    out = []
    for c in range(len(centres)):
        members = np.flatnonzero(rows.clusters == c)
        if not len(members):
            continue
        common = {col: clusters.common_values([vals[i] for i in members]) for col, vals in columns.items()}
        out.append({"id": c, "x": round(float(centres[c, 0]), 4), "y": round(float(centres[c, 1]), 4), "size": int(len(members)),
                    "name": clusters.name(common.get(by, [])),
                    "common": {col: [{"value": v, "share": round(s, 3)} for v, s in vals] for col, vals in common.items()}})
    return out
