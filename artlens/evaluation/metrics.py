"""Evaluation metrics behind `artlens eval`: retrieval, classification and detection.

Small pure functions on plain numpy arrays, so that each number in a report can be traced to one
definition. Every function says which definition it uses and what it does on the edge cases
(empty input, no relevant item, ties, a class never predicted).

Retrieval follows the protocols of the art-retrieval papers this project measures itself against:

- single-label retrieval (P@k, mAP): every query ranks the rest of the collection, never itself;
  a result is relevant when it has the query's label. The functions take the already-ranked
  relevance (or labels) of the results, so they do not care how the ranking was done.
- DeepArt (Mao et al., 2017) multi-label graded retrieval: each artwork has L attribute labels
  (artist, style, genre, ...); a result is relevant when it shares at least a majority of them
  with the query, and its graded gain for nDCG is the number shared. Scores are at k = 60.
- ALADIN (Ruta et al., 2021) group retrieval: P@k of finding another member of the query's
  group (a fine-grained style group); queries alone in their group are left out.

Classification metrics are checked against scikit-learn in the tests, detection follows the
PASCAL VOC devkit (VOCevaldet.m / VOCap.m) including its +1 pixel convention.

Labels that are "missing" (see `missing_mask`) are never relevant and never shared.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np


class NoQueryError(ValueError):
    """The data leave nothing to score (no query has a relevant item): a fact about the labels, not a bug."""


__all__ = [
    "NoQueryError",
    "average_precision",
    "binary_average_precision",
    "classification_report",
    "detection_ap",
    "graded_retrieval_scores",
    "group_precision",
    "group_query_mask",
    "iou",
    "iou_matrix",
    "mean_ap",
    "missing_mask",
    "ndcg_at_k",
    "other_members",
    "precision_at_k",
    "precision_recall_curve",
    "retrieval_scores",
    "shared_label_counts",
    "topk_accuracy",
    "voc_average_precision",
]

DEEPART_K = 60


# --------------------------------------------------------------------------- helpers


def _check_k(k: int, name: str = "k") -> int:
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
    return int(k)


def _relevance(relevant: np.ndarray) -> np.ndarray:
    """A 1-D bool array from a 1-D bool / 0-1 array (any non-zero value counts as relevant)."""
    rel = np.asarray(relevant)
    if rel.ndim != 1:
        raise ValueError(f"relevance must be 1-D (one ranked list), got shape {rel.shape}")
    if rel.dtype.kind not in "biuf":
        raise ValueError(f"relevance must be bool or 0/1 numbers, got dtype {rel.dtype}")
    return rel.astype(bool)


def missing_mask(labels: np.ndarray) -> np.ndarray:
    """True where a label is missing: None, NaN, the empty string, or a negative integer code.

    Negative integers follow the usual encoding of missing categories (pandas codes use -1).
    Booleans and unsigned integers are never missing.
    """
    a = np.asarray(labels)
    kind = a.dtype.kind
    if kind == "f":
        return np.isnan(a)
    if kind == "i":
        return a < 0
    if kind in "US":
        return a == a.dtype.type()
    if kind == "O":
        flat = [
            x is None
            or (isinstance(x, float) and math.isnan(x))
            or (isinstance(x, str) and x == "")
            for x in a.ravel()
        ]
        return np.array(flat, dtype=bool).reshape(a.shape)
    return np.zeros(a.shape, dtype=bool)


def _same_label(query_labels: np.ndarray, ranked_labels: np.ndarray) -> np.ndarray:
    """(Q, K) bool: result k of query q has the query's label, and neither label is missing."""
    q = np.asarray(query_labels)
    r = np.asarray(ranked_labels)
    if q.ndim != 1 or r.ndim != 2 or r.shape[0] != q.shape[0]:
        raise ValueError(
            f"expected query labels (Q,) and ranked labels (Q, K), got {q.shape} and {r.shape}"
        )
    same = r == q[:, None]
    return np.asarray(same, dtype=bool) & ~missing_mask(q)[:, None] & ~missing_mask(r)


# --------------------------------------------------------------------------- retrieval


