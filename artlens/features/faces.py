"""Face detection in artworks: MTCNN (Zhang et al. 2016) run by ONNX Runtime, in numpy (no PyTorch).

The three nets (``pnet.onnx``, ``rnet.onnx``, ``onet.onnx`` in ``artlens/models/faces/``) are made by
``training/export_faces.py`` from the weights in the MIT-licensed ``facenet-pytorch`` wheel. This module
follows facenet-pytorch's ``detect_face`` step for step (same normalisation, "area" resampling, box
generation, NMS thresholds and regressions), so it finds the faces that library finds:

1. an image pyramid (factor 0.709) from ``min_face_size`` down to 12 px faces, PNet on every scale;
2. NMS per scale (IoU 0.5) and across scales (0.7), box regression, boxes made square;
3. RNet on 24x24 crops (threshold 0.7), NMS 0.7, regression;
4. ONet on 48x48 crops (threshold 0.7) with five landmarks, regression, NMS 0.7 by the smaller area.

Usage::

    faces = FaceDetector().detect(rgb)   # rgb: (H, W, 3) uint8
    faces.boxes, faces.scores, faces.landmarks
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["Faces", "FaceDetector", "MODEL_DIR"]

MODEL_DIR = pathlib.Path(__file__).resolve().parents[1] / "models" / "faces"
META_KEY = "artlens"
# facenet-pytorch's pixel normalisation: (x - 127.5) / 128.
NORM_OFFSET = 127.5
NORM_SCALE = 0.0078125
PYRAMID_FACTOR = 0.709
THRESHOLDS = (0.6, 0.7, 0.7)
PNET_CELL, PNET_STRIDE = 12, 2
RNET_SIDE, ONET_SIDE = 24, 48
# Crops per RNet/ONet run: bounds memory when a busy painting yields thousands of proposals.
BATCH = 512


@dataclass(frozen=True)
class Faces:
    """Detected faces, highest score first, in the input image's pixel coordinates."""

    boxes: np.ndarray  # (n, 4) float32: x0, y0, x1, y1
    scores: np.ndarray  # (n,) float32 in [0, 1]
    landmarks: np.ndarray  # (n, 5, 2) float32 (x, y): left eye, right eye, nose, mouth left, mouth right

    def __len__(self) -> int:
        return len(self.scores)


def _empty() -> Faces:
    return Faces(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))


# --- image handling ---------------------------------------------------------------------------------


def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 from RGB, RGBA or grayscale uint8; ValueError for anything else."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 numpy image, got {getattr(image, 'dtype', type(image).__name__)}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[:, :, :3]
    raise ValueError(f"expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image, got shape {image.shape}")


