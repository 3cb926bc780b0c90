"""Every filterable column of a catalog's works as one small integer per work, held in memory by the processes that
serve a collection, so that a search's filters cost no query but their tokens'.

At 1M works a filter listed by the database costs 5-20 ms (45,000 ids from SQLite ~20 ms), and checking a
post-filter's 400 candidates 2-3 ms a search; from codes in memory a column compares in ~0.3 ms and 400 candidates
in microseconds. The collection writes the codes after a build and after writes that change filters without one
(`store/columns_file.py`), each column with its filter token read before it (`catalog.filters_token`): a column
answers only while its token in the catalog is still that one, exactly as a listing does (`store/listings.py`), so
codes older than the catalog are never used.

A metadata column or label model is coded by its values (metadata by their indexed prefix, `catalog.indexed_value`,
which is what the database compares too), -1 where a work has none; a region count (`faces`, `people`) by the count,
-1 where no detector looked. Columns of more than `MAX_VALUES` distinct values (titles, say) are not coded: their
values are rare, which the database answers cheaply by its index.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from artlens.store.catalog import META_VALUE_CHARS, indexed_value
from artlens.store.listings import sorted_positions
from artlens.vocabulary import COUNT_FILTERS, PREDICTION_PREFIX

# Codes are int16: 2 MB a column at 1M works. A count above COUNT_MAX is coded as COUNT_MAX, which compares alike
# with every number below it.
MAX_VALUES = COUNT_MAX = 32_767
# Up to this many values of one column are compared one by one (0.15 ms each at 1M works), more through a table.
FEW_VALUES = 6

_COMPARE: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "=": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True)
class Column:
    """One column's codes, aligned with `FilterColumns.ids`, and the filter token read before they were."""

    token: str
    codes: np.ndarray  # int16 per work: an index into `values`, or a region count; -1 for none
    values: tuple[str, ...] = ()  # empty for a region count
    _code_of: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    _by_value: list[np.ndarray] = field(default_factory=list, compare=False, repr=False)  # see `_inverted`

    def __post_init__(self) -> None:
        self._code_of.update((v, i) for i, v in enumerate(self.values))  # whole before any search reads it

    def code(self, value: str) -> int | None:
        return self._code_of.get(value)

    def count(self, code: int) -> int:
        """How many works hold the value of `code`."""
        bounds = self._inverted()[1]
        return int(bounds[code + 2] - bounds[code + 1])

    def rows_of(self, codes: Sequence[int]) -> np.ndarray:
        """Sorted positions of the works holding any of these values' `codes`: slices of the inverted index, merged."""
        order, bounds = self._inverted()
        parts = [order[bounds[c + 1]:bounds[c + 2]] for c in codes]
        if len(parts) < 2:
            return parts[0] if parts else np.zeros(0, np.int32)
        return np.sort(np.concatenate(parts))  # distinct positions: no need of a stable sort (50,000: 0.15 against 0.6 ms)

    def _inverted(self) -> list[np.ndarray]:
        """[positions of the works ordered by code (-1 first), where each code's run starts (code c at c + 1)]: made
        at a column's first use in a process (~10 ms at 1M works), so a value's works are a slice (25,000: ~0.1 ms;
        compared and gathered from the whole column: ~1 ms)."""
        made = self._by_value
        if not made:  # two threads may both make it: the same arrays, put in place whole (one slice assignment)
            order = np.argsort(self.codes, kind="stable").astype(np.int32)
            runs = np.bincount(self.codes.astype(np.int32) + 1, minlength=len(self.values) + 1)
            made = [order, np.concatenate(([0], np.cumsum(runs)))]
            self._by_value[:] = made
        return made


