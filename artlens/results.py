"""What the facade returns: typed results, each with `as_dict()` giving the JSON the CLI (`--json`)
and the REST API print.

Small results (a search hit, an artwork, a duplicate pair) are plain frozen dataclasses. Reports
whose shape depends on the data (a model card, an evaluation) keep their full JSON in `data` and
name the figures a caller reads as typed properties.

Pure data: no numpy, no storage; importing this module costs nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from artlens.vocabulary import UNSURE

JSON = dict[str, Any]


@dataclass(frozen=True)
class SearchResult:
    """One ranked artwork: the overall score, the score of every facet, and why it matched."""

    id: int
    path: str
    score: float
    scores: dict[str, float]
    metadata: dict[str, str]
    why: str  # e.g. "style top 0.4% · content top 3%": how unusual each facet's similarity is

    # The region that matched, for a search by region: id, kind, box [x0, y0, x1, y1] in the artwork's
    # pixels, score (the detector's confidence).
    region: dict[str, Any] | None = None

    def as_dict(self) -> JSON:
        out = {"id": self.id, "path": self.path, "score": round(self.score, 4), "scores": self.scores,
               "metadata": self.metadata, "why": self.why}
        if self.region is not None:
            out["region"] = self.region
        return out


@dataclass
class AddReport:
    """What one `add` did. Counts are of files; `failed` lists every file that could not be added."""

    added: int = 0
    duplicates: int = 0
    unchanged: int = 0        # files added before and not changed since
    ignored: int = 0          # files without an image suffix found while walking folders
    failed: list[dict[str, str]] = field(default_factory=list)  # path, reason, message; unchanged bad files too
    passed_over: list[str] = field(default_factory=list)  # links not followed (a loop, a broken link), with why
    metadata_rows: int = 0    # CSV rows applied to a catalogued file
    metadata_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def nothing_usable(self) -> bool:
        """Every file failed: nothing was added, and nothing was there already."""
        return bool(self.failed) and self.added + self.duplicates + self.unchanged == 0

    def failure_reasons(self) -> dict[str, int]:
        return dict(Counter(f["reason"] for f in self.failed))

    def as_dict(self) -> JSON:
        return {
            "added": self.added, "duplicates": self.duplicates, "unchanged": self.unchanged,
            "ignored": self.ignored, "failed": self.failed, "failure_reasons": self.failure_reasons(),
            "passed_over": self.passed_over, "metadata_rows": self.metadata_rows, "metadata_problems": self.metadata_problems,
            "seconds": round(self.seconds, 2), "interrupted": self.interrupted,
        }


@dataclass(frozen=True)
class Failure:
    """A file that could not be added, with the reason (see errors.IMAGE_FAILURES) and a message."""

    path: str
    reason: str
    message: str

    def as_dict(self) -> JSON:
        return asdict(self)


@dataclass(frozen=True)
class FacetInfo:
    name: str
    dim: int
    index: str  # "exact" or the approximate index kind
    learned: JSON | None = None  # the card of a learned space

    def as_dict(self) -> JSON:
        out: JSON = {"name": self.name, "dim": self.dim, "index": self.index}
        if self.learned is not None:
            out["learned"] = self.learned
        return out


@dataclass(frozen=True)
class ReembedReport:
    """What `reembed` did: the backbone the collection is on now, artworks embedded by this run and by
    an earlier interrupted one, and the collection's own models to retrain (trained on the old features)."""

    backbone: str
    version: str
    embedded: int
    kept: int
    retrain: list[str]

    def as_dict(self) -> JSON:
        return asdict(self)


@dataclass(frozen=True)
class MigrateReport:
    """What `migrate` did: the catalogs copied from and to (passwords hidden), the new collection's local
    directory, and rows copied per catalog table."""

    source: str
    dest: str
    directory: str
    rows: dict[str, int]

    @property
    def artworks(self) -> int:
        return self.rows.get("artworks", 0)

    def as_dict(self) -> JSON:
        return asdict(self)


@dataclass(frozen=True)
class DetectReport:
    """What `detect` did: artworks looked at by this run, faces and people found in them, regions given
    vectors for search by region, files that could not be read (path, why; looked at again next run)."""

    looked_at: int
    faces: int
    unreadable: list[tuple[str, str]]
    people: int = 0
    embedded: int = 0

    def as_dict(self) -> JSON:
        return {"looked_at": self.looked_at, "faces": self.faces, "people": self.people, "embedded": self.embedded,
                "unreadable": [{"path": p, "why": w} for p, w in self.unreadable]}