def integral(image: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (C, H + 1, W + 1) float64 summed-area table: any rectangle's sum in four look-ups."""
    table = np.zeros((image.shape[0], image.shape[1] + 1, image.shape[2] + 1), np.float64)
    np.cumsum(np.cumsum(image, axis=1, dtype=np.float64), axis=2, out=table[:, 1:, 1:])
    return table


def _cells(start: int | np.ndarray, n: int | np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """torch's interpolate(mode="area") cells: output i averages inputs [floor(i*n/size), ceil((i+1)*n/size)).
    start and n: numbers, or (k, 1) columns of them for k crops at once ((k, size) cells)."""
    i = np.arange(size)
    return start + (i * n) // size, start + ((i + 1) * n + size - 1) // size


def area_crop(table: np.ndarray, y0: int, y1: int, x0: int, x1: int, height: int, width: int) -> np.ndarray:
    """Rows y0:y1, columns x0:x1 of the image behind `table`, resampled to (C, height, width) float32 by
    area averaging (facenet-pytorch's `imresample`), in O(output) whatever the crop's size."""
    ys, ye = _cells(y0, y1 - y0, height)
    xs, xe = _cells(x0, x1 - x0, width)
    return _cell_means(table, ys[:, None], ye[:, None], xs[None, :], xe[None, :])


def _cell_means(table: np.ndarray, ys: np.ndarray, ye: np.ndarray, xs: np.ndarray, xe: np.ndarray) -> np.ndarray:
    """(C, ...) float32 means of the image behind `table` over the cells [ys, ye) x [xs, xe), four look-ups
    each; the cell arrays broadcast against each other (one crop's rows and columns, or many crops')."""
    total = table[:, ye, xe] - table[:, ys, xe] - table[:, ye, xs] + table[:, ys, xs]
    return (total / ((ye - ys) * (xe - xs))).astype(np.float32)


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """`image` area-downscaled (Pillow's BOX filter, in C) so its longest side is at most `max_side`,
    aspect ratio kept (sizes rounded: callers map back per axis)."""
    h, w = image.shape[:2]
    factor = max_side / max(h, w)
    if factor >= 1.0:
        return image
    from PIL import Image

    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(size, Image.Resampling.BOX))


def _normalise(x: np.ndarray) -> np.ndarray:
    return ((x - NORM_OFFSET) * NORM_SCALE).astype(np.float32)


# --- boxes ------------------------------------------------------------------------------------------


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, by_min: bool = False) -> np.ndarray:
    """Indices kept by greedy NMS, best first. IoU as torchvision's (no +1), or, with `by_min`,
    overlap / smaller area with +1 pixel sizes (facenet-pytorch's numpy "Min" for the last stage)."""
    one = 1.0 if by_min else 0.0
    x0, y0, x1, y1 = boxes.T
    area = (x1 - x0 + one) * (y1 - y0 + one)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest]) + one)
        h = np.maximum(0.0, np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest]) + one)
        inter = w * h
        overlap = inter / (np.minimum(area[i], area[rest]) if by_min else area[i] + area[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre (`rerec`)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    return out


def regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply the nets' box offsets, relative to the (+1 pixel) box size (`bbreg`)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, :4] = boxes[:, :4] + reg * np.stack([w, h, w, h], axis=1)
    return out


def proposals(reg: np.ndarray, prob: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """(n, 9) boxes [x0, y0, x1, y1, score, 4 offsets] from one PNet output map (`generateBoundingBox`)."""
    ys, xs = np.nonzero(prob >= threshold)
    cells = np.stack([xs, ys], axis=1).astype(np.float32)
    q0 = np.floor((PNET_STRIDE * cells + 1) / scale)
    q1 = np.floor((PNET_STRIDE * cells + PNET_CELL) / scale)
    return np.concatenate([q0, q1, prob[ys, xs][:, None], reg[:, ys, xs].T], axis=1)


def crops(table: np.ndarray, boxes: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised `side`x`side` crops of `boxes` (clipped to the image, as `pad` does) from the image's
    summed-area table, and the mask of boxes that overlap the image at all (the others yield no crop)."""
    h, w = table.shape[1] - 1, table.shape[2] - 1
    b = np.trunc(boxes[:, :4]).astype(np.int64)
    x0, y0 = np.maximum(b[:, 0], 1) - 1, np.maximum(b[:, 1], 1) - 1
    x1, y1 = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    valid = (x1 > x0) & (y1 > y0)
    # Every box at once, as `area_crop` does one, on (boxes, side) cell arrays. A Python call a box (~200 boxes a
    # work) held the interpreter lock: 26.8 -> 31.9 images/s on 2 workers (docs/benchmarks.md).
    y0, y1, x0, x1 = y0[valid, None], y1[valid, None], x0[valid, None], x1[valid, None]
    ys, ye = _cells(y0, y1 - y0, side)
    xs, xe = _cells(x0, x1 - x0, side)
    data = _cell_means(table, ys[:, :, None], ye[:, :, None], xs[:, None, :], xe[:, None, :])  # (C, boxes, side, side)
    return _normalise(data.transpose(1, 0, 2, 3)), valid


# --- the detector -----------------------------------------------------------------------------------


def pyramid(height: int, width: int, min_face_size: float) -> list[float]:
    """Scales at which PNet's 12 px window covers faces from `min_face_size` up to the short side."""
    scale = 12.0 / min_face_size
    short = min(height, width) * scale
    scales = []
    while short >= 12:
        scales.append(scale)
        scale *= PYRAMID_FACTOR
        short *= PYRAMID_FACTOR
    return scales


class FaceDetector:
    """MTCNN with its three ONNX sessions created once; `detect` may be called on any number of images.

    `max_side`: larger images are area-downscaled so their longest side is `max_side` (boxes are mapped
    back); `min_face_size` is in pixels of that working image (20 px of 1024 finds faces ~2 % of the side).
    """

    def __init__(self, min_face_size: float = 20.0, thresholds: tuple[float, float, float] = THRESHOLDS,
                 max_side: int = 1024, threads: int = 1, model_dir: pathlib.Path = MODEL_DIR) -> None:
        if min_face_size < 12:
            raise ValueError(f"min_face_size must be >= 12 (PNet's window), got {min_face_size}")
        if max_side < 12:
            raise ValueError(f"max_side must be >= 12, got {max_side}")
        self.min_face_size = float(min_face_size)
        self.thresholds = thresholds
        self.max_side = max_side
        self._pnet, self._rnet, self._onet = (_session(model_dir / f"{n}.onnx", threads) for n in ("pnet", "rnet", "onet"))

    def detect(self, rgb: np.ndarray) -> Faces:
        """Faces in an (H, W, 3) uint8 RGB image (grayscale and RGBA accepted), best first."""
        image = as_rgb(rgb)
        h, w = image.shape[:2]
        if min(h, w) == 0:
            return _empty()
        chw = shrink(image, self.max_side).transpose(2, 0, 1)
        faces = self._detect(chw)
        sy, sx = h / chw.shape[1], w / chw.shape[2]
        boxes = faces.boxes * np.array([sx, sy, sx, sy], np.float32)
        landmarks = faces.landmarks * np.array([sx, sy], np.float32)
        return Faces(boxes.astype(np.float32), faces.scores, landmarks.astype(np.float32))

    def _detect(self, image: np.ndarray) -> Faces:
        table = integral(image)  # once: every pyramid level and crop is read from it
        boxes = self._stage1(table)
        if len(boxes):
            boxes = self._stage2(table, boxes)
        if not len(boxes):
            return _empty()
        return self._stage3(table, boxes)

    def _stage1(self, table: np.ndarray) -> np.ndarray:
        """PNet over the pyramid: square candidate boxes (n, 5) [x0, y0, x1, y1, score]."""
        h, w = table.shape[1] - 1, table.shape[2] - 1
        found = []
        for scale in pyramid(h, w, self.min_face_size):
            data = _normalise(area_crop(table, 0, h, 0, w, int(h * scale + 1), int(w * scale + 1)))[None]
            reg, prob = self._pnet.run(None, {"image": data})
            boxes = proposals(reg[0], prob[0, 1], scale, self.thresholds[0])
            found.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
        boxes = np.concatenate(found) if found else np.zeros((0, 9), np.float32)
        boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
        # PNet's offsets are relative to the box size without the +1 (facenet-pytorch's first stage).
        size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)
        return square(np.concatenate([boxes[:, :4] + boxes[:, 5:9] * size, boxes[:, 4:5]], axis=1))

    def _stage2(self, table: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """RNet on 24x24 crops: the candidates that pass, regressed and squared."""
        data, valid = crops(table, boxes, RNET_SIDE)
        if not len(data):
            return np.zeros((0, 5), np.float32)
        reg, prob = _run(self._rnet, data)
        boxes = boxes[valid]
        ok = prob[:, 1] > self.thresholds[1]
        boxes = np.concatenate([boxes[ok, :4], prob[ok, 1:2]], axis=1)
        keep = nms(boxes[:, :4], boxes[:, 4], 0.7)
        return square(regress(boxes[keep], reg[ok][keep]))

    def _stage3(self, table: np.ndarray, boxes: np.ndarray) -> Faces:
        """ONet on 48x48 crops: final boxes, scores and landmarks."""
        data, valid = crops(table, boxes, ONET_SIDE)
        if not len(data):
            return _empty()
        reg, marks, prob = _run(self._onet, data)
        ok = prob[:, 1] > self.thresholds[2]
        boxes = np.concatenate([boxes[valid][ok, :4], prob[ok, 1:2]], axis=1)
        marks, reg = marks[ok], reg[ok]
        # Landmarks are relative to the ONet crop (before regression), 1-based like the box.
        w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        points = np.stack([w * marks[:, :5] + boxes[:, 0:1] - 1, h * marks[:, 5:] + boxes[:, 1:2] - 1], axis=2)
        boxes = regress(boxes, reg)
        keep = nms(boxes[:, :4], boxes[:, 4], 0.7, by_min=True)
        return Faces(boxes[keep, :4].astype(np.float32), boxes[keep, 4].astype(np.float32), points[keep].astype(np.float32))


def _run(session: onnxruntime.InferenceSession, data: np.ndarray) -> list[np.ndarray]:
    """Run `session` in chunks of BATCH crops and join the outputs."""
    parts = [session.run(None, {"image": data[i:i + BATCH]}) for i in range(0, len(data), BATCH)]
    return [np.concatenate(out) for out in zip(*parts, strict=True)]


def _session(path: pathlib.Path, threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads  # one image's nets are small: callers parallelise over images
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
