"""`train_head`: split, fit (linear or MLP), calibrate on scores of unseen groups, write the model card."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from artlens.evaluation import metrics
from artlens.learn import calibration as cal
from artlens.vocabulary import NO_WORDS, YES_WORDS

HOLDOUT = 1 / 11
LINEAR_C = (0.001, 0.003, 0.01)
CALIBRATION_FOLDS = 5
# Thresholds must reach the precision target at this confidence (a Clopper-Pearson lower bound),
# not just on average: a point estimate met on the calibration set falls short on new artists about
# half the time. Works of one artist err together, so the items are less independent than the bound
# assumes: on WikiArt styles (5-fold CV by artist) 0.90 confidence gave 0.896 precision, 0.95 gave 0.906.
PRECISION_CONFIDENCE = 0.95


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
                raise ValueError(f"binary labels {known[:5]} are not yes/no-like: say which value is positive (positive=...)")
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


def _signed_power(x: np.ndarray, power: float) -> np.ndarray:
    return x if power == 1.0 else np.sign(x) * np.abs(x) ** power


def masked_bce(logits, targets, mask, pos_weight=None):
    """Mean binary cross-entropy over the known entries (mask 1); unknown entries add nothing and get no gradient."""
    import torch

    t = torch.where(mask > 0, targets, torch.zeros_like(targets))
    per = torch.nn.functional.binary_cross_entropy_with_logits(logits, t, reduction="none", pos_weight=pos_weight)
    per = per * mask
    return per.sum() / mask.sum().clamp_min(1.0)


def _fit_torch(X, T, kind, hidden, seed, epochs=None, Xval=None, Tval=None, max_epochs=150, patience=12,
               weight_decay=1e-2, dropout=0.5, lr=1e-3, batch=128):
    """Train a linear (hidden=0) or 1-hidden-layer net. T: (N,) int for one-of-many, (N, C) float with NaN
    for binary/many. With validation data: early stopping on validation loss, returns the best epoch count.
    Returns (layers [(W, b)], epochs_used, best validation loss or None)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    c = int(T.max()) + 1 if kind == "one-of-many" else T.shape[1]
    if kind == "one-of-many":
        c = max(c, int(Tval.max()) + 1 if Tval is not None else c)
    mods: list[torch.nn.Module] = [torch.nn.Dropout(0.2)]
    if hidden:
        mods += [torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout), torch.nn.Linear(hidden, c)]
    else:
        mods += [torch.nn.Linear(d, c)]
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    Xt = torch.tensor(X, dtype=torch.float32)

    if kind == "one-of-many":
        counts = np.bincount(T, minlength=c).astype(float)
        w = np.where(counts > 0, counts.sum() / (c * np.maximum(counts, 1)), 0.0)
        weight = torch.tensor(w, dtype=torch.float32)
        Tt = torch.tensor(T, dtype=torch.long)

        def loss_fn(out, idx, tgt=None):
            return torch.nn.functional.cross_entropy(out, (Tt if tgt is None else tgt)[idx], weight=weight)
    else:
        M = ~np.isnan(T)
        pos = np.nansum(T, axis=0)
        neg = M.sum(axis=0) - pos
        pw = torch.tensor(np.where(pos > 0, neg / np.maximum(pos, 1), 1.0), dtype=torch.float32)
        Tt = torch.tensor(np.nan_to_num(T), dtype=torch.float32)
        Mt = torch.tensor(M, dtype=torch.float32)

        def loss_fn(out, idx, tgt=None):
            if tgt is None:
                return masked_bce(out, Tt[idx], Mt[idx], pw)
            tv, mv = tgt
            return masked_bce(out, tv[idx], mv[idx], pw)

    if Xval is not None:
        Xv = torch.tensor(Xval, dtype=torch.float32)
        val_tgt = torch.tensor(Tval, dtype=torch.long) if kind == "one-of-many" else (
            torch.tensor(np.nan_to_num(Tval), dtype=torch.float32), torch.tensor(~np.isnan(Tval), dtype=torch.float32))
    n = X.shape[0]
    n_epochs = epochs if epochs is not None else max_epochs
    best = (math.inf, 0, None)
    for ep in range(1, n_epochs + 1):
        net.train()
        perm = rng.permutation(n)
        for i in range(0, n, batch):
            b = torch.tensor(perm[i:i + batch])
            opt.zero_grad()
            loss_fn(net(Xt[b]), b).backward()
            opt.step()
        if Xval is not None:
            net.eval()
            with torch.no_grad():
                vl = float(loss_fn(net(Xv), torch.arange(Xv.shape[0]), val_tgt))
            if vl < best[0] - 1e-4:
                best = (vl, ep, [p.detach().clone() for p in net.parameters()])
            elif ep - best[1] >= patience:
                break
    if Xval is not None and best[2] is not None:
        with torch.no_grad():
            for p, q in zip(net.parameters(), best[2]):
                p.copy_(q)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linears]
    return layers, (best[1] if Xval is not None else n_epochs), (best[0] if Xval is not None else None)


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


