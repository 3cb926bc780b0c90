"""`train_head`: fit a calibrated label head (`heads.LabelHead`) on raw features, step by step.

`train_head(raw, labels, kind, groups, name, backbone, config)` runs:

1. `_check_inputs`: the facets the head reads, their lengths;
2. `_labelled_rows`: labels encoded by the kind, unlabelled rows left out, signed power of the inputs;
3. `_split`: 1/11 held out (by group when groups are given, stratified by label);
4. `_standardise`: mean and std of the training part;
5. `_choose_model`: linear vs MLP (and the linear C) on an inner split of the training part;
6. `_fit_and_score`: the chosen model fitted on the training part (the shipped weights, rounded to
   float16) scores the held-out part; models fitted on folds of the training part score the rest
   of it (out-of-fold), so every score comes from a model that never saw the item's group;
7. the kind's `calibrate`: temperature or Platt scaling and thresholds on those scores, held-out figures;
8. `_assemble`: the LabelHead and its model card.

What differs by kind (label encoding, targets, the linear model, the validation score, calibration,
held-out figures, thresholds) is one strategy object per kind, `STRATEGIES[kind]`. The options are
one frozen `HeadConfig`; `train_head` also takes them as keywords.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from artlens.errors import InputError
from artlens.evaluation import metrics
from artlens.learn import calibration as cal
from artlens.learn import numpy_nets as nets
from artlens.learn.heads import KINDS, LabelHead
from artlens.learn.numpy_nets import masked_bce
from artlens.learn.registry import DEFAULT_FEATURES
from artlens.learn.small_model import jsonable, mlp_forward, signed_power
from artlens.vocabulary import NO_WORDS, YES_WORDS

__all__ = ["HeadConfig", "KindStrategy", "STRATEGIES", "masked_bce", "train_head"]

HOLDOUT = 1 / 11
LINEAR_C = (0.001, 0.003, 0.01)
MODELS = ("auto", "linear", "mlp")
CALIBRATION_FOLDS = 5
MANY_LINEAR_EPOCHS = 60  # kind "many": the masked-BCE linear model's fixed epoch count
# Thresholds must reach the precision target at this confidence (a Clopper-Pearson lower bound),
# not just on average: a point estimate met on the calibration set falls short on new artists about
# half the time. Works of one artist err together, so the items are less independent than the bound
# assumes: on WikiArt styles (5-fold CV by artist) 0.90 confidence gave 0.896 precision, 0.95 gave 0.906.
PRECISION_CONFIDENCE = 0.95

Layers = list[tuple[np.ndarray, np.ndarray]]

# ----------------------------------------------------------------------------- labels


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def _encode_single(labels: Sequence, kind: str, classes: Sequence[str] | None, positive: str | None):
    """-> (y int array with -1 for unknown, class names, notes)."""
    notes: list[str] = []
    vals = [None if _missing(v) else (str(v).strip() if not isinstance(v, bool) else ("yes" if v else "no")) for v in labels]
    known = sorted({v for v in vals if v is not None})
    if kind == "binary":
        if positive is None and classes:
            positive = classes[0]
        if positive is None:
            if not {v.lower() for v in known} <= (YES_WORDS | NO_WORDS):
                raise InputError(f"binary labels {known[:5]} are not yes/no-like: say which value is positive (positive=...)")
            y = np.array([-1 if v is None else int(v.lower() in YES_WORDS) for v in vals])
            return y, ["yes"], notes
        y = np.array([-1 if v is None else int(v == positive) for v in vals])
        return y, [positive], notes
    if classes is None:
        classes = known
    else:
        classes = list(classes)
        outside = sorted(set(known) - set(classes))
        if outside:
            notes.append(f"{sum(v in outside for v in vals)} labels outside the vocabulary were treated as unknown: {outside[:10]}")
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index.get(v, -1) if v is not None else -1 for v in vals])
    return y, list(classes), notes


def _encode_many(labels: Sequence[Mapping[str, bool | None]], classes: Sequence[str] | None):
    if classes is None:
        classes = sorted({k for d in labels for k in d})
    classes = list(classes)
    Y = np.full((len(labels), len(classes)), np.nan)
    for i, d in enumerate(labels):
        for j, c in enumerate(classes):
            v = d.get(c) if d else None
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                Y[i, j] = float(bool(v))
    return Y, classes


# ----------------------------------------------------------------------------- splits


def _group_ids(groups: Sequence | None, n: int) -> np.ndarray:
    if groups is None:
        return np.arange(n).astype(str)
    g = [f"__item{i}" if _missing(v) else str(v) for i, v in enumerate(groups)]
    return np.array(g)


def _split(y: np.ndarray | None, groups: np.ndarray, grouped: bool, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train idx, held-out idx): stratified by y (when given) and by group (when `grouped`)."""
    from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit, StratifiedGroupKFold, StratifiedShuffleSplit

    n = groups.size
    idx = np.arange(n)
    k = max(2, round(1 / fraction))
    if grouped:
        n_groups = np.unique(groups).size
        if y is not None and n_groups >= 2:
            counts = np.bincount(y)
            splits = min(k, n_groups, max(2, counts[counts > 0].max()))
            try:
                tr, te = next(StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=seed).split(idx, y, groups))
                return tr, te
            except ValueError:
                pass
        tr, te = next(GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed).split(idx, groups=groups))
        return tr, te
    if y is not None:
        try:
            tr, te = next(StratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed).split(idx, y))
            return tr, te
        except ValueError:
            pass
    tr, te = next(ShuffleSplit(n_splits=1, test_size=fraction, random_state=seed).split(idx))
    return tr, te


