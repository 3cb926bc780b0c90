"""The simulated labelling loop of bench/active_learning.py on a small synthetic collection: a few seconds."""

from __future__ import annotations

import numpy as np
import pytest

from bench.active_learning import BATCH, STRATEGIES, Works, answers_to, simulate


@pytest.fixture(scope="module")
def works() -> Works:
    # 300 works in 6 groups; the label is group 0 (50 works), which the map and the vectors both separate.
    rng = np.random.default_rng(0)
    group = np.repeat(np.arange(6), 50)
    centres = rng.normal(size=(6, 16))
    joint = centres[group] + 0.3 * rng.normal(size=(300, 16))
    joint /= np.linalg.norm(joint, axis=1, keepdims=True)
    xy = np.c_[np.cos(group), np.sin(group)] + 0.05 * rng.normal(size=(300, 2))
    return Works(head_x=joint.astype(np.float32), joint=joint.astype(np.float32), xy=xy.astype(np.float32),
                 cluster=group.astype(np.int32), meta={"group": group.astype(object)})


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_asks_new_works_and_learns_an_easy_label(works: Works, strategy: str) -> None:
    truth = works.meta["group"] == 0
    curve = simulate(works, np.arange(300), truth, strategy, seed=0, cap=4 * BATCH)
    assert [n for n, _ in curve] == [BATCH, 2 * BATCH, 3 * BATCH, 4 * BATCH]
    assert answers_to(curve, 0.9) is not None, curve


def test_answers_to_is_the_first_round_at_the_target() -> None:
    assert answers_to([(12, 0.5), (24, 0.91), (36, 0.85), (48, 0.95)], 0.9) == 24
    assert answers_to([(12, 0.5)], 0.9) is None