def _forward(layers, X):
    h = X
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    return h.astype(np.float64)


def _quantise(layers):
    """Round weights to float16 (the stored precision) so the in-memory head equals the saved one."""
    return [(w.astype(np.float16).astype(np.float32), b.astype(np.float16).astype(np.float32)) for w, b in layers]


def _val_score(kind, z, T) -> float:
    """Higher is better: accuracy (one-of-many) or mean AP over columns (binary/many)."""
    if kind == "one-of-many":
        return float(np.mean(z.argmax(1) == T))
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


# ----------------------------------------------------------------------------- train_head


def _single_threaded(fn):
    """Run `fn` single-threaded (BLAS and torch): the models are small, and threads only fight over
    the cores (measured: a 240-item logistic regression went from 12 s to 0.5 s on a busy 2-core box)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import torch
        from threadpoolctl import threadpool_limits

        n = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with threadpool_limits(1):
                return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(n)

    return wrapper


@_single_threaded
def train_head(
    raw: Mapping[str, np.ndarray],
    labels: Sequence,
    kind: str,
    groups: Sequence[str | None] | None = None,
    name: str = "label",
    backbone: str = "lite0",
    precision_target: float = 0.90,
    positive_recall: float = 0.95,
    seed: int = 0,
    *,
    inputs: Sequence[str] = ("content", "style"),
    classes: Sequence[str] | None = None,
    positive: str | None = None,
    model: str = "auto",
    hidden: int = 512,
    power: float = 0.5,
    linear_c: Sequence[float] = LINEAR_C,
    mapped: Mapping[str, Sequence[int]] | None = None,
    mapped_thresholds: Mapping[str, float] = {"yes": 0.5, "no": 0.1},
    card_extra: Mapping[str, Any] | None = None,
):
    """Train a calibrated label head on raw features (see `heads` for what a head computes).

    raw: {facet: (N, d)} raw features (the facets in `inputs` are used). labels: one per row;
    str | None for "binary" / "one-of-many" (None or "" = unknown, left out), dict[str, bool|None]
    for "many" (None = unknown value: masked out of the loss). groups: one per row (artist, ...):
    the held-out 1/11 is split by group; None entries are groups of their own; groups=None splits
    by item (stratified by label when single-label). Calibration (temperature or Platt scaling, then
    the thresholds) uses the held-out scores plus out-of-fold scores of the training part (folds by
    group), and the card adds an honest figure for unseen groups: thresholds fitted on the
    out-of-fold scores alone, measured on the held-out part (`confident_precision_unseen`).
    classes: the class list (e.g. a VOCABULARIES entry; labels outside it are unknown); for binary,
    `positive` (or classes[0]) names the positive value, else labels must be yes/no-like.
    model: "linear", "mlp" or "auto" (the better on an inner split of the training part, by accuracy
    for one-of-many or mean AP otherwise). power: signed power applied to raw features before
    standardising (0.5 = signed square root; 1 = none).
    mapped: kind "many" only, extra classes scored as sums of the ImageNet softmax of the "logits"
    facet over the given indices, with fixed `mapped_thresholds` (not calibrated).
    """
    from artlens.learn.heads import KINDS, LabelHead, _jsonable

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if model not in ("auto", "linear", "mlp"):
        raise ValueError(f"model must be auto, linear or mlp, got {model!r}")
    inputs = tuple(inputs)
    mapped = {k: [int(i) for i in v] for k, v in (mapped or {}).items()}
    if mapped and kind != "many":
        raise ValueError("mapped classes need kind 'many'")
    need = set(inputs) | ({"logits"} if mapped else set())
    for f in need:
        if f not in raw:
            raise ValueError(f"raw features lack the {f!r} facet")
    n_all = len(labels)
    for f in need:
        if np.asarray(raw[f]).shape[0] != n_all:
            raise ValueError(f"raw[{f!r}] has {np.asarray(raw[f]).shape[0]} rows for {n_all} labels")
    input_dims = {f: int(np.asarray(raw[f]).shape[1]) for f in sorted(need, key=lambda f: (f not in inputs, f))}

    notes: list[str] = []
    if kind == "many":
        if classes is not None:
            classes = [c for c in classes if c not in mapped]
        T_all, learned = _encode_many(labels, classes)
        keep = ~np.all(np.isnan(T_all), axis=1)
        y_all = None
    else:
        y_all, learned, notes = _encode_single(labels, kind, classes, positive)
        keep = y_all >= 0
    sel = np.flatnonzero(keep)
    if sel.size < 4:
        raise ValueError(f"only {sel.size} labelled items: too few to train and calibrate a head")
    g = _group_ids(groups, n_all)[sel]
    X = np.concatenate([np.asarray(raw[f], dtype=np.float32)[sel] for f in inputs], axis=1)
    X = _signed_power(X, power)
    if kind == "many":
        T = T_all[sel]
        # stratify the split by each item's first positive attribute (C = no known positive), so that
        # the held-out part has positives of every attribute when it can
        first = np.where(np.nan_to_num(T) > 0, np.arange(T.shape[1]), T.shape[1]).min(axis=1)
        strat = np.unique(first, return_inverse=True)[1].ravel()
    elif kind == "binary":
        y = y_all[sel]
        T = y[:, None].astype(float)
        strat = y
    else:
        y = y_all[sel]
        present = np.unique(y)
        if present.size < 2:
            raise ValueError("one-of-many needs at least two classes with labelled items")
        T = y
        strat = y
    tr, ho = _split(strat, g, groups is not None, HOLDOUT, seed)

    mean = X[tr].mean(axis=0)
    scale = X[tr].std(axis=0) + 1e-6
    Z = ((X - mean) / scale).astype(np.float32)

    # -- model choice on an inner split of the training part
    candidates: dict[str, float] = {}
    choice = model
    chosen_c = linear_c[len(linear_c) // 2]
    mlp_epochs = None
    if model in ("auto", "mlp") or (model == "linear" and len(linear_c) > 1) or kind == "many":
        itr_rel, iva_rel = _split(strat[tr] if strat is not None else None, g[tr], groups is not None, 0.2, seed + 7)
        itr, iva = tr[itr_rel], tr[iva_rel]
        if model in ("auto", "linear"):
            if kind == "many":
                lay, _, _ = _fit_torch(Z[itr], T[itr], kind, 0, seed, Xval=Z[iva], Tval=T[iva])
                candidates["linear"] = _val_score(kind, _forward(lay, Z[iva]), T[iva])
            else:
                for C in linear_c:
                    yy = T[itr] if kind == "one-of-many" else T[itr, 0].astype(int)
                    if np.unique(yy).size < 2:
                        continue
                    lay = _fit_linear_sklearn(Z[itr], yy, kind, C, seed)
                    candidates[f"linear C={C}"] = _val_score(kind, _forward(lay, Z[iva]), T[iva])
        if model in ("auto", "mlp"):
            lay, mlp_epochs, _ = _fit_torch(Z[itr], T[itr], kind, hidden, seed, Xval=Z[iva], Tval=T[iva])
            candidates["mlp"] = _val_score(kind, _forward(lay, Z[iva]), T[iva])
        if candidates:
            best = max(candidates, key=lambda k: (candidates[k], k.startswith("linear")))
            choice = "mlp" if best == "mlp" else "linear"
            if best.startswith("linear C="):
                chosen_c = float(best.split("=")[1])
    if choice == "auto":
        choice = "linear"

    # -- fit the chosen model on the whole training part, and on CALIBRATION_FOLDS folds of it
    epochs = max(5, mlp_epochs or 40)
    n_out = len(learned)

    def fit(rows: np.ndarray):
        if choice == "mlp":
            return _fit_torch(Z[rows], T[rows], kind, hidden, seed, epochs=epochs)[0]
        if kind == "many":
            return _fit_torch(Z[rows], T[rows], kind, 0, seed, epochs=60)[0]
        yy = T[rows] if kind == "one-of-many" else T[rows, 0].astype(int)
        return _fit_linear_sklearn(Z[rows], yy, kind, chosen_c, seed, n_classes=n_out if kind == "one-of-many" else None)

    if choice == "mlp":
        model_desc = {"type": "mlp", "hidden": hidden, "dropout": 0.5, "input_dropout": 0.2, "weight_decay": 1e-2, "epochs": epochs}
    elif kind == "many":
        model_desc = {"type": "linear (torch, masked BCE)", "epochs": 60}
    else:
        model_desc = {"type": "linear (sklearn LogisticRegression, class_weight=balanced)", "C": chosen_c}
    model_desc["inner_split_scores"] = candidates
    model_desc["selection"] = "auto: better of linear/MLP on an inner split of the training part" if model == "auto" else model
    layers = _quantise(fit(tr))
    z_ho = _forward(layers, Z[ho])
    # Out-of-fold scores of the training part: every item scored by a model that never saw its group.
    # With the held-out scores they make a calibration set 11 times larger than the held-out part
    # alone, so thresholds are not set by a handful of items (as sklearn's CalibratedClassifierCV).
    folds = _kfold(strat[tr], g[tr], groups is not None, CALIBRATION_FOLDS, seed + 3)
    z_oof = np.zeros((tr.size, z_ho.shape[1]))
    for f_tr, f_te in folds:
        z_oof[f_te] = _forward(fit(tr[f_tr]), Z[tr[f_te]])
    z_cal, T_cal = np.concatenate([z_oof, z_ho]), np.concatenate([T[tr], T[ho]])

    g_ho = g[ho]
    card: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "backbone": backbone,
        "inputs": list(inputs),
        "feature_transform": f"signed power {power} then standardise (train-part mean/std)",
        "model": model_desc,
        "precision_target": precision_target,
        "precision_confidence": PRECISION_CONFIDENCE,
        "split": ("held out 1/11 of the labelled items by group (" + ("stratified by label, " if strat is not None else "") + "no group in both parts)")
        if groups is not None else ("held out 1/11 of the labelled items at random" + (", stratified by label" if strat is not None else "")),
        "calibration_set": (f"the held-out part plus out-of-fold scores of the training part ({len(folds)} folds"
                            + (" by group" if groups is not None else "") + "): every score from a model that never saw the item's group"),
        "unseen_estimate": "thresholds fitted on the out-of-fold scores alone, measured on the held-out part: an honest figure for groups never seen",
        "refit_on_all": False,
        "refit_note": "not refitted on the held-out part: the shipped weights are the ones measured here",
        "data": {
            "labelled": int(sel.size), "unknown_left_out": int(n_all - sel.size), "train": int(tr.size), "held_out": int(ho.size),
            "calibration": int(tr.size + ho.size), "groups_train": int(np.unique(g[tr]).size), "groups_held_out": int(np.unique(g_ho).size),
        },
        "notes": list(notes),
    }
    platt: list[tuple[float, float]] = []
    temperature = 1.0
    if kind == "one-of-many":
        names = list(learned)
        card["data"]["per_class"] = {c: {"train": int(np.sum(T[tr] == i)), "held_out": int(np.sum(T[ho] == i))} for i, c in enumerate(names)}
        yh = T[ho]
        temperature, ab = _calibrate_single(z_cal, T_cal, precision_target)
        p = cal.softmax(z_ho, temperature)
        thresholds: dict[str, Any] = {"abstain": ab["threshold"]}
        rep = metrics.classification_report([names[i] for i in yh], [names[i] for i in p.argmax(1)], labels=names)
        kept = p.max(1) >= ab["threshold"]
        # the honest figure: temperature and threshold from the out-of-fold scores only
        t_oof, ab_oof = _calibrate_single(z_oof, T[tr], precision_target)
        p_unseen = cal.softmax(z_ho, t_oof)
        k_unseen = p_unseen.max(1) >= ab_oof["threshold"]
        p_raw = cal.softmax(z_ho)
        card["held_out"] = {
            "n": int(ho.size),
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
        card["calibration"] = {"temperature": temperature, "abstain_threshold": ab["threshold"], "precision": ab["precision"],
                               "coverage": ab["coverage"], "precision_target_met": ab["precision_target_met"]}
        if not ab["precision_target_met"]:
            card["notes"].append(f"no abstention threshold reaches precision {precision_target} on the calibration set: the threshold of highest precision is used")
        classes_out = names
    else:
        names = list(learned)
        per: dict[str, dict[str, Any]] = {}
        figures: dict[str, Any] = {}
        card["data"]["per_class"] = {}
        for j, c in enumerate(names):
            card["data"]["per_class"][c] = {
                "train_pos": int(np.nansum(T[tr, j])), "train_neg": int(np.sum(T[tr, j] == 0)),
                "held_out_pos": int(np.nansum(T[ho, j])), "held_out_neg": int(np.sum(T[ho, j] == 0)),
            }
            m_cal, m_oof, m = ~np.isnan(T_cal[:, j]), ~np.isnan(T[tr, j]), ~np.isnan(T[ho, j])
            if not m_cal.any():
                platt.append((1.0, 0.0))
                per[c] = {"yes": math.inf, "no": 0.0, "precision_target_met": False}
                card["notes"].append(f"{c}: no labels to calibrate on, never says yes")
                continue
            (a, b), th = _calibrate_binary(z_cal[m_cal, j], T_cal[m_cal, j], precision_target, positive_recall)
            platt.append((a, b))
            per[c] = th
            if not th["precision_target_met"]:
                card["notes"].append(f"{c}: no yes threshold reaches precision {precision_target} on the calibration set; the threshold of highest precision is used")
            if not m.any():
                continue
            t_ho = T[ho, j][m]
            figures[c] = _binary_figures(cal.sigmoid(a * z_ho[m, j] + b), t_ho, th, c)
            if m_oof.any():  # the honest figure: Platt scaling and thresholds from the out-of-fold scores only
                (a_o, b_o), th_o = _calibrate_binary(z_oof[m_oof, j], T[tr, j][m_oof], precision_target, positive_recall)
                unseen = _binary_figures(cal.sigmoid(a_o * z_ho[m, j] + b_o), t_ho, th_o, c)
                figures[c]["confident_precision_unseen"] = unseen["confident_precision"]
                figures[c]["confident_coverage_unseen"] = unseen["confident_coverage"]
        if kind == "binary":
            thresholds = {"yes": per[names[0]]["yes"], "no": per[names[0]]["no"], "precision_target_met": per[names[0]]["precision_target_met"]}
            card["held_out"] = figures.get(names[0], {})
        else:
            thresholds = {"per_class": per}
            card["held_out"] = {"per_class": figures}
            if figures:
                card["held_out"]["mean_average_precision"] = float(np.mean([f["average_precision"] for f in figures.values() if f["average_precision"] is not None] or [0.0]))
                dec = [f["confident_precision"] for f in figures.values() if f["confident_precision"] is not None]
                card["held_out"]["min_confident_precision"] = min(dec) if dec else None
                un = [f["confident_precision_unseen"] for f in figures.values() if f.get("confident_precision_unseen") is not None]
                card["held_out"]["min_confident_precision_unseen"] = min(un) if un else None
        card["calibration"] = {"platt": {c: list(p) for c, p in zip(names, platt)}, "thresholds": per}
        classes_out = names + [c for c in mapped if c not in names]
        for c in mapped:
            per[c] = {"yes": float(mapped_thresholds["yes"]), "no": float(mapped_thresholds["no"]), "precision_target_met": None, "calibrated": False}
        if mapped:
            card["mapped_classes"] = {c: {"imagenet_indices": idx, "thresholds": dict(mapped_thresholds), "calibrated": False} for c, idx in mapped.items()}
    if card_extra:
        card.update(dict(card_extra))

    head = LabelHead(
        name=name, kind=kind, classes=classes_out, backbone=backbone, inputs=inputs, input_dims=input_dims,
        mean=mean.astype(np.float32), scale=scale.astype(np.float32), layers=layers, thresholds=thresholds,
        temperature=temperature, platt=platt, mapped=mapped, card=card, power=power,
    )
    head.card["version"] = head.version
    head.card = json.loads(json.dumps(_jsonable(head.card)))  # plain JSON values, as a loaded head has them
    return head
