"""The collection's searchable vectors: transforms fitted on the catalog, one matrix and index per facet.

`build` reads the raw features of every indexed artwork, fits each facet's transform, and writes
the transformed matrices, a FAISS index per facet (plus `joint`, the default weighted mix), score
quantiles (so a result can say how unusual its similarity is) and the near-duplicate pairs.
Learned facets (a `StyleSpace`, e.g. `style_learned`) are projections trained elsewhere: their
matrices come from the space, not from a transform fitted here, and a copy of the space is kept
beside them so queries are projected exactly as the collection was. It
writes into a fresh folder and swaps it in at the end, so an interrupted build leaves the previous
vectors usable and the next run simply builds again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from artlens.features.facets import DEFAULT_WEIGHTS, FACETS, TRANSFORM_SPECS, FacetTransform, fit_transform
from artlens.machine import usable_cores
from artlens.retrieval.duplicates import NearDuplicate, find_near_duplicates
from artlens.store.database import Catalog
from artlens.vocabulary import LEARNED_STYLE

if TYPE_CHECKING:
    from artlens.learn.style_space import StyleSpace
    from artlens.store.index import VectorIndex

QUANTILE_LEVELS = np.linspace(0.0, 1.0, 1001)
STATE_FILE = "state.json"


@dataclass
class FacetVectors:
    """Transformed vectors of every indexed artwork, row-aligned with `ids` (sorted)."""

    directory: Path
    ids: np.ndarray
    matrices: dict[str, np.ndarray]
    transforms: dict[str, FacetTransform]
    quantiles: dict[str, np.ndarray]
    weights: dict[str, float]
    catalog_version: int
    index_kinds: dict[str, tuple[int, str]] = field(default_factory=dict)  # facet -> (dim, kind), from state.json
    spaces: dict[str, StyleSpace] = field(default_factory=dict)  # learned facets
    _indexes: dict[str, VectorIndex] = field(default_factory=dict)

    @property
    def facets(self) -> tuple[str, ...]:
        """Every facet searchable on its own: the fitted ones, then the learned ones."""
        return (*(f for f in FACETS if f in self.matrices), *self.spaces)

    def project(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw features of images (from `embed`) -> their vector in every facet."""
        out = {f: self.transforms[f].apply(raw[f]) for f in FACETS}
        out.update({name: space.apply(raw) for name, space in self.spaces.items()})
        return out

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row numbers of catalog ids (which must be indexed)."""
        return np.searchsorted(self.ids, np.asarray(ids, np.int64))

    def has(self, artwork_id: int) -> bool:
        row = int(np.searchsorted(self.ids, artwork_id))
        return row < len(self.ids) and int(self.ids[row]) == artwork_id

    def index(self, facet: str) -> VectorIndex:
        """The FAISS index of a facet (or 'joint'), loaded on first use."""
        if facet not in self._indexes:
            from artlens.store.index import VectorIndex

            self._indexes[facet] = VectorIndex.load(self.directory / f"{facet}.faiss")
        return self._indexes[facet]

    def index_facts(self, facet: str) -> tuple[int, str]:
        """(dimension, index kind) of a facet's index, without loading it when the build recorded them."""
        if facet not in self.index_kinds:
            index = self.index(facet)
            self.index_kinds[facet] = (index.dim, index.kind)
        return self.index_kinds[facet]

    def percentile(self, facet: str, scores: np.ndarray) -> np.ndarray:
        """Share of random artwork pairs whose `facet` similarity is below each score (0..1)."""
        q = self.quantiles[facet]
        return np.searchsorted(q, np.asarray(scores, np.float32), side="right") / len(q)

    def dims(self) -> dict[str, int]:
        return {f: int(m.shape[1]) for f, m in self.matrices.items()}


def default_weights(facets: Sequence[str]) -> dict[str, float]:
    """The default joint mix over the facets a collection has. A learned style space takes the style
    share: on WikiArt artists it never saw, that mix finds the query's movement more often (P@10 0.513
    against 0.493) and its artist too (P@1 0.586 against 0.556); see docs/evaluation.md."""
    weights = {f: w for f, w in DEFAULT_WEIGHTS.items() if f in facets}
    if LEARNED_STYLE in facets and "style" in weights:
        weights[LEARNED_STYLE] = weights.pop("style")
    return weights


