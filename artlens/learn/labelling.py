"""Which artworks to ask a person about next, so that a few labels teach a yes/no label fast.

The BAM labelling loop: people answer yes/no for a label on a handful of works, a quick model
trained on their answers scores the whole collection, and the next works to show are those it
rates most likely "yes" (to confirm, which finds the rare positives quickly) and those it is least
sure about (uncertainty sampling: the answers that move the model most). Before there are
answers of both kinds there is no model: works like the "yes" examples come first (nearest in the
joint search space), then a spread of the collection (random).
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
    reason: str  # "likely yes", "model unsure", "like your yes examples", "a spread of the collection"

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
    regression on them scores every other work: half the suggestions are its most likely yes, half
    the works it is least sure of (P(yes) nearest 0.5). Otherwise: works nearest the yes examples,
    then random ones.
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
        by_yes = np.argsort(-p, kind="stable")
        by_doubt = np.argsort(np.abs(p - 0.5), kind="stable")
        taken: set[int] = set()
        for order, reason, quota in ((by_yes, "likely yes", (n + 1) // 2), (by_doubt, "model unsure", n)):
            for j in order:
                if len(picked) >= n or quota <= 0:
                    break
                if int(j) in taken:
                    continue
                taken.add(int(j))
                picked.append(Suggestion(int(ids[open_rows[j]]), round(float(p[j]), 4), reason))
                quota -= 1
        return picked
    if yes_rows:
        sim = vectors[open_rows] @ vectors[yes_rows].mean(axis=0)
        for j in np.argsort(-sim, kind="stable")[: (n + 1) // 2]:
            picked.append(Suggestion(int(ids[open_rows[j]]), round(float(sim[j]), 4), "like your yes examples"))
    rest = np.setdiff1d(open_rows, [rows[s.id] for s in picked])
    for r in rng.permutation(rest)[: n - len(picked)]:
        picked.append(Suggestion(int(ids[r]), 0.0, "a spread of the collection"))
    return picked
