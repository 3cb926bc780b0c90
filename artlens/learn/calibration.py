"""Calibration maths for label heads: thresholds, temperature and Platt scaling, abstention.

Pure numpy/scipy functions on held-out scores, so each threshold in a model card can be recomputed
by hand. Conventions:

- binary (BAM pipeline): a score s >= yes_threshold says "yes", s < no_threshold says "no",
  anything between is "unsure".
- one-of-many: probabilities are softmax(logits / T); a decision is confident when its top
  probability >= the abstention threshold, otherwise "unsure".
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "abstention_threshold",
    "precision_lower_bound",
    "binary_thresholds",
    "fit_platt",
    "no_threshold",
    "fit_temperature",
    "log_softmax",
    "sigmoid",
    "softmax",
]


def softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(z: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return np.where(z >= 0, 1.0 / (1.0 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))))


def fit_temperature(logits: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """Temperature T minimising the mean NLL of softmax(logits / T) on (logits, y) (Guo et al. 2017).

    y: (N,) int class indices. Searched on log T within `bounds`.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if z.ndim != 2 or y.shape != (z.shape[0],) or z.shape[0] == 0:
        raise ValueError(f"expected logits (N, C) and y (N,), got {z.shape} and {y.shape}")

    def nll(log_t: float) -> float:
        return float(-log_softmax(z, math.exp(log_t))[np.arange(y.size), y].mean())

    from scipy.optimize import minimize_scalar  # deferred: SciPy's optimisers take 0.25 s to import

    res = minimize_scalar(nll, bounds=(math.log(bounds[0]), math.log(bounds[1])), method="bounded", options={"xatol": 1e-5})
    return float(math.exp(res.x))


def fit_platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: (a, b) minimising the NLL of sigmoid(a * z + b) for binary y; a kept > 0.

    Uses Platt's (1999) smoothed targets (N+ + 1) / (N+ + 2) and 1 / (N- + 2) instead of 1 and 0,
    so that perfectly separated held-out scores do not drive the slope to infinity.
    Falls back to (1, 0) (the raw sigmoid) when y has a single class.
    """
    z = np.asarray(z, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if z.size == 0 or y.min() == y.max():
        return 1.0, 0.0
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    y = np.where(y > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))

    def nll(p: np.ndarray) -> float:
        a, b = math.exp(p[0]), p[1]
        t = a * z + b
        # log(1 + e^t) - y t, computed stably
        return float(np.mean(np.logaddexp(0.0, t) - y * t))

    from scipy.optimize import minimize

    res = minimize(nll, x0=np.array([0.0, 0.0]), method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 2000})
    return float(math.exp(res.x[0])), float(res.x[1])


def precision_lower_bound(correct: np.ndarray, total: np.ndarray, confidence: float) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound on a precision from `correct` of `total` decisions:
    the true precision is above it with probability `confidence`. confidence 0 = the plain ratio."""
    k = np.asarray(correct, dtype=np.float64)
    n = np.asarray(total, dtype=np.float64)
    if confidence <= 0:
        return k / n
    from scipy.stats import beta

    return np.where(k > 0, beta.ppf(1 - confidence, np.maximum(k, 1e-9), n - k + 1), 0.0)


