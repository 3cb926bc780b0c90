"""The works each filter allowed, kept in memory while the catalog's filters stay as they were.

A web app's filters recur (a style, a period, `people>=2`), and at 1M works listing one that allows 25,000 works
costs 5-9 ms, more than the search it serves. `catalog.filters_changed` gives the catalog a new random token in
every transaction that changes what a filter passes: one for all filters when works are added or replaced, one per
kind of column otherwise (metadata merged, one label model's predictions, detected regions' counts). A listing is
kept under its filter's token (`catalog.filters_token`: the all-filters token and those of its columns' kinds) read
before it was made, so it is still exact while that token stays: it can only have been made from the catalog as of
the token or later, and every process sharing the catalog sees a change as a new token. So a labelling run that
writes predictions leaves the listings of styles alone. A random token, not a counter: writing it needs no read of
the old one (writers are one at a time anyway: the collection's writer lock).

The same tokens guard the filter columns a collection writes ahead (`store/filter_columns.py`): a filter decided
from them is kept here too, so its next use costs not even the columns' comparison.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

# Ids held across all filters (int64: 32 MB), the least recently used dropped first. A 1% filter of 1M works
# holds 10,000.
HELD_IDS = 4_000_000

# A filter the filter columns decide is handed to the local index as a list of works (`Catalog.listed`) when it
# allows at most this many: the local index searches 50,000 allowed works in ~5 ms at 1M; a broader filter's
# post-filter costs about as much and seldom falls back.
KNOWN_UP_TO = 100_000

Listing = tuple[str, np.ndarray]  # (the filter's token when listed, its sorted ids)


def sorted_positions(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `ids` is in `sorted_ids` (a position for every one; meaningful where found), and whether found."""
    at = np.searchsorted(sorted_ids, ids)
    found = at < len(sorted_ids)
    found[found] = sorted_ids[at[found]] == ids[found]
    return at, found


def sorted_distinct(ids: np.ndarray) -> np.ndarray:
    """`ids` sorted, each once: one sort and a comparison with the neighbour (np.unique took 11.6 ms for 50,000 ids
    on numpy 2.4, this 0.7)."""
    ids = np.sort(ids)
    return ids[np.concatenate(([True], ids[1:] != ids[:-1]))] if len(ids) else ids


class Listings:
    """Sorted id arrays by filter, each valid while its filter's token in the catalog stays the one read before it
    was listed, the least recently used dropped first past a budget of ids; thread-safe (a web server searches on
    several threads)."""

    def __init__(self, budget: int = HELD_IDS) -> None:
        self.budget = budget
        self._held: OrderedDict[Hashable, Listing] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, where: Hashable, token: Callable[[], str | None]) -> np.ndarray | None:
        """The ids `where` allows, when held and the filter's token in the catalog (`token()`, asked only then: a
        filter never listed costs no query) is still the one they were listed under; else None."""
        with self._lock:
            held = self._held.get(where)
        if held is None:
            return None
        now = token()
        with self._lock:
            if where in self._held:
                if held[0] == now:
                    self._held.move_to_end(where)
                    return held[1]
                self._size -= len(self._held.pop(where)[1])  # outdated for good: tokens never come back
        return None

    def put(self, token: str | None, where: Hashable, ids: np.ndarray) -> None:
        """Keep the complete listing of `where`, made after its token was read (None: a catalog without one, or a
        listing that is not complete: nothing kept)."""
        if token is None or len(ids) > self.budget:
            return
        ids = np.array(ids, dtype=np.int64)  # a copy no caller can change
        ids.flags.writeable = False
        with self._lock:
            old = self._held.pop(where, None)
            self._size += len(ids) - (0 if old is None else len(old[1]))
            self._held[where] = (token, ids)
            while self._size > self.budget:
                self._size -= len(self._held.popitem(last=False)[1][1])

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self._size = 0

    def __len__(self) -> int:
        return len(self._held)