def precision_at_k(relevant: np.ndarray, k: int) -> float:
    """P@k of one ranked list: hits in the top k / k.

    `relevant` is the bool / 0-1 relevance of the results in ranked order (the query itself is
    not in the list). If the list has fewer than k results, the hits are still divided by k:
    missing results count as misses, so P@k never rewards returning fewer results.
    """
    k = _check_k(k)
    rel = _relevance(relevant)
    return float(np.count_nonzero(rel[:k])) / k


def average_precision(
    relevant: np.ndarray, n_relevant: int | None = None, k: int | None = None
) -> float:
    """Average precision of one ranked list: the mean of P@r over the ranks r of the relevant results.

    AP = sum_{r relevant} P@r / n_relevant, where n_relevant is the number of relevant items in
    the whole collection for this query (default: the number in the list, i.e. the list is a
    complete ranking). Relevant items that are not in the list contribute 0, so a list shorter
    than the collection gives AP truncated at its length.

    With k: AP@k as in DeepArt, sum_{r <= k, r relevant} P@r / min(k, n_relevant), so a perfect
    top k scores 1 even when there are more than k relevant items.

    Returns 0.0 when n_relevant == 0 (AP is undefined; callers should skip such queries).
    """
    rel = _relevance(relevant)
    in_list = int(np.count_nonzero(rel))
    if n_relevant is None:
        n_relevant = in_list
    elif n_relevant < in_list:
        raise ValueError(f"n_relevant={n_relevant} is less than the {in_list} relevant items in the list")
    if k is not None:
        k = _check_k(k)
        rel = rel[:k]
    if n_relevant == 0:
        return 0.0
    ranks = np.flatnonzero(rel) + 1  # 1-based ranks of the hits
    precisions = np.arange(1, ranks.size + 1) / ranks  # P@r at each hit
    denominator = n_relevant if k is None else min(k, n_relevant)
    return float(precisions.sum() / denominator)


def _gain(g: np.ndarray, gain: str) -> np.ndarray:
    if gain == "exponential":
        return np.exp2(g) - 1.0
    if gain == "linear":
        return g
    raise ValueError(f"gain must be 'exponential' or 'linear', got {gain!r}")


def _dcg(g: np.ndarray, k: int, gain: str) -> float:
    top = g[:k]
    discounts = 1.0 / np.log2(np.arange(2, top.size + 2))  # rank r -> 1 / log2(r + 1)
    return float(np.sum(_gain(top, gain) * discounts))


def _gains(values: np.ndarray, name: str) -> np.ndarray:
    g = np.asarray(values, dtype=float)
    if g.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {g.shape}")
    if np.any(g < 0) or np.any(np.isnan(g)):
        raise ValueError(f"{name} must be non-negative numbers")
    return g


def ndcg_at_k(
    gains: np.ndarray,
    k: int,
    ideal_gains: np.ndarray | None = None,
    gain: str = "exponential",
) -> float:
    """nDCG@k of one ranked list of graded relevances: DCG@k / ideal DCG@k.

    DCG@k = sum_{r=1..k} G(g_r) / log2(r + 1), with G(g) = 2^g - 1 (gain="exponential", the
    form of Burges et al. and of DeepArt's graded retrieval) or G(g) = g (gain="linear", the
    form of sklearn.metrics.ndcg_score). The ideal DCG ranks `ideal_gains` (the gains of all
    candidates in the collection for this query) in decreasing order; without them it sorts
    `gains`, i.e. assumes the list holds every candidate. Returns 0.0 when the ideal DCG is 0
    (no candidate has any gain), as sklearn does.
    """
    k = _check_k(k)
    g = _gains(gains, "gains")
    ideal = g if ideal_gains is None else _gains(ideal_gains, "ideal_gains")
    idcg = _dcg(np.sort(ideal)[::-1], k, gain)
    dcg = _dcg(g, k, gain)
    if idcg == 0.0:
        return 0.0
    return dcg / idcg


def other_members(labels: np.ndarray) -> np.ndarray:
    """For each item of a collection, how many other items have its label (0 if its label is missing).

    This is n_relevant for single-label retrieval where every item queries the rest of the
    collection: `retrieval_scores(labels[q], labels[ranked_ids], other_members(labels)[q])`.
    """
    a = np.asarray(labels)
    if a.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {a.shape}")
    out = np.zeros(a.shape[0], dtype=np.int64)
    present = ~missing_mask(a)
    if present.any():
        _, inverse, counts = np.unique(a[present], return_inverse=True, return_counts=True)
        out[present] = counts[inverse.ravel()] - 1
    return out


