"""`Collection`: the facade. A collection on disk and everything you can do with it, for the CLI, the web
app and Python users alike.

    from artlens import Collection
    col = Collection.create("my-collection")                 # or Collection.open(...)
    col.add(["scans/"], metadata="scans/labels.csv")
    for r in col.search(images=["query.jpg"], k=5):
        print(r.path, r.score, r.scores, r.why)

Each method checks what the user gave, calls one domain function (features/, store/, retrieval/,
learn/, evaluation/, pipeline/) and returns a typed result from `artlens.results`. The front ends
import nothing below this module. The on-disk layout is in docs/architecture.md.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from artlens.errors import CollectionError, InputError, NotFoundError
from artlens.results import (
    AddReport,
    Annotation,
    Artwork,
    ArtworkPage,
    ArtworkRef,
    CheckReport,
    DetectReport,
    Duplicates,
    ExactCopy,
    FacetInfo,
    Failure,
    Info,
    LabelsReport,
    MapClusters,
    MapInfo,
    MapLayout,
    MapReport,
    MapValues,
    MigrateReport,
    ModelCard,
    ModelInfo,
    NearPair,
    Neighbour,
    Prediction,
    ReembedReport,
    RetrievalReport,
    SearchResult,
    StyleSpaceReport,
    Suggestion,
)
from artlens.retrieval.filters import Condition, parse_where
from artlens.store.layout import DATABASE_FILE, DB_FILE, FILTER_COLUMNS_FILE, MODELS_DIR, VECTORS_DIR
from artlens.vocabulary import (
    BACKBONES,
    COUNT_FILTERS,
    DEFAULT_BACKBONE,
    DEFAULT_WEIGHTS,
    FACETS,
    JOINT,
    LABEL_KINDS,
    LEARNED_STYLE,
    STYLE_LOSSES,
    STYLE_VARIANTS,
    is_label_name,
)

if TYPE_CHECKING:
    import numpy as np

    from artlens.features.backbone import Backbone, BackboneSpec
    from artlens.learn.style_space import StyleSpace
    from artlens.retrieval.regions import RegionVectors
    from artlens.standalone import QueryImage
    from artlens.store.database import ArtworkRow, Catalog
    from artlens.store.engines import Address
    from artlens.store.lock import WriterLock
    from artlens.store.vectors import FacetVectors

MORE_LIKE_THIS = 6
FOLLOW_SECONDS = 1.0  # how often a PostgreSQL collection asks whether another machine finished a build
CREATE_WAIT = 60.0  # seconds a second `add` on a collection being created waits for its schema (a moment)

P = ParamSpec("P")
R = TypeVar("R")


def _writes(command: str) -> Callable[[Callable[Concatenate[Collection, P], R]], Callable[Concatenate[Collection, P], R]]:
    """Run a Collection method holding the collection's writer lock (store/lock.py): a second writer,
    in this process or another, gets CollectionBusyError instead of interleaving its writes."""

    def decorate(method: Callable[Concatenate[Collection, P], R]) -> Callable[Concatenate[Collection, P], R]:
        @functools.wraps(method)
        def locked(self: Collection, /, *args: P.args, **kwargs: P.kwargs) -> R:
            with self._writer.hold(command):
                return method(self, *args, **kwargs)

        return locked

    return decorate


class Collection:
    """An ArtLens collection directory. Open it with `Collection.open` or `Collection.create`."""

    def __init__(self, directory: Path, store: Catalog) -> None:
        self.directory = directory
        self._store = store
        self.backbone_name: str = store.setting("backbone")
        # Collections made before versions were recorded all ran the ImageNet graph v1.
        self.backbone_version: str = store.setting("backbone_version") or "imagenet/taps-v1"
        self.style_variant: str = store.setting("style_variant")
        self._backbone: Backbone | None = None
        self._vectors: FacetVectors | None = None
        self._regions: tuple[Any, RegionVectors] | None = None  # (what they were built from, region vectors)
        self._followed = float("-inf")  # when _follow_other_machines last asked the catalog
        self._columns_key: tuple[int, int, int] | None = None  # the filter columns file the catalog was last handed (`_hold_columns`)
        self._files_version: Any = None  # the catalog's shared model files this folder last synced
        from artlens.store.lock import WriterLock

        self._writer: WriterLock = WriterLock(directory, store.shared_lock())

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def create(cls, directory: str | Path, backbone: str | None = None, style: str | None = None,
               database: str | None = None) -> Collection:
        """Open the collection at `directory`, creating it if needed with this backbone (default
        lite0-art) and style variant (default adain). None: an existing collection keeps its own;
        naming other ones than it was made with is a CollectionError (see `reembed`).

        Its catalog is a SQLite file in the directory, unless `database` names a PostgreSQL one
        (``postgresql://USER@HOST/DB?collection=NAME``), or `directory` is itself such a URL: the
        collection then works from a local folder under $ARTLENS_HOME (default ~/.artlens) that holds its
        vectors and models (docs/deploying.md).

        CollectionError when its catalog database is damaged or cannot be reached (see `check`).
        """
        directory, address = _locate(directory, database, create=True)
        if backbone is not None and backbone not in BACKBONES:
            raise InputError(f"unknown backbone {backbone!r}: choose one of {', '.join(BACKBONES)}")
        if style is not None and style not in STYLE_VARIANTS:
            raise InputError(f"unknown style variant {style!r}: choose one of {', '.join(STYLE_VARIANTS)}")
        new_backbone, new_style = backbone or DEFAULT_BACKBONE, style or "adain"
        store = _open_catalog(directory, address, {"backbone": new_backbone, "backbone_version": _spec(new_backbone).version,
                                                   "style_variant": new_style})
        have = (store.setting("backbone"), store.setting("style_variant"))
        if (backbone or have[0], style or have[1]) != have:
            store.close()
            hint = f"; to move it to backbone {backbone}, run `artlens reembed {directory} --backbone {backbone}`" if backbone and backbone != have[0] else ""
            raise CollectionError(
                f"{directory} was made with backbone {have[0]} and style {have[1]}; "
                f"it cannot be extended with backbone {backbone or have[0]} and style {style or have[1]}{hint}"
            )
        return cls(directory, store)

    @classmethod
    def open(cls, directory: str | Path) -> Collection:
        """Open an existing collection: its directory, or the URL of its PostgreSQL catalog. CollectionError
        when it is not one, or when its catalog database is damaged or cannot be reached (the message says
        what to do; `check_directory` reports it instead)."""
        directory, address = _locate(directory, None, create=False)
        return cls(directory, _open_catalog(directory, address))

    @staticmethod
    def locate(where: str | Path) -> Path:
        """The absolute local directory of the collection named by `where` (a directory, or a PostgreSQL
        URL: its folder under $ARTLENS_HOME, made and recorded when missing). Creates no catalog."""
        from artlens.store import engines

        if isinstance(where, str) and engines.is_database_url(where):
            address = engines.parse_url(where)
            directory = engines.working_directory(address)
            if not (directory / DATABASE_FILE).is_file() and engines.initialised(address):
                _locate(where, None, create=False)  # records the URL in the folder
            return directory
        return Path(where).expanduser().resolve()

    @staticmethod
    def exists(where: str | Path) -> bool:
        """True when `where` (a directory, or a PostgreSQL URL) names a collection that exists."""
        from artlens.store import engines

        if isinstance(where, str) and engines.is_database_url(where):
            return engines.initialised(engines.parse_url(where))
        directory = Path(where).expanduser()
        return (directory / DB_FILE).is_file() or (directory / DATABASE_FILE).is_file()

    @property
    def catalog(self) -> Catalog:
        """The catalog database handle (`artlens.store.database.Catalog`), for tools and tests."""
        return self._store

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building ----------------------------------------------------------------------------

    @property
    def feature_space(self) -> str:
        """The space its raw features live in: the backbone's name, shared by its INT8 variant. Label
        heads and learned style spaces record it and apply to any collection in the same space."""
        return _spec(self.backbone_name).features

    @property
    def backbone(self) -> Backbone:
        if self._backbone is None:
            from artlens.features.backbone import Backbone

            shipped = _spec(self.backbone_name).version
            if shipped != self.backbone_version:
                # New images embedded by another version would not be comparable with the stored ones.
                raise CollectionError(
                    f"{self.directory} was embedded with backbone {self.backbone_name} {self.backbone_version}; this ArtLens ships "
                    f"{self.backbone_name} {shipped}. Searching by stored artworks still works; to add images or search by "
                    f"new images, re-embed it: `artlens reembed {self.directory} --backbone {self.backbone_name}`",
                    {"kind": "backbone_version", "recorded": self.backbone_version, "shipped": shipped})
            # One model thread: ingest runs one worker per core, and a single query is fast enough.
            self._backbone = Backbone(self.backbone_name, threads=1)
        return self._backbone

    def add(
        self,
        paths: Sequence[str | Path],
        metadata: str | Path | None = None,
        progress: Callable[[int, int], None] | None = None,
        batch_size: int | None = None,
        wait: float | None = None,
        ray: str | None = None,
    ) -> AddReport:
        """Add every image under `paths` (recursively), with metadata from a CSV, then rebuild the vectors.

        Safe to interrupt and to repeat: committed batches are kept, unchanged files are skipped, and
        vectors that are stale, missing or incomplete are rebuilt even when no file changed.
        wait: when another writer holds the collection, seconds to wait for it (float("inf"): as long
        as it takes); None fails at once with CollectionBusyError.
        ray: decode and embed on the Ray cluster at this address ("auto", "local" or HOST:PORT; see
        artlens.pipeline.distributed) instead of this machine's cores; this process still commits.
        """
        from artlens.pipeline import ingest

        found = ingest.scan([Path(p) for p in paths])
        meta, problems = ingest.read_metadata(Path(metadata)) if metadata else ({}, [])
        report = AddReport(ignored=found.ignored, passed_over=found.passed_over, metadata_problems=problems)
        embedder = None
        if ray is not None:
            from artlens.pipeline.distributed import ray_batches

            self.backbone  # noqa: B018  (refuses an out-of-date backbone version here, before any worker starts)
            embedder = ray_batches(ray, self.backbone_name, self.style_variant)
        with self._writer.hold("add", wait):
            try:
                ingest.add_files(self._store, self.backbone, self.style_variant, found.files, meta, batch_size or ingest.BATCH_SIZE, progress,
                                 report, embedder)
            except KeyboardInterrupt:
                report.interrupted = True
                raise
            if self.is_stale():
                self.build()
            elif metadata:
                self._code_filters()  # metadata merged into works already here
        return report

    def reembed(self, backbone: str = DEFAULT_BACKBONE, progress: Callable[[int, int], None] | None = None,
                batch_size: int | None = None, wait: float | None = None) -> ReembedReport:
        """Embed every artwork again with `backbone` (another one, or a new version of this one) and
        switch the collection to it, then rebuild the vectors. Resumable: an interrupted run keeps
        its finished batches. CollectionError (nothing switched) when some files are gone, unreadable
        or changed. Own label heads and an own learned style space trained on the old features stop
        applying when the feature space changes (retrain them with `labels train` / `learn style`;
        the report lists them); between a backbone and its INT8 variant they still apply. Labels are kept."""
        from artlens.features.backbone import Backbone
        from artlens.learn.registry import available
        from artlens.pipeline import ingest, reembed

        if backbone not in BACKBONES:
            raise InputError(f"unknown backbone {backbone!r}: choose one of {', '.join(BACKBONES)}")
        with self._writer.hold("reembed", wait):
            if (backbone, _spec(backbone).version) == (self.backbone_name, self.backbone_version) and self._store.setting("reembed_target") is None:
                return ReembedReport(backbone, self.backbone_version, embedded=0, kept=self._store.count(), retrain=[])
            own_dir = self.directory / MODELS_DIR
            own_heads = {name for name, path in available(own_dir, self.feature_space).items() if path.parent == own_dir}
            own_space = (own_dir / f"{LEARNED_STYLE}.npz").exists()
            old_space = self.feature_space
            result = reembed.reembed(self._store, Backbone(backbone, threads=1), self.style_variant, batch_size or ingest.BATCH_SIZE, progress)
            self.backbone_name, self.backbone_version = backbone, _spec(backbone).version
            self._backbone = None
            same_space = self.feature_space == old_space  # e.g. lite0-art -> lite0-art-int8: its models still apply
            retrain = [] if same_space else sorted(own_heads) + ([LEARNED_STYLE] if own_space else [])
            self.build()
        return ReembedReport(backbone, self.backbone_version, embedded=result.embedded, kept=result.kept, retrain=retrain)

    def migrate(self, dest: str | Path, database: str | None = None, wait: float | None = None) -> MigrateReport:
        """Copy this collection to `dest` (a new directory, or a PostgreSQL URL; `database`: the URL of a
        directory's PostgreSQL catalog), e.g. from SQLite to PostgreSQL when it outgrows one machine, or
        back. Every row keeps its id, so the built vectors, maps and the collection's own models are copied
        as they are and the copy searches at once. Holds this collection's writer lock meanwhile; the copy
        is one transaction (an interrupted one leaves `dest` without artworks, and can simply be run again).
        CollectionError when `dest` already holds artworks."""
        import shutil

        from artlens.store import transfer
        from artlens.store.lock import WriterLock

        directory, address = _locate(dest, database, create=True)
        if directory.resolve() == self.directory.resolve():
            raise InputError(f"{dest} is this collection: migrate to a new one")
        with self._writer.hold("migrate", wait):
            settings = {key: self._store.setting(key) for key in ("backbone", "backbone_version", "style_variant")}
            target = _open_catalog(directory, address, settings)
            try:
                with WriterLock(directory, target.shared_lock()).hold("migrate", wait):
                    rows = transfer.copy_catalog(self._store.engine, target.engine)
                    for part in (VECTORS_DIR, MODELS_DIR):  # derived from these rows, and the collection's own models
                        if (self.directory / part).is_dir():
                            shutil.rmtree(directory / part, ignore_errors=True)
                            shutil.copytree(self.directory / part, directory / part)
                    if target.backend != "sqlite":  # its other machines get the models from the catalog
                        for path in sorted((directory / MODELS_DIR).glob("*.npz")):
                            target.put_shared_file(path.name, path.read_bytes())
                    target.set_settings({"built_version": self._store.setting("built_version") or self._store.version()})
                    if target.backend != "sqlite" and (directory / VECTORS_DIR).is_dir():
                        from artlens.store import vectors

                        _publish_vectors(target, vectors.load(directory / VECTORS_DIR))
                    _write_filter_columns(target, directory)  # under the copy's own tokens
            finally:
                target.close()
        return MigrateReport(source=str(self._store.address), dest=str(address), directory=str(directory), rows=rows)

    def detect(self, progress: Callable[[int, int], None] | None = None, wait: float | None = None) -> DetectReport:
        """Find the faces (MTCNN) and people (the project's person detector) in every artwork not looked
        at yet, store their boxes (original pixels) in the catalog, and embed each region's crop for
        `search_regions`. Resumable; afterwards the counts filter: `where=["faces>=1"]`, `["people>=3"]`,
        `["people=0"]`."""
        from artlens.pipeline import detect

        with self._writer.hold("detect", wait):
            result = detect.detect(self._store, self.backbone, self.style_variant, detect.detectors(), progress)
            self._code_filters()  # the counts
        self._regions = None
        return DetectReport(result.looked_at, result.found.get("face", 0), result.unreadable,
                            people=result.found.get("person", 0), embedded=result.embedded)

    def regions(self, artwork_id: int) -> list[dict[str, Any]]:
        """The regions detected in one artwork (kind, box [x0, y0, x1, y1] in its pixels, score, model)."""
        return self._store.regions(artwork_id)

    def count_filters(self) -> list[str]:
        """The counts `where` can filter by here (e.g. 'faces'): those of region kinds `detect` has looked for."""
        kinds = self._store.detected_kinds()
        return [name for name, kind in COUNT_FILTERS.items() if kind in kinds]

    def region(self, region_id: int) -> dict[str, Any]:
        """One detected region: id, artwork_id, kind, box, score, model; NotFoundError if there is none."""
        found = self._store.region(region_id)
        if found is None:
            raise NotFoundError(f"no region with id {region_id}", {"id": region_id})
        return found

    def discard_if_empty(self) -> bool:
        """Delete the collection directory if nothing was ever written to it (no batch committed), holding
        the writer lock so that no other writer is mid-add; True when deleted. The CLI calls it when the
        first `add` of a new collection fails on a mistyped path or CSV: no empty collection is left behind."""
        import shutil

        from artlens.errors import CollectionBusyError

        try:
            with self._writer.hold("discard"):
                if self._store.version() != 0:
                    return False
                self._store.destroy()
                self.close()
                shutil.rmtree(self.directory, ignore_errors=True)
                return True
        except CollectionBusyError:
            return False

    def is_stale(self) -> bool:
        """True when the vectors are not those of the catalog as it is now: never built, built before
        its last change (an add that did not finish), or incomplete on disk. The next `add` (or
        `check --repair`) rebuilds them."""
        from artlens.store import vectors

        folder = self.directory / VECTORS_DIR
        return vectors.built_version(folder) != self._store.version() or bool(vectors.problems(folder))

    @_writes("build")
    def build(self) -> FacetVectors:
        """Refit the facet transforms on the whole collection and rebuild every index."""
        self._vectors = self._build_vectors()
        _publish_vectors(self._store, self._vectors)
        # Other machines' folders of a PostgreSQL collection follow the last finished build (see `vectors`).
        self._store.set_settings({"built_version": self._vectors.catalog_version})
        if self._store.layout_facets():
            from artlens.pipeline import maps

            maps.update(self._store, self._vectors)  # new works placed on the maps, the old ones kept where they are
        return self._vectors

    def _published(self, vecs: FacetVectors) -> dict[str, Any] | None:
        """The database's vectors when they are of the same build as `vecs` and recall well enough (read from
        the catalog at most once a second, as `_follow_other_machines` asks)."""
        from artlens.store import pgvectors

        info = self._store.published_vectors(fresh_within=FOLLOW_SECONDS)
        if info is None or info.get("catalog_version") != vecs.catalog_version:
            return None
        return info if pgvectors.searchable(info) else None

    def _build_vectors(self) -> FacetVectors:
        """The vectors folder rebuilt from the catalog (transforms refitted, indexes made)."""
        from artlens.features.embed import raw_dims
        from artlens.store import vectors

        dims = raw_dims(self.backbone, self.style_variant)
        try:
            space = self.style_space()
        except vectors.READ_ERRORS as exc:
            raise CollectionError(f"the learned style space of {self.directory} does not load ({type(exc).__name__}); "
                                  f"run `artlens check --repair {self.directory}` to move a damaged model file aside",
                                  {"kind": "damaged", "part": "models"}) from None
        spaces = {LEARNED_STYLE: space} if space is not None and space.fits(dims) else {}
        built = vectors.build(self._store, self.directory / VECTORS_DIR, dims, spaces)
        self._code_filters()
        return built

    def _code_filters(self) -> None:
        """Code every filterable column of the catalog into this folder's file for every process serving the
        collection (`_hold_columns`, `store/filter_columns.py`): after a build, and after writes that change what
        filters pass without one (about 1 s at 1M works)."""
        _write_filter_columns(self._store, self.directory)

    def _hold_columns(self) -> None:
        """Hand the catalog this folder's filter columns when the file changed since (a stat per search); the catalog
        decides filters from each column while its token is the one it was coded under."""
        from artlens.store import columns_file, vectors

        path = self.directory / FILTER_COLUMNS_FILE
        key = vectors.file_key(path)
        if key != self._columns_key:
            self._columns_key = key
            self._store.hold(columns_file.read(path) if key is not None else None)

    def _follow_other_machines(self) -> None:
        """A PostgreSQL collection may be written from other machines, whose builds update their own
        folders only: when the catalog says a newer build finished (or this folder has none), rebuild
        this folder's vectors from the catalog, holding this folder's lock only; else code again the filter
        columns their writes without a build outdated (`_follow_columns`). Asked at most once a second, so a
        busy web server adds no query per request."""
        import time

        from artlens.store import vectors
        from artlens.store.lock import WriterLock

        if self._store.backend == "sqlite" or time.monotonic() - self._followed < FOLLOW_SECONDS:
            return
        self._followed = time.monotonic()
        folder = self.directory / VECTORS_DIR
        now = self._store.settings(["built_version", "files_version"])
        if now["files_version"] != self._files_version:
            self._sync_models()
            self._files_version = now["files_version"]
        finished = now["built_version"]
        local = vectors.built_version(folder)
        if finished is None or (local is not None and local >= finished and not vectors.problems(folder)):
            self._follow_columns()
            return
        with WriterLock(self.directory).hold("build", wait=float("inf")):
            local = vectors.built_version(folder)
            if local is None or local < finished or vectors.problems(folder):
                self._vectors = self._build_vectors()

    def _follow_columns(self) -> None:
        """Labels, metadata or detections another machine wrote without a build (`annotate`, an `add` of metadata
        alone, `detect`) outdate the filter columns this folder coded of their kind: code them again here (1M works:
        ~1 s), so searches with those filters stay as cheap as on the machine that wrote."""
        from artlens.store.lock import WriterLock

        self._hold_columns()
        if not self._store.columns_outdated():
            return
        with WriterLock(self.directory).hold("build", wait=float("inf")):
            self._hold_columns()  # another process of this machine may have coded them meanwhile
            if self._store.columns_outdated():
                self._code_filters()

    def _share_model(self, path: Path) -> None:
        """A PostgreSQL collection keeps its own model files in the catalog too, for its other machines."""
        if self._store.backend != "sqlite":
            self._store.put_shared_file(path.name, path.read_bytes())

    def _sync_models(self) -> None:
        """Bring this folder's models/ up to the catalog's shared copies (written by any machine)."""
        import hashlib

        folder = self.directory / MODELS_DIR
        for name, digest in self._store.shared_file_digests().items():
            path = folder / name
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
                continue
            data = self._store.shared_file(name)
            if data is None or Path(name).name != name:
                continue
            folder.mkdir(exist_ok=True)
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, path)  # a reader never sees half a model file

    def style_space(self) -> StyleSpace | None:
        """The learned style space in use: the collection's own (`learn_style`), else the default one
        shipped for this backbone, else None."""
        from artlens.learn.style_space import StyleSpace, default_style_space

        own = self.directory / MODELS_DIR / f"{LEARNED_STYLE}.npz"
        if own.exists():
            space = StyleSpace.load(own)
            if space.meta.get("backbone", self.feature_space) == self.feature_space:
                return space  # else trained before a re-embed: `learn style` trains it again
        return default_style_space(self.feature_space, self.style_variant)

    @_writes("learn style")
    def learn_style(
        self,
        group: str,
        loss: str = "contrastive",
        epochs: int | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> StyleSpaceReport:
        """Train the collection's own `style_learned` facet so that works of one `group` (artist,
        series, project) lie close together; rebuilds the vectors with it and returns the training report."""
        from artlens.learn.style_space import STYLE_SPACE_INPUTS, train_style_space

        if loss not in STYLE_LOSSES:
            raise InputError(f"unknown loss {loss!r}: choose one of {', '.join(STYLE_LOSSES)}")
        if epochs is not None and epochs < 1:
            raise InputError("epochs must be at least 1")
        self._require_columns([group])
        ids, raw = self._raw(STYLE_SPACE_INPUTS)
        rows = self._store.artworks(ids)
        # Works without a group still help: the trainer uses them as negatives only.
        groups = [rows[int(i)].meta.get(group) or None for i in ids]
        options: dict[str, Any] = {"loss": loss, "progress": progress, "inputs": STYLE_SPACE_INPUTS}
        if epochs is not None:
            options["epochs"] = epochs
        space, report = train_style_space(raw, groups, **options)
        space.meta.update({"group": group, "backbone": self.feature_space, "style_variant": self.style_variant,
                           "trained_on": f"this collection ({len(ids)} artworks), groups from column {group!r}"})
        (self.directory / MODELS_DIR).mkdir(exist_ok=True)
        space.save(self.directory / MODELS_DIR / f"{LEARNED_STYLE}.npz")
        self._share_model(self.directory / MODELS_DIR / f"{LEARNED_STYLE}.npz")
        self.build()
        return StyleSpaceReport(report)

    @property
    def vectors(self) -> FacetVectors:
        """The built facet vectors: CollectionError before the first `add`, or naming the damage when
        they cannot be read. Reloaded when another build has been put in place since they were loaded
        (a stat of state.json per call), so a long-lived process (the web app) serves what another
        process added; the catalog is handed the folder's filter columns when they change."""
        from artlens.store import vectors

        self._follow_other_machines()
        self._hold_columns()
        folder = self.directory / VECTORS_DIR
        loaded = self._vectors
        if loaded is not None and loaded.key == vectors.state_key(folder):
            return loaded
        if not vectors.exists(folder):
            if self._store.count():
                raise CollectionError(f"{self.directory} has no search index yet; build it with `artlens check --repair {self.directory}` "
                                      "(or the next `artlens add`)")
            raise CollectionError(f"{self.directory} has no search index yet; add images with `artlens add`")
        self._vectors = vectors.load(folder)
        return self._vectors

    def _built(self) -> bool:
        """True when there is a vectors folder (whole or damaged: reading it says which)."""
        from artlens.store import vectors

        self._follow_other_machines()
        return vectors.exists(self.directory / VECTORS_DIR)

    def _listing_order(self, conditions: Sequence[Condition]) -> list[Condition]:
        """The conditions in the order the catalog lists them fastest, by the value counts of the vectors this
        handle has loaded (none loaded: as given; the order never changes which works pass)."""
        from artlens.store.vectors import most_selective_first

        return most_selective_first(None if self._vectors is None else self._vectors.value_counts, conditions)

    # -- searching ---------------------------------------------------------------------------

    @property
    def facets(self) -> tuple[str, ...]:
        """What a search can rank by: 'joint' (the weighted mix), then every single facet."""
        return (JOINT, *self.vectors.facets)

    def facet_weights(self) -> dict[str, float]:
        """Every single facet with its weight in the default joint mix (0 for facets outside it), in
        the collection's facet order; the shipped defaults before the first build."""
        if not self._built():
            return {f: DEFAULT_WEIGHTS.get(f, 0.0) for f in FACETS}
        vecs = self.vectors
        return {f: float(vecs.weights.get(f, 0.0)) for f in vecs.facets}

    def search(
        self,
        images: Sequence[str | Path | QueryImage] = (),
        not_images: Sequence[str | Path | QueryImage] = (),
        facet: str = JOINT,
        weights: dict[str, float] | None = None,
        where: Iterable[str | Condition] = (),
        k: int = 10,
        include_self: bool = False,
        ids: Sequence[int] = (),
        not_ids: Sequence[int] = (),
    ) -> list[SearchResult]:
        """Artworks most like `images` and `ids` (a moodboard when several) and unlike `not_images` and `not_ids`.

        images: paths, or `QueryImage`s from `artlens.load_query_image` (decoded once, not read again).
        ids: artworks of the collection, by id: their stored vectors are used (no file is read).
        facet: 'joint' (weighted mix; `weights` overrides the default mix), 'content', 'style', 'color',
        or a learned facet such as 'style_learned' (see `facets`).
        where: metadata conditions such as 'style=Baroque' or 'genre!=portrait'.
        A query image that is in the collection is left out of its own results unless include_self.
        """
        from artlens.retrieval import filtered, search

        if not images and not ids:
            raise InputError("give at least one query image")
        if self._store.count() == 0:
            # Before this check an empty index surfaced as a KeyError deep in ranking.
            raise CollectionError(f"{self.directory}: the collection has no artworks yet, so there is no search index yet; "
                                  "add images with `artlens add`")
        vecs = self.vectors  # one build for the whole search, even if another is swapped in meanwhile
        facets = (JOINT, *vecs.facets)
        if facet not in facets:
            raise InputError(f"unknown facet {facet!r}: choose one of {', '.join(facets)}")
        if weights is not None and facet != JOINT:
            raise InputError("weights apply to the joint facet only; drop --facet or the weights")
        unknown = [f for f in weights or {} if f not in vecs.facets]
        if unknown:
            raise InputError(f"unknown facet {', '.join(unknown)} in the weights: choose from {', '.join(vecs.facets)}")
        if k < 1:
            raise InputError("k must be at least 1")
        use = dict(weights or vecs.weights) if facet == JOINT else {facet: 1.0}
        conditions = parse_where(where)
        positives, inside = self._query_vectors(vecs, images, ids)
        negatives = self._query_vectors(vecs, not_images, not_ids)[0] if not_images or not_ids else None
        if conditions:
            self._require_columns([c for c, _, _ in conditions], predictions=True)
        exclude = set() if include_self else inside
        query = search.query_vectors(positives, negatives)
        hits = filtered.rank(self._store, vecs, query, use, k, conditions, exclude, self._published(vecs))
        rows = self._store.artworks([h.id for h in hits])
        return [SearchResult(id=h.id, path=rows[h.id].path, score=h.score, scores=h.scores, metadata=rows[h.id].meta, why=h.why(use)) for h in hits]

    def search_regions(
        self,
        image: str | Path | QueryImage | None = None,
        box: Sequence[float] | None = None,
        artwork_id: int | None = None,
        region_id: int | None = None,
        facet: str = JOINT,
        weights: dict[str, float] | None = None,
        kinds: Sequence[str] = (),
        where: Iterable[str | Condition] = (),
        k: int = 10,
        include_self: bool = False,
    ) -> list[SearchResult]:
        """Artworks with a region (a detected person or face) like a box of a query, best region first.

        The query is a `box` (x0, y0, x1, y1 in the image's own pixels) on an `image` (path or QueryImage)
        or on an artwork of the collection (`artwork_id`), or a detected region (`region_id`, see
        `regions`). Each result's `region` is the region that matched. facet: 'joint' (content, style
        and colour as in the collection's mix, or `weights`), 'content', 'style' or 'color'.
        kinds: region kinds to search ('face', 'person'; empty: all). Needs `detect` first.
        """
        from artlens.retrieval import regions

        if sum(x is not None for x in (image, artwork_id, region_id)) != 1:
            raise InputError("give one query: an image with a box, an artwork id with a box, or a region id")
        if (box is None) != (region_id is not None):
            raise InputError("a box goes with an image or an artwork id; a region id needs none")
        if facet != JOINT and facet not in FACETS:
            raise InputError(f"regions are searched by {', '.join((JOINT, *FACETS))}, not {facet!r}")
        if weights is not None and facet != JOINT:
            raise InputError("weights apply to the joint facet only; drop --facet or the weights")
        unknown = [f for f in weights or {} if f not in FACETS]
        if unknown:
            raise InputError(f"regions have no facet {', '.join(unknown)}: weights choose from {', '.join(FACETS)}")
        if k < 1:
            raise InputError("k must be at least 1")
        vecs = self.vectors
        rv = self.region_vectors()
        if len(rv) == 0:
            raise CollectionError(f"{self.directory} has no regions with vectors yet; find them with `artlens detect {self.directory}`")
        use = regions.region_weights(weights or vecs.weights) if facet == JOINT else {facet: 1.0}
        conditions = parse_where(where)
        allowed = None
        if conditions:
            self._require_columns([c for c, _, _ in conditions], predictions=True)
            allowed = self._store.filter_ids(self._listing_order(conditions))
        query, inside = self._region_query(vecs, rv, image, box, artwork_id, region_id)
        hits = regions.rank_regions(rv, query, use, k, allowed, set() if include_self else inside, kinds)
        rows = self._store.artworks([h.hit.id for h in hits])
        return [SearchResult(id=h.hit.id, path=rows[h.hit.id].path, score=h.hit.score, scores=h.hit.scores,
                             metadata=rows[h.hit.id].meta, why=h.hit.why(use), region=h.region) for h in hits]

    def _region_query(self, vecs: FacetVectors, rv: RegionVectors, image: str | Path | QueryImage | None,
                      box: Sequence[float] | None, artwork_id: int | None,
                      region_id: int | None) -> tuple[dict[str, np.ndarray], set[int]]:
        """(facet -> query vector, artworks the query comes from) for `search_regions`."""
        from artlens.errors import ImageError
        from artlens.features.images import DecodedImage, load_image
        from artlens.pipeline.detect import DETECT_SIDE
        from artlens.retrieval import query, regions
        from artlens.standalone import QueryImage

        if region_id is not None:
            row = rv.row(region_id)
            if row is None:
                found = self._store.region(region_id)
                if found is None:
                    raise NotFoundError(f"no region with id {region_id}", {"id": region_id})
                raise CollectionError(f"region {region_id} has no vectors yet; run `artlens detect {self.directory}`", {"id": region_id})
            return {f: rv.matrices[f][row] for f in FACETS}, {int(rv.table.artwork_ids[row])}
        assert box is not None
        inside: set[int] = set()
        if artwork_id is not None:
            art = self._store.artworks([artwork_id]).get(artwork_id)
            if art is None:
                raise NotFoundError(f"no artwork with id {artwork_id}", {"id": artwork_id})
            try:
                img: DecodedImage = load_image(Path(art.path), max_side=DETECT_SIDE)
            except (ImageError, OSError) as exc:
                raise CollectionError(f"artwork {artwork_id}'s file {art.path} cannot be read: {exc}", {"id": artwork_id}) from None
            inside.add(artwork_id)
        elif isinstance(image, QueryImage):
            img = image.decoded
        else:
            img = query.decode_path(Path(str(image)), max_side=DETECT_SIDE)
        if artwork_id is None:
            same = self._store.artwork_by_hash(img.sha256, img.pixel_hash)
            if same is not None:
                inside.add(same.id)
        try:
            checked = regions.check_box(box, img.width, img.height)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        return regions.box_vectors(img.rgb, img.width, checked, vecs, self.backbone, self.style_variant), inside

    def region_vectors(self) -> RegionVectors:
        """Every region with vectors, projected into the collection's facets; rebuilt when the facet
        vectors or the regions change (another process's `detect` included)."""
        from artlens.retrieval import regions

        vecs = self.vectors
        key = (vecs.key, self._store.region_key())
        if self._regions is None or self._regions[0] != key:
            dims = {f: int(vecs.transforms[f].components.shape[1]) for f in FACETS}  # raw lengths the transforms take
            self._regions = (key, regions.project(self._store.region_table(FACETS, dims), vecs))
        return self._regions[1]

    def _query_vectors(self, vecs: FacetVectors, images: Sequence[str | Path | QueryImage],
                       ids: Sequence[int]) -> tuple[dict[str, np.ndarray], set[int]]:
        """Vectors of query images and artworks (facet -> (n, d)), and the indexed ids among them."""
        import numpy as np

        from artlens.retrieval import query
        from artlens.standalone import QueryImage

        parts: list[tuple[dict[str, np.ndarray], set[int]]] = []
        if images:
            items = [i.decoded if isinstance(i, QueryImage) else i for i in images]
            parts.append(query.image_vectors(items, vecs, self._store, self.backbone, self.style_variant))
        if ids:
            parts.append(query.artwork_vectors([int(i) for i in ids], vecs, self._store))
        vectors = {f: np.concatenate([p[0][f] for p in parts]) for f in vecs.facets}
        inside: set[int] = set()
        for _, ids_in in parts:
            inside |= ids_in
        return vectors, inside

    def more_like_this(self, artwork_id: int, k: int = MORE_LIKE_THIS) -> dict[str, list[Neighbour]]:
        """The `k` nearest artworks to an indexed artwork in every facet, from its stored vectors (no
        decoding). Empty lists before the first build or for an artwork that is not indexed."""
        from artlens.retrieval import query, search

        if not self._built():
            return {f: [] for f in FACETS}
        vecs = self.vectors
        if not vecs.has(artwork_id):
            return {f: [] for f in vecs.facets}
        stored = query.stored_vectors(vecs, artwork_id)
        hits_by_facet = {f: search.rank(vecs, stored, {f: 1.0}, k, None, {artwork_id}) for f in vecs.facets}
        rows = self._store.artworks({h.id for hits in hits_by_facet.values() for h in hits})
        return {f: [Neighbour(h.id, rows[h.id].path, h.score, rows[h.id].meta) for h in hits if h.id in rows]
                for f, hits in hits_by_facet.items()}

    # -- artworks ----------------------------------------------------------------------------

    def artwork(self, artwork_id: int, predictions: bool = True) -> Artwork:
        """One artwork (an exact copy too), with the models' decisions; NotFoundError for an unknown id."""
        rows = self._store.artworks([artwork_id])
        if artwork_id not in rows:
            raise NotFoundError(f"no artwork with id {artwork_id}", {"id": artwork_id})
        return self._artworks([rows[artwork_id]], predictions)[0]

    def artworks(self, where: Iterable[str | Condition] = (), offset: int = 0, limit: int = 50) -> ArtworkPage:
        """A page of the artworks that pass the filters (metadata and `pred.MODEL` conditions), in id order."""
        conditions = parse_where(where)
        if conditions:
            self.check_filters(conditions)
        ids = self._store.filter_ids(self._listing_order(conditions))
        page = [int(i) for i in ids[offset:offset + limit]]
        rows = self._store.artworks(page)
        return ArtworkPage(total=int(len(ids)), offset=offset, limit=limit, artworks=self._artworks([rows[i] for i in page if i in rows]))

    def artworks_by_path(self, paths: Iterable[str | Path]) -> dict[str, Artwork]:
        """path -> artwork for the paths the catalog holds (as recorded: absolute)."""
        rows = self._store.ids_by_path(str(p) for p in paths)
        return dict(zip(rows, self._artworks(list(rows.values()), predictions=False)))

    def artworks_by_id(self, ids: Iterable[int]) -> list[Artwork]:
        """The artworks of these ids that exist (in the order asked, each once), without predictions."""
        wanted = list(dict.fromkeys(int(i) for i in ids))
        rows = self._store.artworks(wanted)
        return self._artworks([rows[i] for i in wanted if i in rows], predictions=False)

    def _artworks(self, rows: Sequence[ArtworkRow], predictions: bool = True) -> list[Artwork]:
        preds = self._store.predictions([r.id for r in rows]) if predictions and rows else {}
        return [Artwork(id=r.id, path=r.path, width=r.width, height=r.height, format=r.format, duplicate_of=r.duplicate_of,
                        metadata=r.meta, predictions={m: Prediction(p["label"], p["confidence"], p["top3"]) for m, p in preds.get(r.id, {}).items()})
                for r in rows]

    def count(self) -> int:
        """How many artworks (exact copies are not counted)."""
        return self._store.count()

    def thumbnail(self, artwork_id: int) -> bytes | None:
        return self._store.thumbnail(artwork_id)

    def columns(self) -> list[str]:
        """The metadata columns, sorted."""
        return self._store.columns()

    def prediction_models(self) -> list[str]:
        """The label models that have written decisions (filterable as pred.MODEL)."""
        return self._store.prediction_models()

    def filter_values(self, limit: int = 200) -> dict[str, list[str]]:
        """column (and pred.MODEL) -> its distinct values (at most `limit`, sorted)."""
        values = self._store.distinct_values()
        return {c: sorted(v)[:limit] for c, v in sorted(values.items())}

    def change_key(self) -> tuple[int, int]:
        """A key that changes whenever artworks, metadata or decisions may have (for caches)."""
        return self._store.change_key()

    def check_filters(self, conditions: Sequence[Condition]) -> None:
        """InputError naming filter columns the collection does not have (detail: what it has)."""
        unknown, _ = self._store.unknown_columns([c for c, _, _ in conditions], predictions=True)
        if unknown:
            raise InputError(f"unknown filter column(s): {', '.join(unknown)}",
                             {"columns": self._store.columns(), "predictions": self._store.prediction_models()})

    # -- describing --------------------------------------------------------------------------

    def label_models(self) -> dict[str, Path]:
        """Label models that apply here: the defaults shipped for this backbone, then the collection's own
        (which win on a name clash)."""
        from artlens.learn.registry import available

        self._follow_other_machines()  # models another machine trained
        return available(self.directory / MODELS_DIR, self.feature_space)

    def _raw(self, names: Sequence[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(ids, raw feature matrices) of every indexed artwork, for the raw features named."""
        import numpy as np

        from artlens.features.embed import raw_dims

        dims = raw_dims(self.backbone, self.style_variant)
        out: dict[str, np.ndarray] = {}
        ids = np.zeros(0, np.int64)
        for f in names:
            if f not in dims:
                raise InputError(f"a label model needs the raw feature {f!r}, which this collection does not store")
            ids, out[f] = self._store.features(f, dims[f])
        return ids, out

    @_writes("annotate")
    def annotate(
        self,
        models: Sequence[str] | None = None,
        progress: Callable[[str], None] | None = None,
        tta: bool = False,
        ray: str | None = None,
    ) -> dict[str, Annotation]:
        """Write every model's decision for every artwork; returns per model how many artworks got each decision.

        tta: average each model's scores over six views of the image (whole, centre and corner crops),
        read again from the files (about 6x the model time of `add`); an artwork whose file cannot be
        read any more is described from its stored features.
        ray: embed those views on the Ray cluster at this address (as `add`'s `ray`); only with tta.
        """
        from artlens.learn.heads import LabelHead
        from artlens.pipeline import annotate

        available = self.label_models()
        names = list(models) if models else sorted(available)
        unknown = [m for m in names if m not in available]
        if unknown:
            raise InputError(f"unknown label model {', '.join(unknown)}; available: {', '.join(sorted(available)) or 'none'}")
        heads = {name: LabelHead.load(available[name]) for name in names}
        ids, raw = self._raw(sorted({f for head in heads.values() for f in head.input_dims}))
        if ray is not None and not tta:
            raise InputError("--ray spreads the test-time views of --tta; without them annotate reads only stored features")
        viewer = None
        if tta:
            backbone = self.backbone  # refuses an out-of-date backbone version before any worker starts
            if ray is None:
                viewer = annotate.local_views(backbone, self.style_variant)
            else:
                from artlens.pipeline.distributed import ray_views

                viewer = ray_views(ray, self.backbone_name, self.style_variant)
        done = annotate.annotate(self._store, heads, ids, raw, viewer, progress)
        self._code_filters()  # the labels' values
        return done

    @_writes("labels train")
    def train_label(self, label: str, kind: str = "one-of-many", group: str | None = None, name: str | None = None) -> ModelCard:
        """Train a label head on the labels people gave under `label` (`set_label`) and the metadata column
        of that name, a given label winning (held-out split by `group`); returns its card."""
        from artlens.learn.label_data import merged_metadata, training_labels
        from artlens.learn.training import train_head

        if kind not in LABEL_KINDS:
            raise InputError(f"unknown kind {kind!r}: choose one of {', '.join(LABEL_KINDS)}")
        name = name or label
        if not name.replace("_", "").replace("-", "").isalnum():
            raise InputError(f"model name {name!r}: use letters, digits, - and _ only")
        given = self._store.human_labels(label)
        self._require_columns([None if given else label, group])
        ids, raw = self._raw(("content", "style", "color"))
        rows = self._store.artworks(ids)
        metas = merged_metadata([rows[int(i)].meta for i in ids], [given.get(int(i), {}) for i in ids])
        groups = [m.get(group) or None for m in metas] if group else None
        head = train_head(raw, training_labels(metas, label, kind), kind=kind, groups=groups, name=name, backbone=self.feature_space)
        (self.directory / MODELS_DIR).mkdir(exist_ok=True)
        head.save(self.directory / MODELS_DIR / f"{name}.npz")
        self._share_model(self.directory / MODELS_DIR / f"{name}.npz")
        return ModelCard(head.card)

    def set_label(self, artwork_id: int, name: str, value: str | None) -> None:
        """Record a person's label for an artwork (e.g. name "watercolour", value "yes"); None removes it."""
        if not is_label_name(name):
            raise InputError(f"label name {name!r}: use 1-64 letters, digits, - and _")
        if value is not None and not value.strip():
            raise InputError("a label value cannot be empty (give None to remove the label)")
        if not self._store.set_label(int(artwork_id), name, None if value is None else value.strip()):
            raise NotFoundError(f"no artwork with id {artwork_id}", {"id": artwork_id})

    def labels(self, name: str | None = None) -> dict[int, dict[str, str]]:
        """artwork id -> {label name: value} of the labels people gave (of one `name`, or all)."""
        return self._store.human_labels(name)

    def label_counts(self) -> dict[str, dict[str, int]]:
        """label name -> {value: how many artworks have it}, over the labels people gave."""
        return self._store.label_counts()

    def label_suggestions(self, name: str, n: int = 12) -> list[Suggestion]:
        """The next artworks to ask about for the yes/no label `name` (active learning, see `learn.labelling`)."""
        import numpy as np

        from artlens.learn import labelling

        answered = labelling.answers({i: v[name] for i, v in self.labels(name).items()})
        v = self.vectors
        if not len(v):
            return []
        found = labelling.suggest(np.asarray(v.matrices[JOINT]), v.ids, answered, n)
        rows = self._store.artworks([s.id for s in found])
        return [Suggestion(s.id, rows[s.id].path, s.score, s.reason, rows[s.id].meta) for s in found if s.id in rows]

    def export(self) -> list[dict[str, Any]]:
        """One row per artwork: id, path, metadata, labels people gave (`label.<name>`), and per label
        model its decision `pred.<model>` with its confidence `conf.<model>`, and its best class
        `top.<model>` with that class's probability `p.<model>` (given even when the decision is
        "unsure"; for a yes/no model the class is the positive one and `p` is P(yes)). Once `detect`
        has run, per region kind its count (`faces`, `people`; empty where no detector has looked) and
        its boxes (`face_boxes`, `person_boxes`: [[x0, y0, x1, y1, score], ...] in the work's pixels)."""
        given = self._store.human_labels()
        counted = {name: (kind, counts, self._store.boxes_by_artwork(kind)) for name, kind in COUNT_FILTERS.items()
                   if (counts := self._store.region_counts(kind))}
        label_names = sorted(self._store.label_counts())
        preds = self._store.predictions()
        models = self._store.prediction_models()
        columns = self._store.columns()
        out = []
        for a in self._store.all_artworks():
            row: dict[str, Any] = {"id": a.id, "path": a.path}
            row.update({c: a.meta.get(c, "") for c in columns})
            row.update({f"label.{n}": given.get(a.id, {}).get(n, "") for n in label_names})
            for m in models:
                pred = preds.get(a.id, {}).get(m)
                best = pred["top3"][0] if pred and pred["top3"] else None
                row[f"pred.{m}"] = pred["label"] if pred else ""
                row[f"conf.{m}"] = pred["confidence"] if pred else None
                # The best guess even where the model abstains ("unsure"); for a yes/no model, P(yes).
                row[f"top.{m}"] = best[0] if best else ""
                row[f"p.{m}"] = best[1] if best else None
            for name, (kind, counts, boxes) in counted.items():
                row[name] = counts.get(a.id)
                row[f"{kind}_boxes"] = boxes.get(a.id, []) if a.id in counts else None
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
    ) -> RetrievalReport:
        """Every artwork with the label(s) queries the rest; P@k, mAP (and DeepArt, ALADIN scores) per facet."""
        from artlens.evaluation import evaluate

        if not labels and not group:
            raise InputError("name at least one label column (or a group column) to evaluate against")
        vecs = self.vectors
        facets = list(facets or vecs.matrices)  # every facet the collection has, learned ones included
        unknown_facets = [f for f in facets if f not in vecs.matrices]
        if unknown_facets:
            raise InputError(f"unknown facet {', '.join(unknown_facets)}: choose from {', '.join(vecs.matrices)}")
        self._require_columns([*labels, group])
        rows = self._store.artworks(vecs.ids)
        if min_shared is not None and not 1 <= min_shared <= len(labels):
            raise InputError(f"--min-shared must be between 1 and the number of labels ({len(labels)})")
        if k < 1:
            raise InputError("k must be at least 1")
        meta = [rows[int(i)].meta for i in vecs.ids]
        task = evaluate.RetrievalTask(labels=tuple(labels), group=group, k=k, min_shared=min_shared)
        return RetrievalReport(evaluate.evaluate_retrieval({f: vecs.matrices[f] for f in facets}, meta, task))

    def evaluate_labels(
        self,
        label: str,
        predicted: str,
        scores: str | None = None,
        positive: str | None = None,
        curve: str | Path | None = None,
    ) -> LabelsReport:
        """Compare a predicted-label column with the true one: accuracy, per-class P/R/F1, MCC, confusion.

        scores: a column holding JSON {class: score} per artwork (top-3 accuracy, and for a binary
        label average precision with a precision-recall curve saved to `curve` as PNG).
        """
        from artlens.evaluation import evaluate

        self._require_columns([label, predicted, scores])
        arts = self._store.all_artworks()
        parsed = evaluate.parse_scores_column([(a.path, a.meta) for a in arts], scores) if scores else None
        report = evaluate.evaluate_labels([a.meta.get(label) for a in arts], [a.meta.get(predicted) for a in arts], parsed, positive)
        if curve and "pr_curve" in report:
            report["curve_png"] = evaluate.save_pr_curve(report, label, predicted, Path(curve))
        return LabelsReport(report)

    # -- reporting ---------------------------------------------------------------------------

    def info(self) -> Info:
        """Counts, facets, model and metadata columns."""
        from artlens.store import vectors

        facets: list[FacetInfo] = []
        built = self._built()
        vecs = self.vectors if built else None
        if vecs is not None and len(vecs):
            published = self._published(vecs)  # then broad filters the local ways cannot answer cheaply go to the database
            for f in (JOINT, *vecs.facets):
                dim, kind = vecs.index_facts(f)
                if published is not None and f in published["facets"]:
                    kind = f"{kind}; broad filters: pgvector HNSW, ef_search {published['facets'][f]['ef_search']}"
                space = vecs.spaces.get(f)
                facets.append(FacetInfo(f, dim, kind, space.meta if space is not None else None))
        return Info(
            directory=str(self.directory),
            catalog=str(self._store.address),
            artworks=self._store.count(),
            failed=[Failure(f["path"], f["reason"], f["message"]) for f in self._store.failures()],
            exact_duplicates=len(self._store.exact_duplicates()),
            near_duplicates=len(vectors.load_near_duplicates(self.directory / VECTORS_DIR)),
            facets=facets,
            weights=vecs.weights if vecs is not None else DEFAULT_WEIGHTS,
            columns=self._store.columns(),
            labels=self.label_counts(),
            model=ModelInfo(self.backbone_name, _spec(self.backbone_name).input_size, self.style_variant, self.backbone_version),
            # The vectors on disk, and those this object serves (reloaded above when a newer build is in place).
            stale=self.is_stale() or (self._vectors is not None and self._vectors.catalog_version != self._store.version()),
            regions={name: (len(counts), sum(counts.values())) for name, kind in COUNT_FILTERS.items()
                     if (counts := self._store.region_counts(kind))},
            maps=self.maps(),
        )

    def duplicates(self, artwork_id: int | None = None) -> Duplicates:
        """Exact copies (same bytes or pixels) and near-duplicate pairs, with their evidence.

        artwork_id: only the copies and pairs that involve this artwork (an artwork page needs no more).
        """
        from artlens.store import vectors

        def involves(*ids: int | None) -> bool:
            return artwork_id is None or artwork_id in ids

        exact = [ExactCopy(id=c.id, path=c.path, original_id=o.id, duplicate_of=o.path, same="bytes" if c.sha256 == o.sha256 else "pixels")
                 for c, o in self._store.exact_duplicates() if involves(c.id, o.id)]
        near_pairs = [n for n in vectors.load_near_duplicates(self.directory / VECTORS_DIR) if involves(n.a, n.b)]
        rows = self._store.artworks({i for n in near_pairs for i in (n.a, n.b)})
        near = [NearPair(ArtworkRef(n.a, rows[n.a].path), ArtworkRef(n.b, rows[n.b].path), n.phash_distance, n.content_similarity)
                for n in near_pairs if n.a in rows and n.b in rows]
        return Duplicates(exact, near)

    # -- the collection map ------------------------------------------------------------------

    def map(self, facets: Sequence[str] = (JOINT,), method: str = "tsne", wait: float | None = None) -> MapReport:
        """Lay out each facet in 2-D (t-SNE by default; "umap", or "pca") over every artwork and store the
        map in the catalog, replacing an older one. Later `add`s place new works on it without moving the
        old ones; `maps()` says when a full re-layout would help. Collections of under 20 artworks get PCA."""
        from artlens.maps.layout import METHODS
        from artlens.pipeline import maps

        if method not in METHODS:
            raise InputError(f"unknown layout method {method!r}: choose one of {', '.join(METHODS)}")
        facets = list(dict.fromkeys(facets)) or [JOINT]
        self._require_facets(facets)
        with self._writer.hold("map", wait):
            vecs = self.vectors
            if not len(vecs):
                raise CollectionError(f"{self.directory} has no artworks to map; add images with `artlens add`")
            maps.make(self._store, vecs, facets, method, self.feature_space)
        return MapReport([m for m in self.maps() if m.facet in facets])

    def maps(self) -> list[MapInfo]:
        """Every stored map: method, works, how many were placed after the layout, and why to re-layout (or None)."""
        return [self._map_info(facet, method, info, at, works, placed)
                for facet, (method, info, at, works, placed) in self._store.layout_facets().items()]

    def layout(self, facet: str = JOINT) -> MapLayout:
        """A facet's stored map (ids, x, y, placed, clusters as numpy arrays). InputError for a facet the
        collection does not have, NotFoundError when it has no map yet."""
        rows = self._layout_rows(facet)
        info = self._map_info(rows.facet, rows.method, rows.info, rows.at, int(len(rows.ids)), int(rows.placed.sum()))
        return MapLayout(info, ids=rows.ids, x=rows.xy[:, 0], y=rows.xy[:, 1], placed=rows.placed, clusters=rows.clusters)

    def map_clusters(self, facet: str = JOINT, by: str | None = None, columns: Sequence[str] = ()) -> MapClusters:
        """The clusters of a facet's map, each named by the most common values of column `by` (a metadata
        column or `pred.MODEL`; default: the first of style, genre, artist the collection has, else its
        first column), with the common values of `by` and of each of `columns`."""
        from artlens.pipeline import maps

        rows = self._layout_rows(facet)
        by = by or self._default_colour_column()
        wanted = list(dict.fromkeys([c for c in (by, *columns) if c]))
        self._require_columns(wanted, predictions=True)
        values = self._column_values(rows.ids, wanted)
        return MapClusters(facet, by or "", maps.cluster_table(rows, values, by or ""))

    def map_values(self, facet: str = JOINT, column: str | None = None, top: int = 12) -> MapValues:
        """Column `column` (metadata or `pred.MODEL`; default as in `map_clusters`) over a facet's map, as
        the `top` most common values and one code a work in the map's id order: what colours the web map."""
        rows = self._layout_rows(facet)
        column = column or self._default_colour_column()
        if column:
            self._require_columns([column], predictions=True)
        values: list[str | None] = self._column_values(rows.ids, [column])[column] if column else [None] * len(rows.ids)
        return MapValues.of(facet, column or "", values, max(1, top))

    def draw_map(self, path: str | Path, facet: str = JOINT, colour_by: str | None = None, thumbnails: bool = False) -> Path:
        """Write a picture of a facet's map: PNG (by the suffix .png) or a self-contained HTML page (.html,
        with hover details and, with `thumbnails`, each work's thumbnail inline), points coloured by a
        metadata column or `pred.MODEL` (default as in `map_clusters`), clusters named."""
        from artlens.maps import render

        out = Path(path).expanduser()
        if out.suffix.lower() not in (".png", ".html", ".htm"):
            raise InputError(f"a map picture is .png or .html, not {out.name!r}")
        if not out.parent.is_dir():
            raise InputError(f"no folder {out.parent} to write {out.name} in")
        rows = self._layout_rows(facet)
        colour_by = colour_by or self._default_colour_column()
        self._require_columns([colour_by], predictions=True)
        values = self._column_values(rows.ids, [colour_by]) if colour_by else {}
        named = self.map_clusters(facet, colour_by).clusters if colour_by else []
        arts = self._store.artworks(rows.ids)
        picture = render.MapPicture(
            title=f"{self.directory.name}: {facet} map ({rows.method}, {len(rows.ids)} works)", facet=facet, ids=rows.ids, xy=rows.xy,
            colour_by=colour_by or "", values=values.get(colour_by or "", [None] * len(rows.ids)),
            clusters=[(c["x"], c["y"], c["name"]) for c in named if c["name"]],
            paths=[arts[int(i)].path if int(i) in arts else "" for i in rows.ids])
        if out.suffix.lower() == ".png":
            render.write_png(picture, out)
        else:
            render.write_html(picture, out, self._store.thumbnail if thumbnails else None)
        return out

    def _layout_rows(self, facet: str) -> Any:
        self._require_facets([facet])
        rows = self._store.layout(facet)
        if rows is None:
            raise NotFoundError(f"{self.directory} has no {facet} map yet; make it with `artlens map {self.directory} --facet {facet}`",
                                {"facet": facet})
        return rows

    def _map_info(self, facet: str, method: str, info: dict[str, Any], at: Any, works: int, placed: int) -> MapInfo:
        from artlens.pipeline import maps

        return MapInfo(facet=facet, method=method, works=works, placed=placed, made=at.isoformat(timespec="seconds"),
                       seconds=float(info.get("seconds", 0.0)), relayout=maps.relayout_reason(works, placed, info, self.feature_space))

    def _require_facets(self, facets: Sequence[str]) -> None:
        known = self.facets
        unknown = [f for f in facets if f not in known]
        if unknown:
            raise InputError(f"unknown facet {', '.join(map(repr, unknown))}: choose from {', '.join(known)}", {"facets": list(known)})

    def _default_colour_column(self) -> str | None:
        columns = self._store.columns()
        return next((c for c in ("style", "genre", "artist") if c in columns), columns[0] if columns else None)

    def _column_values(self, ids: np.ndarray, columns: Sequence[str]) -> dict[str, list[str | None]]:
        """column -> value per id (metadata, or a model's decision for `pred.MODEL`; None when absent)."""
        found = self._store.column_values(list(columns))
        return {col: [found[col].get(int(i)) for i in ids] for col in columns}

    # -- checking and repairing --------------------------------------------------------------

    def check(self, repair: bool = False) -> CheckReport:
        """Verify the collection: the catalog (SQLite's integrity check, the schema, raw features for
        every searchable artwork), the vectors against the catalog (every file read, row counts,
        the catalog version they were built from; on PostgreSQL, the copy published in the database),
        the thumbnails and the model files in models/.

        repair: rebuild what can be rebuilt (the vectors, from the catalog; thumbnails, from the image
        files that are still there), move model files that do not load to models/broken/, and say
        what cannot be repaired (a damaged catalog) and how to recover. Repairing takes the writer
        lock (CollectionBusyError while another writer runs); checking alone never waits.
        """
        from artlens.pipeline import check

        return check.check_collection(self._store, self.directory, self._writer, repair, rebuild=lambda: len(self.build()))

    @classmethod
    def check_directory(cls, directory: str | Path, repair: bool = False) -> CheckReport:
        """`check` for a collection that may not even open: a catalog database too damaged to open is
        reported (it cannot be repaired) instead of raised. CollectionError for a folder that is not
        a collection at all."""
        from artlens.pipeline import check

        try:
            col = cls.open(directory)
        except CollectionError as exc:
            if not check.catalog_damage(exc):
                raise
            return check.unreadable_catalog(Path(directory).expanduser(), exc)
        with col:
            return col.check(repair)

    def _require_columns(self, names: Sequence[str | None], predictions: bool = False) -> None:
        """InputError naming the columns the collection does not have (None entries are options not given)."""
        missing, known = self._store.unknown_columns(names, predictions)
        if missing:
            raise InputError(f"unknown metadata column {', '.join(missing)}; the collection has: {', '.join(known) or 'none'}")


# The facets whose vectors a large PostgreSQL collection keeps in the database: the joint mix, which every
# search mixing facets ranks by (any weights of its facets: search._joint_query). An HNSW build of 1M vectors
# took 11 minutes on 2 cores, and every build (each add) makes the tables anew; searches by one facet use the
# local FAISS indexes.
PUBLISHED_FACETS = (JOINT,)


def _write_filter_columns(store: Catalog, directory: Path) -> None:
    """Code `store`'s filterable columns into `directory`'s file (`Collection._code_filters`)."""
    from artlens.store import columns_file

    columns = store.filter_columns()
    if columns is not None:
        columns_file.write(directory / FILTER_COLUMNS_FILE, columns)
    (directory / "listed-filters.bin").unlink(missing_ok=True)  # what ArtLens before 2026-12-01 listed ahead


def _publish_vectors(store: Catalog, vecs: FacetVectors) -> None:
    """A PostgreSQL collection too large for exact search also gets its vectors in the database (pgvector
    HNSW), where every web server of the collection searches them with the filters; a smaller one has none."""
    from artlens.store.index import EXACT_BELOW

    if store.backend == "sqlite":
        return
    if len(vecs) > EXACT_BELOW:
        store.publish_vectors(vecs.catalog_version, vecs.ids, {f: vecs.matrices[f] for f in PUBLISHED_FACETS})
    else:
        store.unpublish_vectors()


def _locate(where: str | Path, database: str | None, create: bool) -> tuple[Path, Address]:
    """The collection's local directory and its catalog's address, from what the user named: a directory
    (its catalog is its SQLite file, or the database its `database.url` names) or a PostgreSQL URL (its
    directory is the URL's folder under $ARTLENS_HOME). `create`: make the directory and record the
    database; otherwise the collection must exist."""
    from artlens.store import engines
    from artlens.store.lock import LOCK_FILE

    if isinstance(where, str) and engines.is_database_url(where):
        if database is not None and engines.parse_url(database) != engines.parse_url(where):
            raise InputError("name the collection once: a PostgreSQL URL, or a directory with database=URL")
        database, where = where, engines.working_directory(engines.parse_url(where))
    directory = Path(where).expanduser()
    recorded = directory / DATABASE_FILE
    if directory.exists() and not directory.is_dir():
        raise CollectionError(f"{directory} is a file, not a collection directory")
    if recorded.is_file():
        address = engines.folder_address(directory)
        if database is not None and engines.parse_url(database) != address:
            raise CollectionError(f"{directory} is the collection at {address}, not {engines.shown_url(database)}")
        return directory, address
    if database is None:
        if not create and not (directory / DB_FILE).is_file():
            raise CollectionError(f"{directory} is not an ArtLens collection (no {DB_FILE}); create it with `artlens add`")
        if create and directory.exists() and not (directory / DB_FILE).exists() and any(p.name != LOCK_FILE for p in directory.iterdir()):
            raise CollectionError(f"{directory} is a folder that is not an ArtLens collection; choose a new or empty folder")
        if create:
            directory.mkdir(parents=True, exist_ok=True)
        return directory, engines.folder_address(directory)
    address = engines.parse_url(database)
    if directory.exists() and any(p.name != LOCK_FILE for p in directory.iterdir()):
        raise CollectionError(f"{directory} already holds files; choose a new or empty folder for the collection at {address}")
    if not create and not engines.initialised(address):
        raise CollectionError(f"{address} holds no ArtLens collection; create it with `artlens add`")
    directory.mkdir(parents=True, exist_ok=True)
    # The URL may carry a password: readable by its owner only (a ~/.pgpass file avoids writing one).
    fd = os.open(recorded, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(database.strip() + "\n")
    return directory, address


def _open_catalog(directory: Path, address: Address, settings: dict[str, str] | None = None) -> Catalog:
    """The catalog at `address`, created with `settings` (backbone, style variant) when new.

    Two processes creating one collection at once (two `add`s) would race to create its tables:
    whoever finds it unfinished creates it holding the writer lock, the other waits for that moment
    (on PostgreSQL the schema's creation is also serialised by the server, for creators on other machines).
    """
    from artlens.store.database import Catalog
    from artlens.store.lock import WriterLock

    if Catalog.initialised(address):
        return Catalog.open(address)
    with WriterLock(directory).hold("create", wait=CREATE_WAIT):
        store = Catalog.open(address)
        if settings and (store.setting("backbone"), store.setting("style_variant")) == (None, None):
            store.set_settings(settings)
        return store


def _spec(backbone: str) -> BackboneSpec:
    """What this ArtLens ships as `backbone`: input size, version (what a new collection records), feature space."""
    from artlens.features.backbone import BACKBONES as SPECS

    return SPECS[backbone]