@dataclass(frozen=True)
class ModelInfo:
    backbone: str
    input_size: int
    style: str
    version: str

    def as_dict(self) -> JSON:
        return asdict(self)


@dataclass(frozen=True)
class Info:
    """Counts, facets, model and metadata columns of a collection (`artlens info`)."""

    directory: str
    artworks: int
    failed: list[Failure]
    exact_duplicates: int
    near_duplicates: int
    facets: list[FacetInfo]
    weights: dict[str, float]
    columns: list[str]
    labels: dict[str, dict[str, int]]
    model: ModelInfo
    stale: bool  # the catalog changed since the vectors were built (an add was interrupted)
    # Per count (faces, people): (artworks looked at, regions found) once `detect` has run.
    regions: dict[str, tuple[int, int]] = field(default_factory=dict)
    maps: list[MapInfo] = field(default_factory=list)  # the stored maps (`artlens map`)
    catalog: str = ""  # where the catalog lives: the SQLite file, or the PostgreSQL URL (password hidden)

    @property
    def faces(self) -> tuple[int, int] | None:
        return self.regions.get("faces")

    def as_dict(self) -> JSON:
        return {
            "directory": self.directory,
            "catalog": self.catalog,
            "artworks": self.artworks,
            "failed": [f.as_dict() for f in self.failed],
            "duplicates": {"exact": self.exact_duplicates, "near": self.near_duplicates},
            "facets": [f.as_dict() for f in self.facets],
            "weights": self.weights,
            "columns": self.columns,
            "labels": self.labels,
            "model": self.model.as_dict(),
            "stale": self.stale,
            "regions": {name: {"looked_at": n, "found": found} for name, (n, found) in self.regions.items()},
            "maps": [m.as_dict() for m in self.maps],
        }


@dataclass(frozen=True)
class ExactCopy:
    """A file with the same bytes or the same pixels as an artwork already catalogued."""

    id: int
    path: str
    original_id: int
    duplicate_of: str  # the original's path
    same: str  # "bytes" or "pixels"

    def as_dict(self) -> JSON:
        return {"path": self.path, "id": self.id, "duplicate_of": self.duplicate_of, "original_id": self.original_id, "same": self.same}


@dataclass(frozen=True)
class ArtworkRef:
    id: int
    path: str

    def as_dict(self) -> JSON:
        return asdict(self)


@dataclass(frozen=True)
class NearPair:
    """Two artworks that look like copies of each other (re-encoded, resized, cropped, colour-shifted)."""

    a: ArtworkRef
    b: ArtworkRef
    phash_distance: int
    content_similarity: float

    def as_dict(self) -> JSON:
        return {"a": self.a.as_dict(), "b": self.b.as_dict(), "phash_distance": self.phash_distance,
                "content_similarity": self.content_similarity}


@dataclass(frozen=True)
class Duplicates:
    exact: list[ExactCopy]
    near: list[NearPair]

    def as_dict(self) -> JSON:
        return {"exact": [d.as_dict() for d in self.exact], "near": [d.as_dict() for d in self.near]}


@dataclass(frozen=True)
class Prediction:
    """A label model's decision for one artwork."""

    label: str
    confidence: float
    top3: list[list[Any]]  # [[class, probability], ...]
    version: str = ""

    def as_dict(self) -> JSON:
        return {"label": self.label, "confidence": self.confidence, "top3": self.top3}


@dataclass(frozen=True)
class Artwork:
    """One catalogued artwork: file facts, metadata and (when asked for) the models' decisions."""

    id: int
    path: str
    width: int
    height: int
    format: str
    duplicate_of: int | None
    metadata: dict[str, str]
    predictions: dict[str, Prediction] = field(default_factory=dict)

    def as_dict(self) -> JSON:
        return {"id": self.id, "path": self.path, "width": self.width, "height": self.height, "format": self.format,
                "duplicate_of": self.duplicate_of, "metadata": self.metadata,
                "predictions": {m: p.as_dict() for m, p in self.predictions.items()}}


@dataclass(frozen=True)
class ArtworkPage:
    """A page of artworks that pass a filter, and how many pass in all."""

    total: int
    offset: int
    limit: int
    artworks: list[Artwork]

    def as_dict(self) -> JSON:
        return {"total": self.total, "offset": self.offset, "limit": self.limit, "artworks": [a.as_dict() for a in self.artworks]}