def _lowest_threshold_meeting(scores: np.ndarray, correct: np.ndarray, target: float, confidence: float = 0.0) -> tuple[float, bool]:
    """Lowest candidate t (a distinct score) with precision of {score >= t} >= target.

    confidence > 0: the Clopper-Pearson lower bound of that precision must reach the target
    (selective classification with guaranteed risk, Geifman & El-Yaniv 2017): a threshold set on a
    finite calibration set then holds on new items of the same kind with that probability, instead
    of about half the time. If no t reaches the target: the t with the highest (bounded) precision
    (the lowest such t on ties), and False.
    """
    s = np.asarray(scores, dtype=np.float64)
    c = np.asarray(correct, dtype=bool)
    order = np.argsort(-s, kind="stable")
    s, c = s[order], c[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # the set {s >= s[i]} ends at i
    tp = np.cumsum(c)[last_of_tie]
    n = last_of_tie + 1
    precision = precision_lower_bound(tp, n, confidence)
    ok = np.flatnonzero(precision >= target - 1e-12)
    if ok.size:
        return float(s[last_of_tie[ok[-1]]]), True
    best = np.flatnonzero(precision == precision.max())
    return float(s[last_of_tie[best[-1]]]), False


def binary_thresholds(
    scores: np.ndarray, y: np.ndarray, precision_target: float = 0.90, positive_recall: float = 0.95, confidence: float = 0.0
) -> dict[str, float | bool]:
    """BAM thresholds from held-out scores of a binary label.

    yes: the lowest held-out score t such that the held-out precision of {score >= t} is at least
    `precision_target` (if none reaches it: the t of highest precision, and "precision_target_met"
    is False). no: the highest t such that at least `positive_recall` of the held-out positives
    score >= t (so at most 1 - positive_recall of the positives fall under "no"); scores below it
    say "no". If the no threshold would exceed the yes threshold it is lowered to it (no unsure band).
    confidence > 0: the precision's lower confidence bound must reach the target (see
    `_lowest_threshold_meeting`).
    Without held-out positives: yes = +inf (never yes), no = the highest score seen.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    t = np.asarray(y).astype(bool).ravel()
    if s.shape != t.shape or s.size == 0:
        raise ValueError(f"scores and y must be 1-D of one non-zero length, got {s.shape} and {t.shape}")
    if not t.any():
        return {"yes": math.inf, "no": float(s.max()), "precision_target_met": False}
    yes, met = _lowest_threshold_meeting(s, t, precision_target, confidence)
    pos = np.sort(s[t])[::-1]
    m = max(1, math.ceil(positive_recall * pos.size - 1e-9))  # positives that must stay at or above "no"
    no = float(pos[m - 1])
    no = min(no, yes)
    return {"yes": yes, "no": no, "precision_target_met": bool(met)}


def no_threshold(scores: np.ndarray, y: np.ndarray, precision_target: float = 0.90, confidence: float = 0.0) -> float:
    """The highest "no" threshold whose no decisions (score < it) are right at least `precision_target`
    of the time (with confidence > 0: the precision's Clopper-Pearson lower bound reaches it), as the
    yes threshold is chosen; 0.0 (never "no") if no threshold does. BAM's rule (`binary_thresholds`:
    a share of the positives above "no") says nothing of how often a "no" is right: take the lower
    of the two to bound both."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    negative = ~np.asarray(y).astype(bool).ravel()
    order = np.argsort(s, kind="stable")
    s, negative = s[order], negative[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # the set {score <= s[i]} ends at i
    bound = precision_lower_bound(np.cumsum(negative)[last_of_tie], last_of_tie + 1, confidence)
    ok = np.flatnonzero(bound >= precision_target - 1e-12)
    return float(np.nextafter(s[last_of_tie[ok[-1]]], np.inf)) if ok.size else 0.0


def abstention_threshold(probs: np.ndarray, y: np.ndarray, precision_target: float = 0.90, confidence: float = 0.0) -> dict[str, float | bool]:
    """Threshold on the top probability of a one-of-many head (decide when max prob >= threshold).

    The lowest held-out max-probability t such that the held-out top-1 precision of the items with
    max prob >= t is at least `precision_target`; if none reaches it, the t of highest precision
    ("precision_target_met" False). Also returns the held-out precision and coverage at t.
    confidence > 0: the precision's lower confidence bound must reach the target instead.
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if p.ndim != 2 or y.shape != (p.shape[0],) or y.size == 0:
        raise ValueError(f"expected probs (N, C) and y (N,), got {p.shape} and {y.shape}")
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    t, met = _lowest_threshold_meeting(conf, correct, precision_target, confidence)
    keep = conf >= t
    return {
        "threshold": t,
        "precision_target_met": bool(met),
        "precision": float(correct[keep].mean()) if keep.any() else float("nan"),
        "coverage": float(keep.mean()),
    }
