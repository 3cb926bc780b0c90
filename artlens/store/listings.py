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

The collection lists ahead the filters a search would otherwise list first (`vectors.frequent_filters`), each with
its token, after a build and after writes that change filters without one (`store/listed_file.py`); a process that
serves it is given them (`Listings.seed`): memory-mapped from the file, so they cost neither memory nor the budget
until used, and like any listing they answer only while their token is current.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping

import numpy as np

# Ids held across all filters (int64: 32 MB), the least recently used dropped first. A 1% filter of 1M works
# holds 10,000.
HELD_IDS = 4_000_000

# A filter of several values is joined from its values' held listings (`Catalog.listed`) when they hold at most this
# many works together: joining 50,000 ids takes 0.7 ms, and the local index searches 50,000 allowed works in ~5 ms
# at 1M; a broader filter's post-filter costs about as much and seldom falls back.
JOIN_UP_TO = 100_000

Listing = tuple[str, np.ndarray]  # (the filter's token when listed, its sorted ids)


def sorted_distinct(ids: np.ndarray) -> np.ndarray:
    """`ids` sorted, each once: one sort and a comparison with the neighbour (np.unique took 11.6 ms for 50,000 ids
    on numpy 2.4, this 0.7)."""
    ids = np.sort(ids)
    return ids[np.concatenate(([True], ids[1:] != ids[:-1]))] if len(ids) else ids


class Listings:
    """Sorted id arrays by filter, each valid while its filter's token in the catalog stays the one read before it
    was listed; thread-safe (a web server searches on several threads)."""

    def __init__(self, budget: int = HELD_IDS) -> None:
        self.budget = budget
        self._held: OrderedDict[Hashable, Listing] = OrderedDict()
        self._built: Mapping[Hashable, Listing] = {}  # listings made ahead (`seed`), outside the budget
        self._size = 0
        self._lock = threading.Lock()

    def get(self, where: Hashable, token: Callable[[], str | None]) -> np.ndarray | None:
        """The ids `where` allows, when held and the filter's token in the catalog (`token()`, asked only then: a
        filter never listed costs no query) is still the one they were listed under; else None."""
        with self._lock:
            held, built = self._held.get(where), self._built.get(where)
        if held is None and built is None:
            return None
        now = token()
        with self._lock:
            if held is not None and where in self._held:
                if held[0] == now:
                    self._held.move_to_end(where)
                    return held[1]
                self._size -= len(self._held.pop(where)[1])  # outdated for good: tokens never come back
        return built[1] if built is not None and built[0] == now else None

    def peek(self, where: Hashable) -> list[Listing]:
        """Every (token, ids) held for `where`: an earlier search's, then the one made ahead; tokens not checked (the
        caller compares them with the catalog's: either may be the current one)."""
        with self._lock:
            return [listing for listing in (self._held.get(where), self._built.get(where)) if listing is not None]

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

    def seed(self, built: Mapping[Hashable, Listing]) -> None:
        """Hold listings made ahead (read-only arrays, each with the token read before it), in place of earlier ones."""
        with self._lock:
            self._built = built

    def made_ahead(self) -> Mapping[Hashable, Listing]:
        """The listings made ahead (`seed`), tokens not checked."""
        with self._lock:
            return self._built

    def clear(self) -> None:
        with self._lock:
            self._held.clear()
            self._built = {}
            self._size = 0

    def __len__(self) -> int:
        return len(self._held)
