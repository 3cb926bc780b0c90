"""Label heads: small calibrated classifiers on an artwork's RAW backbone features.

A head reads raw facet features (as stored in the catalog: "content", "style", "color", "logits"),
standardises their concatenation, applies a linear layer or a one-hidden-layer MLP, and turns the
output into calibrated scores:

- "binary": one column, P(yes) = sigmoid(a * z + b) (Platt scaling fitted on held-out labels);
  "yes" when P >= thresholds["yes"], "no" when P < thresholds["no"], else "unsure" (BAM).
- "one-of-many": softmax(z / T) with T fitted on held-out labels (temperature scaling); the top
  class when its probability >= thresholds["abstain"], else "unsure".
- "many": one column per attribute, each Platt-scaled, each with its own yes/no thresholds. The
  label is the ";"-joined attributes that say yes; "" when every attribute says no; "unsure" when
  none says yes and at least one is unsure.

A head can also carry "mapped" classes (kind "many" only): fixed sums of the backbone's ImageNet
softmax over hand-picked class indices (see `vocabularies.IMAGENET_CONTENT`); these are not learned
and their thresholds are fixed, which the model card says.

Training is `training.train_head` (which builds a LabelHead; this module does not import it): it
holds out 1/11 of the labelled items (by group when groups are given), chooses linear vs MLP on an
inner split of the rest, fits the chosen model on the rest, and calibrates on the held-out part
plus out-of-fold scores of the rest. The model is NOT refitted on the held-out part afterwards: the
shipped weights are exactly the ones the card's figures and thresholds were measured for.

A head is stored as a `small_model` file of type "label_head" (float16 weights, float32
standardisation, JSON metadata with the card); label heads saved before that format still load.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from artlens.learn import calibration as cal
from artlens.learn import small_model
from artlens.vocabulary import LABEL_KINDS, UNSURE

__all__ = ["KINDS", "Decision", "LabelHead", "UNSURE", "FORMAT_VERSION"]

KINDS = LABEL_KINDS
FORMAT_VERSION = small_model.FORMAT_VERSION  # the version written; format 1 heads still load


@dataclass(frozen=True)
class Decision:
    """One artwork's decision: label ("yes"/"no"/"unsure", a class or "unsure", or ";"-joined
    classes / "" / "unsure"), the probability of that decision, and the three best classes."""

    label: str
    confidence: float
    top3: list[tuple[str, float]]


@dataclass
class LabelHead:
    name: str
    kind: str
    classes: list[str]
    backbone: str
    inputs: tuple[str, ...]
    input_dims: dict[str, int]
    mean: np.ndarray  # (D,) standardisation of the concatenated inputs
    scale: np.ndarray  # (D,)
    layers: list[tuple[np.ndarray, np.ndarray]]  # [(W (in, out), b (out,)), ...], ReLU between
    thresholds: dict[str, Any]
    temperature: float = 1.0  # one-of-many
    platt: list[tuple[float, float]] = field(default_factory=list)  # binary / many: (a, b) per learned column
    mapped: dict[str, list[int]] = field(default_factory=dict)  # many: class -> ImageNet indices (input "logits")
    card: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    power: float = 1.0  # signed power applied to the raw features before standardising

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.mapped and self.kind != "many":
            raise ValueError("mapped (ImageNet) classes are only for kind 'many'")
        if self.mapped and "logits" not in self.input_dims:
            raise ValueError("mapped classes need the 'logits' facet in input_dims")
        self.inputs = tuple(self.inputs)
        if not self.version:
            self.version = _dt.date.today().isoformat() + "-" + self._digest()

    # -- inference ------------------------------------------------------------------------

    @property
    def learned_classes(self) -> list[str]:
        return [c for c in self.classes if c not in self.mapped]

    def _digest(self) -> str:
        return small_model.weight_digest(self.layers, [self.name, self.kind, self.classes, self.thresholds])

    def _check(self, raw: Mapping[str, np.ndarray]) -> int:
        n = None
        for facet, dim in self.input_dims.items():
            if facet not in raw:
                raise ValueError(f"head {self.name!r} needs the raw {facet!r} features (backbone {self.backbone})")
            x = np.asarray(raw[facet])
            if x.ndim != 2 or x.shape[1] != dim:
                raise ValueError(
                    f"head {self.name!r} was trained on {self.backbone} features: {facet!r} must be (N, {dim}), "
                    f"got {x.shape}; it cannot describe a collection made with another backbone"
                )
            if n is not None and x.shape[0] != n:
                raise ValueError("raw facets have different numbers of rows")
            n = x.shape[0]
        return int(n or 0)

    def logits(self, raw: Mapping[str, np.ndarray]) -> np.ndarray:
        """Uncalibrated outputs of the learned classes, (N, C_learned)."""
        self._check(raw)
        x = np.concatenate([np.asarray(raw[f], dtype=np.float32) for f in self.inputs], axis=1)
        x = small_model.signed_power(x, self.power)
        return small_model.mlp_forward(self.layers, (x - self.mean) / self.scale).astype(np.float64)

    def scores(self, raw: Mapping[str, np.ndarray]) -> np.ndarray:
        """(N, C) calibrated probabilities in the order of `classes` (binary: (N, 1) P(yes))."""
        n = self._check(raw)
        z = self.logits(raw) if self.layers else np.zeros((n, 0))
        if self.kind == "one-of-many":
            return cal.softmax(z, self.temperature)
        learned = np.column_stack([cal.sigmoid(a * z[:, j] + b) for j, (a, b) in enumerate(self.platt)]) if self.platt else np.zeros((n, 0))
        if not self.mapped:
            return learned
        p_in = cal.softmax(np.asarray(raw["logits"], dtype=np.float64))
        out = np.zeros((n, len(self.classes)))
        learned_names = self.learned_classes
        for j, c in enumerate(self.classes):
            if c in self.mapped:
                out[:, j] = p_in[:, self.mapped[c]].sum(axis=1)
            else:
                out[:, j] = learned[:, learned_names.index(c)]
        return out

    def scores_of_views(self, views: Mapping[str, np.ndarray]) -> np.ndarray:
        """Calibrated scores averaged over test-time views: `views` holds {facet: (N, V, d)}."""
        n_views = next(iter(views.values())).shape[1]
        return np.mean([self.scores({f: views[f][:, v] for f in self.input_dims}) for v in range(n_views)], axis=0)

    def decide(self, raw: Mapping[str, np.ndarray]) -> list[Decision]:
        return self.decisions(self.scores(raw))

    def decisions(self, s: np.ndarray) -> list[Decision]:
        """Decisions from calibrated scores (as `scores` gives them, or averaged over views)."""
        out: list[Decision] = []
        if self.kind == "binary":
            yes, no = self.thresholds["yes"], self.thresholds["no"]
            for p in s[:, 0]:
                p = float(p)
                top = [(self.classes[0], p)]
                if p >= yes:
                    out.append(Decision("yes", p, top))
                elif p < no:
                    out.append(Decision("no", 1.0 - p, top))
                else:
                    out.append(Decision(UNSURE, max(p, 1.0 - p), top))
            return out
        k = min(3, len(self.classes))
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        if self.kind == "one-of-many":
            t = self.thresholds["abstain"]
            for row, idx in zip(s, order):
                top = [(self.classes[i], float(row[i])) for i in idx]
                best, p = top[0]
                out.append(Decision(best if p >= t else UNSURE, p, top))
            return out
        per = self.thresholds["per_class"]
        for row, idx in zip(s, order):
            top = [(self.classes[i], float(row[i])) for i in idx]
            yes = [(c, float(p)) for c, p in zip(self.classes, row) if p >= per[c]["yes"]]
            unsure = [(c, float(p)) for c, p in zip(self.classes, row) if per[c]["no"] <= p < per[c]["yes"]]
            if yes:
                out.append(Decision(";".join(c for c, _ in yes), min(p for _, p in yes), top))
            elif unsure:
                out.append(Decision(UNSURE, max(p for _, p in unsure), top))
            else:
                out.append(Decision("", float(min(1.0 - row)), top))
        return out

    # -- storage --------------------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "classes": self.classes,
            "backbone": self.backbone,
            "inputs": list(self.inputs),
            "input_dims": self.input_dims,
            "thresholds": self.thresholds,
            "temperature": self.temperature,
            "platt": [list(p) for p in self.platt],
            "mapped": self.mapped,
            "n_layers": len(self.layers),
            "power": self.power,
            "card": self.card,
        }

    def save(self, path: str | Path) -> Path:
        """Write the head to one small-model .npz file (weights float16, standardisation float32, JSON metadata), atomically."""
        arrays: dict[str, np.ndarray] = {"mean": self.mean.astype(np.float32), "scale": self.scale.astype(np.float32)}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"w{i}"] = w.astype(np.float16)
            arrays[f"b{i}"] = b.astype(np.float16)
        return small_model.save(path, "label_head", self._meta(), arrays)

    @classmethod
    def load(cls, path: str | Path) -> LabelHead:
        """A head saved by `save`, or in the format 1 layout (the shipped default models)."""
        meta, z = small_model.load(path)
        if meta["type"] != "label_head":
            raise ValueError(f"{path}: a {meta['type']} model, not a label head")
        layers = [(z[f"w{i}"].astype(np.float32), z[f"b{i}"].astype(np.float32)) for i in range(meta["n_layers"])]
        mean, scale = z["mean"].astype(np.float32), z["scale"].astype(np.float32)
        th = meta["thresholds"]
        _restore_inf(th)
        return cls(
            name=meta["name"], kind=meta["kind"], classes=list(meta["classes"]), backbone=meta["backbone"],
            inputs=tuple(meta["inputs"]), input_dims={k: int(v) for k, v in meta["input_dims"].items()},
            mean=mean, scale=scale, layers=layers, thresholds=th, temperature=float(meta["temperature"]),
            platt=[(float(a), float(b)) for a, b in meta["platt"]], mapped={k: list(v) for k, v in meta["mapped"].items()},
            card=meta["card"], version=meta["version"], power=float(meta.get("power", 1.0)),
        )


def _restore_inf(d: Any) -> None:
    """Thresholds of +-inf were stored as "inf"/"-inf" (JSON has no infinity)."""
    if isinstance(d, dict):
        for k, v in d.items():
            if v in ("inf", "-inf"):
                d[k] = float(v)
            else:
                _restore_inf(v)
