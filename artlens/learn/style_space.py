"""Learned style space: a small projection trained so that works of one group lie close together.

After ALADIN (Ruta et al., 2021: supervised contrastive learning of fine-grained style groups)
and DeepArt (Mao et al., 2017: triplets ranked by shared labels, then hard examples). The space
reads PRECOMPUTED raw features (by default the AdaIN style statistics), so any collection can
train its own from a group column (artist, series, project) without touching the images again.

Runtime (`StyleSpace.apply`) is numpy only:

    x (raw facets, concatenated) -> h = (x - shift) @ basis   z-score, PCA, regularised whitening (folded)
                                 -> y = h + MLP(h)             residual head (Linear, ReLU, Dropout, Linear)
                                 -> y / |y|                    unit rows: inner product = cosine

The head starts as the identity (its last layer is zero), so an untrained space is the whitened
style statistics, like the collection's own style facet, and learning only moves away from them
as far as validation P@1 on unseen groups rewards. On 2,848 WikiArt paintings this residual form
beat a plain MLP on z-scored inputs by 8 points of artist P@1 on held-out artists (the plain MLP
fell below the untrained features): with a few hundred groups, the prior is worth more than
capacity. Training is numpy too (`numpy_nets`: hand-written backward passes, AdamW).

A space is stored as a `small_model` file of type "style_space" (float32 arrays, JSON metadata with
the card); spaces saved before that format (a `header` array) still load.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artlens.errors import InputError
from artlens.evaluation import metrics
from artlens.features.facets import TransformSpec, fit_transform
from artlens.learn import numpy_nets as nets
from artlens.learn import small_model
from artlens.vocabulary import STYLE_LOSSES

__all__ = [
    "LOSSES",
    "STYLE_SPACE_INPUTS",
    "StyleSpace",
    "default_style_space",
    "evaluate_groups",
    "split_groups",
    "train_style_space",
]

LOSSES: tuple[str, ...] = STYLE_LOSSES
# Style statistics alone: adding content, colour or logits never raised held-out artist P@1 on
# WikiArt (z-scored together with style: -4 points; each through its own PCA: within noise).
STYLE_SPACE_INPUTS: tuple[str, ...] = ("style",)
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"

# The style facet's kind of transform (artlens.features.facets) with more axes and stronger whitening: held-out
# artist P@1 0.569 -> 0.587 over the facet's (128 axes, regulariser 10); 384-512 axes or regulariser
# 1-5 were no better.
INPUT_SPEC = TransformSpec(pre="zscore", dim=256, whiten=3.0)
HIDDEN = 1024           # 512: as good; 2048: worse
DROPOUT = 0.2
TEMPERATURE = 0.05      # SupCon; 0.03-0.1 within a point, 0.2 worse
MARGIN = 0.2            # triplet, on cosine similarities
LABEL_WEIGHT = 0.3      # triplet: weight of the label-overlap triplets next to the group triplets
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4
PER_GROUP = 8           # K images per group in a batch (P x K sampling)
BATCH = 1024
MAX_EPOCHS = 200
PATIENCE = 30           # epochs without a better validation P@1 before stopping
MIN_VAL_GROUPS = 2


@dataclass
class StyleSpace:
    """A trained projection from raw facet features to unit vectors of `dim` dimensions."""

    inputs: tuple[str, ...]
    input_dims: dict[str, int]                  # raw length of each input facet
    shift: np.ndarray                           # (D,) subtracted from the concatenated inputs
    basis: np.ndarray                           # (D, dim) z-score + PCA + whitening, folded into one matrix
    layers: list[tuple[np.ndarray, np.ndarray]]  # residual head [(W (in, out), b (out,)), ...], ReLU between
    meta: dict[str, Any] = field(default_factory=dict)  # model card

    def __post_init__(self) -> None:
        self.inputs = tuple(self.inputs)
        if set(self.input_dims) != set(self.inputs):
            raise ValueError(f"input_dims {sorted(self.input_dims)} do not match inputs {self.inputs}")

    @property
    def dim(self) -> int:
        return int(self.basis.shape[1])

    def fits(self, raw_dims: Mapping[str, int]) -> bool:
        """Whether a collection whose raw facets have these lengths can be projected by this space."""
        return all(raw_dims.get(f) == d for f, d in self.input_dims.items())

    def apply(self, raw: Mapping[str, np.ndarray]) -> np.ndarray:
        """(N, dim) float32 unit rows from raw facet features (float16 or float32; extra facets are ignored)."""
        parts = []
        for f in self.inputs:
            if f not in raw:
                raise ValueError(f"the style space needs the raw {f!r} features")
            x = np.asarray(raw[f])
            if x.ndim != 2 or x.shape[1] != self.input_dims[f]:
                raise ValueError(f"raw {f!r} features must be (N, {self.input_dims[f]}), got {x.shape}")
            parts.append(x.astype(np.float32, copy=False))
        if len({len(p) for p in parts}) > 1:
            raise ValueError("raw facets have different numbers of rows")
        h = (np.concatenate(parts, axis=1) - self.shift) @ self.basis
        return _unit(h + small_model.mlp_forward(self.layers, h) if self.layers else h)

    def save(self, path: str | Path) -> Path:
        """Write the space to one small-model .npz (float32 arrays, the card as JSON), atomically."""
        meta = {"inputs": list(self.inputs), "input_dims": self.input_dims, "n_layers": len(self.layers), "card": self.meta}
        arrays = {"shift": self.shift.astype(np.float32), "basis": self.basis.astype(np.float32)}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"w{i}"], arrays[f"b{i}"] = w.astype(np.float32), b.astype(np.float32)
        return small_model.save(path, "style_space", meta, arrays, compress=False)  # float weights compress by 8%: not worth the time

    @classmethod
    def load(cls, path: str | Path) -> StyleSpace:
        """A space saved by `save`, or in the format 1 layout (the shipped style_learned.npz)."""
        meta, z = small_model.load(path)
        if meta["type"] != "style_space":
            raise ValueError(f"{path}: a {meta['type']} model, not a style space")
        layers = [(z[f"w{i}"], z[f"b{i}"]) for i in range(meta["n_layers"])]
        return cls(inputs=tuple(meta["inputs"]), input_dims={k: int(v) for k, v in meta["input_dims"].items()},
                   shift=z["shift"], basis=z["basis"], layers=layers, meta=meta["card"])


def default_style_space_path(backbone: str) -> Path:
    """Where the default learned style space for `backbone` is shipped."""
    return MODELS_DIR / backbone / "style_learned.npz"


def default_style_space(backbone: str, style_variant: str) -> StyleSpace | None:
    """The shipped space (trained on WikiArt artists) when it was made for this backbone and style variant."""
    path = default_style_space_path(backbone)
    if not path.exists():
        return None
    space = StyleSpace.load(path)
    if space.meta.get("backbone") != backbone or space.meta.get("style_variant") != style_variant:
        return None
    return space


def evaluate_groups(vectors: np.ndarray, groups: Sequence[str | None], ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """ALADIN group retrieval among `vectors` (unit rows): every work with another member of its group
    queries all the others (never itself); mean P@k of finding members of its group."""
    from artlens.evaluation.evaluate import ranked_neighbours

    codes = _codes(groups)
    depth = min(max(ks), len(codes) - 1)
    ranked = ranked_neighbours(np.asarray(vectors, np.float32), np.arange(len(codes)), depth)
    return metrics.group_precision(codes, codes[ranked], ks=[k for k in ks if k <= depth],
                                   query_mask=metrics.group_query_mask(codes))


# --------------------------------------------------------------------------------------------------
# Training (numpy: artlens.learn.numpy_nets)
# --------------------------------------------------------------------------------------------------


def train_style_space(
    raw: Mapping[str, np.ndarray],
    groups: Sequence[str | None],
    *,
    loss: str = "contrastive",
    epochs: int = MAX_EPOCHS,
    inputs: Sequence[str] = STYLE_SPACE_INPUTS,
    val_fraction: float = 0.15,
    labels: Sequence[Sequence[str | None]] | None = None,
    seed: int = 0,
    refit: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[StyleSpace, dict[str, Any]]:
    """Learn a space in which works of one group are near each other.

    raw: facet -> (N, d) raw features; groups: (N,) group of each work. A missing group (None or "")
    or a group with a single work cannot give a positive pair: such works are kept in training as
    negatives only. The groups with 2+ works are split into training and validation groups
    (`val_fraction` of them, never one group on both sides); training stops when validation P@1
    (each validation work queries the other validation works) has not improved for PATIENCE
    epochs, at most `epochs`, and the best epoch's weights are kept. With `refit`, the head is then
    trained again on every group for that many epochs. Off by default: on WikiArt (5 folds by
    artist, 3 seeds) refitting lowered held-out artist P@1 from 0.591 to 0.575 (style P@10 +0.011),
    and without it the weights are exactly the ones validated.

    loss: "contrastive" (SupCon over P groups x K works per batch) or "triplet" (relevance by
    shared group, and by shared `labels` when given, then semi-hard negatives under the current
    model). labels: extra label columns for the triplet loss, e.g. [styles, genres], each (N,).
    Returns the space and a report (per-epoch validation P@1, best epoch, counts, seconds).
    """
    from threadpoolctl import threadpool_limits

    started = time.time()
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if labels is not None and loss != "triplet":
        raise ValueError("labels are used by the triplet loss only")
    if epochs < 1:
        raise ValueError("epochs must be at least 1")
    inputs = tuple(inputs)
    x = _concat(raw, inputs)
    if len(x) == 0:
        raise InputError("no works to learn from")
    codes = _codes(groups)
    if len(codes) != len(x):
        raise ValueError(f"{len(codes)} groups for {len(x)} works")
    missing = codes < 0
    codes[missing] = codes.max() + 1 + np.arange(np.count_nonzero(missing))  # a group of one each: negatives only
    label_codes = None if labels is None else np.stack([_codes(col) for col in labels], axis=1)
    if label_codes is not None and len(label_codes) != len(x):
        raise ValueError("every label column must have one value per work")

    train, val = split_groups(groups, val_fraction, seed)
    multi = metrics.group_query_mask(codes)
    basis_fit = fit_transform(x, INPUT_SPEC, seed=seed)  # unsupervised: fitted on every work
    shift = basis_fit.mean_in + basis_fit.scale_in * basis_fit.center
    basis = (basis_fit.components / basis_fit.scale_in).T * basis_fit.scale_out
    h = ((x - shift) @ basis).astype(np.float32)

    with threadpool_limits(1):  # same result on any machine; small batches gain little from more threads
        sub = label_codes[train] if label_codes is not None else None
        layers, history = _fit(h[train], codes[train], sub, loss, epochs, seed, progress, h[val], codes[val])
        best = int(np.argmax(history)) + 1
        if refit:
            layers, _ = _fit(h, codes, label_codes, loss, best, seed, progress)

    def n_groups(rows: np.ndarray) -> int:
        return int(np.unique(codes[rows][multi[rows]]).size)

    report = {
        "loss": loss,
        "inputs": list(inputs),
        "epochs_run": len(history),
        "best_epoch": best,
        "val_p1": history[best - 1],
        "val_p1_by_epoch": [round(p, 4) for p in history],
        "refit": refit,
        "train_groups": n_groups(train),
        "val_groups": n_groups(val),
        "train_works": int(len(train)),
        "val_works": int(len(val)),
        "negatives_only": int(np.count_nonzero(~multi)),
        "seconds": round(time.time() - started, 1),
    }
    meta = {**{k: v for k, v in report.items() if k != "val_p1_by_epoch"},
            "version": f"{time.strftime('%Y-%m-%d')}-{small_model.weight_digest(layers)}", "dim": int(basis.shape[1])}
    space = StyleSpace(inputs=inputs, input_dims={f: int(np.shape(raw[f])[1]) for f in inputs},
                       shift=shift.astype(np.float32), basis=basis.astype(np.float32), layers=layers, meta=meta)
    return space, report


def split_groups(groups: Sequence[str | None], val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, validation rows): a seeded share of the groups with 2+ works goes to validation;
    works without a partner (no group, or alone in it) stay in training as negatives."""
    codes = _codes(groups)
    multi = metrics.group_query_mask(codes)
    candidates = np.unique(codes[multi])
    n_val = max(MIN_VAL_GROUPS, int(round(val_fraction * len(candidates))))
    if len(candidates) - n_val < 2:
        raise InputError(f"need at least {MIN_VAL_GROUPS + 2} groups with 2 or more works, got {len(candidates)}")
    val_groups = np.random.default_rng(seed).permutation(candidates)[:n_val]
    is_val = multi & np.isin(codes, val_groups)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _head(d: int, rng: np.random.Generator) -> nets.Sequential:
    """The residual head, its last layer zero: it starts as the identity (the untrained whitened features)."""
    return nets.Sequential([nets.Linear(d, HIDDEN, rng), nets.ReLU(), nets.Dropout(DROPOUT, rng),
                            nets.Linear(HIDDEN, d, rng, zero=True)])


