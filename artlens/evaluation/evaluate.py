"""Evaluation runs: how good is search on this collection, and which facet works best?

Every artwork that has the label(s) queries the rest of the collection (never itself), facet by
facet, and the rankings are scored with `artlens.evaluation.metrics`: single-label P@k and mAP, DeepArt's
graded multi-label protocol, and ALADIN's group retrieval.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from artlens.errors import InputError
from artlens.evaluation import metrics

# Up to this size every query ranks the whole collection, so mAP is exact; above it, the top
# TRUNCATED_K results are ranked and mAP is AP@TRUNCATED_K (relevant items further down count as missed).
FULL_RANKING_BELOW = 20_000
TRUNCATED_K = 1_000
SINGLE_KS = (1, 5, 10, 60)
GROUP_KS = (1, 5, 10)


@dataclass(frozen=True)
class RetrievalTask:
    """What to evaluate: label columns (relevance = same value), and optionally a group column."""

    labels: tuple[str, ...]
    group: str | None = None
    k: int = 60
    min_shared: int | None = None


def _column(meta: Sequence[Mapping[str, str]], name: str) -> np.ndarray:
    """A metadata column as integer codes, -1 where missing: the metrics compare ints vectorised
    (label strings in object arrays would be checked one Python object at a time)."""
    values = [m.get(name) or "" for m in meta]
    names, codes = np.unique(np.array(values, dtype=str), return_inverse=True)
    codes = codes.astype(np.int64)
    if len(names) and names[0] == "":
        codes -= 1  # "" sorts first: it becomes -1, the metrics' missing code
    return codes


def ranked_neighbours(mat: np.ndarray, queries: np.ndarray, depth: int, chunk: int = 256) -> np.ndarray:
    """(Q, depth) rows of `mat` most similar (inner product) to each query row, the query itself left out."""
    mat = np.ascontiguousarray(mat, dtype=np.float32)
    out = np.empty((len(queries), depth), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        rows = queries[start : start + chunk]
        sims = mat[rows] @ mat.T
        sims[np.arange(len(rows)), rows] = -np.inf
        if depth < sims.shape[1] - 1:
            part = np.argpartition(-sims, depth, axis=1)[:, :depth]
            order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
            out[start : start + len(rows)] = np.take_along_axis(part, order, axis=1)
        else:
            out[start : start + len(rows)] = np.argsort(-sims, axis=1, kind="stable")[:, :depth]
    return out


def evaluate_retrieval(
    matrices: Mapping[str, np.ndarray],
    meta: Sequence[Mapping[str, str]],
    task: RetrievalTask,
) -> dict[str, object]:
    """Score every facet's rankings. `matrices`: facet -> (N, d) L2-normalised vectors, row-aligned with `meta`."""
    n = len(meta)
    if n < 2:
        raise InputError("an evaluation needs at least two artworks")
    full = n <= FULL_RANKING_BELOW
    depth = n - 1 if full else min(n - 1, max(TRUNCATED_K, task.k))
    label_values = {name: _column(meta, name) for name in task.labels}
    has_any = np.zeros(n, dtype=bool)
    for values in label_values.values():
        has_any |= ~metrics.missing_mask(values)
    group_values = _column(meta, task.group) if task.group else None
    if group_values is not None:
        has_any |= ~metrics.missing_mask(group_values)
    queries = np.flatnonzero(has_any)
    if len(queries) == 0:
        raise InputError(f"no artwork has a value for {', '.join(task.labels + ((task.group,) if task.group else ()))}")
    ks = tuple(k for k in (*SINGLE_KS, task.k) if k <= depth)
    ks = tuple(sorted(set(ks)))
    try:
        results = {facet: _score_facet(np.asarray(mat), queries, depth, ks, full, label_values, group_values, task)
                   for facet, mat in matrices.items()}
    except metrics.NoQueryError as exc:
        raise InputError(f"nothing to evaluate: {exc} (each label value or group needs at least two artworks)") from None
    return {"artworks": n, "queries": int(len(queries)), "full_ranking": full, "depth": depth,
            "labels": list(task.labels), "group": task.group, "k": task.k, "facets": results}


def _score_facet(mat: np.ndarray, queries: np.ndarray, depth: int, ks: tuple[int, ...], full: bool,
                 label_values: Mapping[str, np.ndarray], group_values: np.ndarray | None, task: RetrievalTask) -> dict[str, object]:
    """One facet's scores for every task: per label, graded (several labels), group retrieval."""
    ranked = ranked_neighbours(mat, queries, depth)
    facet_out: dict[str, object] = {}
    for name, values in label_values.items():
        q = ~metrics.missing_mask(values[queries])
        if not q.any():
            continue
        scores = metrics.retrieval_scores(values[queries][q], values[ranked[q]], metrics.other_members(values)[queries][q], ks=ks)
        if not full:
            scores[f"mAP@{depth}"] = scores.pop("mAP")
        facet_out[name] = scores
    if len(task.labels) > 1:
        facet_out["graded"] = _graded(label_values, queries, ranked, task)
    if group_values is not None:
        mask = metrics.group_query_mask(group_values)[queries]
        group_ks = tuple(k for k in GROUP_KS if k <= depth)
        facet_out[f"group:{task.group}"] = metrics.group_precision(
            group_values[queries], group_values[ranked[:, : max(group_ks)]], ks=group_ks, query_mask=mask
        )
    return facet_out


