"""Stored raw features -> label heads -> decisions in the catalog (`annotate`), optionally averaging
each head's scores over test-time views read again from the files (TTA)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from artlens.errors import ImageError
from artlens.features.backbone import Backbone
from artlens.features.embed import WORKING_SIDE, embed_views
from artlens.features.images import load_image
from artlens.learn.heads import LabelHead
from artlens.results import Annotation
from artlens.store.database import Catalog

TTA_CHUNK = 32  # images decoded and embedded at once for test-time views
Progress = Callable[[str], None]


def annotate(store: Catalog, heads: Mapping[str, LabelHead], ids: np.ndarray, raw: Mapping[str, np.ndarray],
             tta: Backbone | None = None, style_variant: str = "adain", progress: Progress | None = None) -> dict[str, Annotation]:
    """Write every head's decision for the artworks `ids` (raw features row-aligned); returns per
    model how many artworks got each decision. tta: the backbone to embed test-time views with."""
    scores = {name: head.scores(raw) if len(ids) else np.zeros((0, len(head.classes))) for name, head in heads.items()}
    if tta is not None and len(ids):
        tta_scores(store, ids, heads, scores, tta, style_variant, progress)
    summary: dict[str, Annotation] = {}
    for name, head in heads.items():
        if progress:
            progress(f"{name}: {len(ids)} artworks")
        decisions = head.decisions(scores[name])
        version = head.version + ("+tta" if tta is not None else "")
        store.write_predictions(name, version, (
            (int(i), d.label, float(d.confidence), [[c, round(float(p), 4)] for c, p in d.top3]) for i, d in zip(ids, decisions)
        ))
        counts: dict[str, int] = {}
        for d in decisions:
            counts[d.label] = counts.get(d.label, 0) + 1
        summary[name] = Annotation(name, dict(sorted(counts.items(), key=lambda kv: -kv[1])))
    return summary


def tta_scores(store: Catalog, ids: Sequence[int] | np.ndarray, heads: Mapping[str, LabelHead], scores: dict[str, np.ndarray],
               backbone: Backbone, style_variant: str, progress: Progress | None = None) -> None:
    """Replace `scores` rows by their average over test-time views, for every artwork whose file reads."""
    rows = store.artworks(ids)
    unreadable = 0
    for start in range(0, len(ids), TTA_CHUNK):
        images, at = [], []
        for n, i in enumerate(ids[start:start + TTA_CHUNK], start):
            try:
                images.append(load_image(Path(rows[int(i)].path), max_side=WORKING_SIDE).image)
                at.append(n)
            except ImageError:
                unreadable += 1
        if images:
            views = embed_views(backbone, images, style_variant)
            for name, head in heads.items():
                scores[name][at] = head.scores_of_views(views)
        if progress and (start // TTA_CHUNK) % 20 == 0:
            progress(f"test-time views: {min(start + TTA_CHUNK, len(ids))}/{len(ids)} artworks")
    if progress and unreadable:
        progress(f"{unreadable} artworks could not be read again: described from their stored features")
