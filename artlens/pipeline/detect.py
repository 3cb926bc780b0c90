"""Find regions in every artwork of a collection: faces now (MTCNN, artlens.features.faces).

Each artwork's file is decoded again at up to DETECT_SIDE px (faces in a painting are small) and the
boxes are stored in the original image's pixel coordinates. Batches commit one by one and record which
artworks were looked at, so an interrupted run continues where it stopped and a second run does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from artlens.errors import ImageError
from artlens.features.faces import FaceDetector
from artlens.features.images import load_image
from artlens.machine import usable_cores
from artlens.store.database import ArtworkRow, Catalog

FACE_MODEL = "mtcnn-facenet-2.6.0"  # what regions record: the weights of training/export_faces.py
DETECT_SIDE = 1024  # the detector's own working size: larger files are decoded down to it
BATCH = 32


@dataclass
class DetectResult:
    looked_at: int = 0  # artworks detected by this run
    faces: int = 0  # faces they hold
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why): left for the next run


def detect_faces(store: Catalog, progress: Callable[[int, int], None] | None = None) -> DetectResult:
    """Detect faces in every artwork no run has looked at yet (see module doc)."""
    todo = store.undetected_ids("face", FACE_MODEL)
    rows = store.artworks(todo)
    result = DetectResult()
    if progress:
        progress(0, len(todo))
    # One detector for all workers, as ingest shares its backbone: ONNX Runtime sessions may run from
    # several threads at once, each run on its caller's thread (one intra-op thread).
    detector = FaceDetector()
    with ThreadPoolExecutor(max_workers=usable_cores(), thread_name_prefix="artlens-detect") as pool:
        for lo in range(0, len(todo), BATCH):
            batch = [rows[i] for i in todo[lo:lo + BATCH] if i in rows]
            found = list(pool.map(lambda row: _faces_of(row, detector), batch))
            good = [(row.id, boxes, scores) for row, (boxes, scores, why) in zip(batch, found) if why is None]
            result.unreadable += [(row.path, why) for row, (_, _, why) in zip(batch, found) if why is not None]
            result.faces += store.write_detections("face", FACE_MODEL, good)
            result.looked_at += len(good)
            if progress:
                progress(min(lo + BATCH, len(todo)), len(todo))
    return result


def _faces_of(row: ArtworkRow, detector: FaceDetector) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(boxes in original pixels, scores, None), or empty arrays and why the file cannot be read."""
    try:
        img = load_image(Path(row.path), max_side=DETECT_SIDE)
    except ImageError as exc:
        return np.zeros((0, 4)), np.zeros(0), str(exc)
    except OSError as exc:
        return np.zeros((0, 4)), np.zeros(0), f"cannot be read ({exc.strerror or exc})"
    faces = detector.detect(img.rgb)
    h, w = img.rgb.shape[:2]
    scale = np.array([row.width / w, row.height / h, row.width / w, row.height / h], np.float32)
    return faces.boxes * scale, faces.scores, None