def _kfold(y: np.ndarray | None, groups: np.ndarray, grouped: bool, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (train idx, test idx) folds covering every item once: by group when `grouped`, stratified by y when given."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    idx = np.arange(groups.size)
    if grouped:
        k = min(k, np.unique(groups).size)
        if y is not None:
            try:
                return list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(idx, y, groups))
            except ValueError:
                pass
        return list(GroupKFold(n_splits=k).split(idx, groups=groups))
    k = min(k, idx.size)
    if y is not None and np.bincount(y).max() >= k:
        try:
            return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(idx, y))
        except ValueError:
            pass
    return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(idx))


# ----------------------------------------------------------------------------- models


def _net(d: int, c: int, hidden: int, dropout: float, rng: np.random.Generator) -> nets.Sequential:
    """Input dropout 0.2, then Linear (hidden=0) or Linear, ReLU, Dropout, Linear."""
    layers: list[nets.Layer] = [nets.Dropout(0.2, rng)]
    if hidden:
        layers += [nets.Linear(d, hidden, rng), nets.ReLU(), nets.Dropout(dropout, rng), nets.Linear(hidden, c, rng)]
    else:
        layers += [nets.Linear(d, c, rng)]
    return nets.Sequential(layers)


def _loss_fn(kind: str, T: np.ndarray, c: int) -> Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]:
    """loss(logits, targets) -> (value, gradient): class-weighted cross-entropy for one-of-many
    (weights fitted on T), else masked BCE (NaN = unknown) with per-column positive weights."""
    if kind == "one-of-many":
        counts = np.bincount(T, minlength=c).astype(float)
        weight = np.where(counts > 0, counts.sum() / (c * np.maximum(counts, 1)), 0.0).astype(np.float32)
        return lambda z, t: nets.softmax_cross_entropy(z, t, weight)
    known = ~np.isnan(T)
    pos = np.nansum(T, axis=0)
    neg = known.sum(axis=0) - pos
    pos_weight = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0).astype(np.float32)
    return lambda z, t: nets.masked_bce(z, np.nan_to_num(t), ~np.isnan(t), pos_weight)


def _fit_net(X, T, kind, hidden, seed, epochs=None, Xval=None, Tval=None, max_epochs=150, patience=12,
             weight_decay=1e-2, dropout=0.5, lr=1e-3, batch=128):
    """Train a linear (hidden=0) or 1-hidden-layer net (numpy, `numpy_nets`). T: (N,) int for one-of-many,
    (N, C) float with NaN for binary/many. With validation data: early stopping on validation loss,
    returns the best epoch count. Returns (layers [(W, b)], epochs_used, best validation loss or None)."""
    rng = np.random.default_rng(seed)  # the shuffles
    net_rng = np.random.default_rng([seed, 1])  # initialisation and dropout
    c = int(T.max()) + 1 if kind == "one-of-many" else T.shape[1]
    if kind == "one-of-many" and Tval is not None:
        c = max(c, int(Tval.max()) + 1)
    net = _net(X.shape[1], c, hidden, dropout, net_rng)
    opt = nets.AdamW(net.params(), lr=lr, weight_decay=weight_decay)
    loss_fn = _loss_fn(kind, T, c)
    X = np.asarray(X, np.float32)
    n = X.shape[0]
    n_epochs = epochs if epochs is not None else max_epochs
    best: tuple[float, int, list[np.ndarray] | None] = (math.inf, 0, None)  # (validation loss, epoch, weights)
    for ep in range(1, n_epochs + 1):
        perm = rng.permutation(n)
        for i in range(0, n, batch):
            b = perm[i:i + batch]
            _, grad = loss_fn(net.forward(X[b], train=True), T[b])
            net.backward(grad)
            opt.step(net.grads())
        if Xval is not None:
            vl = loss_fn(net.forward(np.asarray(Xval, np.float32)), Tval)[0]
            if vl < best[0] - 1e-4:
                best = (vl, ep, net.get_weights())
            elif ep - best[1] >= patience:
                break
    if Xval is not None and best[2] is not None:
        net.set_weights(best[2])
    return net.linear_layers(), (best[1] if Xval is not None else n_epochs), (best[0] if Xval is not None else None)


def _fit_linear_sklearn(X, y, kind, C, seed, n_classes=None):
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=C, max_iter=500, class_weight="balanced", random_state=seed).fit(X, y)
    W, b = lr.coef_.T.astype(np.float32), lr.intercept_.astype(np.float32)
    if kind == "one-of-many":
        n_cls = int(n_classes or int(y.max()) + 1)
        if W.shape[1] == 1:  # sklearn's binary case: one column = logit(class 1) - logit(class 0)
            W = np.concatenate([np.zeros_like(W), W], axis=1)
            b = np.concatenate([np.zeros_like(b), b])
        if len(lr.classes_) != n_cls:  # absent classes get a very low logit
            W2 = np.zeros((W.shape[0], n_cls), np.float32)
            b2 = np.full(n_cls, -30.0, np.float32)
            W2[:, lr.classes_] = W
            b2[lr.classes_] = b
            W, b = W2, b2
    return [(W, b)]

