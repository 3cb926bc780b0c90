"""The works each filter allowed, kept in memory while the catalog's filters stay as they were.

A web app's filters recur (a style, a period, `people>=2`), and at 1M works listing one that allows 25,000 works
costs 5-9 ms, more than the search it serves. `catalog.filters_changed` gives the catalog a new random token in
every transaction that changes what a filter passes (works added or replaced, metadata merged, predictions or
detections written, a backbone switched), so a listing kept under the token read before it was made is still
exact while the token stays: it can only have been made from the catalog as of that token or later, and every
process sharing the catalog sees a change as a new token. A random token, not a counter: writing it needs no read
of the old one (writers are one at a time anyway: the collection's writer lock).

A vector build lists the filters a search would otherwise list first (`vectors.frequent_filters`) and keeps them
with the token it read; a process that loads the build while the catalog still has that token is given them
(`Listings.seed`): memory-mapped from the build, so they cost neither memory nor the budget until used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping

import numpy as np

# Ids held across all filters (int64: 32 MB), the least recently used dropped first. A 1% filter of 1M works
# holds 10,000.
HELD_IDS = 4_000_000


class Listings:
    """Sorted id arrays by filter, each valid while the catalog's token stays the one read before it was listed;
    thread-safe (a web server searches on several threads)."""

    def __init__(self, budget: int = HELD_IDS) -> None:
        self.budget = budget
        self._token: str | None = None  # of every listing held
        self._held: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._built: Mapping[Hashable, np.ndarray] = {}  # a vector build's listings (`seed`), outside the budget
        self._size = 0
        self._lock = threading.Lock()

    def get(self, where: Hashable, token: Callable[[], str | None]) -> np.ndarray | None:
        """The ids `where` allows, when held and the catalog's token (`token()`, asked only then: a filter never
        listed costs no query) is still the one they were listed under; else None."""
        with self._lock:
            held, ids = self._token, self._held.get(where)
            if ids is None:
                ids = self._built.get(where)
        if ids is None or token() != held:
            return None
        with self._lock:
            if where in self._held:
                self._held.move_to_end(where)
        return ids

    def put(self, token: str | None, where: Hashable, ids: np.ndarray) -> None:
        """Keep the complete listing of `where`, made after `token` was read (None: a catalog without one, or a
        listing that is not complete: nothing kept)."""
        if token is None or len(ids) > self.budget:
            return
        ids = np.array(ids, dtype=np.int64)  # a copy no caller can change
        ids.flags.writeable = False
        with self._lock:
            if token != self._token:  # the catalog changed: what is held was listed before
                self._forget(token)
            old = self._held.pop(where, None)
            self._size += len(ids) - (0 if old is None else len(old))
            self._held[where] = ids
            while self._size > self.budget:
                self._size -= len(self._held.popitem(last=False)[1])

    def seed(self, token: str, built: Mapping[Hashable, np.ndarray]) -> None:
        """Hold a vector build's listings, made after `token` was read; the caller has checked that the catalog's
        token is still `token` (else a process holding newer listings would lose them for older ones)."""
        with self._lock:
            if token != self._token:
                self._forget(token)
            self._built = built

    def clear(self) -> None:
        with self._lock:
            self._forget(None)

    def _forget(self, token: str | None) -> None:
        self._held.clear()
        self._built = {}
        self._size, self._token = 0, token

    def __len__(self) -> int:
        return len(self._held)