def joint_matrix(matrices: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Concatenate facets scaled by sqrt(weight / total): inner product = weighted mean of facet cosines."""
    total = sum(weights.values())
    parts = [np.sqrt(w / total) * matrices[f] for f, w in weights.items() if w > 0]
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


def _score_quantiles(mat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distribution of similarities between random pairs of distinct artworks."""
    n = len(mat)
    if n < 2:
        return np.quantile(np.zeros(1, np.float32), QUANTILE_LEVELS).astype(np.float32)
    q_rows = rng.choice(n, min(n, 400), replace=False)
    d_rows = rng.choice(n, min(n, 5000), replace=False)
    sims = mat[q_rows] @ mat[d_rows].T
    not_self = q_rows[:, None] != d_rows[None, :]
    # One sort then a lookup: np.quantile partitions once per level, 10x slower for 1,001 levels.
    ranked = np.sort(sims[not_self])
    return ranked[np.round(QUANTILE_LEVELS * (len(ranked) - 1)).astype(np.int64)].astype(np.float32)


def build(store: Catalog, directory: Path, raw_dims: dict[str, int], spaces: dict[str, StyleSpace] | None = None) -> FacetVectors:
    """Fit transforms and write vectors, indexes, quantiles and near-duplicates to `directory`.

    spaces: learned facets to add, by name (each must `fit` the collection's raw features).
    """
    from artlens.store.index import build_index

    spaces = dict(spaces or {})
    weights = default_weights((*FACETS, *spaces))
    for name, space in spaces.items():
        if name in (*FACETS, "joint") or not space.fits(raw_dims):
            raise ValueError(f"learned facet {name!r} does not fit this collection's features")
    needed = sorted({*FACETS, *(f for space in spaces.values() for f in space.inputs)})
    version, raw, arts = store.snapshot(needed, raw_dims)
    ids = raw["content"][0]
    for f in needed:
        if not np.array_equal(raw[f][0], ids):
            raise RuntimeError(f"catalog is inconsistent: facet {f} does not cover the same artworks as content")
    tmp = directory.with_name(directory.name + ".new")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    transforms: dict[str, FacetTransform] = {}
    matrices: dict[str, np.ndarray] = {}
    quantiles: dict[str, np.ndarray] = {}
    index_kinds: dict[str, tuple[int, str]] = {}
    if len(ids):
        # Facets are independent and numpy/FAISS release the GIL: one thread per core, each with a
        # single-threaded BLAS (OpenBLAS threads on top of these made the build 3x slower).
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(usable_cores()) as pool:
            transforms = dict(zip(FACETS, pool.map(lambda f: fit_transform(raw[f][1], TRANSFORM_SPECS[f]), FACETS)))
            matrices = dict(zip(FACETS, pool.map(lambda f: transforms[f].apply(raw[f][1]), FACETS)))
            for name, space in spaces.items():
                matrices[name] = space.apply({f: raw[f][1] for f in space.inputs})
            matrices["joint"] = joint_matrix(matrices, weights)

            def write(f: str) -> tuple[np.ndarray, tuple[int, str]]:
                np.save(tmp / f"{f}.npy", matrices[f])
                index = build_index(matrices[f], ids)
                index.save(tmp / f"{f}.faiss")
                return _score_quantiles(matrices[f], np.random.default_rng(0)), (index.dim, index.kind)

            written = dict(zip(matrices, pool.map(write, list(matrices))))
            quantiles = {f: q for f, (q, _) in written.items()}
            index_kinds = {f: facts for f, (_, facts) in written.items()}
        for f, t in transforms.items():
            t.save(tmp / f"{f}.transform.npz")
        for name, space in spaces.items():
            space.save(tmp / f"{name}.space.npz")
        np.savez(tmp / "quantiles.npz", **quantiles)  # type: ignore[arg-type]  # numpy stubs: keyword arrays
    np.save(tmp / "ids.npy", ids)
    phash = {a.id: a.phash for a in arts}
    near = find_near_duplicates(ids, [phash[int(i)] for i in ids], matrices.get("content"))
    (tmp / "near_duplicates.json").write_text(json.dumps([n.as_dict() for n in near]))
    (tmp / STATE_FILE).write_text(json.dumps({
        "catalog_version": version, "weights": weights, "artworks": int(len(ids)),
        "learned": {name: space.meta for name, space in spaces.items()},
        "indexes": {f: {"dim": dim, "kind": kind} for f, (dim, kind) in index_kinds.items()},
    }))
    _swap(tmp, directory)
    return load(directory)


def _swap(new: Path, current: Path) -> None:
    old = current.with_name(current.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if current.exists():
        current.rename(old)
    new.rename(current)
    shutil.rmtree(old, ignore_errors=True)


def built_version(directory: Path) -> int | None:
    """The catalog version the vectors were built from, or None when there are none."""
    try:
        return int(json.loads((directory / STATE_FILE).read_text())["catalog_version"])
    except (OSError, ValueError, KeyError):
        return None


def load(directory: Path) -> FacetVectors:
    state = json.loads((directory / STATE_FILE).read_text())
    ids = np.load(directory / "ids.npy")
    matrices: dict[str, np.ndarray] = {}
    transforms: dict[str, FacetTransform] = {}
    quantiles: dict[str, np.ndarray] = {}
    spaces: dict[str, StyleSpace] = {}
    if len(ids):
        from artlens.learn.style_space import StyleSpace

        spaces = {name: StyleSpace.load(directory / f"{name}.space.npz") for name in state.get("learned", {})}
        # Memory-mapped: a search touches only the rows it scores.
        matrices = {f: np.load(directory / f"{f}.npy", mmap_mode="r") for f in (*FACETS, *spaces, "joint")}
        transforms = {f: FacetTransform.load(directory / f"{f}.transform.npz") for f in FACETS}
        with np.load(directory / "quantiles.npz") as z:
            quantiles = {f: z[f] for f in z.files}
    return FacetVectors(directory=directory, ids=ids, matrices=matrices, transforms=transforms, quantiles=quantiles,
                        weights=dict(state["weights"]), catalog_version=int(state["catalog_version"]), spaces=spaces,
                        index_kinds={f: (int(d["dim"]), str(d["kind"])) for f, d in state.get("indexes", {}).items()})


def load_near_duplicates(directory: Path) -> list[NearDuplicate]:
    path = directory / "near_duplicates.json"
    if not path.exists():
        return []
    return [NearDuplicate(**d) for d in json.loads(path.read_text())]
