"""Clusters of a map, and their names from what the works in each have in common.

Clusters are regions of the 2-D map itself (k-means on the positions), so that a name sits where the
eye sees a group; a work placed later joins the nearest centre. Names are computed when asked, from
the metadata or the predictions as they are then: the most common values of a column in the cluster,
with their share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

MAX_CLUSTERS = 40
NAME_VALUES = 3  # values listed per cluster and column
NAME_MIN_SHARE = 0.15  # a value under this share of its cluster is not part of its name


def cluster_count(n: int) -> int:
    """Half the square root of the works (65 works: 4; 6,400: 40), at most MAX_CLUSTERS: few enough to name on a picture."""
    return int(max(1, min(MAX_CLUSTERS, round(n**0.5 / 2), n)))


def fit_centres(xy: np.ndarray, seed: int = 0) -> np.ndarray:
    """(c, 2) k-means centres of the map's positions (a sample of 50,000 for large maps)."""
    pts = np.asarray(xy, np.float32)
    c = cluster_count(len(pts))
    if len(pts) == 0:
        return np.zeros((0, 2), np.float32)
    if len(pts) > 50_000:
        pts = pts[np.random.default_rng(seed).choice(len(pts), 50_000, replace=False)]
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=c, n_init=3, random_state=seed).fit(pts).cluster_centers_.astype(np.float32)


def assign(xy: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(n,) int32 index of each position's nearest centre (all 0 without centres)."""
    pts = np.asarray(xy, np.float32)
    if len(centres) == 0:
        return np.zeros(len(pts), np.int32)
    d = ((pts[:, None, :] - np.asarray(centres, np.float32)[None, :, :]) ** 2).sum(2)
    return d.argmin(1).astype(np.int32)


def common_values(values: Sequence[str | None], top: int = NAME_VALUES) -> list[tuple[str, float]]:
    """The `top` most common non-empty values with their share of ALL the works given (ties: alphabetical)."""
    counts = Counter(v for v in values if v)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [(v, n / max(1, len(values))) for v, n in ranked]


def name(common: list[tuple[str, float]]) -> str:
    """'Impressionism / Realism' from the common values over NAME_MIN_SHARE (at most two); '' when none is."""
    kept = [v for v, share in common if share >= NAME_MIN_SHARE][:2]
    return " / ".join(v.replace("_", " ") for v in kept)
