"""How well a 2-D map keeps a facet's neighbours: the measures behind bench/map_layout.py and docs/map.md.

Small pure functions on numpy arrays. "Neighbours" are always the k nearest other points (never the
point itself): in the facet by cosine similarity (the vectors are unit length, as search uses them),
on the map by Euclidean distance.

- k-NN preservation: the share of a work's k facet neighbours that are also among its k map neighbours
  (1.0: every neighbourhood kept; a random layout gets about k / n).
- trustworthiness (Venna and Kaski 2001): penalises map neighbours that are far in the facet, by how far
  down the facet ranking they are; scikit-learn's definition, computed on a sample of the points.
- label agreement: the share of a work's k map neighbours with the work's own label (missing labels,
  empty strings, are left out on both sides); compare it with the same share in the facet itself.
"""

from __future__ import annotations

import numpy as np


def _check(n: int, k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if n <= k:
        raise ValueError(f"need more than k={k} points, got {n}")


def facet_neighbours(vectors: np.ndarray, k: int, block: int = 2048) -> np.ndarray:
    """(n, k) rows of each point's k most similar other points by inner product (cosine for unit vectors)."""
    x = np.ascontiguousarray(vectors, np.float32)
    _check(len(x), k)
    out = np.empty((len(x), k), np.int64)
    for start in range(0, len(x), block):
        sims = x[start:start + block] @ x.T
        rows = np.arange(start, min(start + block, len(x)))
        sims[rows - start, rows] = -np.inf  # never itself
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1, kind="stable")
        out[rows] = np.take_along_axis(top, order, 1)
    return out


def map_neighbours(coords: np.ndarray, k: int) -> np.ndarray:
    """(n, k) rows of each point's k nearest other points on the map (Euclidean)."""
    from sklearn.neighbors import NearestNeighbors

    xy = np.asarray(coords, np.float64)
    _check(len(xy), k)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy)
    # Drop the point itself (normally column 0; with exact ties it may sit elsewhere).
    keep = idx != np.arange(len(xy))[:, None]
    keep[keep.sum(1) > k, -1] = False
    return idx[keep].reshape(len(xy), k)


def knn_preservation(high: np.ndarray, low: np.ndarray) -> float:
    """Mean share of each row of `high` (facet neighbours) found in the same row of `low` (map neighbours)."""
    if high.shape != low.shape or high.size == 0:
        raise ValueError(f"neighbour tables must have one shape, got {high.shape} and {low.shape}")
    hits = (high[:, :, None] == low[:, None, :]).any(2)
    return float(hits.mean())


def label_agreement(neighbours: np.ndarray, labels: np.ndarray) -> float:
    """Mean share of a point's neighbours that carry its label, over points with a label (NaN when none has)."""
    lab = np.asarray(labels, dtype=object)
    known = np.array([isinstance(v, str) and v != "" for v in lab])
    if not known.any():
        return float("nan")
    same = (lab[neighbours] == lab[:, None]) & known[neighbours]
    return float(same[known].mean())


def trustworthiness(vectors: np.ndarray, coords: np.ndarray, k: int, sample: int = 3000, seed: int = 0) -> float:
    """scikit-learn's trustworthiness (cosine in the facet) on a random sample of at most `sample` points:
    its full pairwise ranks cost n^2 memory."""
    from sklearn.manifold import trustworthiness as sk_trust

    x, xy = np.asarray(vectors, np.float32), np.asarray(coords, np.float32)
    if len(x) > sample:
        rows = np.random.default_rng(seed).choice(len(x), sample, replace=False)
        x, xy = x[rows], xy[rows]
    _check(len(x), k)
    return float(sk_trust(x, xy, n_neighbors=k, metric="cosine"))
