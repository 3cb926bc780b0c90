"""Ranking with metadata filters on a large collection: where the candidates come from, cheapest first.

A filter lives in the catalog (metadata, `pred.MODEL` decisions, region counts); the vectors live on the
serving machine (and, for a large PostgreSQL collection, in pgvector too). Listing every work a broad
filter allows costs more than the search (1M works: 50% allowed took 0.2-0.25 s to list on either backend,
docs/benchmarks.md), so `rank` tries, in order (a search without filters asks the local index alone, which
answers it ten times faster than the database's index of the same build):

1. post-filter: the local index's best `POST_FILTER_FACTOR` x as many candidates as the ranking asks,
   unfiltered, of which the catalog keeps those that pass (read off the filter columns: ~0.1 ms at 1M works; or
   each looked up in the database: a few ms). Enough of them pass
   whenever the filter allows a fair share of the works near the query;
2. otherwise the catalog lists the first `index.EXACT_FILTER_BELOW + 1` works that pass: if that is all of them
   they are scored exactly;
3. otherwise the local index among the works the filter columns allow, as a mask of its rows, when the columns
   decide the filter over this build's works (`Store.allowed_mask`); else the database's vector index with the
   filter in the same SQL query (published vectors), or every allowed work listed and handed to the local index.

A filter the catalog listed whole for an earlier search, unchanged since (`Store.listed`, `store.listings`), goes
straight to the local index with that list, as does one the collection's filter columns decide to allow at most
`listings.KNOWN_UP_TO` works (`store/filter_columns.py`: every filterable column coded per work, written after each
build and each write that changes filters without one): a filter then costs no listing by the database even at its
first use, and the post-filter's checks and 2 and 3's listings are read off the columns in memory too. Only a
filter the columns cannot decide (a column changed since they were written, a column of too many values, a value
longer than the catalog indexes) is asked of the database.

The build's counts of frequent values (`FacetVectors.value_counts`) bound how many works a filter allows
before anything is listed: a filter known to allow few enough goes straight to 2 (a post-filter would find
too few of them among its candidates: 1% of 1M works, 15 -> 9 ms), and one known to allow more skips 2's
listing when 1 fails, and goes to the local index rather than pgvector when it allows at most
`LIST_LOCALLY_BELOW` or the filter columns decide it (`Store.decides`). (Listing a filter of 2.5-5% whole at once
instead of trying 1 was slower: 25,000-50,000 ids take 5-18 ms to list by the database at 1M works, more than a
post-filter that fails a third of the time costs on average.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from artlens.retrieval import search
from artlens.store import index, pgvectors
from artlens.store.vectors import FacetVectors, most_allowed, most_selective_first

# Candidates asked of the local index per result wanted, before the catalog filters them: with k=10 that
# is 400, which holds 10 allowed works twice over when 5% of the works near the query pass.
POST_FILTER_FACTOR = 40
# Collections up to this many works list a filter's works outright (a few ms at this size).
POST_FILTER_ABOVE = index.EXACT_FILTER_BELOW
# A filter known to allow at most this many works is listed and handed to the local index rather than asked of
# pgvector when the post-filter fails and the filter columns cannot list it (they list any size): 1M works, a 2.5%
# filter whose works lie away from the query, p99 15-17 ms at recall 0.97 listed by the database (25,000 ids: ~5 ms)
# against 63 ms at 0.93 through pgvector; two such styles (~55,000 works) 31 ms at 0.976 against 71 at 0.958
# (docs/benchmarks.md).
LIST_LOCALLY_BELOW = 100_000


class Store(Protocol):
    """What ranking needs of the catalog (`artlens.store.database.Catalog` has it)."""

    def filter_ids(self, where: Sequence[tuple[str, str, str]], limit: int | None = None,
                   among: Sequence[int] | np.ndarray | None = None) -> np.ndarray: ...

    def nearest(self, published: Mapping[str, Any], facet: str, query: np.ndarray, limit: int,
                where: Sequence[tuple[str, str, str]] = ()) -> np.ndarray: ...

    def published_vectors(self, fresh_within: float = 0.0) -> dict[str, Any] | None: ...

    def listed(self, where: Sequence[tuple[str, str, str]]) -> np.ndarray | None: ...

    def decides(self, where: Sequence[tuple[str, str, str]]) -> bool: ...

    def allowed_mask(self, where: Sequence[tuple[str, str, str]], ids: np.ndarray) -> np.ndarray | None: ...


def rank(store: Store, vectors: FacetVectors, query: dict[str, np.ndarray], weights: dict[str, float], k: int,
         where: Sequence[tuple[str, str, str]], exclude: set[int] | frozenset[int] = frozenset(),
         published: Mapping[str, Any] | None = None) -> list[search.Hit]:
    """`search.rank` among the works that pass `where` (the filters; empty: every work). published: the
    database's vectors of this build (`pgvectors`), when they may answer."""
    if published is not None and not set(search.candidate_facets(vectors, weights)) <= set(published["facets"]):
        published = None  # e.g. one facet alone: its local index answers
    if not where:
        # The local index, even where the database's holds the same build: 1M works, median 1.3 against 12-14 ms,
        # recall 0.95-0.96 against 0.99 (docs/deploying.md); the database's answers the filters below.
        return search.rank(vectors, query, weights, k, exclude=exclude)
    where = most_selective_first(vectors.value_counts, where)  # the catalog lists by the first column
    known = store.listed(where)
    if known is not None:  # listed for an earlier search and nothing changed since: the local index has all it needs
        return search.rank(vectors, query, weights, k, known, exclude)
    listed_below = index.EXACT_FILTER_BELOW  # read at each search (tests lower it)
    most = most_allowed(vectors.value_counts, where)
    few = most is not None and most <= listed_below
    if len(vectors) > POST_FILTER_ABOVE and not few:
        hits = _post_filtered(store, vectors, query, weights, k, exclude, where)
        if hits is not None:
            return hits
    if most is None or few:  # maybe few enough to score exactly: listing the first ones tells
        allowed = store.filter_ids(where, limit=listed_below + 1)
        if len(allowed) <= listed_below:
            return search.rank(vectors, query, weights, k, allowed, exclude)
    # The filter columns' answer over this build's works is a mask of the indexes' rows: no ids listed or mapped (1M
    # works, six styles away from the query, 15%: p99 13.4 -> 8.7 ms on a quiet machine).
    mask = store.allowed_mask(where, vectors.ids)
    if mask is not None:
        return search.rank(vectors, query, weights, k, exclude=exclude, nearest=_masked(vectors, mask))
    # pgvector for a broad filter only when listing it means asking the database: the filter columns list any filter
    # in a few ms (columns of other works than this build's: listed for the local index).
    if published is not None and (most is None or most > LIST_LOCALLY_BELOW) and not store.decides(where):
        hits = _from_database(store, vectors, query, weights, k, exclude, published, where)
        if hits is not None:
            return hits
    return search.rank(vectors, query, weights, k, store.filter_ids(where), exclude)


