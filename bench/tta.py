"""Test-time augmentation: the default style and genre heads on their held-out WikiArt artists, one view vs six.

    .venv/bin/python bench/tta.py [--work /tmp/artlens-train] [--write]

The held-out part is recomputed exactly as `train_head` drew it (same labels, groups and seed), so
every painting scored here belongs to an artist the shipped head never saw. One view = the stored
whole-image features (what `annotate` uses by default); six views = the whole image plus centre and
corner crops of 80% (`annotate --tta`), scores averaged. The heads' thresholds were calibrated on
single views and are used unchanged.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))
from collections_util import ensure_collection, load_raw  # noqa: E402

from artlens.evaluation import metrics  # noqa: E402
from artlens.features.embed import WORKING_SIDE, embed_views  # noqa: E402
from artlens.features.images import load_image  # noqa: E402
from artlens.learn.registry import load_default_model  # noqa: E402
from artlens.learn.training import HOLDOUT, _encode_single, _group_ids, _split  # noqa: E402
from bench.report import machine, write_section  # noqa: E402

SEED = 0  # training/train_default_models.py


def held_out(labels: list[str | None], groups: list[str], classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows of the held-out part, their class codes), drawn as train_head drew them."""
    y_all, _, _ = _encode_single(labels, "one-of-many", classes, None)
    sel = np.flatnonzero(y_all >= 0)
    _, ho = _split(y_all[sel], _group_ids(groups, len(labels))[sel], True, HOLDOUT, SEED)
    return sel[ho], y_all[sel][ho]


def figures(scores: np.ndarray, y: np.ndarray, abstain: float) -> dict[str, float]:
    pred = scores.argmax(1)
    confident = scores.max(1) >= abstain
    return {
        "accuracy": float((pred == y).mean()),
        "macro F1": float(metrics.classification_report(y, pred, list(range(scores.shape[1])))["macro_f1"]),
        "confident precision": float((pred[confident] == y[confident]).mean()) if confident.any() else float("nan"),
        "coverage": float(confident.mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/artlens-train"))
    ap.add_argument("--write", action="store_true", help="write the result to docs/benchmarks.md")
    args = ap.parse_args()
    col = ensure_collection(args.work, "wikiart")
    _, raw, metas, paths = load_raw(col)
    artists = [m.get("artist") for m in metas]
    lines = ["## Test-time augmentation", "",
             f"`bench/tta.py` on {machine()}: default heads on the WikiArt artists they never saw (their held-out part);",
             "one view = stored whole-image features, six views = whole + centre + 4 corner crops of 80%, scores averaged.", "",
             "| model | views | held-out paintings | accuracy | macro F1 | confident precision | coverage |", "|---|---|---|---|---|---|---|"]
    for name in ("style", "genre"):
        head = load_default_model(name)
        rows, y = held_out([m.get(name) or None for m in metas], artists, head.classes)
        single = head.scores({f: raw[f][rows] for f in head.input_dims})
        start = time.perf_counter()
        views = [embed_views(col.backbone, [load_image(Path(paths[r]), max_side=WORKING_SIDE).image for r in rows[i:i + 32]], col.style_variant)
                 for i in range(0, len(rows), 32)]
        six = np.concatenate([head.scores_of_views(v) for v in views])
        seconds = time.perf_counter() - start
        abstain = head.thresholds["abstain"]
        for label, s in (("1", single), ("6", six)):
            f = figures(s, y, abstain)
            lines.append(f"| {name} | {label} | {len(rows)} | {f['accuracy']:.3f} | {f['macro F1']:.3f} | "
                         f"{f['confident precision']:.3f} | {f['coverage']:.3f} |")
        print(f"{name}: six views of {len(rows)} paintings in {seconds:.1f} s", flush=True)
    text = "\n".join(lines)
    print(text)
    if args.write:
        print(f"written to {write_section('tta', text)}")


if __name__ == "__main__":
    main()
