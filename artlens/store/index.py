"""One FAISS vector index per facet: exact for small collections, approximate above a size threshold.

Vectors are L2-normalised float32, so inner product = cosine. Every index is an `IndexIDMap2` keyed
by int64 catalog ids and keeps the original float vectors, which are needed for exact re-ranking
and for exact scoring of small filtered sets (metadata filters).

Kinds (chosen by `build_index`, recorded in the index file itself):

- ``exact``: `IndexFlatIP`. Below `EXACT_BELOW` vectors a brute-force scan is a few ms per query.
- ``pq`` (default approximate): a 4-bit PQ fast-scan code of each vector (2 dims per sub-quantizer,
  `IndexIVFPQFastScan`), then the best ``k * k_factor`` candidates re-ranked exactly from the stored
  vectors (`IndexRefineFlat`). Two layouts, the cheaper one that reaches the target recall on held-out
  rows at build time:

  - clustered: about sqrt(N) k-means lists of residual codes, a query scanning the ``nprobe`` nearest;
    nprobe and k_factor tuned together. Art vectors are clustered: on 1M vectors drawn from a model of
    the WikiArt joint facet (448-d) it probes 32 of 1,000 lists (3% of the codes) for recall@10 0.96 with
    real paintings as queries, 0.7-1.1 ms median (docs/benchmarks.md), against ~6 ms for every code.
  - split: when no nprobe is cheap enough (data without cluster structure), every code is scanned, in
    `SCAN_LISTS` equal inverted lists (a split, not clusters) that a single query scans on parallel
    threads, k_factor tuned. On 1M random unit vectors (the hardest case) one query takes a median of
    ~2 ms at d=256 and ~6 ms at d=448 with recall@10 0.96-0.97, the build 10-20 s, whatever the data.
    HNSW needed efSearch 4096 for the same recall at 1M x 128: 41 ms per query after a 21 min build.
- ``hnsw`` (opt-in, ``approx="hnsw"``): `IndexHNSWFlat`, efSearch tuned at build time. Better on data
  with strong low-dimensional structure; kept for that case and for comparison.
"""

from __future__ import annotations

import os
import pathlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from typing import Any, BinaryIO, Literal

import faiss
import numpy as np

from artlens.errors import CollectionError
from artlens.machine import usable_cores
from artlens.store.listings import sorted_distinct

# For the search-parameter classes, untyped: FAISS's generated stubs miss their keyword constructors
# (added at runtime by its Python wrappers) and SearchParametersHNSW.
_faiss: Any = faiss

# Below this many vectors search is exact (brute force). Measured single-query flat scans cost ~0.3 ns
# per (vector x dim) here: 30k vectors take ~2.3 ms at d=256 and ~5 ms (p99 ~7 ms) for a ~600-d joint
# facet (concatenated content + style + colour), still inside the 10 ms budget, with perfect recall
# and no tuning risk on small or odd collections. Above it the scan grows linearly (65 ms at 1M x 256),
# while the approximate index stays at 0.3-0.5 ms at 100k and ~5 ms at 1M.
EXACT_BELOW: int = 30_000
# Never build an approximate index on fewer vectors: the PQ codebooks need >= 16 * 39 training points
# and at this size exact search costs well under a millisecond anyway.
APPROX_MIN: int = 1_000
# Filtered searches whose allowed set has at most this many indexed ids are scored exactly. Gathering
# rows scattered over a 1M x 256 matrix costs ~0.3-0.5 us each: 10k rows took 2.5-5 ms (p99 5-9 ms),
# about one approximate scan of 1M vectors, which is what larger sets cost.
EXACT_FILTER_BELOW: int = 10_000
# HNSW with a selector loses recall when few nodes are allowed (the walk wanders through rejected
# nodes): below this allowed fraction score exactly, above it widen efSearch by 1 / fraction.
HNSW_MIN_FILTER_FRACTION: float = 0.2

# Approximate indexes answer filters allowing at least this share of the collection by searching
# unfiltered for ~2 k / share results and dropping the others (strategy "post_filter" of VectorIndex.search).
POSTFILTER_SHARE: float = 0.25
# An IVF index searched with a filter (a selector) probes this many times its tuned lists.
SELECTOR_PROBE_FACTOR: int = 2
SMALL_BATCH: int = 16  # fewer queries than this run on one FAISS thread (see VectorIndex.search)

# How a filtered search (`allowed_ids`) is answered: see VectorIndex.search.
Strategy = Literal["auto", "exact", "selector", "post_filter"]
STRATEGIES: tuple[str, ...] = ("auto", "exact", "selector", "post_filter")

