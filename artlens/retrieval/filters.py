"""What a query is filtered and weighted by, as people write it: `style=Baroque`, `genre!=portrait`,
`style=0.6,content=0.3,color=0.1`. Parsing only: the collection checks the names it knows."""

from __future__ import annotations

from collections.abc import Iterable

from artlens.errors import InputError
from artlens.vocabulary import COUNT_OPERATORS

Condition = tuple[str, str, str]  # (column, operator, value); operators other than = and != compare counts


def parse_where(conditions: Iterable[str | Condition]) -> list[Condition]:
    """'style=Baroque' / 'genre!=portrait' / 'faces>=2' -> (column, op, value) triples."""
    out: list[Condition] = []
    for c in conditions:
        if isinstance(c, tuple):
            out.append(c)
            continue
        # The first operator in the text, the longer one where two start there ("faces>=2" is not "faces>" "=2").
        found = min(((c.find(op), -len(op), op) for op in COUNT_OPERATORS if op in c), default=None)
        if found is None:
            raise InputError(f"bad filter {c!r}: expected COLUMN=VALUE, COLUMN!=VALUE or a count such as faces>=1")
        op = found[2]
        column, value = c.split(op, 1)
        if not column.strip():
            raise InputError(f"bad filter {c!r}: the column name is empty")
        out.append((column.strip(), op, value.strip()))
    return out


def parse_weights(text: str | None) -> dict[str, float] | None:
    """'style=0.6,content=0.3,color=0.1' -> {'style': 0.6, ...}; None stays None (use the defaults)."""
    if text is None or not text.strip():
        return None
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        # Which facets exist depends on the collection (learned ones): the search checks the names.
        if not sep or not name.replace("_", "").isalpha():
            raise InputError(f"bad weight {part.strip()!r}: expected FACET=NUMBER, e.g. style=0.6")
        try:
            weights[name] = float(value)
        except ValueError:
            raise InputError(f"bad weight {part.strip()!r}: {value.strip()!r} is not a number") from None
        if weights[name] < 0:
            raise InputError(f"bad weight {part.strip()!r}: weights must be >= 0")
    if sum(weights.values()) <= 0:
        raise InputError("at least one weight must be positive")
    return weights


def parse_box(text: str) -> tuple[float, float, float, float]:
    """'x0,y0,x1,y1' (pixels of the image, left, top, right, bottom) -> four numbers."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"bad box {text!r}: expected four numbers x0,y0,x1,y1 (pixels), e.g. 120,40,260,200") from None
    if len(values) != 4:
        raise InputError(f"bad box {text!r}: expected four numbers x0,y0,x1,y1, got {len(values)}")
    x0, y0, x1, y1 = values
    if not (x0 < x1 and y0 < y1):
        raise InputError(f"bad box {text!r}: x0 < x1 and y0 < y1 (left, top, right, bottom)")
    return x0, y0, x1, y1
