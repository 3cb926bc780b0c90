"""Person detection in artworks: a TTFNet-style detector on the art-tuned EfficientNet-Lite0, run by ONNX Runtime.

The single graph ``artlens/models/people/person.onnx`` (made by ``training/train_person_detector.py``,
trained on People-Art train) takes uint8 RGB (N, S, S, 3) and returns, per stride-8 cell, a person
``heatmap`` (after sigmoid) and the distances from the cell's centre to the four sides of the person's box
(``ltrb``, in input pixels). This module squashes the image to S x S, runs it and its mirror image, averages
the two sets of maps (flip test-time augmentation), takes the heatmap's peaks (3x3 local maxima) as people,
lets the cells around each vote on its box, and maps the boxes back to the input image's pixels. No PyTorch.

Usage::

    detector = PersonDetector()
    people = detector.detect(rgb)                    # rgb: (H, W, 3) uint8; grayscale / RGBA accepted
    people.boxes, people.scores                      # best first, scores >= detector.score_floor
    n = int((people.scores >= detector.count_threshold).sum())   # how many people
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from artlens.evaluation.metrics import iou_matrix
from artlens.features.faces import as_rgb, nms

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["MODEL_PATH", "People", "PersonDetector", "decode", "fuse_flip"]

MODEL_PATH = pathlib.Path(__file__).resolve().parents[1] / "models" / "people" / "person.onnx"
META_KEY = "artlens"
# Lowest score returned: low enough for AP (the PR curve's tail), high enough to keep lists short.
SCORE_FLOOR = 0.05
TOP_K = 100
NMS_IOU = 0.5  # boxes overlapping a better one this much are the same person (decode)
# Box voting (decode): every cell regresses a box, so a kept box becomes the mean of the boxes of the cells
# overlapping it this much, weighted by heat ** VOTE_POWER. Chosen on People-Art train works (IoU 0.5/0.6/0.7,
# powers 1/2): AP@0.5 0.638 -> 0.651, AP@0.75 0.143 -> 0.170 there.
VOTE_IOU = 0.6
VOTE_POWER = 2
# A kept box's score is its peak's heat times sqrt(1 - exp(-support / SUPPORT_SCALE)), support being the summed
# heat of its voters: a person is a blob of confident cells agreeing on one box, a false peak often a lone
# cell. Chosen on People-Art train works among powers of the support and saturating forms (scales 1/2/4,
# square root or not): AP@0.5 0.651 -> 0.683, AP@0.75 0.170 -> 0.193 there; this form keeps scores in [0, 1].
SUPPORT_SCALE = 4.0
# Part of `PersonDetector.version`: bumped when decoding returns other boxes or scores for the same maps, so
# that `artlens detect` finds people again in works detected before (2: box voting; 3: support in the score).
DECODING = 3


@dataclass(frozen=True)
class People:
    """Detected people, highest score first, in the input image's pixel coordinates."""

    boxes: np.ndarray  # (n, 4) float32: x0, y0, x1, y1
    scores: np.ndarray  # (n,) float32 in [0, 1]

    def __len__(self) -> int:
        return len(self.scores)


def _empty() -> People:
    return People(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))