HNSW_M: int = 32
HNSW_EF_CONSTRUCTION: int = 100
PQ_NBITS: int = 4  # 4-bit codes are what the fast-scan SIMD kernels (in-register lookup tables) need
# A PQ index keeps its vectors in this many inverted lists (when the machine has the cores), scanned at
# once by a single query (the calling thread and a helper): 1M x 384 went from 10.4 to 5.1 ms median
# (p99 11.3 -> 6.7-9.0); at 1M x 448 the helper-only version had p99 10.5-12.2, this one 7.9-8.3.
# Each list is scanned single-threaded and the lists' results merged by (score, row), so a query's
# answer never depends on thread timing (FAISS's own parallel fast scan, implem 14, merged ties in
# thread order: ~1 query in 300 changed between runs).
SCAN_LISTS: int = 2
# A clustered PQ index (k-means lists, a query probing the nearest few) re-ranks at most this many candidates
# per result: deeper re-ranking means its lists lose recall that the split layout would keep.
CLUSTER_MAX_K_FACTOR: float = 64
# Held-out rows of the index understate the lists a query from outside it needs (an uploaded image, a work
# added since): real WikiArt queries on 1M vectors of the art-vector model reached recall 0.92 at the 16
# lists the held-out rows asked for, 0.96 at 32. A clustered index probes this many times what tuning found.
CLUSTER_PROBE_MARGIN: int = 2
CLUSTER_ITERATIONS: int = 10  # k-means of the coarse lists: IVF recall hardly moves after ~10 (FAISS's own IVF default trains 10)
TUNE_QUERIES: int = 500  # held-out queries for tuning: recall estimate +-0.01
TUNE_K: int = 10
TUNE_MARGIN: float = 0.01  # aim a little above the target: the tuning estimate has sampling noise
TRAIN_MAX: int = 65_536
_K_FACTORS: tuple[float, ...] = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
_EF_SEARCH: tuple[int, ...] = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)


