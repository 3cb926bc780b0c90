"""Calibration maths of the label heads, against scores worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from artlens.learn.calibration import (
    abstention_threshold,
    binary_thresholds,
    fit_platt,
    fit_temperature,
    no_threshold,
    precision_lower_bound,
    sigmoid,
    softmax,
)

# Ten held-out scores, best first, and whether each item is really positive.
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
TRUTH = np.array([1, 1, 0, 1, 1, 0, 1, 0, 0, 0])
# precision of {score >= t}: 0.9 -> 1/1, 0.8 -> 2/2, 0.7 -> 2/3, 0.6 -> 3/4, 0.5 -> 4/5, 0.4 -> 4/6, 0.3 -> 5/7, ...
# positives from the top: 0.9, 0.8, 0.6, 0.5, 0.3


def test_binary_thresholds_by_hand() -> None:
    th = binary_thresholds(SCORES, TRUTH, precision_target=0.90, positive_recall=0.95)
    # lowest t with precision >= 0.9 is 0.8 (2/2; 0.7 gives 2/3); 95% of 5 positives = 5 must stay >= "no": 0.3
    assert th == {"yes": 0.8, "no": 0.3, "precision_target_met": True}
    th = binary_thresholds(SCORES, TRUTH, precision_target=0.75, positive_recall=0.6)
    # precision 0.8 at t = 0.5 (0.4 gives 4/6); 60% of 5 = 3 positives above "no": 0.6 > yes, so no = yes
    assert th == {"yes": 0.5, "no": 0.5, "precision_target_met": True}
    th = binary_thresholds(SCORES, TRUTH, precision_target=0.90, positive_recall=0.8)
    assert (th["yes"], th["no"]) == (0.8, 0.5)  # 4 of 5 positives at or above 0.5


def test_no_threshold_bounds_how_often_a_no_is_right() -> None:
    # from the bottom: 0.05, 0.1, 0.2 negatives (3/3 right), 0.3 positive (3/4), 0.4 negative (4/5), 0.5 positive (4/6)
    no = no_threshold(SCORES, TRUTH, precision_target=0.9)
    assert 0.2 < no < 0.2 + 1e-9 and list(SCORES[SCORES < no]) == [0.2, 0.1, 0.05]
    assert 0.4 < no_threshold(SCORES, TRUTH, precision_target=0.8) < 0.4 + 1e-9  # 4 of 5 right
    assert no_threshold(SCORES, TRUTH, precision_target=1.01) == 0.0  # never "no"
    # BAM's no (0.3, see above) lets 1 of 4 no decisions be wrong: the lower of the two bounds both
    assert min(binary_thresholds(SCORES, TRUTH, 0.9, 0.95)["no"], no) == no


def test_binary_thresholds_unreachable_target() -> None:
    th = binary_thresholds(np.array([0.9, 0.8, 0.7]), np.array([0, 1, 1]), precision_target=0.9)
    # precision 0 at 0.9, 1/2 at 0.8, 2/3 at 0.7: the best is 0.7, and the target is not met
    assert th["yes"] == 0.7 and th["precision_target_met"] is False
    th = binary_thresholds(np.array([0.2, 0.1]), np.array([0, 0]))
    assert th["yes"] == math.inf and th["precision_target_met"] is False


def test_precision_lower_bound_by_hand() -> None:
    # n of n right: the one-sided Clopper-Pearson bound is (1 - confidence) ** (1 / n); 0.1 ** (1/22) = 0.9006
    assert precision_lower_bound(22, 22, 0.9) == pytest.approx(0.1 ** (1 / 22))
    assert precision_lower_bound(21, 21, 0.9) < 0.9 < precision_lower_bound(22, 22, 0.9)
    assert precision_lower_bound(0, 5, 0.9) == 0.0
    assert precision_lower_bound(9, 10, 0.0) == pytest.approx(0.9)  # confidence 0: the plain ratio


def test_a_confident_threshold_asks_for_more_evidence() -> None:
    # 30 right answers at the top, then alternating wrong and right: the plain 90% point is reached
    # lower down than the point where 90% holds with 90% confidence
    scores = np.linspace(1.0, 0.0, 60)
    right = np.r_[np.ones(30, bool), np.arange(30) % 2 == 1]
    probs = np.column_stack([scores, 1 - scores]) * 0.5 + 0.5 * np.column_stack([np.ones(60), np.zeros(60)])
    y = np.where(right, 0, 1)
    plain = abstention_threshold(probs, y, precision_target=0.9)
    sure = abstention_threshold(probs, y, precision_target=0.9, confidence=0.9)
    assert plain["precision"] >= 0.9 and sure["precision"] >= 0.9
    assert sure["threshold"] > plain["threshold"] and sure["coverage"] < plain["coverage"]
    assert precision_lower_bound(round(sure["precision"] * sure["coverage"] * 60), round(sure["coverage"] * 60), 0.9) >= 0.9


def test_temperature_scaling_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2.0, size=(20000, 5))
    p = softmax(true_logits)
    y = np.array([rng.choice(5, p=row) for row in p])
    overconfident = true_logits * 2.5  # a model whose logits are 2.5x too large
    assert fit_temperature(overconfident, y) == pytest.approx(2.5, rel=0.05)
    assert fit_temperature(true_logits, y) == pytest.approx(1.0, rel=0.05)


def test_platt_scaling_recovers_slope_and_offset() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, 20000)
    y = rng.random(z.size) < sigmoid(0.5 * z - 1.0)
    a, b = fit_platt(z, y)
    assert a == pytest.approx(0.5, abs=0.05) and b == pytest.approx(-1.0, abs=0.08)


def test_abstention_threshold_meets_the_precision_target() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 1.5, size=(3000, 4))
    probs = softmax(logits)
    y = np.array([rng.choice(4, p=row) for row in probs])  # calibrated by construction
    ab = abstention_threshold(probs, y, precision_target=0.9)
    conf, correct = probs.max(1), probs.argmax(1) == y
    keep = conf >= ab["threshold"]
    assert ab["precision_target_met"]
    assert correct[keep].mean() >= 0.9
    assert ab["precision"] == pytest.approx(correct[keep].mean())
    assert ab["coverage"] == pytest.approx(keep.mean()) and 0 < ab["coverage"] < 1
    # the lowest such threshold: the next lower confidence would break the target
    lower = conf[conf < ab["threshold"]].max()
    assert correct[conf >= lower].mean() < 0.9
    # hand-made: confidences 0.9 (right), 0.8 (wrong), 0.7 (right), 0.6 (right)
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.6, 0.4]])
    res = abstention_threshold(p, np.array([0, 0, 0, 0]), precision_target=0.75)
    assert res["threshold"] == 0.6 and res["precision"] == 0.75 and res["coverage"] == 1.0
    res = abstention_threshold(p, np.array([0, 0, 0, 0]), precision_target=0.9)
    assert res["threshold"] == 0.9 and res["coverage"] == 0.25
