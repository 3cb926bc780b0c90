"""Training labels from a collection: the labels people gave win over the metadata column of the
same name, and a many-of-many cell lists its labels separated by ';'."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def merged_metadata(metas: Sequence[Mapping[str, str]], given: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Per artwork, its metadata overlaid with the labels people gave it (a given label wins)."""
    return [{**m, **g} for m, g in zip(metas, given)]


def many_value(cell: str | None) -> set[str] | None:
    """A many-of-many cell: ';'-separated labels that apply (e.g. 'oil paint;pen and ink'); empty = unknown."""
    if not cell:
        return None
    return {label.strip() for label in cell.split(";") if label.strip()}


def training_labels(metas: Sequence[Mapping[str, str]], label: str, kind: str) -> list[Any]:
    """The `labels` argument of `train_head` for one label column: a value (or None) per artwork, or
    for kind "many" a {class: applies} dict (or None) per artwork."""
    if kind != "many":
        return [m.get(label) or None for m in metas]
    cells = [many_value(m.get(label)) for m in metas]
    vocabulary = sorted({c for cell in cells if cell for c in cell})
    # A labelled row says no to what it does not list; an empty cell says nothing (masked out).
    return [None if cell is None else {c: c in cell for c in vocabulary} for cell in cells]