def group_query_mask(groups: np.ndarray) -> np.ndarray:
    """ALADIN query mask over a whole collection: True for items whose group has another member.

    Items with a missing group, or alone in their group, cannot find "another member" and are
    not valid queries.
    """
    return other_members(groups) > 0


def retrieval_scores(
    query_labels: np.ndarray,
    ranked_labels: np.ndarray,
    n_relevant: np.ndarray,
    ks: Sequence[int] = (1, 5, 10, 60),
) -> dict[str, float]:
    """Single-label retrieval: mean P@k for each k and mAP over the queries.

    query_labels: (Q,) label of each query. ranked_labels: (Q, K) labels of the top K results of
    each query, best first, the query itself excluded. n_relevant: (Q,) number of items in the
    collection (other than the query) with the query's label, e.g. from `other_members`.

    A result is relevant when its label equals the query's (missing labels never match). mAP uses
    the full n_relevant as denominator, so when K is smaller than the collection it is AP@K in the
    truncated sense (relevant items beyond K count as missed), not DeepArt's min(k, n) form.
    Queries with n_relevant == 0 are skipped for every score; "queries" gives how many were used.
    Raises ValueError if a k exceeds K (P@k would be understated) or if no query is usable.
    """
    relevant = _same_label(query_labels, ranked_labels)
    n_rel = np.asarray(n_relevant)
    if n_rel.shape != (relevant.shape[0],):
        raise ValueError(f"n_relevant must have shape ({relevant.shape[0]},), got {n_rel.shape}")
    ks = [_check_k(k) for k in ks]
    n_results = relevant.shape[1]
    if any(k > n_results for k in ks):
        raise ValueError(f"ks {ks} exceed the {n_results} ranked results per query")
    hits = relevant.sum(axis=1)
    if np.any(hits > n_rel):
        raise ValueError("n_relevant is smaller than the number of relevant results of some query")
    use = n_rel > 0
    if not use.any():
        raise NoQueryError("no query has a relevant item in the collection")
    scores: dict[str, float] = {}
    for k in ks:
        scores[f"P@{k}"] = float(np.mean([precision_at_k(r, k) for r in relevant[use]]))
    scores["mAP"] = float(
        np.mean([average_precision(r, int(n)) for r, n in zip(relevant[use], n_rel[use])])
    )
    scores["queries"] = float(np.count_nonzero(use))
    return scores


def group_precision(
    query_groups: np.ndarray,
    ranked_groups: np.ndarray,
    ks: Sequence[int] = (1, 5, 10),
    query_mask: np.ndarray | None = None,
) -> dict[str, float]:
    """ALADIN group retrieval: mean P@k where a result is relevant when it is in the query's group.

    query_groups: (Q,), ranked_groups: (Q, K) groups of the top K results, query excluded.
    query_mask: (Q,) bool, False for queries to leave out; pass `group_query_mask(all_groups)`
    restricted to the queries, since whether a group has another member depends on the whole
    collection, not on the top K. Queries with a missing group are always left out.
    Raises ValueError if a k exceeds K or no query is left.
    """
    relevant = _same_label(query_groups, ranked_groups)
    use = ~missing_mask(np.asarray(query_groups))
    if query_mask is not None:
        mask = np.asarray(query_mask, dtype=bool)
        if mask.shape != use.shape:
            raise ValueError(f"query_mask must have shape {use.shape}, got {mask.shape}")
        use &= mask
    ks = [_check_k(k) for k in ks]
    if any(k > relevant.shape[1] for k in ks):
        raise ValueError(f"ks {ks} exceed the {relevant.shape[1]} ranked results per query")
    if not use.any():
        raise NoQueryError("no query left: every group is missing or has a single member")
    scores = {f"P@{k}": float(np.mean([precision_at_k(r, k) for r in relevant[use]])) for k in ks}
    scores["queries"] = float(np.count_nonzero(use))
    return scores