@dataclass(frozen=True)
class FilterColumns:
    """The searchable works (sorted ids: every work that is not an exact copy) and their coded columns."""

    ids: np.ndarray
    columns: Mapping[str, Column]
    _same: dict[int, tuple[np.ndarray, bool]] = field(default_factory=dict, compare=False, repr=False)  # `holds_exactly`

    def holds_exactly(self, ids: np.ndarray) -> bool:
        """Whether these columns are of exactly the works `ids` (sorted), in that order; remembered per array (a
        vector build's ids: 1M compared in ~0.5 ms once)."""
        held = self._same.get(id(ids))
        if held is None or held[0] is not ids:  # (the array is kept with its answer: its id is not reused meanwhile)
            held = (ids, len(ids) == len(self.ids) and bool(np.array_equal(ids, self.ids)))
            self._same.clear()  # one build's ids at a time
            self._same[id(ids)] = held
        return held[1]

    def answers(self, where: Sequence[tuple[str, str, str]]) -> bool:
        """Whether every condition of `where` can be decided from these columns alone (tokens not checked): each
        column coded, a count compared with a whole number, a metadata value no longer than its indexed prefix
        (a longer one the database compares whole), `=` or `!=` on values."""
        for column, op, value in where:
            if column not in self.columns:
                return False
            if column in COUNT_FILTERS:
                if op not in _COMPARE or not value.strip().lstrip("-").isdecimal() or abs(int(value)) >= COUNT_MAX:
                    return False
            elif op not in ("=", "!=") or (not column.startswith(PREDICTION_PREFIX) and len(value) > META_VALUE_CHARS):
                return False
        return True

    def needed(self, where: Sequence[tuple[str, str, str]]) -> list[str]:
        """The columns `where` reads, each once, sorted: whose tokens must be current."""
        return sorted({column for column, _, _ in where})

    def passing(self, where: Sequence[tuple[str, str, str]], rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Which works pass `where` (which `answers` must accept), as a boolean per work of `rows` (positions in
        `ids`; all of them by default). The database's rules (`catalog.filter_conditions`): `=` values of one
        column are alternatives, columns must all hold, `!=` leaves out a value (works without one pass), a count
        comparison fails where no detector looked."""
        n = len(self.ids) if isinstance(rows, slice) else len(rows)
        ok = np.ones(n, dtype=bool)
        for column, op, value in where:
            col = self.columns[column]
            if column in COUNT_FILTERS:
                counts = col.codes[rows]
                ok &= (counts >= 0) & _COMPARE[op](counts, int(value))  # within int16: `answers`
            elif op == "!=" and (code := col.code(indexed_value(column, value))) is not None:
                ok &= col.codes[rows] != code
        for column, codes_wanted in self._wanted(where).items():
            codes = self.columns[column].codes[rows]
            if not codes_wanted:
                ok[:] = False
            elif len(codes_wanted) <= FEW_VALUES:
                ok &= functools.reduce(operator.or_, (codes == c for c in codes_wanted))
            else:  # a table of the wanted codes, looked up per work (np.isin took 5-24 ms at 1M works, this ~1.2)
                table = np.zeros(len(self.columns[column].values) + 1, dtype=bool)  # the last entry: code -1, none
                table[codes_wanted] = True
                ok &= np.take(table, codes)
        return ok

    def listing(self, where: Sequence[tuple[str, str, str]], up_to: int | None = None) -> np.ndarray | None:
        """Sorted ids of the works `where` allows (a copy); None when more than `up_to` do. With `=` values, read
        from the column whose values hold the fewest works (`rows_of`) and only those works checked against the
        rest; else every work compared."""
        wanted = self._wanted(where)
        held = {column: sum(self.columns[column].count(c) for c in codes) for column, codes in wanted.items()}
        fewest = min(held, key=held.__getitem__, default=None)
        alone = fewest is not None and len(held) == 1 and len(where) == len(wanted[fewest])  # that column's values only
        if alone and up_to is not None and held[fewest] > up_to:  # type: ignore[index]
            return None  # known to hold more
        if fewest is not None:  # (1M works: five values' 50,000 works 0.6 ms, 50 values' 500,000 2.3; compared: 1.1, 2.9)
            rows = self.columns[fewest].rows_of(wanted[fewest])
            rows = rows if alone else rows[self.passing(where, rows)]
        else:
            rows = np.flatnonzero(self.passing(where))
        return None if up_to is not None and len(rows) > up_to else np.asarray(self.ids[rows])

    def _wanted(self, where: Sequence[tuple[str, str, str]]) -> dict[str, list[int]]:
        """Column -> the codes of its `=` values in `where` (alternatives; a value no work holds has none), for each
        value column with an `=`."""
        wanted: dict[str, list[int]] = {}
        for column, op, value in where:
            if op == "=" and column not in COUNT_FILTERS:
                code = self.columns[column].code(indexed_value(column, value))
                wanted.setdefault(column, []).extend([] if code is None else [code])
        return wanted

    def among(self, where: Sequence[tuple[str, str, str]], candidates: np.ndarray) -> np.ndarray:
        """The sorted ids of `candidates` that pass `where` (works not among these columns' do not)."""
        candidates = np.unique(np.asarray(candidates, dtype=np.int64))
        at, found = sorted_positions(self.ids, candidates)
        return candidates[found][self.passing(where, at[found])]
