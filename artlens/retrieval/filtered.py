"""Ranking with metadata filters on a large collection: where the candidates come from, cheapest first.

A filter lives in the catalog (metadata, `pred.MODEL` decisions, region counts); the vectors live on the
serving machine (and, for a large PostgreSQL collection, in pgvector too). Listing every work a broad
filter allows costs more than the search (1M works: 50% allowed took 0.2-0.25 s to list on either backend,
docs/benchmarks.md), so `rank` tries, in order:

1. post-filter: the local index's best `POST_FILTER_FACTOR` x as many candidates as the ranking asks,
   unfiltered, of which the catalog keeps those that pass (each looked up: a few ms). Enough of them pass
   whenever the filter allows a fair share of the works near the query;
2. otherwise the catalog lists the first `index.EXACT_FILTER_BELOW + 1` works that pass: if that is all of them
   they are scored exactly;
3. otherwise the database's vector index with the filter in the same SQL query (published vectors), or
   every allowed work listed and handed to the local index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from artlens.retrieval import search
from artlens.store import index, pgvectors
from artlens.store.vectors import FacetVectors

# Candidates asked of the local index per result wanted, before the catalog filters them: with k=10 that
# is 400, which holds 10 allowed works twice over when 5% of the works near the query pass.
POST_FILTER_FACTOR = 40
# Collections up to this many works list a filter's works outright (a few ms at this size).
POST_FILTER_ABOVE = index.EXACT_FILTER_BELOW


class Store(Protocol):
    """What ranking needs of the catalog (`artlens.store.database.Catalog` has it)."""

    def filter_ids(self, where: Sequence[tuple[str, str, str]], limit: int | None = None,
                   among: Sequence[int] | np.ndarray | None = None) -> np.ndarray: ...

    def nearest(self, published: Mapping[str, Any], facet: str, query: np.ndarray, limit: int,
                where: Sequence[tuple[str, str, str]] = ()) -> np.ndarray: ...

    def published_vectors(self, fresh_within: float = 0.0) -> dict[str, Any] | None: ...


def rank(store: Store, vectors: FacetVectors, query: dict[str, np.ndarray], weights: dict[str, float], k: int,
         where: Sequence[tuple[str, str, str]], exclude: set[int] | frozenset[int] = frozenset(),
         published: Mapping[str, Any] | None = None) -> list[search.Hit]:
    """`search.rank` among the works that pass `where` (the filters; empty: every work). published: the
    database's vectors of this build (`pgvectors`), when they may answer."""
    if published is not None and not set(search.candidate_facets(vectors, weights)) <= set(published["facets"]):
        published = None  # e.g. one facet alone: its local index answers
    if not where:
        if published is not None:
            hits = _from_database(store, vectors, query, weights, k, exclude, published, where)
            if hits is not None:
                return hits
        return search.rank(vectors, query, weights, k, exclude=exclude)
    if len(vectors) > POST_FILTER_ABOVE:
        hits = _post_filtered(store, vectors, query, weights, k, exclude, where)
        if hits is not None:
            return hits
    listed_below = index.EXACT_FILTER_BELOW  # read at each search (tests lower it)
    allowed = store.filter_ids(where, limit=listed_below + 1)
    if published is not None and len(allowed) > listed_below:
        hits = _from_database(store, vectors, query, weights, k, exclude, published, where)
        if hits is not None:
            return hits
    if len(allowed) > listed_below:
        allowed = store.filter_ids(where)
    return search.rank(vectors, query, weights, k, allowed, exclude)


def _post_filtered(store: Store, vectors: FacetVectors, query: dict[str, np.ndarray], weights: dict[str, float], k: int,
                   exclude: set[int] | frozenset[int], where: Sequence[tuple[str, str, str]]) -> list[search.Hit] | None:
    """The ranking over the local index's best candidates that pass `where`; None when too few of them pass."""
    short = False

    def nearest(facet: str, q: np.ndarray, n: int) -> np.ndarray:
        nonlocal short
        depth = POST_FILTER_FACTOR * n
        found = vectors.index(facet).search(q[None, :], depth)[1][0]
        found = found[found >= 0]
        passed = found[np.isin(found, store.filter_ids(where, among=found))]
        # Fewer than asked, while the index had more to give: the allowed works lie deeper.
        short |= len(passed) < n and len(found) == depth
        return passed[:n]

    hits = search.rank(vectors, query, weights, k, exclude=exclude, nearest=nearest)
    return None if short or len(hits) < k else hits


def _from_database(store: Store, vectors: FacetVectors, query: dict[str, np.ndarray], weights: dict[str, float], k: int,
                   exclude: set[int] | frozenset[int], published: Mapping[str, Any],
                   where: Sequence[tuple[str, str, str]]) -> list[search.Hit] | None:
    """Candidates from the database's vector index, filters in the same SQL query; None when it cannot answer."""
    nearest: Callable[[str, np.ndarray, int], np.ndarray] = lambda f, q, n: store.nearest(published, f, q, n, where)  # noqa: E731
    try:
        hits = search.rank(vectors, query, weights, k, exclude=exclude, nearest=nearest)
    except pgvectors.Stale:  # a newer build replaced the table meanwhile: this build's own index answers
        store.published_vectors()  # and the next search reads what replaced it
        return None
    # A very selective filter can end pgvector's index scan early (hnsw.max_scan_tuples) with fewer rows
    # than asked: the local index answers filters exactly then.
    return hits if len(hits) >= k else None
