"""Do the default label heads decide the same on the INT8 backbone as on the float one?

    .venv/bin/python training/check_int8_heads.py [--float lite0-art] [--int8 lite0-art-int8]

The heads of a feature space are trained on the float backbone's features and also serve its INT8
variant. This embeds, with both backbones as ingest does, the data each head can be judged on without
having seen it: style, genre and people on the paintings of the backbone's 86 validation artists
(wikiart + wikiart_more; people from their genre and style, as training/content_attributes.py reads
them), depiction on PACS, medium on media/ (the depiction and medium heads were trained on parts of
PACS and media/, so their absolute figures there are partly in-sample; the comparison float/INT8 is
what this measures). Per head: top-1 (yes precision for people), confident precision and coverage,
and the share of decisions that differ. INT8 is fit to be the
default when every figure moves by at most 0.01.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from content_attributes import derived_people  # noqa: E402
from train_backbone import read_works, validation_artists  # noqa: E402

from artlens.features.backbone import BACKBONES, Backbone  # noqa: E402
from artlens.features.embed import WORKING_SIDE, model_input  # noqa: E402
from artlens.features.images import load_image  # noqa: E402
from artlens.learn.registry import load_default_model  # noqa: E402
from artlens.vocabulary import UNSURE  # noqa: E402

DATA = Path(os.environ.get("ARTLENS_TEST_DATA", HERE.parents[1] / "shared" / "data"))
DEPICTION = {"art_painting": "painting", "sketch": "drawing", "cartoon": "cartoon", "photo": "photo"}
MEDIUM = {"oil": "oil paint", "watercolor": "watercolour"}


def labelled_sets() -> dict[str, tuple[list[Path], list[dict[str, str]]]]:
    works = read_works()
    val = validation_artists(works)
    keep = [i for i, a in enumerate(works.artist) if a in val]
    rows = {}
    for folder in ("wikiart", "wikiart_more"):
        with open(DATA / folder / "labels.csv", newline="", encoding="utf-8") as f:
            rows.update({str(DATA / folder / r["image"]): r for r in csv.DictReader(f)})
    sets = {"paintings": ([works.paths[i] for i in keep], [rows[str(works.paths[i])] for i in keep])}
    for name in ("pacs", "media"):
        with open(DATA / name / "labels.csv", newline="", encoding="utf-8") as f:
            table = list(csv.DictReader(f))
        sets[name] = ([DATA / name / r["image"] for r in table], table)
    return sets


def embed(backbone: Backbone, paths: list[Path]) -> dict[str, np.ndarray]:
    out: list[dict[str, np.ndarray]] = []
    for lo in range(0, len(paths), 64):
        batch = np.stack([model_input(load_image(p, max_side=WORKING_SIDE).rgb, backbone) for p in paths[lo:lo + 64]])
        out.append(backbone.run(batch))
    return {k: np.concatenate([o[k] for o in out]) for k in out[0]}


def one_of_many(head, raw, truth: list[str | None]) -> dict[str, float]:
    rows = [i for i, t in enumerate(truth) if t in head.classes]
    decisions = head.decide({k: v[rows] for k, v in raw.items()})
    top1 = np.mean([d.top3[0][0] == truth[i] for d, i in zip(decisions, rows)])
    sure = [d.label == truth[i] for d, i in zip(decisions, rows) if d.label != UNSURE]
    return {"top-1": float(top1), "confident precision": float(np.mean(sure)), "coverage": len(sure) / len(rows),
            "labels": [d.label for d in decisions]}


def people(head, raw, truth: list[bool | None]) -> dict[str, float]:
    rows = [i for i, t in enumerate(truth) if t is not None]
    decisions = head.decide({k: v[rows] for k, v in raw.items()})
    said_yes = [bool(truth[i]) for d, i in zip(decisions, rows) if d.label == "yes"]
    return {"yes precision": float(np.mean(said_yes)), "coverage": len(said_yes) / sum(bool(truth[i]) for i in rows),
            "labels": [d.label for d in decisions]}


def figures(raws: dict[str, dict[str, np.ndarray]], sets, features: str) -> dict[str, dict]:
    meta = {k: v[1] for k, v in sets.items()}
    heads = {n: load_default_model(n, features) for n in ("style", "genre", "depiction", "medium", "people")}
    return {
        "style": one_of_many(heads["style"], raws["paintings"], [m["style"] for m in meta["paintings"]]),
        "genre": one_of_many(heads["genre"], raws["paintings"], [m.get("genre") or None for m in meta["paintings"]]),
        "depiction": one_of_many(heads["depiction"], raws["pacs"], [DEPICTION[m["domain"]] for m in meta["pacs"]]),
        "medium": one_of_many(heads["medium"], raws["media"], [MEDIUM.get(m["medium"]) for m in meta["media"]]),
        "people": people(heads["people"], raws["paintings"], [derived_people(m) for m in meta["paintings"]]),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--float", dest="fp32", default="lite0-art")
    ap.add_argument("--int8", default="lite0-art-int8")
    args = ap.parse_args()
    sets = labelled_sets()
    features = BACKBONES[args.int8].features
    result = {}
    for name in (args.fp32, args.int8):
        backbone = Backbone(name, threads=2)
        raws = {k: embed(backbone, paths) for k, (paths, _) in sets.items()}
        result[name] = figures(raws, sets, features)
    worst = 0.0
    report: dict[str, dict] = {}
    for head, a in result[args.fp32].items():
        b = result[args.int8][head]
        changed = float(np.mean([x != y for x, y in zip(a["labels"], b["labels"])]))
        rows = {k: {"float": round(a[k], 4), "int8": round(b[k], 4), "change": round(b[k] - a[k], 4)} for k in a if k != "labels"}
        worst = max([worst, *(abs(r["change"]) for k, r in rows.items() if k != "coverage")])
        report[head] = {**rows, "decisions changed": round(changed, 4)}
        print(head, json.dumps(report[head]), flush=True)
    print(f"largest change of a precision or accuracy figure: {worst:.4f} ({'within' if worst <= 0.01 else 'beyond'} 0.01)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