@dataclass(frozen=True)
class Neighbour:
    """An artwork near another one in one facet (more like this)."""

    id: int
    path: str
    score: float
    metadata: dict[str, str]

    def as_dict(self) -> JSON:
        return {"id": self.id, "path": self.path, "score": round(self.score, 4), "metadata": self.metadata}


@dataclass(frozen=True)
class Suggestion:
    """An artwork to ask a person about next: `score` is the model's P(yes) (or the similarity to the yes
    examples), `reason` says why it was picked."""

    id: int
    path: str
    score: float
    reason: str
    metadata: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> JSON:
        return {"id": self.id, "score": self.score, "reason": self.reason, "path": self.path, "metadata": self.metadata}


@dataclass(frozen=True)
class Annotation:
    """What one label model decided over the collection: how many artworks got each decision, and so
    how many it decided and how many it left unsure (a model that abstains on most of a collection
    shows it at once)."""

    model: str
    counts: dict[str, int]  # decision -> artworks, most frequent first

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def unsure(self) -> int:
        return self.counts.get(UNSURE, 0)

    @property
    def decided(self) -> int:
        return self.total - self.unsure

    @property
    def mostly_unsure(self) -> bool:
        """Unsure on more than half of the artworks."""
        return self.unsure * 2 > self.total

    def as_dict(self) -> JSON:
        return {"total": self.total, "decided": self.decided, "unsure": self.unsure, "counts": dict(self.counts)}


@dataclass(frozen=True)
class Report:
    """A report whose shape depends on the data: the full JSON in `data`."""

    data: JSON

    def as_dict(self) -> JSON:
        return self.data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


@dataclass(frozen=True)
class ModelCard(Report):
    """A trained label model's card: data used, held-out figures, calibration, thresholds."""

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def kind(self) -> str:
        return str(self.data["kind"])

    @property
    def held_out(self) -> JSON:
        return dict(self.data.get("held_out", {}))

    @property
    def thresholds(self) -> JSON:
        return dict(self.data.get("calibration", {}).get("thresholds", {}))


@dataclass(frozen=True)
class StyleSpaceReport(Report):
    """How a learned style space trained: epochs, validation P@1 of its groups, the best epoch."""


@dataclass(frozen=True)
class RetrievalReport(Report):
    """`eval retrieval`: per facet and task, P@k, mAP (and DeepArt graded, ALADIN group) scores."""

    @property
    def facets(self) -> dict[str, dict[str, dict[str, float]]]:
        return dict(self.data["facets"])

    def winners(self, measure: str = "mAP") -> dict[str, tuple[str, float, float]]:
        """For each task, (best facet, its score, margin over the runner-up)."""
        from artlens.evaluation.evaluate import winners

        return winners(self.data, measure)


@dataclass(frozen=True)
class LabelsReport(Report):
    """`eval labels`: accuracy, per-class precision/recall/F1, MCC, confusion matrix (and AP for binary labels)."""


@dataclass(frozen=True)
class BoxesReport(Report):
    """`eval boxes`: detection AP at IoU 0.5 and 0.75 per class and mean (PASCAL VOC rules)."""


def plain(value: Any) -> Any:
    """Results (and containers of them) -> JSON-ready data."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class CheckReport:
    """What `check` found in a collection and, with repair, what it fixed (`artlens check`).

    parts: "catalog", "vectors", "thumbnails" and "models", each "ok", "damaged" (problems remain)
    or "repaired". problems: what was wrong when the check ran, each "part: what". repaired: what
    the repair did. remaining: what is still wrong, each saying how to fix it (`check --repair`, or
    how to recover what cannot be repaired).
    """

    directory: str
    parts: dict[str, str]
    problems: tuple[str, ...] = ()
    repaired: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (any more)."""
        return not self.remaining and "damaged" not in self.parts.values()

    def as_dict(self) -> JSON:
        return {"directory": self.directory, "ok": self.ok, "parts": dict(self.parts), "problems": list(self.problems),
                "repaired": list(self.repaired), "remaining": list(self.remaining)}


# -- the collection map ------------------------------------------------------------------------


@dataclass(frozen=True)
class MapInfo:
    """One facet's stored map (`artlens map`, `info`): how it was made, how many works it shows, how
    many of them were placed by `add` after the layout, and why a full re-layout would help (or None)."""

    facet: str
    method: str  # "tsne", "umap" or "pca" (PCA for collections too small for the others)
    works: int
    placed: int
    made: str  # ISO time
    seconds: float  # the layout's time when made
    relayout: str | None = None

    def as_dict(self) -> JSON:
        return asdict(self)


