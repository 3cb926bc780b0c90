"""Small models: what label heads (`heads.LabelHead`) and the learned style space
(`style_space.StyleSpace`) share.

- `mlp_forward`: the inference of a trained net (learn/numpy_nets.py), Linear layers with ReLU between.
- `signed_power`: sign(x) * |x| ** p, the label heads' feature transform.
- `weight_digest`: the short weight hash in a model's version ("<date>-<digest>").
- `jsonable`: plain JSON values for a model's metadata and card.
- one versioned .npz file format: the model's arrays plus `meta`, UTF-8 JSON bytes carrying
  `type` ("label_head" or "style_space", see `TYPES`) and `format` (`FORMAT_VERSION`).
  `save` writes it atomically; `load` returns (meta, arrays) and also reads the two layouts
  written before this format (format 1), so model files shipped or saved then still load:

  - label head, format 1: the same `meta` JSON without `type`;
  - style space, format 1: a `header` string array (JSON) whose model card is under "meta";
    `load` returns that card under "card", as format 2 stores it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "TYPES",
    "NotASmallModelError",
    "jsonable",
    "load",
    "mlp_forward",
    "save",
    "signed_power",
    "weight_digest",
]

FORMAT_VERSION = 2  # 1: the two layouts before `type` existed (read only)
TYPES: tuple[str, ...] = ("label_head", "style_space")

Layers = Sequence[tuple[np.ndarray, np.ndarray]]


class NotASmallModelError(ValueError):
    """An .npz file in none of the small-model layouts (no `meta`, no `header`)."""


def mlp_forward(layers: Layers, x: np.ndarray) -> np.ndarray:
    """x @ W0 + b0, ReLU, ... @ W_last + b_last: layers are [(W (in, out), b (out,)), ...]; no ReLU
    after the last one. Computed in x's dtype (callers cast)."""
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def signed_power(x: np.ndarray, power: float) -> np.ndarray:
    """sign(x) * |x| ** power; x itself when power is 1."""
    return x if power == 1.0 else np.sign(x) * np.abs(x) ** power


def weight_digest(layers: Layers, extra: Any = None) -> str:
    """8 hex digits of the SHA-256 of the float32 weights (and of `extra` as JSON, when given)."""
    h = hashlib.sha256()
    for w, b in layers:
        h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(b, dtype=np.float32).tobytes())
    if extra is not None:
        h.update(json.dumps(extra, default=str).encode())
    return h.hexdigest()[:8]


def jsonable(x: Any) -> Any:
    """Plain JSON values; +-inf become the strings "inf"/"-inf" (label heads restore them in thresholds), NaN None."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return None if math.isnan(v) else v
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    return x


def save(path: str | Path, model_type: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *, compress: bool = True) -> Path:
    """Write one small-model file: `arrays` as given (the caller picks their dtypes) and `meta` with
    `type` and `format` added. Atomic: a temporary file in the same folder, fsync, then rename, so
    a reader never sees half a model."""
    if model_type not in TYPES:
        raise ValueError(f"model type must be one of {TYPES}, got {model_type!r}")
    if "meta" in arrays:
        raise ValueError("'meta' is reserved for the metadata")
    path = Path(path)
    header = {**jsonable(dict(meta)), "type": model_type, "format": FORMAT_VERSION}
    payload: dict[str, Any] = {"meta": np.frombuffer(json.dumps(header, sort_keys=True).encode("utf-8"), dtype=np.uint8), **arrays}
    buf = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buf, **payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; a model file is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | Path, *, arrays: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of a small-model file of any known format; meta["type"] says which model it is
    and meta["format"] the file's format. arrays=False reads the metadata only (arrays is then {}).
    ValueError on an unknown type or format (NotASmallModelError when the file has neither layout)."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        if "meta" in z.files:
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
            if "type" not in meta and meta.get("format") == 1:
                meta["type"] = "label_head"  # format 1 label head
            elif meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"{path}: unsupported small-model format {meta.get('format')!r} (this ArtLens reads 1 and {FORMAT_VERSION})")
        elif "header" in z.files:
            meta = json.loads(str(z["header"]))
            if meta.get("format") != 1:
                raise ValueError(f"{path}: unsupported style-space format {meta.get('format')!r}")
            meta["type"] = "style_space"  # format 1 style space
            meta["card"] = meta.pop("meta", {})
        else:
            raise NotASmallModelError(f"{path}: not an ArtLens model file (no 'meta')")
        if meta.get("type") not in TYPES:
            raise ValueError(f"{path}: unknown model type {meta.get('type')!r} (known: {', '.join(TYPES)})")
        data = {k: z[k] for k in z.files if k not in ("meta", "header")} if arrays else {}
    return meta, data
