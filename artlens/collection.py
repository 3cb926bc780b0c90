"""A collection on disk and everything you can do with it: the Python API behind the CLI.

    from artlens import Collection
    col = Collection.create("my-collection")                 # or Collection.open(...)
    col.add(["scans/"], metadata="scans/labels.csv")
    for r in col.search(images=["query.jpg"], k=5):
        print(r.path, r.score, r.scores, r.why)

A collection is a directory: `artlens.db` (SQLite: catalog, raw features, thumbnails, failures)
and `vectors/` (fitted transforms, one matrix and one FAISS index per facet). Copying the
directory copies the collection.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from artlens.store import catalog
from artlens.evaluation import evaluate
from artlens.pipeline import ingest
from artlens.retrieval import search
from artlens.store import vectors
from artlens.features.backbone import BACKBONES, Backbone
from artlens.features.embed import WORKING_SIDE, embed_rgb, embed_views, raw_dims
from artlens.errors import CollectionError, InputError
from artlens.features.facets import DEFAULT_WEIGHTS, STYLE_VARIANTS
from artlens.features.images import ImageError, load_image

if TYPE_CHECKING:
    from artlens.learn.style_space import StyleSpace

DB_FILE = "artlens.db"
VECTORS_DIR = "vectors"
MODELS_DIR = "models"
LEARNED_STYLE = vectors.LEARNED_STYLE


@dataclass(frozen=True)
class SearchResult:
    id: int
    path: str
    score: float
    scores: dict[str, float]
    metadata: dict[str, str]
    why: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "score": round(self.score, 4), "scores": self.scores,
                "metadata": self.metadata, "why": self.why}


def parse_where(conditions: Iterable[str | tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """'style=Baroque' / 'genre!=portrait' -> (column, op, value) triples."""
    out: list[tuple[str, str, str]] = []
    for c in conditions:
        if isinstance(c, tuple):
            out.append(c)
            continue
        if "!=" in c:
            column, value = c.split("!=", 1)
            op = "!="
        elif "=" in c:
            column, value = c.split("=", 1)
            op = "="
        else:
            raise InputError(f"bad filter {c!r}: expected COLUMN=VALUE or COLUMN!=VALUE")
        if not column.strip():
            raise InputError(f"bad filter {c!r}: the column name is empty")
        out.append((column.strip(), op, value.strip()))
    return out


class Collection:
    """An ArtLens collection directory. Open it with `Collection.open` or `Collection.create`."""

    def __init__(self, directory: Path, engine: Any) -> None:
        self.directory = directory
        self._engine = engine
        with engine.connect() as conn:
            self.backbone_name: str = catalog.get_setting(conn, "backbone")
            self.style_variant: str = catalog.get_setting(conn, "style_variant")
        self._backbone: Backbone | None = None
        self._vectors: vectors.FacetVectors | None = None

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: str | Path, backbone: str = "lite0", style: str = "adain") -> "Collection":
        """Open the collection at `directory`, creating it (with this backbone and style variant) if needed."""
        directory = Path(directory).expanduser()
        if backbone not in BACKBONES:
            raise InputError(f"unknown backbone {backbone!r}: choose one of {', '.join(BACKBONES)}")
        if style not in STYLE_VARIANTS:
            raise InputError(f"unknown style variant {style!r}: choose one of {', '.join(STYLE_VARIANTS)}")
        if directory.exists() and not directory.is_dir():
            raise CollectionError(f"{directory} is a file, not a collection directory")
        if directory.exists() and any(directory.iterdir()) and not (directory / DB_FILE).exists():
            raise CollectionError(f"{directory} is a folder that is not an ArtLens collection; choose a new or empty folder")
        directory.mkdir(parents=True, exist_ok=True)
        engine = catalog.open_engine(directory / DB_FILE)
        with engine.begin() as conn:
            have = (catalog.get_setting(conn, "backbone"), catalog.get_setting(conn, "style_variant"))
            if have == (None, None):
                catalog.set_setting(conn, "backbone", backbone)
                catalog.set_setting(conn, "style_variant", style)
            elif have != (backbone, style):
                raise CollectionError(
                    f"{directory} was made with backbone {have[0]} and style {have[1]}; "
                    f"it cannot be extended with backbone {backbone} and style {style}"
                )
        return cls(directory, engine)

    @classmethod
    def open(cls, directory: str | Path) -> "Collection":
        """Open an existing collection."""
        directory = Path(directory).expanduser()
        if not (directory / DB_FILE).is_file():
            raise CollectionError(f"{directory} is not an ArtLens collection (no {DB_FILE}); create it with `artlens add`")
        return cls(directory, catalog.open_engine(directory / DB_FILE))

    @property
    def engine(self) -> Any:
        """The catalog's SQLAlchemy engine, for queries with `artlens.store.catalog` (read-only use)."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building ----------------------------------------------------------------------------

    @property
    def backbone(self) -> Backbone:
        if self._backbone is None:
            # One model thread: ingest runs one worker per core, and a single query is fast enough.
            self._backbone = Backbone(self.backbone_name, threads=1)
        return self._backbone

    def add(
        self,
        paths: Sequence[str | Path],
        metadata: str | Path | None = None,
        progress: Callable[[int, int], None] | None = None,
        batch_size: int = ingest.BATCH_SIZE,
    ) -> ingest.AddReport:
        """Add every image under `paths` (recursively), with metadata from a CSV, then rebuild the vectors.

        Safe to interrupt and to repeat: committed batches are kept, unchanged files are skipped.
        """
        files, ignored = ingest.scan([Path(p) for p in paths])
        meta, problems = ingest.read_metadata(Path(metadata)) if metadata else ({}, [])
        report = ingest.AddReport(ignored=ignored, metadata_problems=problems)
        try:
            ingest.add_files(self._engine, self.backbone, self.style_variant, files, meta, batch_size, progress, report)
        except KeyboardInterrupt:
            report.interrupted = True
            raise
        if self.is_stale():
            self.build()
        return report

    def is_stale(self) -> bool:
        """True when the catalog changed since the vectors were last built."""
        with self._engine.connect() as conn:
            version = catalog.catalog_version(conn)
        return vectors.built_version(self.directory / VECTORS_DIR) != version

    def build(self) -> vectors.FacetVectors:
        """Refit the facet transforms on the whole collection and rebuild every index."""
        dims = raw_dims(self.backbone, self.style_variant)
        space = self.style_space()
        spaces = {LEARNED_STYLE: space} if space is not None and space.fits(dims) else {}
        self._vectors = vectors.build(self._engine, self.directory / VECTORS_DIR, dims, spaces)
        return self._vectors

    def style_space(self) -> StyleSpace | None:
        """The learned style space in use: the collection's own (`learn_style`), else the default one
        shipped for this backbone, else None."""
        from artlens.learn.style_space import StyleSpace, default_style_space

        own = self.directory / MODELS_DIR / f"{LEARNED_STYLE}.npz"
        if own.exists():
            return StyleSpace.load(own)
        return default_style_space(self.backbone_name, self.style_variant)

    def learn_style(
        self,
        group: str,
        loss: str = "contrastive",
        epochs: int | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Train the collection's own `style_learned` facet so that works of one `group` (artist,
        series, project) lie close together; rebuilds the vectors with it and returns the training report."""
        from artlens.learn.style_space import LOSSES, STYLE_SPACE_INPUTS, train_style_space

        if loss not in LOSSES:
            raise InputError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
        if epochs is not None and epochs < 1:
            raise InputError("epochs must be at least 1")
        with self._engine.connect() as conn:
            _require_columns(conn, [group])
        ids, raw = self._raw(STYLE_SPACE_INPUTS)
        with self._engine.connect() as conn:
            rows = catalog.artworks_by_id(conn, ids)
        # Works without a group still help: the trainer uses them as negatives only.
        groups = [rows[int(i)].meta.get(group) or None for i in ids]
        options: dict[str, Any] = {"loss": loss, "progress": progress, "inputs": STYLE_SPACE_INPUTS}
        if epochs is not None:
            options["epochs"] = epochs
        try:
            space, report = train_style_space(raw, groups, **options)
        except ValueError as exc:
            raise InputError(f"cannot learn a style space from {group!r}: {exc}") from None
        space.meta.update({"group": group, "backbone": self.backbone_name, "style_variant": self.style_variant,
                           "trained_on": f"this collection ({len(ids)} artworks), groups from column {group!r}"})
        (self.directory / MODELS_DIR).mkdir(exist_ok=True)
        space.save(self.directory / MODELS_DIR / f"{LEARNED_STYLE}.npz")
        self.build()
        return report

    @property
    def vectors(self) -> vectors.FacetVectors:
        if self._vectors is None:
            if vectors.built_version(self.directory / VECTORS_DIR) is None:
                raise CollectionError(f"{self.directory} has no search index yet; add images with `artlens add`")
            self._vectors = vectors.load(self.directory / VECTORS_DIR)
        return self._vectors

    # -- searching ---------------------------------------------------------------------------

    @property
    def facets(self) -> tuple[str, ...]:
        """What a search can rank by: 'joint' (the weighted mix), then every single facet."""
        return ("joint", *self.vectors.facets)

    def _query_side(self, paths: Sequence[str | Path]) -> tuple[dict[str, np.ndarray], set[int]]:
        """Vectors of query images in every facet, and the ids of those that are in the collection."""
        vecs = self.vectors
        rows: list[dict[str, np.ndarray]] = []
        in_collection: set[int] = set()
        outside: list[np.ndarray] = []
        for p in paths:
            path = Path(p).expanduser()
            if not path.is_file():
                raise InputError(f"{path}: query image not found")
            try:
                img = load_image(path, max_side=WORKING_SIDE)
            except ImageError as exc:
                raise InputError(f"cannot use {path} as a query: {exc}") from None
            with self._engine.connect() as conn:
                same = catalog.artwork_by_hash(conn, img.sha256, img.pixel_hash)
            if same is not None and vecs.has(same.id):
                row = int(vecs.rows(np.array([same.id]))[0])
                rows.append({f: np.asarray(vecs.matrices[f][row]) for f in vecs.facets})
                in_collection.add(same.id)
            else:
                outside.append(img.rgb)
        if outside:
            projected = vecs.project(embed_rgb(self.backbone, outside, self.style_variant))
            rows.extend({f: projected[f][i] for f in vecs.facets} for i in range(len(outside)))
        return {f: np.stack([r[f] for r in rows]) for f in vecs.facets}, in_collection

    def search(
        self,
        images: Sequence[str | Path],
        not_images: Sequence[str | Path] = (),
        facet: str = "joint",
        weights: dict[str, float] | None = None,
        where: Iterable[str | tuple[str, str, str]] = (),
        k: int = 10,
        include_self: bool = False,
    ) -> list[SearchResult]:
        """Artworks most like `images` (a moodboard when several) and unlike `not_images`.

        facet: 'joint' (weighted mix; `weights` overrides the default mix), 'content', 'style', 'color',
        or a learned facet such as 'style_learned' (see `facets`).
        where: metadata conditions such as 'style=Baroque' or 'genre!=portrait'.
        A query image that is in the collection is left out of its own results unless include_self.
        """
        if not images:
            raise InputError("give at least one query image")
        if facet not in self.facets:
            raise InputError(f"unknown facet {facet!r}: choose one of {', '.join(self.facets)}")
        if weights is not None and facet != "joint":
            raise InputError("weights apply to the joint facet only; drop --facet or the weights")
        unknown = [f for f in weights or {} if f not in self.vectors.facets]
        if unknown:
            raise InputError(f"unknown facet {', '.join(unknown)} in the weights: choose from {', '.join(self.vectors.facets)}")
        if k < 1:
            raise InputError("k must be at least 1")
        use = dict(weights or self.vectors.weights) if facet == "joint" else {facet: 1.0}
        conditions = parse_where(where)
        positives, inside = self._query_side(images)
        negatives, _ = self._query_side(not_images) if not_images else (None, set())
        allowed = None
        if conditions:
            with self._engine.connect() as conn:
                _require_columns(conn, [c for c, _, _ in conditions], predictions=True)
                allowed = catalog.filter_ids(conn, conditions)
        exclude = set() if include_self else inside
        hits = search.rank(self.vectors, search.query_vectors(positives, negatives), use, k, allowed, exclude)
        with self._engine.connect() as conn:
            rows = catalog.artworks_by_id(conn, [h.id for h in hits])
        return [SearchResult(id=h.id, path=rows[h.id].path, score=h.score, scores=h.scores, metadata=rows[h.id].meta, why=h.why(use)) for h in hits]

    # -- describing --------------------------------------------------------------------------

    def label_models(self) -> dict[str, Path]:
        """Label models that apply here: the defaults shipped for this backbone, then the collection's own
        (which win on a name clash)."""
        from artlens.learn.registry import available

        return available(self.directory / MODELS_DIR, self.backbone_name)

    def _raw(self, facets: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        dims = raw_dims(self.backbone, self.style_variant)
        out: dict[str, np.ndarray] = {}
        ids = np.zeros(0, np.int64)
        with self._engine.connect() as conn:
            for f in facets:
                if f not in dims:
                    raise InputError(f"a label model needs the raw feature {f!r}, which this collection does not store")
                ids, out[f] = catalog.load_features(conn, f, dims[f])
        return ids, out

    def annotate(
        self,
        models: Sequence[str] | None = None,
        progress: Callable[[str], None] | None = None,
        tta: bool = False,
    ) -> dict[str, dict[str, int]]:
        """Write every model's decision for every artwork; returns per model the count of each decision.

        tta: average each model's scores over six views of the image (whole, centre and corner crops),
        read again from the files (about 6x the model time of `add`); an artwork whose file cannot be
        read any more is described from its stored features.
        """
        from artlens.learn.heads import LabelHead

        available = self.label_models()
        names = list(models) if models else sorted(available)
        unknown = [m for m in names if m not in available]
        if unknown:
            raise InputError(f"unknown label model {', '.join(unknown)}; available: {', '.join(sorted(available)) or 'none'}")
        heads = {name: LabelHead.load(available[name]) for name in names}
        needed = sorted({f for head in heads.values() for f in head.input_dims})
        ids, raw = self._raw(needed)
        scores = {name: head.scores(raw) if len(ids) else np.zeros((0, len(head.classes))) for name, head in heads.items()}
        if tta and len(ids):
            self._tta_scores(ids, heads, scores, progress)
        summary: dict[str, dict[str, int]] = {}
        for name, head in heads.items():
            if progress:
                progress(f"{name}: {len(ids)} artworks")
            decisions = head.decisions(scores[name])
            version = head.version + ("+tta" if tta else "")
            with self._engine.begin() as conn:
                catalog.write_predictions(conn, name, version, (
                    (int(i), d.label, float(d.confidence), [[c, round(float(p), 4)] for c, p in d.top3]) for i, d in zip(ids, decisions)
                ))
            counts: dict[str, int] = {}
            for d in decisions:
                counts[d.label] = counts.get(d.label, 0) + 1
            summary[name] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
        return summary

    def _tta_scores(self, ids: np.ndarray, heads: dict[str, Any], scores: dict[str, np.ndarray], progress: Callable[[str], None] | None) -> None:
        """Replace `scores` rows by their average over test-time views, for every artwork whose file reads."""
        with self._engine.connect() as conn:
            rows = catalog.artworks_by_id(conn, ids)
        unreadable = 0
        chunk = 32
        for start in range(0, len(ids), chunk):
            images, at = [], []
            for n, i in enumerate(ids[start:start + chunk], start):
                try:
                    images.append(load_image(Path(rows[int(i)].path), max_side=WORKING_SIDE).image)
                    at.append(n)
                except ImageError:
                    unreadable += 1
            if images:
                views = embed_views(self.backbone, images, self.style_variant)
                for name, head in heads.items():
                    scores[name][at] = head.scores_of_views(views)
            if progress and (start // chunk) % 20 == 0:
                progress(f"test-time views: {min(start + chunk, len(ids))}/{len(ids)} artworks")
        if progress and unreadable:
            progress(f"{unreadable} artworks could not be read again: described from their stored features")

    def train_label(self, label: str, kind: str = "one-of-many", group: str | None = None, name: str | None = None) -> dict[str, Any]:
        """Train a label head on the labels people gave under `label` (`set_label`) and the metadata column
        of that name, a given label winning (held-out split by `group`); returns its card."""
        from artlens.learn.heads import KINDS, train_head

        if kind not in KINDS:
            raise InputError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
        name = name or label
        if not name.replace("_", "").replace("-", "").isalnum():
            raise InputError(f"model name {name!r}: use letters, digits, - and _ only")
        with self._engine.connect() as conn:
            given = catalog.human_labels(conn, label)
            _require_columns(conn, [None if given else label, group])
        ids, raw = self._raw(("content", "style", "color"))
        with self._engine.connect() as conn:
            rows = catalog.artworks_by_id(conn, ids)
        # A label people gave wins over the file's metadata of the same name.
        metas = [{**rows[int(i)].meta, **given.get(int(i), {})} for i in ids]
        if kind == "many":
            cells = [_many_value(m.get(label)) for m in metas]
            vocabulary = sorted({c for cell in cells if cell for c in cell})
            # A labelled row says no to what it does not list; an empty cell says nothing (masked out).
            labels: list[Any] = [None if cell is None else {c: c in cell for c in vocabulary} for cell in cells]
        else:
            labels = [m.get(label) or None for m in metas]
        groups = [m.get(group) or None for m in metas] if group else None
        try:
            head = train_head(raw, labels, kind=kind, groups=groups, name=name, backbone=self.backbone_name)
        except ValueError as exc:
            raise InputError(f"cannot train {name!r}: {exc}") from None
        (self.directory / MODELS_DIR).mkdir(exist_ok=True)
        head.save(self.directory / MODELS_DIR / f"{name}.npz")
        return head.card

    def set_label(self, artwork_id: int, name: str, value: str | None) -> None:
        """Record a person's label for an artwork (e.g. name "watercolour", value "yes"); None removes it."""
        if not is_label_name(name):
            raise InputError(f"label name {name!r}: use 1-64 letters, digits, - and _")
        if value is not None and not value.strip():
            raise InputError("a label value cannot be empty (give None to remove the label)")
        with self._engine.begin() as conn:
            if int(artwork_id) not in catalog.artworks_by_id(conn, [int(artwork_id)]):
                raise InputError(f"no artwork with id {artwork_id}")
            catalog.set_label(conn, int(artwork_id), name, None if value is None else value.strip())

    def labels(self, name: str | None = None) -> dict[int, dict[str, str]]:
        """artwork id -> {label name: value} of the labels people gave (of one `name`, or all)."""
        with self._engine.connect() as conn:
            return catalog.human_labels(conn, name)

    def label_counts(self) -> dict[str, dict[str, int]]:
        """label name -> {value: how many artworks have it}, over the labels people gave."""
        with self._engine.connect() as conn:
            return catalog.label_counts(conn)

    def label_suggestions(self, name: str, n: int = 12) -> list[dict[str, Any]]:
        """The next artworks to ask about for the yes/no label `name` (active learning, see `labelling`)."""
        from artlens.learn import labelling

        answered = labelling.answers({i: v[name] for i, v in self.labels(name).items()})
        v = self.vectors
        if not len(v):
            return []
        return [s.as_dict() for s in labelling.suggest(np.asarray(v.matrices["joint"]), v.ids, answered, n)]

    def export(self) -> list[dict[str, Any]]:
        """One row per artwork: id, path, metadata, labels people gave (`label.<name>`), and per label
        model `pred.<model>` and `conf.<model>`."""
        with self._engine.connect() as conn:
            given = catalog.human_labels(conn)
            label_names = sorted(catalog.label_counts(conn))
            preds = catalog.predictions_by_artwork(conn)
            models = catalog.prediction_models(conn)
            columns = catalog.metadata_columns(conn)
            arts = list(catalog.iter_artworks(conn))
        out = []
        for a in arts:
            row: dict[str, Any] = {"id": a.id, "path": a.path}
            row.update({c: a.meta.get(c, "") for c in columns})
            row.update({f"label.{n}": given.get(a.id, {}).get(n, "") for n in label_names})
            for m in models:
                pred = preds.get(a.id, {}).get(m)
                row[f"pred.{m}"] = pred["label"] if pred else ""
                row[f"conf.{m}"] = pred["confidence"] if pred else None
            out.append(row)
        return out

    # -- evaluating --------------------------------------------------------------------------

    def evaluate_retrieval(
        self,
        labels: Sequence[str],
        group: str | None = None,
        facets: Sequence[str] | None = None,
        k: int = 60,
        min_shared: int | None = None,
    ) -> dict[str, Any]:
        """Every artwork with the label(s) queries the rest; P@k, mAP (and DeepArt, ALADIN scores) per facet."""
        if not labels and not group:
            raise InputError("name at least one label column (or a group column) to evaluate against")
        facets = list(facets or self.vectors.matrices)  # every facet the collection has, learned ones included
        unknown_facets = [f for f in facets if f not in self.vectors.matrices]
        if unknown_facets:
            raise InputError(f"unknown facet {', '.join(unknown_facets)}: choose from {', '.join(self.vectors.matrices)}")
        with self._engine.connect() as conn:
            _require_columns(conn, [*labels, group])
            rows = catalog.artworks_by_id(conn, self.vectors.ids)
        if min_shared is not None and not 1 <= min_shared <= len(labels):
            raise InputError(f"--min-shared must be between 1 and the number of labels ({len(labels)})")
        if k < 1:
            raise InputError("k must be at least 1")
        meta = [rows[int(i)].meta for i in self.vectors.ids]
        task = evaluate.RetrievalTask(labels=tuple(labels), group=group, k=k, min_shared=min_shared)
        try:
            return evaluate.evaluate_retrieval({f: self.vectors.matrices[f] for f in facets}, meta, task)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    def evaluate_labels(
        self,
        label: str,
        predicted: str,
        scores: str | None = None,
        positive: str | None = None,
        curve: str | Path | None = None,
    ) -> dict[str, Any]:
        """Compare a predicted-label column with the true one: accuracy, per-class P/R/F1, MCC, confusion.

        scores: a column holding JSON {class: score} per artwork (top-3 accuracy, and for a binary
        label average precision with a precision-recall curve saved to `curve` as PNG).
        """
        with self._engine.connect() as conn:
            _require_columns(conn, [label, predicted, scores])
            arts = list(catalog.iter_artworks(conn))
        parsed: list[dict[str, float] | None] | None = None
        if scores:
            parsed = []
            for a in arts:
                try:
                    value = json.loads(a.meta[scores]) if a.meta.get(scores) else None
                    parsed.append({str(c): float(v) for c, v in value.items()} if isinstance(value, dict) else None)
                except (ValueError, TypeError, AttributeError):
                    raise InputError(f"{a.path}: column {scores} must hold JSON like {{\"oil\": 0.8, \"watercolor\": 0.2}}") from None
        try:
            report = evaluate.evaluate_labels([a.meta.get(label) for a in arts], [a.meta.get(predicted) for a in arts], parsed, positive)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        if curve and "pr_curve" in report:
            pr = report["pr_curve"]
            from artlens.evaluation.plots import precision_recall_png

            title = f"{predicted} vs {label} (positive: {report['positive']})"
            report["curve_png"] = str(precision_recall_png(pr["precision"], pr["recall"], report["average_precision"], title, Path(curve)))
        return report

    # -- reporting ---------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Counts, facets, model and metadata columns, as plain data."""
        with self._engine.connect() as conn:
            count = catalog.count_artworks(conn)
            failed = catalog.list_failures(conn)
            exact = len(catalog.exact_duplicates(conn))
            columns = catalog.metadata_columns(conn)
        built = vectors.built_version(self.directory / VECTORS_DIR) is not None
        facets: list[dict[str, Any]] = []
        if built and len(self.vectors):
            for f in self.facets:
                index = self.vectors.index(f)
                facets.append({"name": f, "dim": index.dim, "index": index.kind})
                if f in self.vectors.spaces:
                    facets[-1]["learned"] = self.vectors.spaces[f].meta
        return {
            "directory": str(self.directory),
            "artworks": count,
            "failed": failed,
            "duplicates": {"exact": exact, "near": len(vectors.load_near_duplicates(self.directory / VECTORS_DIR))},
            "facets": facets,
            "weights": self.vectors.weights if built else DEFAULT_WEIGHTS,
            "columns": columns,
            "labels": self.label_counts(),
            "model": {"backbone": self.backbone_name, "input_size": BACKBONES[self.backbone_name].input_size, "style": self.style_variant},
            "stale": self.is_stale(),
        }

    def duplicates(self, artwork_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """Exact copies (same bytes or pixels) and near-duplicate pairs, with their evidence.

        artwork_id: only the copies and pairs that involve this artwork (an artwork page needs no more).
        """
        def involves(*ids: int | None) -> bool:
            return artwork_id is None or artwork_id in ids

        with self._engine.connect() as conn:
            exact = [{"path": c.path, "id": c.id, "duplicate_of": o.path, "original_id": o.id,
                      "same": "bytes" if c.sha256 == o.sha256 else "pixels"}
                     for c, o in catalog.exact_duplicates(conn) if involves(c.id, o.id)]
            near_pairs = [n for n in vectors.load_near_duplicates(self.directory / VECTORS_DIR) if involves(n.a, n.b)]
            rows = catalog.artworks_by_id(conn, {i for n in near_pairs for i in (n.a, n.b)})
        near = [{"a": {"id": n.a, "path": rows[n.a].path}, "b": {"id": n.b, "path": rows[n.b].path},
                 "phash_distance": n.phash_distance, "content_similarity": n.content_similarity}
                for n in near_pairs if n.a in rows and n.b in rows]
        return {"exact": exact, "near": near}

    def thumbnail(self, artwork_id: int) -> bytes | None:
        with self._engine.connect() as conn:
            return catalog.thumbnail(conn, artwork_id)


def is_label_name(name: str) -> bool:
    """1-64 letters, digits, - and _: safe in a URL, a file name and a `label.NAME` column."""
    return 0 < len(name) <= 64 and name.replace("_", "").replace("-", "").isalnum()


def _require_columns(conn: Any, names: Sequence[str | None], predictions: bool = False) -> None:
    """InputError naming the columns the collection does not have (None entries are options not given)."""
    missing, known = catalog.unknown_columns(conn, names, predictions)
    if missing:
        raise InputError(f"unknown metadata column {', '.join(missing)}; the collection has: {', '.join(known) or 'none'}")


def _many_value(cell: str | None) -> set[str] | None:
    """A many-of-many cell: ';'-separated labels that apply (e.g. 'oil paint;pen and ink'); empty = unknown."""
    if not cell:
        return None
    return {label.strip() for label in cell.split(";") if label.strip()}
