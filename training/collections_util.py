"""Build (or reuse) one collection per shared data set for training the default label heads."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ARTLENS_TEST_DATA", ROOT.parent / "shared" / "data"))
DATASETS = ("wikiart", "pacs", "media", "peopleart", "peopleart_more")


def ensure_collection(work: Path, name: str, backbone: str):
    """Open work/backbone/name if it holds the data set already, else create it (on `backbone`) and
    ingest ../shared/data/name."""
    from artlens import Collection

    directory = work / backbone / name
    if directory.exists():
        col = Collection.open(directory)
    else:
        col = Collection.create(directory, backbone=backbone)
    col.add([DATA / name / "images"], metadata=DATA / name / "labels.csv")  # skips unchanged files
    return col


def load_raw(col, facets=("content", "style", "color", "logits")):
    """(ids, {facet: (N, d) float32}, metadata rows in id order, relative paths) of a collection."""
    from artlens.features.embed import raw_dims

    dims = raw_dims(col.backbone, col.style_variant)
    raw = {}
    ids = None
    for f in facets:
        fid, X = col.catalog.features(f, dims[f])
        if ids is None:
            ids = fid
        elif not np.array_equal(ids, fid):
            raise RuntimeError(f"facet {f} covers other artworks than {facets[0]}")
        raw[f] = X
    rows = col.catalog.artworks(ids)
    metas = [rows[int(i)].meta for i in ids]
    paths = [str(rows[int(i)].path) for i in ids]
    return ids, raw, metas, paths


def validation_artists_of_backbone() -> set[str]:
    """The artists training/train_backbone.py kept out of the fine-tuned backbone (its fixed split)."""
    from train_backbone import read_works, validation_artists

    works = read_works()
    return {works.artists[a] for a in validation_artists(works)}


def load_all_wikiart(work: Path, backbone: str, facets=("content", "style", "color", "logits")):
    """({facet: (N, d)}, metadata rows, paths) of wikiart + wikiart_more on `backbone`, concatenated
    (each ingested into a collection under `work` when not there yet)."""
    parts = []
    for dataset in ("wikiart", "wikiart_more"):
        col = ensure_collection(work, dataset, backbone)
        _, raw, metas, paths = load_raw(col, facets)
        col.close()
        parts.append((raw, metas, paths))
    raw = {f: np.concatenate([p[0][f] for p in parts]) for f in facets}
    return raw, [m for p in parts for m in p[1]], [x for p in parts for x in p[2]]


if __name__ == "__main__":
    import sys
    import time

    from artlens.learn.registry import DEFAULT_FEATURES

    work = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/artlens-train")
    work.mkdir(parents=True, exist_ok=True)
    for name in DATASETS:
        t = time.time()
        col = ensure_collection(work, name, DEFAULT_FEATURES)
        ids, raw, metas, _ = load_raw(col)
        print(name, len(ids), {k: v.shape for k, v in raw.items()}, f"{time.time() - t:.0f}s", flush=True)
        col.close()