def _post_filtered(store: Store, vectors: FacetVectors, query: dict[str, np.ndarray], weights: dict[str, float], k: int,
                   exclude: set[int] | frozenset[int], where: Sequence[tuple[str, str, str]]) -> list[search.Hit] | None:
    """The ranking over the local index's best candidates that pass `where`; None when too few of them pass."""
    short = False

    def nearest(facet: str, q: np.ndarray, n: int) -> np.ndarray:
        nonlocal short
        depth = POST_FILTER_FACTOR * n
        # Twice the results wanted are to pass, so the best half of the candidates is where they are: only that
        # half needs a top-10 search's order (1M works, PQ: 2.6 -> 1.7 ms a search, recall unchanged).
        found = vectors.index(facet).search(q[None, :], depth, ordered=depth // 2)[1][0]
        found = found[found >= 0]
        passed = found[np.isin(found, store.filter_ids(where, among=found))]
        # Fewer than asked, while the index had more to give: the allowed works lie deeper.
        short |= len(passed) < n and len(found) == depth
        return passed[:n]

    hits = search.rank(vectors, query, weights, k, exclude=exclude, nearest=nearest)
    return None if short or len(hits) < k else hits


def _masked(vectors: FacetVectors, mask: np.ndarray) -> Callable[[str, np.ndarray, int], np.ndarray]:
    """Candidates from each facet's local index among the rows `mask` allows."""
    def nearest(facet: str, q: np.ndarray, n: int) -> np.ndarray:
        found = vectors.index(facet).search(q[None, :], n, allowed_mask=mask)[1][0]
        return found[found >= 0]

    return nearest


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