def shared_label_counts(query_labels: np.ndarray, result_labels: np.ndarray) -> np.ndarray:
    """DeepArt: how many of the L attribute labels each result shares with its query.

    query_labels: (Q, L), result_labels: (Q, K, L); attribute l is compared with attribute l
    (artist with artist, style with style). A missing label (see `missing_mask`) is never
    shared, even with another missing label. Returns (Q, K) int.
    """
    q = np.asarray(query_labels)
    r = np.asarray(result_labels)
    if q.ndim != 2 or r.ndim != 3 or r.shape[0] != q.shape[0] or r.shape[2] != q.shape[1]:
        raise ValueError(
            f"expected query labels (Q, L) and result labels (Q, K, L), got {q.shape} and {r.shape}"
        )
    same = np.asarray(r == q[:, None, :], dtype=bool)
    same &= ~missing_mask(q)[:, None, :] & ~missing_mask(r)
    return same.sum(axis=2).astype(np.int64)


def graded_retrieval_scores(
    shared: np.ndarray,
    n_labels: int,
    min_shared: int | None = None,
    k: int = DEEPART_K,
    ideal: Sequence[np.ndarray] | np.ndarray | None = None,
    gain: str = "exponential",
) -> dict[str, float]:
    """DeepArt multi-label retrieval: mean P@k, AP@k and nDCG@k over the queries.

    shared: (Q, K) shared-label counts of the ranked results (`shared_label_counts`).
    A result is relevant when shared >= min_shared (default: a majority, n_labels // 2 + 1);
    its graded gain for nDCG is the shared count (`gain` as in `ndcg_at_k`, exponential by default).
    ideal: for each query the shared counts of every other item in the collection (a list of
    arrays or a (Q, N) array). It gives n_relevant for AP@k and the ideal ranking for nDCG@k.
    Without it the ranked lists are taken to be complete rankings of the collection.
    AP@k divides by min(k, n_relevant) (`average_precision` with k).
    Queries with no relevant item in the collection are skipped; "queries" gives how many were used.
    Raises ValueError if k exceeds K or no query is usable.
    """
    s = np.asarray(shared)
    if s.ndim != 2:
        raise ValueError(f"shared must be (Q, K), got shape {s.shape}")
    if s.dtype.kind not in "biu" and not np.all(s == np.round(s)):
        raise ValueError("shared must hold integer counts")
    n_labels = _check_k(n_labels, "n_labels")
    if min_shared is None:
        min_shared = n_labels // 2 + 1
    if not 1 <= min_shared <= n_labels:
        raise ValueError(f"min_shared must be in 1..{n_labels}, got {min_shared}")
    if np.any(s < 0) or np.any(s > n_labels):
        raise ValueError(f"shared counts must be in 0..{n_labels}")
    k = _check_k(k)
    if k > s.shape[1]:
        raise ValueError(f"k={k} exceeds the {s.shape[1]} ranked results per query")
    if ideal is None:
        ideal_rows: Sequence[np.ndarray] | np.ndarray = s
    else:
        ideal_rows = ideal
        if len(ideal_rows) != s.shape[0]:
            raise ValueError(f"ideal must have one row per query ({s.shape[0]}), got {len(ideal_rows)}")
    p, ap, nd = [], [], []
    for row, ideal_row in zip(s, ideal_rows):
        ideal_row = np.asarray(ideal_row)
        n_relevant = int(np.count_nonzero(ideal_row >= min_shared))
        if n_relevant == 0:
            continue
        relevant = row >= min_shared
        p.append(precision_at_k(relevant, k))
        ap.append(average_precision(relevant, n_relevant, k=k))
        nd.append(ndcg_at_k(row, k, ideal_gains=ideal_row, gain=gain))
    if not p:
        raise NoQueryError(f"no query has an item sharing at least {min_shared} labels")
    return {
        f"P@{k}": float(np.mean(p)),
        f"AP@{k}": float(np.mean(ap)),
        f"nDCG@{k}": float(np.mean(nd)),
        "queries": float(len(p)),
    }


# --------------------------------------------------------------------------- classification


