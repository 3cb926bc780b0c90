"""2-D layouts of a facet's vectors, and the rule that places new works on an existing one.

`fit` lays out every work of a facet (t-SNE by openTSNE by default; UMAP and PCA on request).
`place` puts new works on an existing map without moving the old ones: each new work goes next to the
work most similar to it already on the map, measured in the facet as it is now. That needs no fitted model, so it survives the facet transforms being refitted
by every `add` (a stored UMAP or t-SNE model would map the new works from a space that no longer
exists), and it is where t-SNE's and UMAP's own `transform` start from. bench/map_layout.py measured
it against openTSNE's transform and against the similarity-weighted mean of the 10 most similar (docs/map.md).

Coordinates are centred and scaled so the farthest work lies at distance 1 from the centre: pages
and plots need not know which method made the map.
"""

from __future__ import annotations

import numpy as np

from artlens.errors import InputError
from artlens.machine import usable_cores

METHODS: tuple[str, ...] = ("tsne", "umap", "pca")
DEFAULT_METHOD = "tsne"
MIN_FIT = 20  # below this many works, neighbour embeddings have too little to work with: PCA instead
# A new work goes where its most similar work is, pulled a tenth of the way toward the median of its 3 most
# similar. On WikiArt (joint, 20% placed on a t-SNE of the other 80%), that keeps 0.322 of the works' 10 facet
# neighbours on the map: nearly as much as openTSNE's own transform (0.327) in a twentieth of its time, where
# the mean of the 10 most similar kept 0.282 (docs/map.md).
PLACE_K = 3
PLACE_PULL = 0.1
STEP = 0.002  # on a map of radius 1: about the spacing of 100,000 works
PARALLEL_FROM = 5_000  # works from which t-SNE runs one thread per core
# Larger facets are laid out on a random sample this big, the rest placed by `place`. t-SNE: 100,000 works then
# take about 2 minutes here, where t-SNE of all of them takes over 10; UMAP lays out 100,000 whole (docs/map.md).
FIT_SAMPLE: dict[str, int] = {"tsne": 20_000, "umap": 200_000, "pca": 10_000_000}


def fit(vectors: np.ndarray, method: str = DEFAULT_METHOD, seed: int = 0) -> tuple[np.ndarray, str]:
    """(n, 2) float32 coordinates of `vectors` (unit rows), and the method actually used
    (PCA for fewer than MIN_FIT works)."""
    x = np.ascontiguousarray(vectors, np.float32)
    if method not in METHODS:
        raise ValueError(f"unknown layout method {method!r}")
    if len(x) < MIN_FIT:
        method = "pca"
    if method == "pca":
        xy = _pca(x)
    elif method == "umap":
        xy = _umap(x, seed)
    else:
        xy = _tsne(x, seed)
    return normalise(xy), method


def normalise(xy: np.ndarray) -> np.ndarray:
    """Centre on the mean and scale so the farthest point is at distance 1 (all zeros stay zeros)."""
    out = np.asarray(xy, np.float64)
    if len(out) == 0:
        return np.zeros((0, 2), np.float32)
    out = out - out.mean(0)
    radius = float(np.sqrt((out**2).sum(1)).max())
    return (out / radius if radius > 0 else out).astype(np.float32)


def _pca(x: np.ndarray) -> np.ndarray:
    xy = np.zeros((len(x), 2), np.float64)
    if len(x) < 2:
        return xy
    xc = x - x.mean(0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    proj = xc @ vt[:2].T
    xy[:, : proj.shape[1]] = proj
    return xy


def _tsne(x: np.ndarray, seed: int) -> np.ndarray:
    from openTSNE import TSNE

    # Perplexity 30 (the usual), capped so that each point has 3 x perplexity neighbours to choose from.
    perplexity = float(min(30.0, (len(x) - 1) / 3.0))
    # Threads only for large maps: on small ones they wait for each other, and on a busy machine a 55-work
    # map took 23-37 s with 2 threads against 1-6 s with one.
    threads = usable_cores() if len(x) >= PARALLEL_FROM else 1
    model = TSNE(n_components=2, perplexity=perplexity, metric="cosine", initialization="pca",
                 n_jobs=threads, random_state=seed, verbose=False)
    return np.asarray(model.fit(x))


def _umap(x: np.ndarray, seed: int) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state": one thread, same map every run
        try:
            from umap import UMAP
        except ImportError:
            raise InputError("the umap layout needs umap-learn: pip install 'artlens[umap]' (or use the default, tsne)") from None

        model = UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), min_dist=0.1, metric="cosine", random_state=seed)
        return np.asarray(model.fit_transform(x))


def place(new: np.ndarray, placed: np.ndarray, placed_xy: np.ndarray, k: int = PLACE_K, pull: float = PLACE_PULL) -> np.ndarray:
    """(m, 2) positions of `new` vectors on a map whose works have vectors `placed` at `placed_xy`: the
    position of each one's most similar placed work, moved `pull` of the way toward the median position of
    its k most similar (so that it does not hide that work, and leans toward where its other neighbours are)."""
    new = np.ascontiguousarray(new, np.float32)
    placed = np.ascontiguousarray(placed, np.float32)
    if len(new) == 0:
        return np.zeros((0, 2), np.float32)
    if len(placed) == 0:
        return np.zeros((len(new), 2), np.float32)
    _, rows = _top_k(new, placed, min(k, len(placed)))
    near = np.asarray(placed_xy, np.float64)[rows]  # (m, k, 2), most similar first
    out = near[:, 0] + pull * (np.median(near, axis=1) - near[:, 0])
    # Where the median is that work itself, step aside by a little (the same for the same work, in a direction of its own).
    still = np.all(out == near[:, 0], axis=1)
    if still.any():
        angle = np.arange(len(new))[still] * 2.39996  # the golden angle: neighbours of one work go different ways
        out[still] += STEP * np.column_stack([np.cos(angle), np.sin(angle)])
    return out.astype(np.float32)


def _top_k(queries: np.ndarray, base: np.ndarray, k: int, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k most similar rows of `base`, most similar first (exact, by blocks of queries)."""
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    sims = np.empty((len(queries), k), np.float32)
    rows = np.empty((len(queries), k), np.int64)
    for start in range(0, len(queries), block):
        sims[start:start + block], rows[start:start + block] = index.search(queries[start:start + block], k)
    return sims.astype(np.float64), rows