def _graded(label_values: Mapping[str, np.ndarray], queries: np.ndarray, ranked: np.ndarray, task: RetrievalTask) -> dict[str, float]:
    """DeepArt: graded relevance = number of shared labels; relevant when >= min_shared."""
    all_labels = np.stack(list(label_values.values()), axis=1)        # (N, L)
    q_labels = all_labels[queries]                                    # (Q, L)
    shared = metrics.shared_label_counts(q_labels, all_labels[ranked[:, : task.k]])
    # Ideal ranking per query: shared counts with every other artwork.
    ideal = []
    for i, row in enumerate(queries):
        counts = metrics.shared_label_counts(q_labels[i : i + 1], all_labels[None, :, :])[0]
        ideal.append(np.delete(counts, row))
    scores = metrics.graded_retrieval_scores(shared, n_labels=len(label_values), min_shared=task.min_shared, k=task.k, ideal=ideal)
    need = task.min_shared or len(label_values) // 2 + 1
    n_rel = np.array([np.count_nonzero(row >= need) for row in ideal])
    # The best P@k any ranking could reach here: few relevant works per query caps it well below 1.
    scores[f"P@{task.k} ceiling"] = float(np.mean(np.minimum(n_rel[n_rel > 0], task.k) / task.k))
    scores["min_shared"] = float(need)
    return scores


def winners(result: Mapping[str, object], measure: str = "mAP") -> dict[str, tuple[str, float, float]]:
    """For each task, (best facet, its score, margin over the runner-up) on `measure` (P@1 for groups)."""
    facets: Mapping[str, Mapping[str, Mapping[str, float]]] = result["facets"]  # type: ignore[assignment]
    tasks = sorted({t for f in facets.values() for t in f})
    out = {}
    for t in tasks:
        key = "P@1" if t.startswith("group:") else (f"nDCG@{result['k']}" if t == "graded" else _map_key(facets, t, measure))
        scored = sorted(((f[t][key], name) for name, f in facets.items() if t in f), reverse=True)
        if scored:
            best, name = scored[0]
            margin = best - scored[1][0] if len(scored) > 1 else 0.0
            out[t] = (name, float(best), float(margin))
    return out


def _map_key(facets: Mapping[str, Mapping[str, Mapping[str, float]]], task: str, measure: str) -> str:
    any_scores = next(f[task] for f in facets.values() if task in f)
    return measure if measure in any_scores else next(k for k in any_scores if k.startswith("mAP"))


# -- labels ------------------------------------------------------------------------------------

POSITIVE_NAMES = ("1", "true", "yes", "positive")


def evaluate_labels(
    truth: Sequence[str | None],
    predicted: Sequence[str | None],
    scores: Sequence[Mapping[str, float] | None] | None = None,
    positive: str | None = None,
) -> dict[str, object]:
    """Predicted labels against true ones, for the items that have both.

    scores: per item, a score for each class (as written by a label head); they give top-3
    accuracy and, for a binary label, average precision and the precision-recall curve.
    positive: the positive class of a binary label (default: 1/true/yes if present, else the
    second class in sorted order).
    """
    keep = [i for i, (t, p) in enumerate(zip(truth, predicted)) if t not in (None, "") and p not in (None, "")]
    if not keep:
        raise InputError("no item has both a true and a predicted label")
    y_true = np.array([truth[i] for i in keep], dtype=object)
    y_pred = np.array([predicted[i] for i in keep], dtype=object)
    classes = sorted(set(y_true) | set(y_pred))
    report: dict[str, object] = {"items": len(keep), **metrics.classification_report(y_true, y_pred, labels=classes)}
    report["top1_accuracy"] = report["accuracy"]
    have_scores = scores is not None and all(scores[i] for i in keep)
    if have_scores:
        score_classes = sorted(set(classes) | {c for i in keep for c in scores[i]})  # type: ignore[index,union-attr]
        mat = np.array([[float(scores[i].get(c, -np.inf)) for c in score_classes] for i in keep])  # type: ignore[index,union-attr]
        y_idx = np.array([score_classes.index(t) for t in y_true])
        report["top3_accuracy"] = metrics.topk_accuracy(y_idx, mat, min(3, len(score_classes)))
    else:
        report["top3_accuracy"] = None  # needs per-class scores
    if len(classes) == 2:
        pos = positive or next((c for c in classes if str(c).lower() in POSITIVE_NAMES), classes[1])
        if pos not in classes:
            raise InputError(f"positive class {pos!r} is not one of {classes}")
        report["positive"] = pos
        if have_scores:
            y01 = (y_true == pos).astype(int)
            s = np.array([float(scores[i].get(pos, -np.inf)) for i in keep])  # type: ignore[index,union-attr]
            precision, recall, thresholds = metrics.precision_recall_curve(y01, s)
            report["average_precision"] = metrics.binary_average_precision(y01, s)
            report["pr_curve"] = {"precision": precision.tolist(), "recall": recall.tolist(), "thresholds": thresholds.tolist()}
    return report


