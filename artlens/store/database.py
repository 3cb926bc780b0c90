"""`Catalog`: the one handle the rest of ArtLens uses on a collection's database.

Each method answers one question or makes one change in its own connection (or transaction), so
no caller sees SQLAlchemy: the facade, the ingest pipeline and the vector build talk to this class,
and a second backend (PostgreSQL) only has to honour it. The SQL itself lives in `catalog`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
from sqlalchemy.engine import Engine

from artlens.store import catalog, engines, migrate, pgvectors
from artlens.store.catalog import ArtworkRow, LayoutRows, NewArtwork, RegionTable
from artlens.store.engines import Address
from artlens.store.filter_columns import MAX_VALUES, Column, FilterColumns
from artlens.store.listings import KNOWN_UP_TO, Listings
from artlens.vocabulary import COUNT_FILTERS, PREDICTION_PREFIX

__all__ = ["Address", "ArtworkRow", "Catalog", "LayoutRows", "NewArtwork", "RegionTable"]


class Catalog:
    """The catalog database of one collection: a SQLite file in WAL mode (the default) or a schema of a
    PostgreSQL database (engines.Address says which)."""

    def __init__(self, engine: Engine, address: Address) -> None:
        self.engine = engine  # for tests and tools that need raw SQL; the library goes through methods
        self.address = address
        self._published: tuple[float, dict[str, Any] | None] = (float("-inf"), None)  # when read, and what
        self.listings = Listings()  # filters' works listed earlier (a benchmark empties it to measure first uses)
        self._columns: FilterColumns | None = None  # the collection's filter columns (`hold`)
        # A search's filter reads on PostgreSQL outside a transaction: no BEGIN and ROLLBACK round trips around each
        # (400 candidates checked: 3.1 -> 2.5 ms on 127.0.0.1, more over a network); each statement sees what was
        # committed when it began, as under READ COMMITTED in a transaction. Never for SET LOCAL (`nearest`). SQLite
        # begins no transaction for a read anyway (switching its mode cost 0.2 ms a check).
        self._reads = engine if address.path is not None else engine.execution_options(isolation_level="AUTOCOMMIT")

    @classmethod
    def open(cls, address: Address | Path) -> Catalog:
        """Open the catalog at `address` (a SQLite file's path, or an Address), creating or upgrading its
        schema as needed (migrate.py). CollectionError when the file is not a database or is damaged, or
        the server cannot be reached (and from any later method that meets damaged pages)."""
        if isinstance(address, Path):
            address = Address(path=address)
        engine = engines.create_engine(address)
        try:
            migrate.upgrade(engine, address.schema)
            with engine.begin() as conn:
                if catalog.get_setting(conn, "schema_version") is None:
                    catalog.set_setting(conn, "schema_version", catalog.SCHEMA_VERSION)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, address)

    @staticmethod
    def initialised(address: Address | Path) -> bool:
        """True when the catalog at `address` exists and its creation finished (nothing is created)."""
        return engines.initialised(Address(path=address) if isinstance(address, Path) else address)

    @property
    def backend(self) -> str:
        """"sqlite" or "postgresql"."""
        return self.address.backend

    def close(self) -> None:
        self.engine.dispose()

    def shared_lock(self) -> engines.AdvisoryLock | None:
        """The lock writers on other machines take too (lock.WriterLock's `shared`): PostgreSQL only."""
        if self.address.schema is None:
            return None
        return engines.AdvisoryLock(self.engine, self.address.schema)

    def destroy(self) -> None:
        """Delete a PostgreSQL catalog's schema and everything in it (a SQLite catalog goes with its
        directory): for a new collection whose first add failed."""
        if self.address.schema is not None:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.address.schema}" CASCADE')

    # -- settings and version ----------------------------------------------------------------

    def setting(self, key: str, default: Any = None) -> Any:
        with self.engine.connect() as conn:
            return catalog.get_setting(conn, key, default)

    def set_settings(self, values: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            for key, value in values.items():
                catalog.set_setting(conn, key, value)
        if pgvectors.PUBLISHED in values:
            self._published = (float("-inf"), None)

    def settings(self, keys: Sequence[str]) -> dict[str, Any]:
        """Several settings in one query (missing ones are None)."""
        with self.engine.connect() as conn:
            return catalog.get_settings(conn, keys)

    def version(self) -> int:
        """Bumped by every committed batch: vectors built from an older version are stale."""
        with self.engine.connect() as conn:
            return catalog.catalog_version(conn)

    # -- writing (ingest) --------------------------------------------------------------------

    def file_states(self) -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) of every file seen (added or failed), to skip unchanged ones."""
        with self.engine.connect() as conn:
            return catalog.file_states(conn)

    def commit_batch(self, arts: Sequence[NewArtwork], failures: Sequence[tuple[str, int | None, int | None, str, str]],
                     replace: Iterable[str]) -> list[int | None]:
        """One ingest batch in one transaction: failures (path, size, mtime_ns, reason, message), new
        artworks (`replace`: paths whose old rows go first), and a new catalog version. Returns, per
        artwork, the id of the artwork it exactly duplicates, or None."""
        with self.engine.begin() as conn:
            for path, size, mtime_ns, reason, message in failures:
                catalog.record_failure(conn, path, size, mtime_ns, reason, message)
            originals = catalog.insert_artworks(conn, arts, replace=replace)
            catalog.bump_version(conn)
            catalog.filters_changed(conn)
        return originals

    def merge_metadata(self, metadata: Mapping[str, Mapping[str, str]], skip: set[str]) -> int:
        """Merge metadata into catalogued files by path; returns how many rows applied (paths in
        `skip` count as applied: they got their metadata when inserted)."""
        applied = merged = 0
        with self.engine.begin() as conn:
            for path, meta in metadata.items():
                if path in skip:
                    applied += 1
                elif catalog.set_metadata(conn, path, dict(meta)):
                    applied += 1
                    merged += 1
            if merged:  # rows of works inserted by this add came with them (`commit_batch` marked those)
                catalog.filters_changed(conn, catalog.METADATA_KIND)
        return applied

    def snapshot(self, names: Sequence[str], dims: Mapping[str, int], counted_above: int
                 ) -> tuple[int, dict[str, tuple[np.ndarray, np.ndarray]], list[ArtworkRow], dict[str, dict[str, int]]]:
        """(catalog version, {raw feature: (ids, matrix)}, artworks, `catalog.value_counts`) read in one connection,
        for a vector build."""
        with self.engine.connect() as conn:
            version = catalog.catalog_version(conn)
            raw = {f: catalog.load_features(conn, f, dims[f]) for f in names}
            arts = list(catalog.iter_artworks(conn))
            counts = catalog.value_counts(conn, counted_above)
        return version, raw, arts, counts

    # -- artworks ----------------------------------------------------------------------------

    def artworks(self, ids: Iterable[int]) -> dict[int, ArtworkRow]:
        """id -> row for the ids that exist (copies included)."""
        with self.engine.connect() as conn:
            return catalog.artworks_by_id(conn, ids)

    def all_artworks(self, include_duplicates: bool = False) -> list[ArtworkRow]:
        """Every artwork in id order (exact copies only with include_duplicates)."""
        with self.engine.connect() as conn:
            return list(catalog.iter_artworks(conn, include_duplicates))

    def artwork_by_hash(self, sha256: str, pixel_hash: str) -> ArtworkRow | None:
        with self.engine.connect() as conn:
            return catalog.artwork_by_hash(conn, sha256, pixel_hash)

    def ids_by_path(self, paths: Iterable[str]) -> dict[str, ArtworkRow]:
        """path -> row for the paths the catalog holds."""
        with self.engine.connect() as conn:
            return catalog.artworks_by_path(conn, paths)

    def count(self) -> int:
        """Artworks (exact copies are not counted)."""
        with self.engine.connect() as conn:
            return int(catalog.count_artworks(conn))

    def features(self, name: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, float32 matrix) of one raw feature for every indexed artwork, in id order."""
        with self.engine.connect() as conn:
            return catalog.load_features(conn, name, dim)

    def thumbnail(self, artwork_id: int) -> bytes | None:
        with self.engine.connect() as conn:
            return catalog.thumbnail(conn, artwork_id)

    def failures(self) -> list[dict[str, str]]:
        with self.engine.connect() as conn:
            return catalog.list_failures(conn)

    def exact_duplicates(self) -> list[tuple[ArtworkRow, ArtworkRow]]:
        """(copy, original) for every file that repeats an indexed artwork."""
        with self.engine.connect() as conn:
            return catalog.exact_duplicates(conn)

    # -- metadata and filters ----------------------------------------------------------------

    def columns(self) -> list[str]:
        with self.engine.connect() as conn:
            return catalog.metadata_columns(conn)

    def unknown_columns(self, names: Iterable[str | None], predictions: bool = False) -> tuple[list[str], list[str]]:
        """(names the collection cannot filter on, the names it can); `pred.MODEL` counts with predictions."""
        with self.engine.connect() as conn:
            return catalog.unknown_columns(conn, names, predictions)

    def filter_ids(self, where: Sequence[tuple[str, str, str]], limit: int | None = None,
                   among: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Sorted ids of indexed artworks passing every (column, op, value) condition (the first `limit`; only
        those `among` these ids when given): from an earlier listing or the filter columns when current, else
        from the database."""
        key = _filter_key(where)
        with self._reads.connect() as conn:
            held = self.listings.get(key, lambda: catalog.filters_token(conn, where))
            if held is None:
                coded, token = self._current_columns(conn, where)
                if coded is not None:
                    if among is not None:
                        return coded.among(where, np.asarray(among))
                    held = cast(np.ndarray, coded.listing(where))  # (no bound: always a listing)
                    self.listings.put(token, key, held)
                else:
                    # The token is read before listing (a listing is never older than its token); checks keep nothing.
                    token = None if among is not None else catalog.filters_token(conn, where)
                    ids = catalog.filter_ids(conn, where, limit, among)
                    if limit is None or len(ids) < limit:  # all of them
                        self.listings.put(token, key, ids)
                    return ids
        if among is not None:
            return np.intersect1d(held, np.asarray(among, dtype=np.int64))
        return held if limit is None else held[:limit]

    def value_counts(self, above: int) -> dict[str, dict[str, int]]:
        """`catalog.value_counts`: works per metadata value and predicted label, for those held by more than `above`."""
        with self._reads.connect() as conn:
            return catalog.value_counts(conn, above)

    def filter_columns(self) -> FilterColumns | None:
        """Every filterable column coded per work, each with its filter token read before it (`filter_columns`): what
        the collection keeps on disk for the processes that serve it (`store/columns_file.py`, `hold`); None in a
        catalog without tokens. Nothing is kept in this process."""
        with self._reads.connect() as conn:
            detected = catalog.detected_kinds(conn)
            columns = [*catalog.metadata_columns(conn), *(PREDICTION_PREFIX + m for m in catalog.prediction_models(conn)),
                       *(c for c, kind in COUNT_FILTERS.items() if kind in detected)]
            tokens = catalog.filters_tokens(conn, [[(c, "=", "")] for c in columns] or [[]])
            if tokens[0] is None:
                return None
            ids, coded = catalog.coded_columns(conn, MAX_VALUES)  # read after the tokens: never older than they are
        return FilterColumns(ids, {c: Column(str(t), *coded[c]) for c, t in zip(columns, tokens) if c in coded})

    def hold(self, columns: FilterColumns | None) -> None:
        """Decide filters from these columns (`columns_file.read`), each column while its filter token stays the one
        it was coded under."""
        self._columns = columns

    def columns_outdated(self) -> bool:
        """Whether a write to one kind of column alone (labels, merged metadata, detections: no works added, so no
        build follows) outdated a column this catalog holds (`hold`): one query."""
        held = self._columns
        if held is None or not held.columns:
            return False
        with self._reads.connect() as conn:
            now = catalog.filters_tokens(conn, [[(c, "=", "")] for c in held.columns])
        # Works added or replaced are coded again by the build that follows them.
        return any(catalog.only_kinds_changed(col.token, token) for col, token in zip(held.columns.values(), now))

    def listed(self, where: Sequence[tuple[str, str, str]]) -> np.ndarray | None:
        """The works `where` allows as `filter_ids` listed them earlier, or as the filter columns decide them when
        current and they allow at most `listings.KNOWN_UP_TO` (a broader filter's post-filter costs less than
        searching its list), when nothing changed since; else None (no query when neither is held)."""
        key = _filter_key(where)
        with self._reads.connect() as conn:
            held = self.listings.get(key, lambda: catalog.filters_token(conn, where))
            if held is not None:
                return held
            coded, token = self._current_columns(conn, where)
        if coded is None:
            return None
        ids = coded.listing(where, up_to=KNOWN_UP_TO)
        if ids is not None:
            self.listings.put(token, key, ids)
        return ids

    def allowed_mask(self, where: Sequence[tuple[str, str, str]], ids: np.ndarray) -> np.ndarray | None:
        """Which of `ids` (a vector build's sorted ids) `where` allows, a boolean each, when the held filter columns
        decide it now and hold exactly these works (a build and the columns coded after it do); else None."""
        with self._reads.connect() as conn:
            coded = self._current_columns(conn, where)[0]
        return coded.passing(where) if coded is not None and coded.holds_exactly(ids) else None

    def decides(self, where: Sequence[tuple[str, str, str]]) -> bool:
        """Whether the held filter columns decide `where` now (its columns' tokens current: one query)."""
        with self._reads.connect() as conn:
            return self._current_columns(conn, where)[0] is not None

    def _current_columns(self, conn: Any, where: Sequence[tuple[str, str, str]]) -> tuple[FilterColumns | None, str | None]:
        """The held filter columns when they decide `where` and each of its columns' tokens is current (one query),
        with `where`'s own token (to keep what they list under); else (None, None)."""
        held = self._columns
        if held is None or not held.answers(where):
            return None, None
        needed = held.needed(where)
        *now, token = catalog.filters_tokens(conn, [*([(c, "=", "")] for c in needed), where])
        return (held, token) if all(held.columns[c].token == t for c, t in zip(needed, now)) else (None, None)

    # -- facet vectors in PostgreSQL (pgvectors.py) --------------------------------------------

    def publish_vectors(self, catalog_version: int, ids: np.ndarray, matrices: Mapping[str, np.ndarray]) -> dict[str, Any] | None:
        """PostgreSQL with pgvector: one build's facet vectors into a table with HNSW indexes, recorded for
        searches, the previous build's table dropped. None (and nothing published) on SQLite or without
        pgvector >= 0.8."""
        if self.backend == "sqlite" or not pgvectors.usable(self.engine):
            return None
        info = pgvectors.publish(self.engine, catalog_version, ids, matrices)
        self.set_settings({pgvectors.PUBLISHED: info})
        pgvectors.drop_others(self.engine, keep=info["table"])
        return info

    def unpublish_vectors(self) -> None:
        """Forget published vectors (a build too small to need them): searches use the local index."""
        if self.backend != "sqlite" and self.setting(pgvectors.PUBLISHED) is not None:
            self.set_settings({pgvectors.PUBLISHED: None})
            pgvectors.drop_others(self.engine, keep=None)

    def published_vectors(self, fresh_within: float = 0.0) -> dict[str, Any] | None:
        """What `publish_vectors` recorded last (None on SQLite or when nothing is published). A value this
        object read less than `fresh_within` seconds ago is reused (searches ask at most once a second);
        setting it here forgets the reused value."""
        if self.backend == "sqlite":
            return None
        read_at, info = self._published
        if time.monotonic() - read_at >= fresh_within:
            info = self.setting(pgvectors.PUBLISHED)
            self._published = (time.monotonic(), info)
        return info

    def published_problems(self) -> list[str]:
        """What is wrong with the published vectors (for `check`): their table gone, or of another build."""
        info = self.published_vectors()
        if info is None:
            return []
        if not pgvectors.table_exists(self.engine, info["table"]):
            return [f"the database's table of published vectors ({info['table']}) is missing: searches use the local index"]
        built = self.setting("built_version")
        if info["catalog_version"] != built:
            return [f"the vectors published in the database are of catalog version {info['catalog_version']}, "
                    f"not of the last build ({built}): searches use the local index"]
        return []

    def nearest(self, published: Mapping[str, Any], facet: str, query: np.ndarray, limit: int,
                where: Sequence[tuple[str, str, str]] = ()) -> np.ndarray:
        """Ids nearest `query` on a published facet among artworks passing the filters, in one SQL query
        (pgvectors.Stale when a newer build replaced the table meanwhile)."""
        conditions = (lambda ids: catalog.filter_conditions(where, ids)) if where else None
        return pgvectors.candidates(self.engine, published, facet, query, limit, conditions)

    def column_values(self, columns: Sequence[str]) -> dict[str, dict[int, str]]:
        """column (metadata or pred.MODEL) -> {artwork id: value} for the artworks that have one."""
        with self.engine.connect() as conn:
            return catalog.column_values(conn, columns)

    def change_key(self) -> tuple[int, int]:
        """(catalog version, number of predictions): changes whenever artworks or decisions may have."""
        with self.engine.connect() as conn:
            return catalog.catalog_version(conn), catalog.prediction_count(conn)

    def distinct_values(self) -> dict[str, set[str]]:
        """column (and pred.MODEL) -> its distinct values."""
        with self.engine.connect() as conn:
            values: dict[str, set[str]] = {}
            for row in catalog.iter_artworks(conn):
                for column, value in (row.meta or {}).items():
                    if value not in (None, ""):
                        values.setdefault(column, set()).add(str(value))
            for models in catalog.predictions_by_artwork(conn).values():
                for model, pred in models.items():
                    values.setdefault(PREDICTION_PREFIX + model, set()).add(str(pred["label"]))
        return values

    # -- labels and predictions --------------------------------------------------------------

    def set_label(self, artwork_id: int, name: str, value: str | None) -> bool:
        """Record (or with None remove) a person's label; False when there is no such artwork."""
        with self.engine.begin() as conn:
            if int(artwork_id) not in catalog.artworks_by_id(conn, [int(artwork_id)]):
                return False
            catalog.set_label(conn, int(artwork_id), name, value)
        return True

    def human_labels(self, name: str | None = None) -> dict[int, dict[str, str]]:
        with self.engine.connect() as conn:
            return catalog.human_labels(conn, name)

    def label_counts(self) -> dict[str, dict[str, int]]:
        with self.engine.connect() as conn:
            return catalog.label_counts(conn)

    def write_predictions(self, model: str, version: str, rows: Iterable[tuple[int, str, float, list[Any]]]) -> int:
        with self.engine.begin() as conn:
            catalog.filters_changed(conn, PREDICTION_PREFIX + model)
            return catalog.write_predictions(conn, model, version, rows)

    def prediction_models(self) -> list[str]:
        with self.engine.connect() as conn:
            return catalog.prediction_models(conn)

    def predictions(self, ids: Sequence[int] | None = None) -> dict[int, dict[str, dict[str, Any]]]:
        """artwork id -> {model: {"label", "confidence", "top3"}}, for every artwork or just `ids`."""
        with self.engine.connect() as conn:
            return catalog.predictions_by_artwork(conn, ids)

    # -- integrity (artlens check) -----------------------------------------------------------

    def integrity_problems(self) -> list[str]:
        """SQLite's check of every page and index (PRAGMA integrity_check): [] when sound."""
        with self.engine.connect() as conn:
            return catalog.integrity_problems(conn)

    def schema_problems(self) -> list[str]:
        """Tables or settings that are missing: [] when the schema is whole."""
        with self.engine.connect() as conn:
            return catalog.schema_problems(conn)

    def indexed_ids(self) -> np.ndarray:
        """Sorted ids of the searchable artworks (exact copies left out): what the vectors must hold."""
        with self.engine.connect() as conn:
            return catalog.indexed_ids(conn)

    def feature_gaps(self) -> dict[str, list[int]]:
        """raw feature -> ids of searchable artworks that lack it (or hold a vector of the wrong length)."""
        with self.engine.connect() as conn:
            return catalog.feature_gaps(conn)

    def thumbnail_gaps(self) -> list[int]:
        """Ids of artworks whose thumbnail is missing or is not a JPEG."""
        with self.engine.connect() as conn:
            return catalog.thumbnail_gaps(conn)

    def set_thumbnail(self, artwork_id: int, data: bytes) -> None:
        with self.engine.begin() as conn:
            catalog.set_thumbnail(conn, artwork_id, data)

    # -- re-embedding ------------------------------------------------------------------------

    def staged_ids(self) -> set[int]:
        """Artworks that already have features for the backbone being switched to (`stage_features`)."""
        with self.engine.connect() as conn:
            return catalog.staged_ids(conn)

    def stage_features(self, rows: Sequence[tuple[int, dict[str, np.ndarray]]], target: Mapping[str, Any]) -> None:
        """Write one batch of features for the backbone `target` describes, beside the current ones.
        A target other than the one staged so far discards the earlier batches first."""
        with self.engine.begin() as conn:
            if catalog.get_setting(conn, "reembed_target") != dict(target):
                catalog.clear_staged(conn)
                catalog.set_setting(conn, "reembed_target", dict(target))
            catalog.stage_features(conn, rows)

    def switch_backbone(self, settings: Mapping[str, Any]) -> None:
        """One transaction: the staged features replace the current ones, `settings` (the new backbone
        and version) are recorded, predictions go (they were made from the old features)."""
        with self.engine.begin() as conn:
            catalog.swap_in_staged(conn)
            catalog.filters_changed(conn)
            for key, value in settings.items():
                catalog.set_setting(conn, key, value)
            catalog.set_setting(conn, "reembed_target", None)

    # -- regions -----------------------------------------------------------------------------

    def undetected_ids(self, kind: str, model: str) -> list[int]:
        """Searchable artworks that detector `model` has not looked at for `kind` (e.g. "face") yet."""
        with self.engine.connect() as conn:
            return catalog.undetected_ids(conn, kind, model)

    def write_detections(self, kind: str, model: str, found: Sequence[tuple[int, np.ndarray, np.ndarray]],
                         vectors: Sequence[dict[str, np.ndarray]] | None = None) -> int:
        """One transaction: each artwork's `kind` regions replaced by (id, boxes, scores), with the raw
        features of their crops when given (one dict per artwork); returns the regions written."""
        with self.engine.begin() as conn:
            catalog.filters_changed(conn, catalog.COUNTS_KIND)
            return catalog.write_detections(conn, kind, model, found, vectors)

    def regions_without_features(self) -> dict[int, list[tuple[int, str, list[float]]]]:
        """artwork id -> [(region id, kind, box)] of the regions without vectors."""
        with self.engine.connect() as conn:
            return catalog.regions_without_features(conn)

    def write_region_features(self, found: Sequence[tuple[Sequence[int], dict[str, np.ndarray]]]) -> None:
        """One transaction: (region ids, raw name -> (n, d)) for each artwork of a batch."""
        with self.engine.begin() as conn:
            for region_ids, raw in found:
                catalog.write_region_features(conn, region_ids, raw)

    def region_table(self, names: Sequence[str], dims: dict[str, int]) -> RegionTable:
        """Every region of a searchable artwork with its raw features `names` (see catalog.RegionTable)."""
        with self.engine.connect() as conn:
            return catalog.load_region_table(conn, names, dims)

    def region_key(self) -> tuple[int, int]:
        """Changes whenever regions or their vectors change: a cached region index is stale when it does."""
        with self.engine.connect() as conn:
            return catalog.region_key(conn)

    def region(self, region_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return catalog.region_by_id(conn, region_id)

    def regions(self, artwork_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return catalog.regions_of(conn, artwork_id)

    def detected_kinds(self) -> set[str]:
        with self.engine.connect() as conn:
            return catalog.detected_kinds(conn)

    def region_counts(self, kind: str) -> dict[int, int]:
        """artwork id -> regions of `kind` (e.g. "face") found, for the artworks a detector has looked at."""
        with self.engine.connect() as conn:
            return catalog.region_counts(conn, kind)

    def boxes_by_artwork(self, kind: str) -> dict[int, list[list[float]]]:
        """artwork id -> [x0, y0, x1, y1, score] of each region of `kind`, best first."""
        with self.engine.connect() as conn:
            return catalog.boxes_by_artwork(conn, kind)

    # -- shared files (the collection's own models, for every machine) ---------------------

    def put_shared_file(self, name: str, data: bytes) -> None:
        with self.engine.begin() as conn:
            catalog.put_shared_file(conn, name, data)

    def shared_file_digests(self) -> dict[str, str]:
        """name -> sha256 of every shared file."""
        with self.engine.connect() as conn:
            return catalog.shared_file_digests(conn)

    def shared_file(self, name: str) -> bytes | None:
        with self.engine.connect() as conn:
            return catalog.shared_file(conn, name)

    # -- the collection map -----------------------------------------------------------------

    def write_layout(self, facet: str, method: str, info: Mapping[str, Any], ids: np.ndarray, xy: np.ndarray,
                     placed: np.ndarray, clusters: np.ndarray) -> None:
        """Replace a facet's map, in one transaction."""
        with self.engine.begin() as conn:
            catalog.write_layout(conn, facet, method, dict(info), ids, xy, placed, clusters)

    def extend_layout(self, facet: str, info: Mapping[str, Any], gone: Sequence[int], ids: np.ndarray, xy: np.ndarray,
                      placed: np.ndarray, clusters: np.ndarray) -> None:
        """One transaction: drop works `gone` from a facet's map, add these, and record its new info."""
        with self.engine.begin() as conn:
            catalog.drop_layout_points(conn, facet, gone)
            catalog.add_layout_points(conn, facet, ids, xy, placed, clusters)
            catalog.set_layout_info(conn, facet, dict(info))

    def layout(self, facet: str) -> LayoutRows | None:
        """A facet's stored map, or None when it has none."""
        with self.engine.connect() as conn:
            return catalog.load_layout(conn, facet)

    def layout_facets(self) -> dict[str, tuple[str, dict[str, Any], Any, int, int]]:
        """facet -> (method, info, when made, works, works placed since the layout) of every stored map."""
        with self.engine.connect() as conn:
            return catalog.layout_facets(conn)


def _filter_key(where: Sequence[tuple[str, str, str]]) -> tuple[tuple[str, str, str], ...]:
    return tuple((str(c), str(o), str(v)) for c, o, v in where)
