"""Vectors like a real collection's, at sizes no collection here has: a model fitted to its facets.

The shared data holds 10,605 WikiArt paintings; search has to be judged at 1M. Random unit vectors are the
worst case for an approximate index (no cluster structure at all) and say nothing of what art vectors get.
This model keeps what an index sees of a real collection, fitted to its own vectors:

- the facets' vectors of each work, concatenated (so the facets stay correlated as in real works);
- their mean and first `RANK` principal directions (62% of the variance of the WikiArt joint facet);
- a Gaussian mixture of `COMPONENTS` full-covariance components in that subspace (styles, subjects);
- the variance left outside it, as isotropic noise (so the model is *less* structured than the works:
  WikiArt's local intrinsic dimension measured 26, the model's 46, random vectors' 128 at the same size);
- each facet's part normalised to unit length, as the collection stores it.

`compare` checks it where both exist: the same held-out real works as queries against the real vectors
and against as many drawn ones (nearest-neighbour cosines, recall of k-means lists by lists probed, PQ
re-ranking depth). Queries of a benchmark are real works held out of the fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
from sklearn.mixture import GaussianMixture

RANK = 64
COMPONENTS = 200


@dataclass
class ArtVectorModel:
    dims: dict[str, int]  # facet -> its dimension, in concatenation order
    mean: np.ndarray
    basis: np.ndarray  # (RANK, D) principal directions
    mixture: GaussianMixture
    noise: float  # standard deviation per dimension of what the subspace leaves out


def fit(matrices: dict[str, np.ndarray], seed: int = 0) -> ArtVectorModel:
    """Fit the model to row-aligned facet matrices (N, d_f) of real works."""
    x = np.concatenate([matrices[f] for f in matrices], axis=1).astype(np.float64)
    mean = x.mean(0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    var = s**2 / len(x)
    # At least ~20 works a component: a small collection gets fewer.
    mixture = GaussianMixture(min(COMPONENTS, max(1, len(x) // 20)), covariance_type="full", reg_covar=1e-4, random_state=seed, max_iter=200)
    mixture.fit((x - mean) @ vt[:RANK].T)
    noise = float(np.sqrt(var[RANK:].sum() / (x.shape[1] - RANK)))
    return ArtVectorModel({f: m.shape[1] for f, m in matrices.items()}, mean, vt[:RANK], mixture, noise)


def sample(model: ArtVectorModel, n: int, seed: int) -> dict[str, np.ndarray]:
    """n works drawn from the model: unit float32 vectors per facet (drawn in chunks to bound memory)."""
    rng = np.random.default_rng(seed)
    out = {f: np.empty((n, d), np.float32) for f, d in model.dims.items()}
    step = 100_000
    for start in range(0, n, step):
        m = min(step, n - start)
        model.mixture.random_state = seed * 100_003 + start  # sklearn draws from its own generator
        z, _ = model.mixture.sample(m)
        x = model.mean + z @ model.basis + model.noise * rng.standard_normal((m, len(model.mean)))
        at = 0
        for f, d in model.dims.items():
            part = x[:, at:at + d]
            out[f][start:start + m] = part / np.linalg.norm(part, axis=1, keepdims=True)
            at += d
    return out


def concatenated(matrices: dict[str, np.ndarray]) -> np.ndarray:
    """Each work's facets side by side as one unit vector (what `compare` takes: cosines of all facets at once)."""
    x = np.concatenate(list(matrices.values()), axis=1)
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def compare(real: np.ndarray, drawn: np.ndarray, queries: np.ndarray) -> dict[str, list[float]]:
    """What an index sees of `real` and of as many `drawn` vectors, for the same real `queries`: median cosine
    of the 1st and 10th neighbour, recall@10 of IVF-Flat with sqrt(N) k-means lists probing 1, 2, 4, ... of them,
    and recall@10 of a 4-bit PQ (two dims per code) re-ranking 40 / 160 candidates."""
    out: dict[str, list[float]] = {}
    d = real.shape[1]
    lists = int(round(np.sqrt(len(real))))
    for name, x in (("real", real), ("model", drawn)):
        sims, truth = faiss.knn(queries, x, 10, metric=faiss.METRIC_INNER_PRODUCT)
        row = [float(np.median(sims[:, 0])), float(np.median(sims[:, 9]))]
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, lists, faiss.METRIC_INNER_PRODUCT)
        ivf.train(x)
        ivf.add(x)
        for nprobe in (1, 2, 4, 8, 16):
            ivf.nprobe = nprobe
            row.append(_recall(ivf.search(queries, 10)[1], truth))
        pq = faiss.IndexPQ(d, d // 2, 4, faiss.METRIC_INNER_PRODUCT)
        pq.train(x)
        pq.add(x)
        row += [_recall(pq.search(queries, 40)[1], truth), _recall(pq.search(queries, 160)[1], truth)]
        out[name] = row
    return out


COMPARE_COLUMNS = ("nn1 cos", "nn10 cos", "probe 1", "probe 2", "probe 4", "probe 8", "probe 16", "PQ 40", "PQ 160")


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, t)) / len(t) for f, t in zip(found, truth)]))