def _logits(layers: Layers, X: np.ndarray) -> np.ndarray:
    return mlp_forward(layers, X).astype(np.float64)


def _quantise(layers):
    """Round weights to float16 (the stored precision) so the in-memory head equals the saved one."""
    return [(w.astype(np.float16).astype(np.float32), b.astype(np.float16).astype(np.float32)) for w, b in layers]


def _accuracy(z: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(z.argmax(1) == y))


def _mean_ap(z: np.ndarray, T: np.ndarray) -> float:
    """Mean AP over the columns with both classes among their known values (0 if none)."""
    aps = []
    for j in range(T.shape[1]):
        m = ~np.isnan(T[:, j])
        if m.sum() and 0 < T[m, j].sum() < m.sum():
            aps.append(metrics.binary_average_precision(T[m, j].astype(int), z[m, j]))
    return float(np.mean(aps)) if aps else 0.0

# ----------------------------------------------------------------------------- figures


def _binary_figures(s: np.ndarray, t: np.ndarray, th: Mapping[str, Any], name: str) -> dict[str, Any]:
    t = t.astype(bool)
    yes, no = s >= th["yes"], s < th["no"]
    decided = yes | no
    correct = (yes & t) | (no & ~t)
    rep = metrics.classification_report(np.where(t, name, "not " + name), np.where(s >= 0.5, name, "not " + name), labels=[name, "not " + name])
    return {
        "n": int(t.size),
        "positives": int(t.sum()),
        "average_precision": metrics.binary_average_precision(t.astype(int), s) if t.any() else None,
        "at_0.5": {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"], "mcc": rep["mcc"], "per_class": rep["per_class"]},
        "yes_precision": float(t[yes].mean()) if yes.any() else None,
        "yes_coverage_of_positives": float(yes[t].mean()) if t.any() else None,
        "no_precision": float((~t[no]).mean()) if no.any() else None,
        "positives_said_no": float(no[t].mean()) if t.any() else None,
        "confident_precision": float(correct[decided].mean()) if decided.any() else None,
        "confident_coverage": float(decided.mean()),
        "unsure": float((~decided).mean()),
    }


def _calibrate_single(z: np.ndarray, y: np.ndarray, precision_target: float) -> tuple[float, dict[str, Any]]:
    """One-of-many calibration on scores of unseen items: (temperature, abstention threshold figures)."""
    temperature = cal.fit_temperature(z, y)
    return temperature, cal.abstention_threshold(cal.softmax(z, temperature), y, precision_target, PRECISION_CONFIDENCE)


def _calibrate_binary(z: np.ndarray, t: np.ndarray, precision_target: float, positive_recall: float) -> tuple[tuple[float, float], dict[str, Any]]:
    """Binary calibration of one column on scores of unseen items: (Platt (a, b), BAM yes/no thresholds)."""
    a, b = cal.fit_platt(z, t)
    return (a, b), cal.binary_thresholds(cal.sigmoid(a * z + b), t, precision_target, positive_recall, PRECISION_CONFIDENCE)


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class HeadConfig:
    """Every option of `train_head` but the data (see its docstring); sequences are stored as tuples."""

    precision_target: float = 0.90
    positive_recall: float = 0.95
    seed: int = 0
    inputs: tuple[str, ...] = ("content", "style")
    classes: tuple[str, ...] | None = None
    positive: str | None = None
    model: str = "auto"
    hidden: int = 512
    power: float = 0.5
    linear_c: tuple[float, ...] = LINEAR_C
    mapped: Mapping[str, Sequence[int]] = field(default_factory=dict)
    mapped_thresholds: Mapping[str, float] = field(default_factory=lambda: {"yes": 0.5, "no": 0.1})
    card_extra: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be auto, linear or mlp, got {self.model!r}")
        put = object.__setattr__  # frozen: normalise once, here
        put(self, "inputs", tuple(self.inputs))
        if self.classes is not None:
            put(self, "classes", tuple(self.classes))
        put(self, "linear_c", tuple(self.linear_c))
        put(self, "mapped", {k: [int(i) for i in v] for k, v in (self.mapped or {}).items()})
        put(self, "mapped_thresholds", dict(self.mapped_thresholds))
        if self.card_extra is not None:
            put(self, "card_extra", dict(self.card_extra))


def _config(config: HeadConfig | None, options: Mapping[str, Any]) -> HeadConfig:
    if config is not None and not isinstance(config, HeadConfig):
        raise TypeError(f"config must be a HeadConfig, got {type(config).__name__} (give other options as keywords)")
    unknown = sorted(set(options) - {f.name for f in fields(HeadConfig)})
    if unknown:
        raise TypeError(f"train_head() got unknown options: {', '.join(unknown)}")
    return replace(config, **options) if config is not None else HeadConfig(**options)


# ----------------------------------------------------------------------------- steps' data


@dataclass(frozen=True)
class Labelled:
    """The labelled rows, ready to fit."""

    sel: np.ndarray      # their indices among the rows given
    X: np.ndarray        # (n, D) concatenated inputs after the signed power
    T: np.ndarray        # targets: (n,) class index (one-of-many), (n, C) 1/0/NaN = unknown (binary, many)
    strat: np.ndarray    # (n,) stratification codes of the splits
    groups: np.ndarray   # (n,) group ids (an item of its own when no group)
    learned: list[str]   # the learned classes: the model's output columns
    notes: list[str]
    n_all: int           # rows given, labelled or not


@dataclass(frozen=True)
class Split:
    tr: np.ndarray  # training part (indices into the labelled rows)
    ho: np.ndarray  # held-out part
    grouped: bool   # split by group (groups were given) rather than by item


@dataclass(frozen=True)
class ModelChoice:
    model: str                    # "linear" or "mlp"
    c: float                      # C of the sklearn logistic regression (binary, one-of-many)
    epochs: int                   # MLP epochs (best epoch on the inner split, else 40)
    candidates: dict[str, float]  # inner-split score of each candidate, for the card


@dataclass(frozen=True)
class Scored:
    """Outputs of models that never saw the item's group, and the targets."""

    z_oof: np.ndarray  # training part, out-of-fold
    t_oof: np.ndarray
    z_ho: np.ndarray   # held-out part, by the shipped weights
    t_ho: np.ndarray

    @property
    def z_cal(self) -> np.ndarray:
        return np.concatenate([self.z_oof, self.z_ho])

    @property
    def t_cal(self) -> np.ndarray:
        return np.concatenate([self.t_oof, self.t_ho])


@dataclass
class Calibration:
    """What a kind's calibration gives the head and its card."""

    classes: list[str]
    thresholds: dict[str, Any]
    per_class_data: dict[str, Any]  # card["data"]["per_class"]
    held_out: dict[str, Any]        # card["held_out"]
    card: dict[str, Any]            # card["calibration"]
    temperature: float = 1.0
    platt: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # more card sections


# ----------------------------------------------------------------------------- kinds


class KindStrategy:
    """What differs between the kinds of head. One instance per kind, in STRATEGIES."""

    kind: str = ""
    # Make the inner split even when there is nothing to choose (model "linear" with one C):
    # "many" reports its masked-BCE linear model's inner-split score in the card.
    always_inner_split = False

    def encode(self, labels: Sequence, cfg: HeadConfig) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        """(targets of every row, which rows are labelled, learned class names, notes)."""
        raise NotImplementedError

    def targets(self, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, stratification codes) of the labelled rows from their encoded labels."""
        raise NotImplementedError

    def val_score(self, z: np.ndarray, T: np.ndarray) -> float:
        """Higher is better: the model choice's criterion on the inner validation part."""
        raise NotImplementedError

    def linear_candidates(self, Z: np.ndarray, T: np.ndarray, itr: np.ndarray, iva: np.ndarray, cfg: HeadConfig) -> dict[str, float]:
        raise NotImplementedError

    def fit_linear(self, Z: np.ndarray, T: np.ndarray, c: float, seed: int, n_out: int) -> Layers:
        raise NotImplementedError

    def linear_description(self, c: float) -> dict[str, Any]:
        raise NotImplementedError

    def calibrate(self, s: Scored, learned: list[str], cfg: HeadConfig) -> Calibration:
        raise NotImplementedError


class _SklearnLinear(KindStrategy):
    """Single-label kinds: the linear model is sklearn's balanced logistic regression, C chosen on the inner split."""

    def _sklearn_target(self, T: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _n_classes(self, n_out: int) -> int | None:
        return None

    def encode(self, labels: Sequence, cfg: HeadConfig) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        y, learned, notes = _encode_single(labels, self.kind, cfg.classes, cfg.positive)
        return y, y >= 0, learned, notes

    def linear_candidates(self, Z: np.ndarray, T: np.ndarray, itr: np.ndarray, iva: np.ndarray, cfg: HeadConfig) -> dict[str, float]:
        out: dict[str, float] = {}
        for c in cfg.linear_c:
            yy = self._sklearn_target(T[itr])
            if np.unique(yy).size < 2:
                continue
            lay = _fit_linear_sklearn(Z[itr], yy, self.kind, c, cfg.seed)
            out[f"linear C={c}"] = self.val_score(_logits(lay, Z[iva]), T[iva])
        return out

    def fit_linear(self, Z: np.ndarray, T: np.ndarray, c: float, seed: int, n_out: int) -> Layers:
        return _fit_linear_sklearn(Z, self._sklearn_target(T), self.kind, c, seed, n_classes=self._n_classes(n_out))

    def linear_description(self, c: float) -> dict[str, Any]:
        return {"type": "linear (sklearn LogisticRegression, class_weight=balanced)", "C": c}


class OneOfManyKind(_SklearnLinear):
    """Softmax over the classes; temperature scaling and one abstention threshold."""

    kind = "one-of-many"

    def _sklearn_target(self, T: np.ndarray) -> np.ndarray:
        return T

    def _n_classes(self, n_out: int) -> int | None:
        return n_out  # classes absent from a fold still get a (very low) logit

    def targets(self, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if np.unique(encoded).size < 2:
            raise InputError("one-of-many needs at least two classes with labelled items")
        return encoded, encoded

    def val_score(self, z: np.ndarray, T: np.ndarray) -> float:
        return _accuracy(z, T)

    def calibrate(self, s: Scored, learned: list[str], cfg: HeadConfig) -> Calibration:
        names, yh, z_ho = list(learned), s.t_ho, s.z_ho
        per_class_data = {c: {"train": int(np.sum(s.t_oof == i)), "held_out": int(np.sum(yh == i))} for i, c in enumerate(names)}
        temperature, ab = _calibrate_single(s.z_cal, s.t_cal, cfg.precision_target)
        p = cal.softmax(z_ho, temperature)
        rep = metrics.classification_report([names[i] for i in yh], [names[i] for i in p.argmax(1)], labels=names)
        kept = p.max(1) >= ab["threshold"]
        # the honest figure: temperature and threshold from the out-of-fold scores only
        t_oof, ab_oof = _calibrate_single(s.z_oof, s.t_oof, cfg.precision_target)
        p_unseen = cal.softmax(z_ho, t_oof)
        k_unseen = p_unseen.max(1) >= ab_oof["threshold"]
        p_raw = cal.softmax(z_ho)
        held_out = {
            "n": int(yh.size),
            "top1_accuracy": metrics.topk_accuracy(yh, p, 1),
            "top3_accuracy": metrics.topk_accuracy(yh, p, min(3, len(names))),
            "macro_f1": rep["macro_f1"],
            "mcc": rep["mcc"],
            "per_class": rep["per_class"],
            "confusion_matrix": rep["confusion_matrix"],
            "nll_before_temperature": float(-np.log(np.clip(p_raw[np.arange(yh.size), yh], 1e-12, None)).mean()),
            "nll_after_temperature": float(-np.log(np.clip(p[np.arange(yh.size), yh], 1e-12, None)).mean()),
            "confident_precision": float((p.argmax(1) == yh)[kept].mean()) if kept.any() else None,
            "confident_coverage": float(kept.mean()),
            "confident_precision_unseen": float((p_unseen.argmax(1) == yh)[k_unseen].mean()) if k_unseen.any() else None,
            "confident_coverage_unseen": float(k_unseen.mean()),
        }
        card = {"temperature": temperature, "abstain_threshold": ab["threshold"], "precision": ab["precision"],
                "coverage": ab["coverage"], "precision_target_met": ab["precision_target_met"]}
        notes = [] if ab["precision_target_met"] else [
            f"no abstention threshold reaches precision {cfg.precision_target} on the calibration set: the threshold of highest precision is used"]
        return Calibration(classes=names, thresholds={"abstain": ab["threshold"]}, per_class_data=per_class_data, held_out=held_out,
                           card=card, temperature=temperature, notes=notes)


@dataclass
class _Columns:
    """Per-column Platt scaling and BAM thresholds (binary and many)."""

    platt: list[tuple[float, float]]
    per: dict[str, dict[str, Any]]      # class -> {"yes", "no", "precision_target_met", ...}
    figures: dict[str, dict[str, Any]]  # class -> held-out figures (columns with held-out labels)
    data: dict[str, dict[str, int]]     # class -> label counts
    notes: list[str]


def _calibrate_columns(s: Scored, names: list[str], cfg: HeadConfig) -> _Columns:
    out = _Columns([], {}, {}, {}, [])
    z_cal, t_cal = s.z_cal, s.t_cal
    for j, c in enumerate(names):
        out.data[c] = {
            "train_pos": int(np.nansum(s.t_oof[:, j])), "train_neg": int(np.sum(s.t_oof[:, j] == 0)),
            "held_out_pos": int(np.nansum(s.t_ho[:, j])), "held_out_neg": int(np.sum(s.t_ho[:, j] == 0)),
        }
        m_cal, m_oof, m = ~np.isnan(t_cal[:, j]), ~np.isnan(s.t_oof[:, j]), ~np.isnan(s.t_ho[:, j])
        if not m_cal.any():
            out.platt.append((1.0, 0.0))
            out.per[c] = {"yes": math.inf, "no": 0.0, "precision_target_met": False}
            out.notes.append(f"{c}: no labels to calibrate on, never says yes")
            continue
        (a, b), th = _calibrate_binary(z_cal[m_cal, j], t_cal[m_cal, j], cfg.precision_target, cfg.positive_recall)
        out.platt.append((a, b))
        out.per[c] = th
        if not th["precision_target_met"]:
            out.notes.append(f"{c}: no yes threshold reaches precision {cfg.precision_target} on the calibration set; "
                             "the threshold of highest precision is used")
        if not m.any():
            continue
        t_ho = s.t_ho[m, j]
        out.figures[c] = _binary_figures(cal.sigmoid(a * s.z_ho[m, j] + b), t_ho, th, c)
        if m_oof.any():  # the honest figure: Platt scaling and thresholds from the out-of-fold scores only
            (a_o, b_o), th_o = _calibrate_binary(s.z_oof[m_oof, j], s.t_oof[m_oof, j], cfg.precision_target, cfg.positive_recall)
            unseen = _binary_figures(cal.sigmoid(a_o * s.z_ho[m, j] + b_o), t_ho, th_o, c)
            out.figures[c]["confident_precision_unseen"] = unseen["confident_precision"]
            out.figures[c]["confident_coverage_unseen"] = unseen["confident_coverage"]
    return out


class BinaryKind(_SklearnLinear):
    """One column, P(yes) by Platt scaling; yes/no thresholds with an unsure band between."""

    kind = "binary"

    def _sklearn_target(self, T: np.ndarray) -> np.ndarray:
        return T[:, 0].astype(int)

    def targets(self, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return encoded[:, None].astype(float), encoded

    def val_score(self, z: np.ndarray, T: np.ndarray) -> float:
        return _mean_ap(z, T)

    def calibrate(self, s: Scored, learned: list[str], cfg: HeadConfig) -> Calibration:
        names = list(learned)
        col = _calibrate_columns(s, names, cfg)
        th = col.per[names[0]]
        return Calibration(
            classes=names, thresholds={"yes": th["yes"], "no": th["no"], "precision_target_met": th["precision_target_met"]},
            per_class_data=col.data, held_out=col.figures.get(names[0], {}),
            card={"platt": {c: list(p) for c, p in zip(names, col.platt)}, "thresholds": col.per}, platt=col.platt, notes=col.notes)


class ManyKind(KindStrategy):
    """One Platt-scaled column per attribute, unknown values masked out; plus fixed ImageNet-mapped classes."""

    kind = "many"
    always_inner_split = True

    def encode(self, labels: Sequence, cfg: HeadConfig) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
        classes = None if cfg.classes is None else [c for c in cfg.classes if c not in cfg.mapped]
        T, learned = _encode_many(labels, classes)
        return T, ~np.all(np.isnan(T), axis=1), learned, []

    def targets(self, encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # stratify the split by each item's first positive attribute (C = no known positive), so that
        # the held-out part has positives of every attribute when it can
        first = np.where(np.nan_to_num(encoded) > 0, np.arange(encoded.shape[1]), encoded.shape[1]).min(axis=1)
        return encoded, np.unique(first, return_inverse=True)[1].ravel()

    def val_score(self, z: np.ndarray, T: np.ndarray) -> float:
        return _mean_ap(z, T)

    def linear_candidates(self, Z: np.ndarray, T: np.ndarray, itr: np.ndarray, iva: np.ndarray, cfg: HeadConfig) -> dict[str, float]:
        lay, _, _ = _fit_net(Z[itr], T[itr], self.kind, 0, cfg.seed, Xval=Z[iva], Tval=T[iva])
        return {"linear": self.val_score(_logits(lay, Z[iva]), T[iva])}

    def fit_linear(self, Z: np.ndarray, T: np.ndarray, c: float, seed: int, n_out: int) -> Layers:
        return _fit_net(Z, T, self.kind, 0, seed, epochs=MANY_LINEAR_EPOCHS)[0]

    def linear_description(self, c: float) -> dict[str, Any]:
        return {"type": "linear (numpy, masked BCE)", "epochs": MANY_LINEAR_EPOCHS}

    def calibrate(self, s: Scored, learned: list[str], cfg: HeadConfig) -> Calibration:
        names = list(learned)
        col = _calibrate_columns(s, names, cfg)
        figures = col.figures
        held_out: dict[str, Any] = {"per_class": figures}
        if figures:
            aps = [f["average_precision"] for f in figures.values() if f["average_precision"] is not None]
            held_out["mean_average_precision"] = float(np.mean(aps or [0.0]))
            dec = [f["confident_precision"] for f in figures.values() if f["confident_precision"] is not None]
            held_out["min_confident_precision"] = min(dec) if dec else None
            un = [f["confident_precision_unseen"] for f in figures.values() if f.get("confident_precision_unseen") is not None]
            held_out["min_confident_precision_unseen"] = min(un) if un else None
        mapped, fixed = cfg.mapped, cfg.mapped_thresholds
        for c in mapped:  # not learned: fixed thresholds, in the thresholds and the card alike
            col.per[c] = {"yes": float(fixed["yes"]), "no": float(fixed["no"]), "precision_target_met": None, "calibrated": False}
        extra: dict[str, Any] = {}
        if mapped:
            extra["mapped_classes"] = {c: {"imagenet_indices": idx, "thresholds": dict(fixed), "calibrated": False} for c, idx in mapped.items()}
        return Calibration(
            classes=names + [c for c in mapped if c not in names], thresholds={"per_class": col.per}, per_class_data=col.data,
            held_out=held_out, card={"platt": {c: list(p) for c, p in zip(names, col.platt)}, "thresholds": col.per},
            platt=col.platt, notes=col.notes, extra=extra)


STRATEGIES: dict[str, KindStrategy] = {"binary": BinaryKind(), "one-of-many": OneOfManyKind(), "many": ManyKind()}


# ----------------------------------------------------------------------------- steps


def _check_inputs(raw: Mapping[str, np.ndarray], labels: Sequence, kind: str, cfg: HeadConfig) -> dict[str, int]:
    """The head's input_dims: its input facets, then "logits" when it has ImageNet-mapped classes."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if cfg.mapped and kind != "many":
        raise ValueError("mapped classes need kind 'many'")
    need = set(cfg.inputs) | ({"logits"} if cfg.mapped else set())
    for f in need:
        if f not in raw:
            raise ValueError(f"raw features lack the {f!r} facet")
    n_all = len(labels)
    for f in need:
        if np.asarray(raw[f]).shape[0] != n_all:
            raise ValueError(f"raw[{f!r}] has {np.asarray(raw[f]).shape[0]} rows for {n_all} labels")
    return {f: int(np.asarray(raw[f]).shape[1]) for f in sorted(need, key=lambda f: (f not in cfg.inputs, f))}


def _labelled_rows(raw: Mapping[str, np.ndarray], labels: Sequence, groups: Sequence | None, strategy: KindStrategy, cfg: HeadConfig) -> Labelled:
    n_all = len(labels)
    encoded, keep, learned, notes = strategy.encode(labels, cfg)
    sel = np.flatnonzero(keep)
    if sel.size < 4:
        raise InputError(f"only {sel.size} labelled items: too few to train and calibrate a head")
    g = _group_ids(groups, n_all)[sel]
    X = signed_power(np.concatenate([np.asarray(raw[f], dtype=np.float32)[sel] for f in cfg.inputs], axis=1), cfg.power)
    T, strat = strategy.targets(encoded[sel])
    return Labelled(sel=sel, X=X, T=T, strat=strat, groups=g, learned=learned, notes=notes, n_all=n_all)


def _standardise(X: np.ndarray, tr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, scale, standardised X) with the training part's mean and std."""
    mean = X[tr].mean(axis=0)
    scale = X[tr].std(axis=0) + 1e-6
    return mean, scale, ((X - mean) / scale).astype(np.float32)


def _choose_model(strategy: KindStrategy, Z: np.ndarray, lab: Labelled, split: Split, cfg: HeadConfig) -> ModelChoice:
    """Linear vs MLP, and the linear C, by the kind's score on an inner split of the training part
    (a tie goes to linear); model "linear" or "mlp" skips the comparison, not the C choice."""
    candidates: dict[str, float] = {}
    choice = cfg.model
    c = cfg.linear_c[len(cfg.linear_c) // 2]
    mlp_epochs = None
    tr, T = split.tr, lab.T
    if cfg.model in ("auto", "mlp") or (cfg.model == "linear" and len(cfg.linear_c) > 1) or strategy.always_inner_split:
        itr_rel, iva_rel = _split(lab.strat[tr], lab.groups[tr], split.grouped, 0.2, cfg.seed + 7)
        itr, iva = tr[itr_rel], tr[iva_rel]
        if cfg.model in ("auto", "linear"):
            candidates.update(strategy.linear_candidates(Z, T, itr, iva, cfg))
        if cfg.model in ("auto", "mlp"):
            lay, mlp_epochs, _ = _fit_net(Z[itr], T[itr], strategy.kind, cfg.hidden, cfg.seed, Xval=Z[iva], Tval=T[iva])
            candidates["mlp"] = strategy.val_score(_logits(lay, Z[iva]), T[iva])
        if candidates:
            best = max(candidates, key=lambda k: (candidates[k], k.startswith("linear")))
            choice = "mlp" if best == "mlp" else "linear"
            if best.startswith("linear C="):
                c = float(best.split("=")[1])
    return ModelChoice(model="linear" if choice == "auto" else choice, c=c, epochs=max(5, mlp_epochs or 40), candidates=candidates)


def _model_description(strategy: KindStrategy, choice: ModelChoice, cfg: HeadConfig) -> dict[str, Any]:
    if choice.model == "mlp":
        desc = {"type": "mlp", "hidden": cfg.hidden, "dropout": 0.5, "input_dropout": 0.2, "weight_decay": 1e-2, "epochs": choice.epochs}
    else:
        desc = strategy.linear_description(choice.c)
    desc["inner_split_scores"] = choice.candidates
    desc["selection"] = "auto: better of linear/MLP on an inner split of the training part" if cfg.model == "auto" else cfg.model
    return desc


def _fit_and_score(strategy: KindStrategy, choice: ModelChoice, Z: np.ndarray, lab: Labelled, split: Split, cfg: HeadConfig) -> tuple[Layers, Scored, int]:
    """(the shipped layers fitted on the training part, the scores to calibrate on, number of folds)."""
    T, tr, ho, n_out = lab.T, split.tr, split.ho, len(lab.learned)

    def fit(rows: np.ndarray) -> Layers:
        if choice.model == "mlp":
            return _fit_net(Z[rows], T[rows], strategy.kind, cfg.hidden, cfg.seed, epochs=choice.epochs)[0]
        return strategy.fit_linear(Z[rows], T[rows], choice.c, cfg.seed, n_out)

    layers = _quantise(fit(tr))
    z_ho = _logits(layers, Z[ho])
    # Out-of-fold scores of the training part: every item scored by a model that never saw its group.
    # With the held-out scores they make a calibration set 11 times larger than the held-out part
    # alone, so thresholds are not set by a handful of items (as sklearn's CalibratedClassifierCV).
    folds = _kfold(lab.strat[tr], lab.groups[tr], split.grouped, CALIBRATION_FOLDS, cfg.seed + 3)
    z_oof = np.zeros((tr.size, z_ho.shape[1]))
    for f_tr, f_te in folds:
        z_oof[f_te] = _logits(fit(tr[f_tr]), Z[tr[f_te]])
    return layers, Scored(z_oof=z_oof, t_oof=T[tr], z_ho=z_ho, t_ho=T[ho]), len(folds)


def _card(name: str, kind: str, backbone: str, cfg: HeadConfig, model: dict[str, Any], lab: Labelled, split: Split,
          n_folds: int, calibration: Calibration) -> dict[str, Any]:
    tr, ho, g = split.tr, split.ho, lab.groups
    card: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "backbone": backbone,
        "inputs": list(cfg.inputs),
        "feature_transform": f"signed power {cfg.power} then standardise (train-part mean/std)",
        "model": model,
        "precision_target": cfg.precision_target,
        "precision_confidence": PRECISION_CONFIDENCE,
        "split": "held out 1/11 of the labelled items by group (stratified by label, no group in both parts)"
        if split.grouped else "held out 1/11 of the labelled items at random, stratified by label",
        "calibration_set": (f"the held-out part plus out-of-fold scores of the training part ({n_folds} folds"
                            + (" by group" if split.grouped else "") + "): every score from a model that never saw the item's group"),
        "unseen_estimate": "thresholds fitted on the out-of-fold scores alone, measured on the held-out part: an honest figure for groups never seen",
        "refit_on_all": False,
        "refit_note": "not refitted on the held-out part: the shipped weights are the ones measured here",
        "data": {
            "labelled": int(lab.sel.size), "unknown_left_out": int(lab.n_all - lab.sel.size), "train": int(tr.size), "held_out": int(ho.size),
            "calibration": int(tr.size + ho.size), "groups_train": int(np.unique(g[tr]).size), "groups_held_out": int(np.unique(g[ho]).size),
            "per_class": calibration.per_class_data,
        },
        "notes": list(lab.notes) + calibration.notes,
        "held_out": calibration.held_out,
        "calibration": calibration.card,
        **calibration.extra,
    }
    if cfg.card_extra:
        card.update(cfg.card_extra)
    return card


def _assemble(name: str, kind: str, backbone: str, cfg: HeadConfig, input_dims: dict[str, int], mean: np.ndarray, scale: np.ndarray,
              layers: Layers, calibration: Calibration, card: dict[str, Any]) -> LabelHead:
    head = LabelHead(
        name=name, kind=kind, classes=calibration.classes, backbone=backbone, inputs=cfg.inputs, input_dims=input_dims,
        mean=mean.astype(np.float32), scale=scale.astype(np.float32), layers=layers, thresholds=calibration.thresholds,
        temperature=calibration.temperature, platt=calibration.platt, mapped={k: list(v) for k, v in cfg.mapped.items()},
        card=card, power=cfg.power,
    )
    head.card["version"] = head.version
    head.card = json.loads(json.dumps(jsonable(head.card)))  # plain JSON values, as a loaded head has them
    return head


# ----------------------------------------------------------------------------- train_head


def _single_threaded(fn: Callable[..., LabelHead]) -> Callable[..., LabelHead]:
    """Run `fn` with single-threaded BLAS: the models are small, and threads only fight over the
    cores (measured: a 240-item logistic regression went from 12 s to 0.5 s on a busy 2-core box);
    one thread also gives the same sums, so the same weights, on any machine."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> LabelHead:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return fn(*args, **kwargs)

    return wrapper


@_single_threaded
def train_head(
    raw: Mapping[str, np.ndarray],
    labels: Sequence,
    kind: str,
    groups: Sequence[str | None] | None = None,
    name: str = "label",
    backbone: str = DEFAULT_FEATURES,
    config: HeadConfig | None = None,
    **options: Any,
) -> LabelHead:
    """Train a calibrated label head on raw features (see `heads` for what a head computes).

    raw: {facet: (N, d)} raw features (the facets in `inputs` are used). labels: one per row;
    str | None for "binary" / "one-of-many" (None or "" = unknown, left out), dict[str, bool|None]
    for "many" (None = unknown value: masked out of the loss). groups: one per row (artist, ...):
    the held-out 1/11 is split by group; None entries are groups of their own; groups=None splits
    by item (stratified by label when single-label). Calibration (temperature or Platt scaling, then
    the thresholds) uses the held-out scores plus out-of-fold scores of the training part (folds by
    group), and the card adds an honest figure for unseen groups: thresholds fitted on the
    out-of-fold scores alone, measured on the held-out part (`confident_precision_unseen`).

    Options: a HeadConfig, and/or its fields as keywords (keywords override the config's):
    precision_target (0.90), positive_recall (0.95: share of held-out positives kept above "no"),
    seed (0), inputs (("content", "style")).
    classes: the class list (e.g. a VOCABULARIES entry; labels outside it are unknown); for binary,
    `positive` (or classes[0]) names the positive value, else labels must be yes/no-like.
    model: "linear", "mlp" or "auto" (the better on an inner split of the training part, by accuracy
    for one-of-many or mean AP otherwise); hidden: the MLP's width; linear_c: the logistic
    regression's C candidates. power: signed power applied to raw features before standardising
    (0.5 = signed square root; 1 = none).
    mapped: kind "many" only, extra classes scored as sums of the ImageNet softmax of the "logits"
    facet over the given indices, with fixed `mapped_thresholds` (not calibrated). card_extra: added
    to the model card.
    """
    cfg = _config(config, options)
    input_dims = _check_inputs(raw, labels, kind, cfg)
    strategy = STRATEGIES[kind]
    lab = _labelled_rows(raw, labels, groups, strategy, cfg)
    tr, ho = _split(lab.strat, lab.groups, groups is not None, HOLDOUT, cfg.seed)
    split = Split(tr=tr, ho=ho, grouped=groups is not None)
    mean, scale, Z = _standardise(lab.X, split.tr)
    choice = _choose_model(strategy, Z, lab, split, cfg)
    model = _model_description(strategy, choice, cfg)
    layers, scored, n_folds = _fit_and_score(strategy, choice, Z, lab, split, cfg)
    calibration = strategy.calibrate(scored, lab.learned, cfg)
    card = _card(name, kind, backbone, cfg, model, lab, split, n_folds, calibration)
    return _assemble(name, kind, backbone, cfg, input_dims, mean, scale, layers, calibration, card)
