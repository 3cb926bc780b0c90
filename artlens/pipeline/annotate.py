"""Stored raw features -> label heads -> decisions in the catalog (`annotate`), optionally averaging
each head's scores over test-time views read again from the files (TTA)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
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
             tta: Viewer | None = None, progress: Progress | None = None) -> dict[str, Annotation]:
    """Write every head's decision for the artworks `ids` (raw features row-aligned); returns per
    model how many artworks got each decision. tta: what embeds test-time views (local_views, or on Ray)."""
    scores = {name: head.scores(raw) if len(ids) else np.zeros((0, len(head.classes))) for name, head in heads.items()}
    if tta is not None and len(ids):
        tta_scores(store, ids, heads, scores, tta, progress)
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


# Test-time views of several files: (positions of the files that read, views of those) for a list of
# paths. Local (`local_views`) or on a Ray cluster (pipeline/distributed.py).
Viewer = Callable[[Sequence[Sequence[str]]], Iterator[tuple[list[int], dict[str, np.ndarray]]]]


def local_views(backbone: Backbone, style_variant: str) -> Viewer:
    """Views embedded here, one chunk of paths after another."""

    def run(chunks: Sequence[Sequence[str]]) -> Iterator[tuple[list[int], dict[str, np.ndarray]]]:
        for paths in chunks:
            yield views_of(paths, backbone, style_variant)

    return run


def views_of(paths: Sequence[str], backbone: Backbone, style_variant: str) -> tuple[list[int], dict[str, np.ndarray]]:
    """The test-time views of the files that read, and their positions in `paths`."""
    images, at = [], []
    for n, path in enumerate(paths):
        try:
            images.append(load_image(Path(path), max_side=WORKING_SIDE).image)
            at.append(n)
        except ImageError:
            pass
    return at, (embed_views(backbone, images, style_variant) if images else {})


def tta_scores(store: Catalog, ids: Sequence[int] | np.ndarray, heads: Mapping[str, LabelHead], scores: dict[str, np.ndarray],
               viewer: Viewer, progress: Progress | None = None) -> None:
    """Replace `scores` rows by their average over test-time views, for every artwork whose file reads."""
    rows = store.artworks(ids)
    chunks = [[rows[int(i)].path for i in ids[start:start + TTA_CHUNK]] for start in range(0, len(ids), TTA_CHUNK)]
    unreadable = 0
    for c, (at, views) in enumerate(viewer(chunks)):
        start = c * TTA_CHUNK
        unreadable += len(chunks[c]) - len(at)
        if at:
            for name, head in heads.items():
                scores[name][[start + n for n in at]] = head.scores_of_views(views)
        if progress and c % 20 == 0:
            progress(f"test-time views: {min(start + TTA_CHUNK, len(ids))}/{len(ids)} artworks")
    if progress and unreadable:
        progress(f"{unreadable} artworks could not be read again: described from their stored features")