def parse_scores_column(rows: Sequence[tuple[str, Mapping[str, str]]], column: str) -> list[dict[str, float] | None]:
    """Per (path, metadata) row, the JSON {class: score} of `column` (None where empty); InputError naming the file otherwise."""
    parsed: list[dict[str, float] | None] = []
    for path, meta in rows:
        try:
            value = json.loads(meta[column]) if meta.get(column) else None
            parsed.append({str(c): float(v) for c, v in value.items()} if isinstance(value, dict) else None)
        except (ValueError, TypeError, AttributeError):
            raise InputError(f"{path}: column {column} must hold JSON like {{\"oil\": 0.8, \"watercolor\": 0.2}}") from None
    return parsed


def save_pr_curve(report: dict[str, object], label: str, predicted: str, curve: Path) -> str:
    """Draw the precision-recall curve of a binary `evaluate_labels` report to `curve` (PNG); returns its path."""
    from artlens.evaluation.plots import precision_recall_png

    pr: Mapping[str, list[float]] = report["pr_curve"]  # type: ignore[assignment]
    title = f"{predicted} vs {label} (positive: {report['positive']})"
    return str(precision_recall_png(pr["precision"], pr["recall"], float(report["average_precision"]), title, Path(curve)))  # type: ignore[arg-type]


# -- boxes -------------------------------------------------------------------------------------


def read_truth_boxes(path: Path) -> tuple[dict[str, list[tuple[str, list[float], bool]]], list[str]]:
    """Ground truth CSV (`image`, `boxes_json` = [[class, xmin, ymin, xmax, ymax, difficult], ...]).

    The People-Art layout; boxes are PASCAL VOC pixel corners. Bad rows are reported and skipped.
    """
    truth: dict[str, list[tuple[str, list[float], bool]]] = {}
    problems: list[str] = []
    for line, row in _csv_rows(path, ("image", "boxes_json")):
        try:
            boxes = json.loads(row["boxes_json"] or "[]")
            truth[row["image"]] = [(str(b[0]), [float(v) for v in b[1:5]], bool(int(b[5])) if len(b) > 5 else False) for b in boxes]
        except (ValueError, TypeError, IndexError) as exc:
            problems.append(f"{path.name} line {line}: bad boxes_json ({exc}); row skipped")
    return truth, problems


def read_predicted_boxes(path: Path) -> tuple[list[tuple[str, str, float, list[float]]], list[str]]:
    """Predictions CSV (`image`, `class`, `score`, `xmin`, `ymin`, `xmax`, `ymax`). Bad rows are reported and skipped."""
    preds: list[tuple[str, str, float, list[float]]] = []
    problems: list[str] = []
    for line, row in _csv_rows(path, ("image", "class", "score", "xmin", "ymin", "xmax", "ymax")):
        try:
            preds.append((row["image"], row["class"], float(row["score"]), [float(row[c]) for c in ("xmin", "ymin", "xmax", "ymax")]))
        except (ValueError, TypeError) as exc:
            problems.append(f"{path.name} line {line}: {exc}; row skipped")
    return preds, problems


def evaluate_boxes(truth_path: Path, predictions_path: Path) -> dict[str, object]:
    """Detection AP at IoU 0.5 and 0.75 (PASCAL VOC rules, difficult boxes ignored), per class and mean."""
    truth, problems = read_truth_boxes(truth_path)
    preds, more = read_predicted_boxes(predictions_path)
    out: dict[str, object] = {"images": len(truth), "predictions": len(preds), "problems": problems + more}
    for threshold in (0.5, 0.75):
        per_class = metrics.detection_ap(truth, preds, iou_threshold=threshold)
        finite = {str(c): float(v) for c, v in per_class.items() if not np.isnan(v)}
        out[f"AP@{threshold}"] = {"per_class": finite, "mean": metrics.mean_ap(per_class) if finite else None}
    return out


def _csv_rows(path: Path, required: Sequence[str]):
    import csv

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
        yield from enumerate(reader, start=2)
