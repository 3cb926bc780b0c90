"""Find regions (faces, people) in every artwork of a collection and give each its own vectors for
search by region.

Each artwork's file is decoded again at up to DETECT_SIDE px (faces in a painting are small); every
detector that has not looked at it yet runs on that one decode, the boxes are stored in the original
image's pixels, and each region's crop (artlens.retrieval.regions.crop_box) goes through the
collection's backbone for its raw content, style and colour features. Batches commit one by one and
record which artworks each detector looked at, so an interrupted run continues where it stopped and a
second run does nothing. Regions without vectors (found before regions had them, or after a re-embed)
get them from the same decode-and-crop step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from artlens.errors import ImageError
from artlens.features.embed import embed_rgb
from artlens.features.images import DecodedImage, load_image
from artlens.machine import usable_cores
from artlens.retrieval.regions import crops
from artlens.store.database import ArtworkRow, Catalog
from artlens.vocabulary import FACETS

if TYPE_CHECKING:
    from artlens.features.backbone import Backbone

FACE_MODEL = "mtcnn-facenet-2.6.0"  # what regions record: the weights of training/export_faces.py
DETECT_SIDE = 1024  # the detectors' working size: larger files are decoded down to it
BATCH = 32

Boxes = tuple[np.ndarray, np.ndarray]  # (n, 4) boxes in the decoded image's pixels, (n,) scores


@dataclass(frozen=True)
class Detector:
    """One kind of region: what finds it and the model name its regions record."""

    kind: str  # "face", "person"
    model: str
    find: Callable[[np.ndarray], Boxes]  # (H, W, 3) uint8 -> boxes, scores


def face_detector() -> Detector:
    # One detector for all workers, as ingest shares its backbone: ONNX Runtime sessions may run from
    # several threads at once, each run on its caller's thread (one intra-op thread).
    from artlens.features.faces import FaceDetector

    faces = FaceDetector()

    def find(rgb: np.ndarray) -> Boxes:
        found = faces.detect(rgb)
        return found.boxes, found.scores

    return Detector("face", FACE_MODEL, find)


def person_detector() -> Detector:
    # Only people at or above the detector's counting threshold become regions: the catalog's people
    # are the ones `people>=N` counts (the low-score tail matters for AP, not for a collection).
    from artlens.features.people import PersonDetector

    people = PersonDetector()

    def find(rgb: np.ndarray) -> Boxes:
        found = people.detect(rgb)
        keep = found.scores >= people.count_threshold
        return found.boxes[keep], found.scores[keep]

    return Detector("person", f"person-{people.version}", find)


def detectors() -> list[Detector]:
    """Every region detector ArtLens ships: faces and people."""
    return [face_detector(), person_detector()]


@dataclass
class DetectResult:
    looked_at: int = 0  # artworks detected by this run
    found: dict[str, int] = field(default_factory=dict)  # kind -> regions they hold
    embedded: int = 0  # regions given vectors (new ones and older ones without)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why): left for the next run


def detect(store: Catalog, backbone: Backbone, style_variant: str, detectors: Sequence[Detector],
           progress: Callable[[int, int], None] | None = None) -> DetectResult:
    """Run every detector on the artworks it has not looked at, then embed regions still without vectors."""
    todo_by = {d.kind: set(store.undetected_ids(d.kind, d.model)) for d in detectors}
    todo = sorted(set().union(*todo_by.values()))
    missing = {i: r for i, r in store.regions_without_features().items() if i not in todo}
    result = DetectResult(found={d.kind: 0 for d in detectors})
    total = len(todo) + len(missing)
    if progress:
        progress(0, total)
    work: list[tuple[int, list[Detector] | None]] = [(i, [d for d in detectors if i in todo_by[d.kind]]) for i in todo]
    work += [(i, None) for i in sorted(missing)]
    with ThreadPoolExecutor(max_workers=usable_cores(), thread_name_prefix="artlens-detect") as pool:
        for lo in range(0, len(work), BATCH):
            rows = store.artworks([i for i, _ in work[lo:lo + BATCH]])
            chunk = [(i, ds) for i, ds in work[lo:lo + BATCH] if i in rows]
            got = list(pool.map(_look, [rows[i] for i, _ in chunk], [ds for _, ds in chunk], [missing.get(i, []) for i, _ in chunk],
                                [backbone] * len(chunk), [style_variant] * len(chunk)))
            result.unreadable += [(rows[i].path, g) for (i, _), g in zip(chunk, got) if isinstance(g, str)]
            ok = [(i, ds, g) for (i, ds), g in zip(chunk, got) if not isinstance(g, str)]
            for d in detectors:
                mine = [(i, g) for i, ds, g in ok if ds is not None and d in ds]
                if not mine:
                    continue
                result.found[d.kind] += store.write_detections(
                    d.kind, d.model, [(i, g.boxes[d.kind], g.scores[d.kind]) for i, g in mine], [g.vectors[d.kind] for _, g in mine])
                result.embedded += sum(len(g.scores[d.kind]) for _, g in mine)
            store.write_region_features([(g.old_ids, g.old_vectors) for _, _, g in ok if g.old_ids])
            result.embedded += sum(len(g.old_ids) for _, _, g in ok)
            result.looked_at += sum(1 for _, ds, _ in ok if ds is not None)
            if progress:
                progress(min(lo + BATCH, total), total)
    return result


@dataclass
class _Found:
    """One artwork's new regions per kind (boxes in original pixels, scores, raw features of the crops)
    and the raw features of its older regions that had none."""

    boxes: dict[str, np.ndarray] = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    vectors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    old_ids: list[int] = field(default_factory=list)
    old_vectors: dict[str, np.ndarray] = field(default_factory=dict)


def _look(row: ArtworkRow, detectors: list[Detector] | None, old: list[tuple[int, str, list[float]]],
          backbone: Backbone, style_variant: str) -> _Found | str:
    """Decode once, detect, crop and embed; or why the file cannot be read."""
    try:
        img = load_image(Path(row.path), max_side=DETECT_SIDE)
    except ImageError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    scale = img.rgb.shape[1] / max(row.width, 1)  # decoded pixels per original pixel (aspect kept)
    out = _Found()
    boxes: list[Sequence[float]] = []
    kinds: list[str] = []
    for d in detectors or []:
        found, scores = d.find(img.rgb)
        out.boxes[d.kind] = np.asarray(found, np.float32).reshape(-1, 4) / scale
        out.scores[d.kind] = np.asarray(scores, np.float32)
        boxes += out.boxes[d.kind].tolist()
        kinds += [d.kind] * len(scores)
    out.old_ids = [rid for rid, _, _ in old]
    boxes += [box for _, _, box in old]
    kinds += [kind for _, kind, _ in old]
    raw = _embed(img, boxes, kinds, scale, backbone, style_variant)
    start = 0
    for d in detectors or []:
        n = len(out.scores[d.kind])
        out.vectors[d.kind] = {f: m[start:start + n] for f, m in raw.items()}
        start += n
    out.old_vectors = {f: m[start:] for f, m in raw.items()}
    return out


def _embed(img: DecodedImage, boxes: Sequence[Sequence[float]], kinds: list[str], scale: float, backbone: Backbone,
           style_variant: str) -> dict[str, np.ndarray]:
    """Raw features (content, style, colour) of each box's crop; (0, d) arrays when there is none."""
    if not boxes:
        return {f: np.zeros((0, 1), np.float32) for f in FACETS}
    raw = embed_rgb(backbone, crops(img.rgb, boxes, kinds, scale), style_variant)
    return {f: raw[f] for f in FACETS}