def topk_accuracy(y_true: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Fraction of samples whose true class is among the k highest scores.

    y_true: (N,) int class indices in 0..C-1, scores: (N, C). Ties count against the model: the
    true class is in the top k only if fewer than k other classes score at least as high, so a
    constant score vector is never right. With distinct scores this equals
    sklearn.metrics.top_k_accuracy_score. Raises ValueError on empty input.
    """
    k = _check_k(k)
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=float)
    if s.ndim != 2 or y.ndim != 1 or y.shape[0] != s.shape[0]:
        raise ValueError(f"expected y_true (N,) and scores (N, C), got {y.shape} and {s.shape}")
    if y.shape[0] == 0:
        raise ValueError("topk_accuracy of an empty set")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= s.shape[1]:
        raise ValueError(f"y_true must be integer class indices in 0..{s.shape[1] - 1}")
    true_score = s[np.arange(y.shape[0]), y]
    at_least = (s >= true_score[:, None]).sum(axis=1) - 1  # other classes scoring >= the true one
    return float(np.mean(at_least < k))


def _py(x: object) -> object:
    return x.item() if isinstance(x, np.generic) else x


def classification_report(
    y_true: np.ndarray | Sequence[Hashable],
    y_pred: np.ndarray | Sequence[Hashable],
    labels: Sequence[Hashable] | None = None,
) -> dict[str, object]:
    """Single-label classification report, plain Python values (JSON-ready).

    labels: the classes in report order (default: sorted union of y_true and y_pred); a value of
    y_true or y_pred outside `labels` raises ValueError. Returns:

    - "labels": the class order; "confusion_matrix": C x C list, rows = truth, columns = predicted
      (sklearn.metrics.confusion_matrix);
    - "per_class": {label: {"precision", "recall", "f1", "support"}}; precision of a class never
      predicted is 0, recall of a class never true is 0, F1 is 0 when precision + recall == 0
      (sklearn's zero_division=0);
    - "accuracy"; "micro_f1" (from TP, FP, FN summed over the classes; equals accuracy);
      "macro_f1" (unweighted mean over the classes in `labels`, including absent ones);
    - "mcc": multiclass Matthews correlation (Gorodkin's R_K, sklearn.metrics.matthews_corrcoef),
      0.0 when undefined (all truth or all predictions in one class).

    Raises ValueError on empty input or different lengths.
    """
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 1 or p.ndim != 1 or t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must be 1-D of one length, got {t.shape} and {p.shape}")
    if t.shape[0] == 0:
        raise ValueError("classification_report of an empty set")
    if labels is None:
        classes = [_py(c) for c in np.unique(np.concatenate([t, p]))]
    else:
        classes = [_py(c) for c in labels]
        if len(set(classes)) != len(classes):
            raise ValueError("labels contain duplicates")
    index = {c: i for i, c in enumerate(classes)}
    try:
        ti = np.array([index[_py(v)] for v in t])
        pi = np.array([index[_py(v)] for v in p])
    except KeyError as e:
        raise ValueError(f"label {e.args[0]!r} is not in labels {classes}") from None
    n_classes = len(classes)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (ti, pi), 1)

    tp = np.diag(cm).astype(float)
    predicted = cm.sum(axis=0).astype(float)
    support = cm.sum(axis=1).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros(n_classes), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(n_classes), where=support > 0)
    pr = precision + recall
    f1 = np.divide(2 * precision * recall, pr, out=np.zeros(n_classes), where=pr > 0)

    n = float(cm.sum())
    tp_all, fp_all, fn_all = tp.sum(), n - tp.sum(), n - tp.sum()
    micro_f1 = 2 * tp_all / (2 * tp_all + fp_all + fn_all) if tp_all > 0 else 0.0

    # Gorodkin (2004): (c*s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t)), c = correct, s = samples,
    # t = true counts per class, p = predicted counts per class.
    cov_tp = tp.sum() * n - support @ predicted
    cov_pp = n * n - predicted @ predicted
    cov_tt = n * n - support @ support
    mcc = float(cov_tp / math.sqrt(cov_pp * cov_tt)) if cov_pp * cov_tt > 0 else 0.0

    return {
        "labels": classes,
        "per_class": {
            c: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
        "accuracy": float(tp.sum() / n),
        "micro_f1": float(micro_f1),
        "macro_f1": float(f1.mean()),
        "mcc": mcc,
        "confusion_matrix": cm.tolist(),
    }


def _binary_inputs(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=float)
    if y.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"y_true and scores must be 1-D of one length, got {y.shape} and {s.shape}")
    if y.shape[0] == 0:
        raise ValueError("empty input")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must be 0/1 (or bool)")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return y.astype(bool), s


def precision_recall_curve(
    y_true: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at every distinct score threshold, as sklearn.metrics.precision_recall_curve.

    thresholds: the distinct scores in increasing order; precision[i], recall[i] are those of
    predicting positive when score >= thresholds[i]. A final point (precision 1, recall 0) with
    no threshold closes the curve, so precision and recall have one more entry than thresholds.
    Tied scores form one threshold. If y_true has no positive, recall is set to 1 everywhere
    (sklearn's convention, which makes the AP 0). Raises ValueError on empty input.
    """
    y, s = _binary_inputs(y_true, scores)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last_of_tie].astype(float)
    fps = (last_of_tie + 1) - tps
    precision = tps / (tps + fps)  # tps + fps >= 1 at every threshold
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones_like(tps)
    return (
        np.r_[precision[::-1], 1.0],
        np.r_[recall[::-1], 0.0],
        s[last_of_tie][::-1],
    )


def binary_average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """AP of a binary ranking, as sklearn.metrics.average_precision_score (no interpolation).

    AP = sum_n (R_n - R_{n-1}) P_n over the distinct thresholds (tied scores form one threshold,
    unlike `average_precision`, which takes the ranking as given). 0.0 if y_true has no positive.
    """
    precision, recall, _ = precision_recall_curve(y_true, scores)
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


# --------------------------------------------------------------------------- detection (PASCAL VOC)


def iou_matrix(a: np.ndarray, b: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """IoU of every box of a (N, 4) with every box of b (M, 4); boxes are [xmin, ymin, xmax, ymax].

    inclusive=True (default) is the PASCAL VOC devkit convention for pixel boxes: xmax, ymax are
    the last pixel inside the box, so width = xmax - xmin + 1 (VOC2007 devkit, People-Art labels).
    inclusive=False treats corners as continuous coordinates (width = xmax - xmin).
    Boxes that do not overlap have IoU 0. Returns (N, M) float.
    """
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    one = 1.0 if inclusive else 0.0
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + one
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + one
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    area_a = (a[:, 2] - a[:, 0] + one) * (a[:, 3] - a[:, 1] + one)
    area_b = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou(
    box_a: Sequence[float] | np.ndarray, box_b: Sequence[float] | np.ndarray, inclusive: bool = True
) -> float:
    """IoU of two [xmin, ymin, xmax, ymax] boxes; see `iou_matrix` for the +1 pixel convention."""
    return float(iou_matrix(np.asarray(box_a), np.asarray(box_b), inclusive)[0, 0])


def voc_average_precision(
    recall: np.ndarray, precision: np.ndarray, use_07_metric: bool = False
) -> float:
    """AP from a detector's cumulative recall / precision (in score order), as in the VOC devkit.

    use_07_metric=True: VOC2007's 11-point interpolated AP, the mean over t = 0, 0.1, ..., 1 of
    the highest precision at recall >= t (0 if recall never reaches t).
    Otherwise (VOC2010 onwards, VOCap.m): the area under the precision envelope (precision made
    monotonically decreasing), summed at every point where recall changes.
    Empty input gives 0.0.
    """
    rec = np.asarray(recall, dtype=float).ravel()
    prec = np.asarray(precision, dtype=float).ravel()
    if rec.shape != prec.shape:
        raise ValueError(f"recall and precision differ in length: {rec.shape} vs {prec.shape}")
    if use_07_metric:
        points = np.arange(11) / 10  # exact 0.1 steps, so recall 3/10 reaches t = 0.3
        return float(
            np.mean([prec[rec >= t].max() if np.any(rec >= t) else 0.0 for t in points])
        )
    mrec = np.r_[0.0, rec, 1.0]
    mpre = np.r_[0.0, prec, 0.0]
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    changes = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[changes + 1] - mrec[changes]) * mpre[changes + 1]))