@dataclass(frozen=True)
class MapLayout:
    """A facet's map: works in id order with their position (centred, within distance 1 of the centre),
    whether `add` placed them after the layout, and their cluster (see `Collection.map_clusters`).

    Arrays are numpy's: ids int64, x and y float32, placed bool, clusters int32. `payload()` packs them
    for the REST API's binary endpoint (see `PAYLOAD_LAYOUT`)."""

    info: MapInfo
    ids: Any
    x: Any
    y: Any
    placed: Any
    clusters: Any

    # Little-endian, every array starting at a multiple of its item size: ids (n x int64), x (n x float32),
    # y (n x float32), cluster (n x int32), placed (n x uint8); n = length / 21.
    PAYLOAD_LAYOUT = "ids int64[n] | x float32[n] | y float32[n] | cluster int32[n] | placed uint8[n]"

    def __len__(self) -> int:
        return len(self.ids)

    def payload(self) -> bytes:
        return b"".join([self.ids.astype("<i8").tobytes(), self.x.astype("<f4").tobytes(), self.y.astype("<f4").tobytes(),
                         self.clusters.astype("<i4").tobytes(), self.placed.astype("u1").tobytes()])

    def page(self, offset: int, limit: int) -> JSON:
        """Points offset..offset+limit as JSON: {facet, method, total, offset, limit, has_more, points: [{id, x, y, placed, cluster}]}."""
        end = min(len(self.ids), offset + limit)
        points = [{"id": int(self.ids[i]), "x": round(float(self.x[i]), 5), "y": round(float(self.y[i]), 5),
                   "placed": bool(self.placed[i]), "cluster": int(self.clusters[i])} for i in range(offset, end)]
        return {"facet": self.info.facet, "method": self.info.method, "total": len(self.ids), "offset": offset, "limit": limit,
                "has_more": end < len(self.ids), "points": points}


@dataclass(frozen=True)
class MapValues:
    """One column's values over a facet's map, for colouring it: the `top` most common values (with their
    counts), and per work (aligned with `MapLayout.ids`) a one-byte code: i for values[i], OTHER for a
    value outside the top, MISSING for none."""

    facet: str
    column: str
    values: list[str]
    counts: list[int]
    other: int  # works whose value is outside the top
    missing: int  # works without a value
    codes: Any  # numpy uint8, one a work

    OTHER = 254
    MISSING = 255
    MAX_TOP = 250

    @classmethod
    def of(cls, facet: str, column: str, values: list[str | None], top: int) -> MapValues:
        counted = Counter(v for v in values if v is not None)
        # Most common first; ties by value, so the legend is the same every time.
        kept = [v for v, _ in sorted(counted.items(), key=lambda vc: (-vc[1], vc[0]))[:min(top, cls.MAX_TOP)]]
        index = {v: i for i, v in enumerate(kept)}
        codes = bytes(cls.MISSING if v is None else index.get(v, cls.OTHER) for v in values)
        missing = sum(v is None for v in values)
        return cls(facet, column, kept, [counted[v] for v in kept], len(values) - missing - sum(counted[v] for v in kept), missing,
                   codes)

    def as_dict(self) -> JSON:
        """codes as base64 of the bytes (4 characters for 3 works: 133 kB for 100,000)."""
        import base64

        return {"facet": self.facet, "column": self.column, "total": len(self.codes), "values": list(self.values),
                "counts": list(self.counts), "other": self.other, "missing": self.missing, "other_code": self.OTHER,
                "missing_code": self.MISSING, "codes": base64.b64encode(bytes(self.codes)).decode("ascii")}


@dataclass(frozen=True)
class MapReport:
    """What `artlens map` made: one MapInfo per facet laid out, and the pictures written."""

    maps: list[MapInfo]
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> JSON:
        return {"maps": [m.as_dict() for m in self.maps], "files": list(self.files)}


@dataclass(frozen=True)
class MapClusters:
    """A map's clusters, named from column `by`: per cluster id, centre x and y, size, name, and the
    common values (value, share) of each column asked for."""

    facet: str
    by: str
    clusters: list[JSON]

    def as_dict(self) -> JSON:
        return {"facet": self.facet, "by": self.by, "clusters": self.clusters}