class VectorIndex:
    """A FAISS index of one facet, keyed by int64 catalog ids (cosine similarity on unit vectors)."""

    kind: str
    dim: int

    def __init__(self, index: faiss.IndexIDMap2) -> None:
        self._index = index
        # Typed Any: FAISS's generated stubs lack the attributes of each downcast index kind.
        self._inner: Any = faiss.downcast_index(index.index)
        storage: Any
        if isinstance(self._inner, faiss.IndexFlat):
            self.kind, storage = "exact", self._inner
        elif isinstance(self._inner, faiss.IndexHNSWFlat):
            self.kind, storage = "hnsw", self._inner.storage
        elif isinstance(self._inner, faiss.IndexRefine):
            self.kind, storage = "pq", self._inner.refine_index
        else:
            raise ValueError(f"unsupported FAISS index type {type(self._inner).__name__}")
        self._storage: Any = faiss.downcast_index(storage)  # an IndexFlat
        base: Any = faiss.downcast_index(self._inner.base_index) if self.kind == "pq" else None
        self._base = base
        self._lists = int(base.nlist) if base is not None else 1
        # A split layout's equal lists hold codes of the vectors themselves (every list scanned, on parallel
        # threads when there are several: PQ indexes built since SCAN_LISTS); a clustered one's, of residuals.
        self._split = base is not None and not base.by_residual
        if self._storage.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError("index does not use inner-product similarity")
        self.dim = int(index.d)
        self._ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        # Sorted copy of the ids, to turn catalog ids into row positions for filters.
        self._order = np.argsort(self._ids, kind="stable")
        self._sorted_ids = self._ids[self._order]

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __repr__(self) -> str:
        return f"VectorIndex(kind={self.kind!r}, n={len(self)}, dim={self.dim}, params={self.params})"

    @property
    def ids(self) -> np.ndarray:
        """Catalog ids in row order (a copy)."""
        return self._ids.copy()

    @property
    def params(self) -> dict[str, int | float | str]:
        """Construction and tuned search parameters, for logs and benchmarks."""
        if self.kind == "hnsw":
            h = self._inner.hnsw
            return {"M": int(h.nb_neighbors(0) // 2), "efConstruction": int(h.efConstruction),
                    "efSearch": int(h.efSearch)}
        if self.kind == "pq":
            return {"pq": f"PQ{self._base.pq.M}x{self._base.pq.nbits}fs", "k_factor": float(self._inner.k_factor),
                    "lists": self._lists, **({} if self._split else {"nprobe": int(self._base.nprobe)})}
        return {}

    def vectors(self) -> np.ndarray:
        """The stored float vectors, (N, dim), row-aligned with `ids`: a read-only view, valid while self lives."""
        n = len(self)
        if n == 0:
            return np.zeros((0, self.dim), np.float32)
        view = faiss.rev_swig_ptr(self._storage.get_xb(), n * self.dim).reshape(n, self.dim)
        view.flags.writeable = False
        return view

    def search(self, queries: np.ndarray, k: int, allowed_ids: np.ndarray | None = None, *,
               strategy: Strategy = "auto", ordered: int | None = None,
               allowed_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by cosine: (scores (Q, k) float32, ids (Q, k) int64); missing results are id -1, score -inf.

        `allowed_ids` restricts results to those catalog ids (ids not in the index are ignored); `allowed_mask`
        (instead) to the rows where it is True, one per vector in the order the index was built (a filter decided
        over the same works needs no mapping of ids to rows: 148,000 of 1M ids took 1.5 ms); a mask is scored exactly
        when it allows few rows, else searched with the selector ("post_filter" does not apply to it).
        `strategy` says how such a filtered search is answered (it does not matter without a filter):

        - ``"auto"`` (the default): an approximate index answers filters allowing at least
          `POSTFILTER_SHARE` of it, given as sorted ids, by ``"post_filter"`` when that finds k
          results; otherwise sets of at most `EXACT_FILTER_BELOW` ids (and, for HNSW, below
          `HNSW_MIN_FILTER_FRACTION` of the index) are scored ``"exact"``, larger ones by ``"selector"``.
          An exact index always scores the allowed rows exactly.
        - ``"exact"``: brute-force scores of the allowed rows only.
        - ``"selector"``: the approximate index searched with a FAISS bitmap selector (approximate indexes only).
        - ``"post_filter"``: an unfiltered search for about 2 k / share results, keeping the allowed
          ones; may return fewer than k results.

        Forcing a strategy is for benchmarks and tests; "auto" is what callers want.

        `ordered` (unfiltered searches): only the best `ordered` of the k results need the order a top-10 search
        gives its 10; a PQ index then re-ranks that many results' worth of candidates exactly instead of k's. For
        a caller that checks k candidates against a filter of its own and keeps the best few that pass.
        """
        q = _as_queries(queries, self.dim)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        if strategy == "selector" and self.kind == "exact":
            raise ValueError("the 'selector' strategy needs an approximate index; this one is exact")
        k = int(k)
        # A user search is one query: FAISS with 2 OpenMP threads gave the same median and a p99 of
        # 20-28 ms instead of 1-6 ms on the 2-vCPU reference machine (barrier waits). Batches keep them.
        with _faiss_threads(1) if len(q) < SMALL_BATCH else nullcontext():
            if allowed_mask is not None:
                if len(allowed_mask) != len(self):
                    raise ValueError(f"allowed_mask has {len(allowed_mask)} rows for an index of {len(self)}")
                scores, ids = self._filtered(q, k, np.empty(0, np.int64), np.asarray(allowed_mask, bool), strategy)
            else:
                scores, ids = self._search(q, k, allowed_ids, strategy, min(k, ordered or k))
        scores = np.ascontiguousarray(scores, np.float32)
        ids = np.ascontiguousarray(ids, np.int64)
        scores[ids < 0] = -np.inf  # FAISS pads with -FLT_MAX
        return scores, ids

    def _search(self, q: np.ndarray, k: int, allowed_ids: np.ndarray | None,
                strategy: Strategy, ordered: int) -> tuple[np.ndarray, np.ndarray]:
        if allowed_ids is None:
            # Candidates re-ranked: k_factor x ordered, but at least k (`ordered` < k only on a PQ index's knob).
            k_factor = max(1.0, float(self._inner.k_factor) * ordered / k) if self.kind == "pq" else 1.0
            if self._parallel(q):
                scores, ids = self._parallel_search(q, k, k_factor)
            elif self.kind == "pq" and ordered < k:
                scores, ids = self._index.search(q, k, params=_faiss.IndexRefineSearchParameters(k_factor=k_factor))
            else:
                scores, ids = self._index.search(q, k)
        else:
            allowed = np.asarray(allowed_ids, dtype=np.int64).ravel()
            if strategy == "post_filter":
                return self._post_filtered(q, k, np.sort(allowed))[:2]
            # "auto" post-filters broad filters given sorted (as catalog queries return them), unless a
            # query then keeps fewer than k results.
            if (strategy == "auto" and self.kind != "exact" and len(allowed) >= POSTFILTER_SHARE * len(self)
                    and bool(np.all(allowed[1:] >= allowed[:-1]))):
                scores, ids, complete = self._post_filtered(q, k, allowed)
                if complete:
                    return scores, ids
            rows, mask = self._allowed_rows(allowed)
            scores, ids = self._filtered(q, k, rows, mask, strategy)
        return scores, ids

    def _filtered(self, q: np.ndarray, k: int, rows: np.ndarray, mask: np.ndarray | None,
                  strategy: Strategy) -> tuple[np.ndarray, np.ndarray]:
        """Search among the allowed rows (sorted `rows`, or `mask` when given): scored exactly when few, else by the
        approximate index with a bitmap selector."""
        n = len(self)
        count = len(rows) if mask is None else int(np.count_nonzero(mask))
        if count == 0:
            return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
        if strategy == "exact" or (strategy in ("auto", "post_filter") and (
                self.kind == "exact" or count <= EXACT_FILTER_BELOW
                or (self.kind == "hnsw" and count < HNSW_MIN_FILTER_FRACTION * n))):
            return self._exact_subset(q, k, rows if mask is None else np.flatnonzero(mask))
        if mask is None:
            mask = np.zeros(n, bool)
            mask[rows] = True
        return self._selector_search(q, k, mask)

    def _post_filtered(self, q: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Broad filters: search unfiltered for enough extra results, keep the allowed ones.

        Cheaper than a selector (no O(N) mask per call: 11 ms -> ~5 ms with half of 1M allowed) and at
        least as accurate, since the index ranks more candidates. `allowed` must be sorted. Returns
        scores, ids (padded with id -1) and whether every query kept min(k, len(allowed)) results.
        """
        if len(allowed) == 0:
            return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64), True
        share = min(1.0, len(allowed) / len(self))
        wide = min(len(self), int(np.ceil(2 * k / share)) + 10)  # 2x the expected need, plus slack
        if self.kind == "pq":
            # Re-rank as many candidates as k results of this share need (k * k_factor / share), not
            # k_factor times the wide list: at 1M x 384 with half allowed, p99 13.1 -> ~10 ms, recall@10 0.998 -> 0.99.
            k_factor = float(self._inner.k_factor)
            k_factor = max(2.0, min(k_factor, k_factor * k / (share * wide)))
            if self._parallel(q):
                scores, ids = self._parallel_search(q, wide, k_factor)
            else:
                scores, ids = self._index.search(q, wide, params=_faiss.IndexRefineSearchParameters(k_factor=k_factor))
        else:
            scores, ids = self._index.search(q, wide)
        at = np.minimum(np.searchsorted(allowed, ids), len(allowed) - 1)
        keep = (allowed[at] == ids) & (ids >= 0)
        complete = bool((keep.sum(axis=1) >= min(k, len(allowed))).all())
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # allowed results first, rank kept
        kept = np.take_along_axis(keep, order, axis=1)
        return (np.where(kept, np.take_along_axis(scores, order, axis=1), -np.inf).astype(np.float32),
                np.where(kept, np.take_along_axis(ids, order, axis=1), -1), complete)

    def _parallel(self, q: np.ndarray) -> bool:
        return self._split and self._lists > 1 and len(q) < SMALL_BATCH

    def _parallel_search(self, q: np.ndarray, k: int, k_factor: float) -> tuple[np.ndarray, np.ndarray]:
        """What IndexRefineFlat answers (the best k * k_factor by PQ score, re-ranked exactly), with each
        query's inverted lists scanned on threads of their own. Candidates are merged by (PQ score, row)
        and re-ranked by (score, row): the same answer whatever the threads' timing."""
        want = max(k, int(k * k_factor))
        scores = np.full((len(q), k), -np.inf, np.float32)
        ids = np.full((len(q), k), -1, np.int64)
        pool = _scan_pool(self._lists - 1)
        for i in range(len(q)):
            # The first list on this thread (FAISS single-threaded here: `search` runs small batches so), the others on the pool's.
            others = [pool.submit(self._scan_list, q[i], want, j) for j in range(1, self._lists)]
            parts = [self._scan_list(q[i], want, 0), *(f.result() for f in others)]
            dist = np.concatenate([d for d, _ in parts])
            rows = np.concatenate([r for _, r in parts])
            found = rows >= 0
            dist, rows = dist[found], rows[found]
            cand = rows[np.lexsort((rows, -dist))[:want]]
            if not len(cand):
                continue
            sims = np.empty(len(cand), np.float32)
            self._storage.compute_distance_subset(1, faiss.swig_ptr(q[i]), len(cand), faiss.swig_ptr(sims), faiss.swig_ptr(cand))
            best = np.lexsort((cand, -sims))[:k]
            scores[i, :len(best)], ids[i, :len(best)] = sims[best], self._ids[cand[best]]
        return scores, ids

    def _scan_list(self, q1: np.ndarray, want: int, list_no: int) -> tuple[np.ndarray, np.ndarray]:
        """PQ scores and rows of the best `want` vectors of one inverted list, on the calling thread."""
        dist = np.empty(want, np.float32)
        rows = np.empty(want, np.int64)
        assign = np.array([list_no], np.int64)
        zero = np.zeros(1, np.float32)
        self._base.search_preassigned_c(1, faiss.swig_ptr(q1), want, faiss.swig_ptr(assign), faiss.swig_ptr(zero),
                                        faiss.swig_ptr(dist), faiss.swig_ptr(rows), False, _ONE_LIST)
        return dist, rows

    def _allowed_rows(self, allowed_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows of the allowed catalog ids that are in the index: (sorted rows, None) or (empty, row mask)."""
        allowed = np.asarray(allowed_ids, dtype=np.int64).ravel()
        table = self._id_table()
        if table is not None:
            # Dense catalog ids: one read of the id -> row table per id. Large sets become a mask over rows in one
            # vectorised pass (about half the time of np.isin: ~5 vs ~10 ms for 500k of 1M ids); small ones stay
            # rows (a binary search each took ~1.8 ms for 10k of 1M ids).
            lo, hi = self._sorted_ids[0], self._sorted_ids[-1]
            rows = table[allowed[(allowed >= lo) & (allowed <= hi)] - lo]
            rows = rows[rows >= 0]
            if len(allowed) > EXACT_FILTER_BELOW:
                mask = np.zeros(len(self), bool)
                mask[rows] = True
                return np.empty(0, np.int64), mask
            # Distinct ids (a catalog listing always is) map to distinct rows: sorting them is enough (10,000: 0.4 ms less).
            distinct = bool(np.all(allowed[1:] > allowed[:-1]))
            return (np.sort(rows) if distinct else sorted_distinct(rows)).astype(np.int64), None
        if len(allowed) > EXACT_FILTER_BELOW:
            return np.empty(0, np.int64), np.isin(self._ids, allowed)
        allowed = np.sort(allowed)
        at = np.minimum(np.searchsorted(self._sorted_ids, allowed), len(self._sorted_ids) - 1)
        rows = np.sort(self._order[at[self._sorted_ids[at] == allowed]])
        return rows[np.concatenate(([True], rows[1:] != rows[:-1]))] if len(rows) else rows, None

    def _id_table(self) -> np.ndarray | None:
        """Row of each id in [min id, max id] (-1 if absent), when ids are dense enough (catalog ids are)."""
        if not hasattr(self, "_table"):
            span = int(self._sorted_ids[-1] - self._sorted_ids[0]) + 1
            self._table: np.ndarray | None = None
            if span <= 8 * len(self) + 1024:  # int32 table: <= 32 bytes per indexed vector
                self._table = np.full(span, -1, np.int32 if len(self) < 2**31 else np.int64)
                self._table[self._ids - self._sorted_ids[0]] = np.arange(len(self))
        return self._table

    def _exact_subset(self, q: np.ndarray, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force scores of `q` against the given rows only."""
        m = len(rows)
        kk = min(k, m)
        scores = np.full((len(q), k), -np.inf, np.float32)
        labels = np.full((len(q), k), -1, np.int64)
        if len(q) < 8:
            # One query at a time: FAISS gathers and scores in one pass, no (m, d) copy (3x faster than numpy).
            sims = np.empty((1, m), np.float32)
            for i in range(len(q)):
                self._storage.compute_distance_subset(1, faiss.swig_ptr(q[i]), m, faiss.swig_ptr(sims),
                                                      faiss.swig_ptr(rows))
                scores[i, :kk], labels[i, :kk] = _top_k(sims, kk)
        else:
            # Many queries: copy the rows once and let BLAS do the products.
            sub = np.take(self.vectors(), rows, axis=0)
            step = max(1, (64 << 20) // (4 * m))  # keep the (step, m) score block around 64 MB
            for s in range(0, len(q), step):
                sims = q[s:s + step] @ sub.T
                scores[s:s + step, :kk], labels[s:s + step, :kk] = _top_k(sims, kk)
        ids = np.where(labels >= 0, self._ids[rows[np.maximum(labels, 0)]], -1)
        return scores, ids

    def _selector_search(self, q: np.ndarray, k: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Approximate search restricted to rows where `mask` is set, with a bitmap selector.

        A bitmap is N/8 bytes and O(N) to build with numpy; IDSelectorBatch would build a hash set of
        every allowed id on each call.
        """
        n = len(self)
        allowed_share = np.count_nonzero(mask) / n
        bits = np.packbits(mask, bitorder="little")  # must outlive the search: the selector points into it
        sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
        if self.kind == "hnsw":
            ef = self._inner.hnsw.efSearch
            ef = int(min(ef / allowed_share, 4 * ef))  # rejected nodes still cost hops: widen the beam
            params = _faiss.SearchParametersHNSW(efSearch=ef, sel=sel)
        else:
            # A clustered index probes more lists than unfiltered: the allowed nearest neighbours lie further
            # out. 1M art-model vectors, 1-20% allowed, 400 real queries: recall@10 0.92-0.97 at the usual
            # lists, 0.976-0.992 at twice as many, for 1.2-1.6x the time.
            nprobe = min(self._lists, int(self._base.nprobe) * SELECTOR_PROBE_FACTOR)  # a split layout scans all already
            base_params = _faiss.SearchParametersIVF(nprobe=nprobe, sel=sel)
            params = _faiss.IndexRefineSearchParameters(k_factor=float(self._inner.k_factor),
                                                       base_index_params=base_params)
        scores, labels = self._inner.search(q, k, params=params)
        ids = np.where(labels >= 0, self._ids[np.maximum(labels, 0)], -1)
        return scores, ids

    def save(self, path: pathlib.Path) -> None:
        """Write the index (ids and tuned parameters included) atomically: temp file, fsync, rename."""
        path = pathlib.Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            faiss.write_index(self._index, str(tmp))
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: pathlib.Path | BinaryIO) -> VectorIndex:
        """Read an index written by `save`, from its path or from a file opened earlier (so that a
        reader gets the file it opened even if a new build has replaced it since).

        FileNotFoundError when there is no such file; CollectionError when the file is not a
        readable index (cut short, overwritten): the collection's `check --repair` rebuilds it.
        """
        if isinstance(path, (str, pathlib.Path)):
            path = pathlib.Path(path)
            if not path.is_file():
                raise FileNotFoundError(f"no vector index at {path}")
            name, source = str(path), str(path)
        else:
            name, source = getattr(path, "name", "vector index"), _faiss.PyCallbackIOReader(path.read)
        try:
            index = faiss.read_index(source)
        except RuntimeError:  # FAISS says only where its reader stopped
            raise CollectionError(f"{name} is not a readable vector index (cut short or damaged)",
                                  {"kind": "damaged", "part": "vectors", "file": name}) from None
        if not isinstance(index, faiss.IndexIDMap2):
            raise CollectionError(f"{name} is not an artlens vector index (found {type(index).__name__})",
                                  {"kind": "damaged", "part": "vectors", "file": name})
        return cls(index)


def build_index(vectors: np.ndarray, ids: np.ndarray, *, exact_below: int = EXACT_BELOW, target_recall: float = 0.95,
                approx: Literal["pq", "hnsw"] = "pq", seed: int = 0) -> VectorIndex:
    """Index unit vectors (N, d) under unique int64 `ids`: exact below `exact_below` rows, else approximate.

    The approximate index's search knob (re-rank depth `k_factor` for "pq", efSearch for "hnsw") is
    tuned here until recall@10 on held-out queries reaches `target_recall`, and stored in the index.
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    labels = np.ascontiguousarray(ids, dtype=np.int64)
    rng = np.random.default_rng(seed)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"vectors must be a 2-D (N, d) array, got shape {np.shape(vectors)}")
    n, d = x.shape
    if n == 0:
        raise ValueError("cannot build a vector index from 0 vectors")
    if labels.shape != (n,):
        raise ValueError(f"ids must be 1-D with one id per vector: {labels.shape} ids for {n} vectors")
    if len(np.unique(labels)) != n:
        raise ValueError("ids must be unique")
    if labels.min() < 0:
        raise ValueError("ids must be >= 0 (FAISS uses -1 for 'no result')")
    if not np.isfinite(x).all():
        raise ValueError("vectors contain NaN or infinite values")
    if not 0.0 < target_recall <= 1.0:
        raise ValueError(f"target_recall must be in (0, 1], got {target_recall}")
    if approx not in ("pq", "hnsw"):
        raise ValueError(f"approx must be 'pq' or 'hnsw', got {approx!r}")

    if n < max(exact_below, APPROX_MIN):
        flat = faiss.IndexIDMap2(faiss.IndexFlatIP(d))
        flat.add_with_ids(x, labels)
        return VectorIndex(flat)
    held = np.sort(rng.choice(n, min(TUNE_QUERIES, n // 10), replace=False))
    if approx == "hnsw":
        return _build_hnsw(x, labels, held, target_recall)
    clustered = _build_clustered(x, labels, held, target_recall, rng)
    return clustered if clustered is not None else _build_split(x, labels, held, target_recall, rng)


def _build_hnsw(x: np.ndarray, labels: np.ndarray, held: np.ndarray, target_recall: float) -> VectorIndex:
    n, d = x.shape
    inner = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index = faiss.IndexIDMap2(inner)
    # Tune on a held-out sample, added afterwards: a query already in the graph is linked to its
    # own neighbours and would overstate recall. The other rows go in by chunks (copies of at most
    # 64 MB) rather than as one copy of the whole matrix.
    keep = np.setdiff1d(np.arange(n), held)
    step = max(1024, (64 << 20) // (4 * d))
    for start in range(0, len(keep), step):
        rows = keep[start:start + step]
        index.add_with_ids(x[rows], labels[rows])
    _tune(VectorIndex(index), x, held, target_recall, held_in_index=False)
    index.add_with_ids(x[held], labels[held])
    return VectorIndex(index)


def _pq_index(x: np.ndarray, labels: np.ndarray, quantizer: faiss.Index, lists: int, rng: np.random.Generator,
              *, by_residual: bool) -> faiss.IndexIDMap2:
    """A PQ fast-scan code of every vector (two dims per 4-bit sub-quantizer) in the quantizer's `lists`
    inverted lists, re-ranked exactly from the stored vectors: trained and filled, not yet tuned."""
    n, d = x.shape
    # The PQ fast-scan kernel through the IVF class, which (unlike IndexPQFastScan) accepts an ID selector for filters.
    base = faiss.IndexIVFPQFastScan(quantizer, d, lists, _pq_codes(d), PQ_NBITS, faiss.METRIC_INNER_PRODUCT)
    base.by_residual = by_residual
    index = faiss.IndexIDMap2(faiss.IndexRefineFlat(base))
    train = x if n <= TRAIN_MAX else x[np.sort(rng.choice(n, TRAIN_MAX, replace=False))]
    # k-means of 16 centroids per sub-quantizer: tiny parallel regions whose barriers dominate; with
    # 2 threads on a busy 2-vCPU VM training took 20 s instead of 0.3 s (measured).
    with _faiss_threads(1):
        index.train(train)
    # Leave-one-out tuning is fair for PQ candidates (a query's own code only comes back as itself), and
    # adding to a fast-scan list in many slices would repack it each time: all rows go in at once.
    index.add_with_ids(x, labels)
    return index


def _pq_codes(d: int) -> int:
    """4-bit sub-quantizers of a d-dim PQ code: two dims each. With four (PQ64 at d=256) recall@10 at 1M stayed
    at 0.77 even re-ranking 1000 candidates; PQ128 reached 0.96 with 200-240. Odd d: one dim each."""
    return d // 2 if d % 2 == 0 else d


def _build_split(x: np.ndarray, labels: np.ndarray, held: np.ndarray, target_recall: float,
                 rng: np.random.Generator) -> VectorIndex:
    """Every vector's code scanned: the vectors split into `SCAN_LISTS` equal inverted lists (not clusters),
    so that a single query scans them on parallel threads (`_parallel_search`)."""
    lists = _scan_lists(len(x))
    index = _pq_index(x, labels, _splitter(x, lists, rng), lists, rng, by_residual=False)
    built = VectorIndex(index)
    built._base.nprobe = lists
    _tune(built, x, held, target_recall, held_in_index=True)
    return built


def _build_clustered(x: np.ndarray, labels: np.ndarray, held: np.ndarray, target_recall: float,
                     rng: np.random.Generator) -> VectorIndex | None:
    """Vectors in k-means lists, a query scanning the few nearest (nprobe and re-rank depth tuned together),
    when that reaches the target recall at less than the cost of scanning every code; else None.

    Real art vectors are clustered (the joint facet of 10,605 WikiArt paintings: IVF recall of real queries
    as a function of lists probed matched the art-vector model of bench/search_latency.py `--like`, which at
    1M x 448 reached recall 0.96 probing 3% of the lists), random ones are not (probing every list is needed)."""
    n, d = x.shape
    lists = _cluster_lists(n)
    if lists < 2 * SCAN_LISTS:
        return None
    sample = x[np.sort(rng.choice(n, min(n, TRAIN_MAX), replace=False))]
    kmeans = faiss.Kmeans(d, lists, niter=CLUSTER_ITERATIONS, spherical=True, seed=int(rng.integers(2**31)))
    kmeans.train(sample)  # both cores: one large parallel region per iteration
    quantizer = faiss.IndexFlatIP(d)
    quantizer.add(np.asarray(kmeans.centroids, np.float32))
    built = VectorIndex(_pq_index(x, labels, quantizer, lists, rng, by_residual=True))
    return built if _tune_clustered(built, x, held, target_recall) else None


def _cluster_lists(n: int) -> int:
    """k-means lists of a clustered PQ index of n vectors: about sqrt(n), with >= 39 training points each."""
    return int(min(round(np.sqrt(n)), TRAIN_MAX // 39))


def _scan_lists(n: int) -> int:
    """Inverted lists of a PQ index of n vectors: one per thread a single query scans them on."""
    return SCAN_LISTS if usable_cores() >= SCAN_LISTS and n >= SCAN_LISTS * APPROX_MIN else 1


def _splitter(x: np.ndarray, lists: int, rng: np.random.Generator) -> faiss.Index:
    """A coarse quantizer that splits `x` into `lists` (1 or 2) equal halves: at the median of its projection
    on the principal direction of a sample (two centroids on that line, one either side of the median)."""
    d = x.shape[1]
    quantizer = faiss.IndexFlatL2(d)
    sample = x[np.sort(rng.choice(len(x), min(len(x), 8192), replace=False))]
    mean = sample.mean(0)
    if lists == 1:
        quantizer.add(mean[None, :].astype(np.float32))
        return quantizer
    direction = np.linalg.svd(sample - mean, full_matrices=False)[2][0]
    median = float(np.median(x @ direction))
    at = mean + (median - float(mean @ direction)) * direction
    quantizer.add(np.stack([at + direction, at - direction]).astype(np.float32))
    return quantizer


def _held_out_recall(x: np.ndarray, held: np.ndarray, *, held_in_index: bool) -> tuple[np.ndarray, int, Any]:
    """The `held` rows of `x` as queries: (queries, results to ask for, recall@10 of the index positions found).

    The index holds the rows of `x` in order, without `held` unless `held_in_index`; either way held
    rows are dropped from exact and approximate results, so every query acts as an unseen one.
    """
    pos_to_row = np.arange(len(x)) if held_in_index else np.setdiff1d(np.arange(len(x)), held)
    q = np.ascontiguousarray(x[held])
    _, truth = faiss.knn(q, x, TUNE_K + 10, metric=faiss.METRIC_INNER_PRODUCT)
    truth = _first_k(np.where(np.isin(truth, held), -1, truth))
    # Room for the query itself and for other held rows among its neighbours, all dropped from the results (one more
    # result only capped recall near 1 - held share: 0.95 for 500 of 10,000 rows, so tuning ran to the deepest k_factor).
    kq = 2 * TUNE_K if held_in_index else TUNE_K

    def recall(pos: np.ndarray) -> float:
        rows = np.where(pos >= 0, pos_to_row[np.maximum(pos, 0)], -1)
        return _recall(_first_k(np.where(np.isin(rows, held), -1, rows)), truth)
    return q, kq, recall


def _refine_params(k_factor: float, kq: int) -> Any:
    """Search parameters giving the same candidate count (k * k_factor) as a real top-10 search, despite asking for kq results."""
    return _faiss.IndexRefineSearchParameters(k_factor=float(k_factor) * TUNE_K / kq + 1e-6)


def _tune(index: VectorIndex, x: np.ndarray, held: np.ndarray, target_recall: float, *, held_in_index: bool) -> None:
    """Raise the approximate index's search knob until recall@10 of the `held` rows as queries reaches the target."""
    inner = index._inner
    q, kq, recall = _held_out_recall(x, held, held_in_index=held_in_index)
    aim = min(1.0, target_recall + TUNE_MARGIN)
    if index.kind == "hnsw":
        values: tuple[float, ...] = _EF_SEARCH

        def run(v: float) -> np.ndarray:
            return inner.search(q, kq, params=_faiss.SearchParametersHNSW(efSearch=int(v)))[1]
    else:
        values = _K_FACTORS

        def run(v: float) -> np.ndarray:
            return inner.search(q, kq, params=_refine_params(v, kq))[1]

    chosen = next((v for v in values if recall(run(v)) >= aim), values[-1])
    if index.kind == "hnsw":
        inner.hnsw.efSearch = int(chosen)
    else:
        inner.k_factor = float(chosen)


def _tune_clustered(index: VectorIndex, x: np.ndarray, held: np.ndarray, target_recall: float) -> bool:
    """Choose the cheapest (lists probed, re-rank depth) of a clustered index that reaches the target recall,
    then probe `CLUSTER_PROBE_MARGIN` times as many lists.

    Cheapest by `_search_cost`, margin included; False (nothing set) when no choice costs less than scanning
    every code on `SCAN_LISTS` threads, as on data without cluster structure.
    """
    base, inner = index._base, index._inner
    n, d = x.shape
    lists = int(base.nlist)
    q, kq, recall = _held_out_recall(x, held, held_in_index=True)
    aim = min(1.0, target_recall + TUNE_MARGIN)
    depths = [f for f in _K_FACTORS if f <= CLUSTER_MAX_K_FACTOR]

    def reaches(nprobe: int, k_factor: float) -> bool:
        base.nprobe = nprobe
        return recall(inner.search(q, kq, params=_refine_params(k_factor, kq))[1]) >= aim

    bound = _search_cost(n, d, 0, _K_FACTORS[0]) / SCAN_LISTS  # what to beat: every code, on parallel threads
    best: tuple[int, float] | None = None  # (nprobe, k_factor) costing `bound`

    def scanned(nprobe: int) -> float:
        return min(lists, CLUSTER_PROBE_MARGIN * nprobe) * n / lists

    nprobe = 1
    while nprobe <= lists // 2:
        floor = _search_cost(scanned(nprobe), d, lists, 0)
        if floor >= bound:
            break  # probing more lists costs more than what is already found, whatever the depth
        if reaches(nprobe, depths[-1]):
            lo, hi = -1, len(depths) - 1  # the smallest depth that reaches the aim (recall grows with depth)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if reaches(nprobe, depths[mid]) else (mid, hi)
            cost = _search_cost(scanned(nprobe), d, lists, depths[hi])
            if cost < bound:
                bound, best = cost, (nprobe, depths[hi])
        nprobe *= 2
    if best is None:
        return False
    base.nprobe, inner.k_factor = min(lists, CLUSTER_PROBE_MARGIN * best[0]), float(best[1])
    return True


def _search_cost(scanned: float, d: int, lists: int, k_factor: float) -> float:
    """Estimated ns of one single-threaded top-10 search: PQ codes scanned, the coarse quantizer, exact re-ranking.

    Rates measured on the 2-vCPU reference machine at 1M x 448 (bench/search_latency.py): 0.057 ns per 4-bit
    code in the fast-scan kernel, 0.1 ns per dim of a centroid, 1.7 ns per dim of a re-ranked candidate
    (gathered from a 1.8 GB matrix). Only their ratios matter: they choose between layouts.
    """
    return 0.057 * scanned * _pq_codes(d) + 0.1 * lists * d + 1.7 * TUNE_K * k_factor * d


def _first_k(labels: np.ndarray) -> np.ndarray:
    """First TUNE_K non-negative labels of each row, -1 padded."""
    out = np.full((len(labels), TUNE_K), -1, np.int64)
    for i, lab in enumerate(labels):
        kept = lab[lab >= 0][:TUNE_K]
        out[i, : len(kept)] = kept
    return out


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the true neighbours that were found (padding ignored)."""
    hits = [len(np.intersect1d(f[f >= 0], t[t >= 0])) / max(1, int((t >= 0).sum())) for f, t in zip(found, truth)]
    return float(np.mean(hits))


def _top_k(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k columns of each row of `sims`, best first: (scores, column indices)."""
    if k < sims.shape[1]:
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(sims.shape[1]), sims.shape).copy()
    top = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(part, order, axis=1)


_ONE_LIST: Any = _faiss.SearchParametersIVF(nprobe=1)  # read-only, shared by the scanning threads
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _scan_pool(threads: int) -> ThreadPoolExecutor:
    """Threads for `_parallel_search`, made once per process; each runs FAISS single-threaded."""
    with _pools_lock:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="artlens-scan",
                                                 initializer=faiss.omp_set_num_threads, initargs=(1,))
        return _pools[threads]


@contextmanager
def _faiss_threads(n: int) -> Iterator[None]:
    """Run FAISS with `n` OpenMP threads inside the block."""
    old = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(old)


def _as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """(Q, dim) contiguous float32 queries; a single (dim,) vector is accepted as one query."""
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        raise ValueError(f"queries must have shape (Q, {dim}) for this index, got {np.shape(queries)}")
    return np.ascontiguousarray(q)