Box = Sequence[float]
GroundTruth = Mapping[Any, Sequence[tuple[Hashable, Box, bool]]]  # image id -> boxes (Any: Mapping keys are invariant)
Prediction = tuple[Hashable, Hashable, float, Box]


def detection_ap(
    truth: GroundTruth,
    predictions: Iterable[Prediction],
    iou_threshold: float = 0.5,
    use_07_metric: bool = False,
    inclusive: bool = True,
) -> dict[Hashable, float]:
    """Per-class detection AP following the PASCAL VOC devkit (VOCevaldet.m).

    truth: {image_id: [(cls, [xmin, ymin, xmax, ymax], difficult), ...]}; images without objects
    may be left out. predictions: [(image_id, cls, score, box), ...].

    For each class, predictions are taken by decreasing score (ties keep input order). Each is
    compared with the ground-truth boxes of its class in its image and assigned to the one with
    the highest IoU, already matched or not, as the devkit does. If that IoU >= iou_threshold:
    a difficult box makes the prediction neither TP nor FP (it is ignored), an unmatched box
    makes it a TP and marks the box matched, an already-matched box makes it a FP (duplicate).
    Otherwise, or if the image has no box of the class, it is a FP. Difficult boxes do not count
    in the number of positives. AP is then `voc_average_precision` of the cumulative curve.

    Classes: every class in truth or predictions. A class with predictions but no ground truth
    at all gets NaN (AP undefined), as does a class whose only boxes are difficult; `mean_ap`
    skips NaN. A class with ground truth but no predictions gets 0.0.
    """
    gt: dict[tuple[Hashable, Hashable], tuple[np.ndarray, np.ndarray]] = {}
    n_positives: dict[Hashable, int] = {}
    grouped: dict[tuple[Hashable, Hashable], tuple[list[Box], list[bool]]] = {}
    for image_id, objects in truth.items():
        for cls, box, difficult in objects:
            boxes, flags = grouped.setdefault((image_id, cls), ([], []))
            boxes.append(box)
            flags.append(bool(difficult))
            n_positives[cls] = n_positives.get(cls, 0) + (not difficult)
    for key, (boxes, flags) in grouped.items():
        gt[key] = (np.asarray(boxes, dtype=float).reshape(-1, 4), np.asarray(flags, dtype=bool))

    by_class: dict[Hashable, list[tuple[Hashable, float, Box]]] = {}
    for image_id, cls, score, box in predictions:
        by_class.setdefault(cls, []).append((image_id, float(score), box))

    result: dict[Hashable, float] = {}
    for cls in list(n_positives) + [c for c in by_class if c not in n_positives]:
        npos = n_positives.get(cls, 0)
        if npos == 0:
            result[cls] = float("nan")
            continue
        preds = by_class.get(cls, [])
        order = np.argsort([-score for _, score, _ in preds], kind="stable")
        matched = {key: np.zeros(flags.size, dtype=bool) for key, (_, flags) in gt.items() if key[1] == cls}
        outcome: list[int] = []  # 1 = TP, 0 = FP; ignored predictions are left out of the curve
        for i in order:
            image_id, _, box = preds[i]
            key = (image_id, cls)
            if key not in gt:
                outcome.append(0)
                continue
            gt_boxes, gt_difficult = gt[key]
            overlaps = iou_matrix(np.asarray(box, dtype=float), gt_boxes, inclusive)[0]
            j = int(np.argmax(overlaps))
            if overlaps[j] < iou_threshold:
                outcome.append(0)
            elif gt_difficult[j]:
                continue
            elif not matched[key][j]:
                matched[key][j] = True
                outcome.append(1)
            else:
                outcome.append(0)
        tp = np.cumsum(outcome, dtype=float)
        fp = np.arange(1, tp.size + 1) - tp
        recall = tp / npos
        precision = tp / np.maximum(tp + fp, 1.0)
        result[cls] = voc_average_precision(recall, precision, use_07_metric)
    return result


def mean_ap(per_class: Mapping[Hashable, float]) -> float:
    """mAP: unweighted mean of the per-class APs, skipping NaN (classes without ground truth).

    Raises ValueError if no class has an AP.
    """
    values = [v for v in per_class.values() if not math.isnan(v)]
    if not values:
        raise ValueError("no class with ground truth to average")
    return float(np.mean(values))