def fuse_flip(heat: np.ndarray, ltrb: np.ndarray, heat_mirrored: np.ndarray,
              ltrb_mirrored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average one image's maps with those of its mirror image (flip test-time augmentation).

    heat (G, G) and ltrb (4, G, G) come from the image, the ``*_mirrored`` maps from the image flipped
    left-right. The mirrored maps are flipped back, and their left/right distances swapped, so each cell
    averages two views of the same place. Cell centres are symmetric ((i + 0.5) * stride), so no shift.
    """
    back_heat = heat_mirrored[:, ::-1]
    back = ltrb_mirrored[:, :, ::-1][[2, 1, 0, 3]]  # mirrored "left" is the image's "right"
    return (heat + back_heat) / 2, (ltrb + back) / 2


def decode(heat: np.ndarray, ltrb: np.ndarray, stride: int, top_k: int = TOP_K,
           threshold: float = SCORE_FLOOR) -> tuple[np.ndarray, np.ndarray]:
    """Boxes and scores of one image from its maps: heat (G, G) in [0, 1], ltrb (4, G, G) in pixels.

    A person is a heatmap peak (a cell at least as high as its 3x3 neighbourhood) scoring >= threshold;
    its box is the cell centre ((i + 0.5) * stride) minus/plus the predicted side distances. Two peaks
    of one person (a cell each side of its middle) give two near-identical boxes, which peak finding alone
    (CenterNet's rule) keeps: boxes overlapping a better one at IoU >= NMS_IOU are dropped, the textbook
    value, checked on People-Art train works (counts exactly right 0.49 -> 0.62). Each kept box is then
    the vote of the cells around it (`VOTE_IOU`), and its score weighs in how many confident cells voted
    (`SUPPORT_SCALE`). Returns (boxes (n, 4), scores (n,)) in network pixels, best first, scores >= threshold.
    """
    h = heat.astype(np.float32)
    gh, gw = h.shape
    padded = np.pad(h, 1, constant_values=-np.inf)
    neighbourhood = np.max([padded[dy:dy + gh, dx:dx + gw] for dy in range(3) for dx in range(3)], axis=0)
    cells = _cell_boxes(ltrb, stride)
    peaks = np.flatnonzero((h >= neighbourhood) & (h >= threshold))
    peaks = peaks[np.argsort(-h.flat[peaks], kind="stable")][:top_k]
    boxes, scores = cells[peaks], h.flat[peaks].astype(np.float32)
    keep = nms(boxes, scores, NMS_IOU)
    voters = h.ravel() >= threshold
    boxes, support = _vote(boxes[keep], cells[voters], h.ravel()[voters])
    scores = (scores[keep] * np.sqrt(1.0 - np.exp(-support / SUPPORT_SCALE))).astype(np.float32)
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] >= threshold]
    return boxes[order], scores[order]


def _cell_boxes(ltrb: np.ndarray, stride: int) -> np.ndarray:
    """The box every cell regresses, (G * G, 4) in network pixels, row-major like the heatmap."""
    _, gh, gw = ltrb.shape
    ys, xs = np.mgrid[0:gh, 0:gw]
    cx, cy = (xs + 0.5) * stride, (ys + 0.5) * stride
    return np.stack([cx - ltrb[0], cy - ltrb[1], cx + ltrb[2], cy + ltrb[3]], axis=-1).reshape(-1, 4).astype(np.float32)


def _vote(boxes: np.ndarray, cell_boxes: np.ndarray, heat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each box replaced by the heat ** VOTE_POWER weighted mean of the cell boxes overlapping it at IoU >=
    VOTE_IOU (its own cell among them, so a box with no other voter stays as it is); and each box's support,
    the summed heat of its voters."""
    if not len(boxes) or not len(cell_boxes):
        return boxes, np.zeros(len(boxes), np.float32)
    voted = iou_matrix(boxes, cell_boxes, inclusive=False) >= VOTE_IOU  # network pixels: continuous corners
    weight = np.where(voted, heat[None, :].astype(np.float32) ** VOTE_POWER, 0.0)
    total = weight.sum(axis=1, keepdims=True)
    support = np.where(voted, heat[None, :], 0.0).sum(axis=1).astype(np.float32)
    return np.where(total > 0, weight @ cell_boxes / np.maximum(total, 1e-12), boxes).astype(np.float32), support


class PersonDetector:
    """Finds people in artworks; the ONNX session is created once, `detect` may be called on any image.

    Attributes read from the model's metadata: `version` (e.g. "people-v1-2026-11-30-e42.d3": the model's, then
    the decoding's), `input_size` (the square side images are squashed to), `stride` and `count_threshold`:
    the score above which a detection counts as a person when counting (max F1 at IoU 0.5 on People-Art
    *train*, never val).
    `flip` runs the mirror image too and averages the maps (2x the time, steadier boxes).
    """

    def __init__(self, threads: int = 1, flip: bool = True, score_floor: float = SCORE_FLOOR,
                 top_k: int = TOP_K, model: pathlib.Path = MODEL_PATH) -> None:
        if not 0.0 <= score_floor <= 1.0:
            raise ValueError(f"score_floor must be in [0, 1], got {score_floor}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.flip, self.score_floor, self.top_k = flip, float(score_floor), int(top_k)
        self._session = _session(pathlib.Path(model), threads)
        meta = json.loads(self._session.get_modelmeta().custom_metadata_map[META_KEY])
        self.version: str = f"{meta['version']}.d{DECODING}"  # the model's, and how its maps are decoded
        self.input_size: int = int(meta["input_size"])
        self.stride: int = int(meta["stride"])
        self.count_threshold: float = float(meta.get("count_threshold", 0.3))

    def detect(self, rgb: np.ndarray) -> People:
        """People in an (H, W, 3) uint8 RGB image (grayscale and RGBA accepted), best first."""
        image = as_rgb(rgb)
        height, width = image.shape[:2]
        if min(height, width) == 0:
            return _empty()
        from PIL import Image

        s = self.input_size
        # Squashed, not letterboxed: training saw squashed works too (with aspect jitter).
        x = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((s, s), Image.Resampling.BILINEAR),
                       dtype=np.uint8)[None]
        if self.flip:
            x = np.concatenate([x, x[:, :, ::-1]])
        heat, ltrb = self._session.run(None, {"image": np.ascontiguousarray(x)})
        h, d = heat[0, 0], ltrb[0]
        if self.flip:
            h, d = fuse_flip(h, d, heat[1, 0], ltrb[1])
        boxes, scores = decode(h, d, self.stride, self.top_k, self.score_floor)
        boxes *= np.array([width / s, height / s, width / s, height / s], np.float32)
        np.clip(boxes, 0, np.array([width, height, width, height], np.float32), out=boxes)
        return People(boxes, scores)

    def count(self, rgb: np.ndarray) -> int:
        """How many people: detections scoring at least `count_threshold`."""
        return int((self.detect(rgb).scores >= self.count_threshold).sum())


def _session(path: pathlib.Path, threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