def _fit(h, codes, label_codes, loss, epochs, seed, progress, h_val=None, codes_val=None):
    """Train the residual head on whitened inputs h. With validation data: early stopping on
    validation P@1, returning the best epoch's layers and the P@1 of every epoch run."""
    rng = np.random.default_rng(seed)  # the batches
    net_rng = np.random.default_rng([seed, 1])  # initialisation and dropout
    loss_rng = np.random.default_rng([seed, 2])  # the triplet loss's random label positives
    head = _head(h.shape[1], net_rng)
    opt = nets.AdamW(head.params(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    history: list[float] = []
    best_weights, best_p1 = None, -1.0
    for epoch in range(1, epochs + 1):
        losses = []
        for rows in _batches(codes, rng):
            x = h[rows]
            z, norm = nets.normalize(x + head.forward(x, train=True))
            if loss == "contrastive":
                value, g_z = nets.supcon(z, codes[rows], TEMPERATURE)
            else:
                labels = None if label_codes is None else label_codes[rows]
                value, g_z = nets.triplet(z, codes[rows], MARGIN, labels, LABEL_WEIGHT, loss_rng)
            head.backward(nets.normalize_backward(z, norm, g_z))  # y = x + head(x): dy/d head(x) is the identity
            opt.step(head.grads())
            losses.append(value)
        report: dict[str, Any] = {"epoch": epoch, "loss": float(np.mean(losses))}
        if h_val is not None:
            p1 = evaluate_groups(_embed(head, h_val), codes_val, ks=(1,))["P@1"]
            history.append(p1)
            if p1 > best_p1:
                best_p1, best_weights = p1, head.get_weights()
            report.update(val_p1=p1, best_val_p1=best_p1)
        else:
            report["phase"] = "refit"
        if progress is not None:
            progress(report)
        if h_val is not None and epoch - (int(np.argmax(history)) + 1) >= PATIENCE:
            break
    if best_weights is not None:
        head.set_weights(best_weights)
    return head.linear_layers(), history


def _embed(head: nets.Sequential, h: np.ndarray) -> np.ndarray:
    return nets.normalize(h + head.forward(h))[0]


def _batches(codes: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of P x K batches: every group with 2+ works once, up to PER_GROUP random works of
    it, packed into batches of about BATCH; works without a partner are spread over the batches."""
    multi = metrics.group_query_mask(codes)
    order = np.argsort(codes[multi], kind="stable")
    rows = np.flatnonzero(multi)[order]
    starts = np.flatnonzero(np.r_[True, np.diff(codes[rows]) != 0])
    members = np.split(rows, starts[1:])
    batches, current, size = [], [], 0
    for i in rng.permutation(len(members)):
        pick = rng.permutation(members[i])[:PER_GROUP]
        current.append(pick)
        size += len(pick)
        if size >= BATCH:
            batches.append(np.concatenate(current))
            current, size = [], 0
    if current:  # a short tail joins the last batch rather than making a weak batch of its own
        tail = np.concatenate(current)
        if batches and size < BATCH // 2:
            batches[-1] = np.concatenate([batches[-1], tail])
        else:
            batches.append(tail)
    loners = rng.permutation(np.flatnonzero(~multi))
    return [np.concatenate([b, extra]) for b, extra in zip(batches, np.array_split(loners, len(batches)))]


# --------------------------------------------------------------------------------------------------


def _concat(raw: Mapping[str, np.ndarray], inputs: Sequence[str]) -> np.ndarray:
    missing = [f for f in inputs if f not in raw]
    if missing:
        raise ValueError(f"raw features lack {missing}")
    parts = [np.asarray(raw[f], np.float32) for f in inputs]
    if len({len(p) for p in parts}) > 1:
        raise ValueError("raw facets have different numbers of rows")
    return np.concatenate(parts, axis=1)


def _codes(values: Sequence[str | None]) -> np.ndarray:
    """Integer codes of labels, -1 for missing (None or "")."""
    text = np.array(["" if v is None else str(v) for v in values], dtype=str)
    names, codes = np.unique(text, return_inverse=True)
    codes = codes.astype(np.int64).ravel()
    if len(names) and names[0] == "":
        codes -= 1
    return codes


def _unit(y: np.ndarray) -> np.ndarray:
    return (y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)).astype(np.float32)
