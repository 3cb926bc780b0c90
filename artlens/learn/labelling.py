"""Which artworks to ask a person about next, so that a few labels teach a yes/no label fast.

The BAM labelling loop: people answer yes/no for a label on a handful of works, a quick model
trained on their answers scores the whole collection, and the next works to show are those it is
least sure about (uncertainty sampling: the answers that move the model most). Before there are
answers of both kinds there is no model: works like the "yes" examples come first (nearest in the
joint search space), then a spread of the collection (random).

Why not also the works it rates most likely "yes", as this module did first (half of each batch)?
Simulated on WikiArt (`bench/active_learning.py`, docs/map.md), confirming likely yes answers takes
the easy positives out of what is left and teaches the model little: the label's AP on the works
not yet answered stayed below random choice's, where all-unsure reached it with far fewer answers.
Works near P(yes) 0.5 of a class-balanced model are still about half "yes", so rare positives keep
turning up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from artlens.vocabulary import yes_no

MIN_EACH = 2  # answers of each kind before a model is trained


@dataclass(frozen=True)
class Suggestion:
    """One artwork to ask about: `score` is the model's P(yes) (or similarity to the yes examples)."""

    id: int
    score: float
    reason: str  # "model unsure", "like your yes examples", "a spread of the collection"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def answers(values: Mapping[int, str]) -> dict[int, bool]:
    """Labels given for one name -> {artwork id: True (yes) / False (no)}; other values are left out."""
    out: dict[int, bool] = {}
    for artwork_id, value in values.items():
        answer = yes_no(value)
        if answer is not None:
            out[int(artwork_id)] = answer
    return out


def suggest(vectors: np.ndarray, ids: np.ndarray, answered: Mapping[int, bool], n: int = 12, seed: int = 0) -> list[Suggestion]:
    """The next `n` unanswered artworks to ask about.

    vectors: (N, d) unit vectors of the collection (the joint search space), row-aligned with `ids`.
    answered: {artwork id: yes?} so far. With at least MIN_EACH answers of each kind, a logistic
    regression on them scores every other work and the suggestions are the works it is least sure of
    (P(yes) nearest 0.5). Otherwise: works nearest the yes examples, then random ones.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ids = np.asarray(ids, np.int64)
    rows = {int(i): r for r, i in enumerate(ids)}
    known = {rows[i]: yes for i, yes in answered.items() if i in rows}
    open_rows = np.array([r for r in range(len(ids)) if r not in known], np.int64)
    if open_rows.size == 0:
        return []
    yes_rows = [r for r, yes in known.items() if yes]
    no_rows = [r for r, yes in known.items() if not yes]
    rng = np.random.default_rng(seed + len(known))
    picked: list[Suggestion] = []
    if len(yes_rows) >= MIN_EACH and len(no_rows) >= MIN_EACH:
        from sklearn.linear_model import LogisticRegression

        train = np.array(yes_rows + no_rows)
        target = np.r_[np.ones(len(yes_rows)), np.zeros(len(no_rows))]
        # Unit vectors of a few hundred dims: a weak penalty (C=10) keeps P(yes) from bunching at 0.5.
        model = LogisticRegression(C=10.0, class_weight="balanced", max_iter=1000).fit(vectors[train], target)
        p = model.predict_proba(vectors[open_rows])[:, 1]
        for j in np.argsort(np.abs(p - 0.5), kind="stable")[:n]:
            picked.append(Suggestion(int(ids[open_rows[j]]), round(float(p[j]), 4), "model unsure"))
        return picked
    if yes_rows:
        sim = vectors[open_rows] @ vectors[yes_rows].mean(axis=0)
        for j in np.argsort(-sim, kind="stable")[: (n + 1) // 2]:
            picked.append(Suggestion(int(ids[open_rows[j]]), round(float(sim[j]), 4), "like your yes examples"))
    rest = np.setdiff1d(open_rows, [rows[s.id] for s in picked])
    for r in rng.permutation(rest)[: n - len(picked)]:
        picked.append(Suggestion(int(ids[r]), 0.0, "a spread of the collection"))
    return picked
