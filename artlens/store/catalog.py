"""The catalog: one row per file, with hashes, metadata, raw features and thumbnails.

SQLAlchemy Core over SQLite (WAL) by default. Raw features live in the same database as the rows
they belong to, so a batch of artworks is committed atomically: an interrupted run never leaves a
row without its features, and re-running it simply continues.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from artlens.errors import InputError
from artlens.store.listings import sorted_positions
from artlens.vocabulary import COUNT_FILTERS, PREDICTION_PREFIX, RAW_FEATURES

SCHEMA_VERSION = 1

metadata_obj = sa.MetaData()

# JSON columns are JSONB on PostgreSQL (compact, and its keys can be listed and indexed); SQLite stores text.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

artworks = sa.Table(
    "artworks",
    metadata_obj,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("path", sa.Text, nullable=False, unique=True),
    sa.Column("file_size", sa.BigInteger, nullable=False),
    sa.Column("mtime_ns", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("pixel_hash", sa.String(64), nullable=False, index=True),
    sa.Column("phash", sa.String(16), nullable=False),
    sa.Column("width", sa.Integer, nullable=False),
    sa.Column("height", sa.Integer, nullable=False),
    sa.Column("format", sa.String(16), nullable=False),
    # An exact duplicate (same bytes or same pixels) points at the artwork it repeats and is
    # neither embedded nor indexed: it is a second file, not a second artwork.
    sa.Column("duplicate_of", sa.Integer, sa.ForeignKey("artworks.id"), nullable=True, index=True),
    sa.Column("meta", JSON, nullable=False, default=dict),
    sa.Column("added_at", sa.DateTime, nullable=False),
)

# Each artwork's metadata again, one row per (column, value), so that a filter on metadata and the list of
# columns read an index instead of every artwork's JSON: on 1M works in PostgreSQL, listing the first 10,001
# works of a filter took 60-290 ms that way and listing the columns 0.55 s (docs/benchmarks.md). A value
# is kept to its first META_VALUE_CHARS characters (an index entry must stay small); a filter on a longer
# value checks the JSON of the works whose prefix matches.
META_VALUE_CHARS = 200
meta_values = sa.Table(
    "meta_values",
    metadata_obj,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("artwork_id", sa.Integer, sa.ForeignKey("artworks.id", ondelete="CASCADE"), primary_key=True),
    # One work's values, for checking a few candidates of a search against a filter (400 works against a
    # 50-value filter on 1M works, SQLite: 16 -> 6 ms against the primary key's order).
    sa.Index("ix_meta_values_artwork", "artwork_id", "name", "value"),
)

# Raw (untransformed) backbone features, one blob per facet, float16 to halve the size.
features = sa.Table(
    "features",
    metadata_obj,
    sa.Column("artwork_id", sa.Integer, sa.ForeignKey("artworks.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("facet", sa.String(32), primary_key=True),
    sa.Column("vector", sa.LargeBinary, nullable=False),
)

thumbnails = sa.Table(
    "thumbnails",
    metadata_obj,
    sa.Column("artwork_id", sa.Integer, sa.ForeignKey("artworks.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

failures = sa.Table(
    "failures",
    metadata_obj,
    sa.Column("path", sa.Text, primary_key=True),
    sa.Column("file_size", sa.BigInteger, nullable=True),
    sa.Column("mtime_ns", sa.BigInteger, nullable=True),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)

# One row per (artwork, label model): the model's decision ("yes"/"no"/"unsure", a class or
# "unsure", or ";"-joined classes), its confidence, and the top 3 of one-of-many sets.
predictions = sa.Table(
    "predictions",
    metadata_obj,
    sa.Column("artwork_id", sa.Integer, sa.ForeignKey("artworks.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("model", sa.String(64), primary_key=True),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("top3", JSON, nullable=False, default=list),
    sa.Column("at", sa.DateTime, nullable=False),
    # `pred.MODEL=LABEL` filters and the list of models read this index, not every row.
    sa.Index("ix_predictions_model_label", "model", "label", "artwork_id"),
)

# Labels people gave (in the web app or through the API), one value per (artwork, label name):
# kept apart from the file's metadata so they can be told apart, exported and trained on.
labels = sa.Table(
    "labels",
    metadata_obj,
    sa.Column("artwork_id", sa.Integer, sa.ForeignKey("artworks.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)

# Regions a detector found (faces; people later), in the pixel coordinates of the original image.
regions = sa.Table(
    "regions",
    metadata_obj,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("artwork_id", sa.Integer, sa.ForeignKey("artworks.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("x0", sa.Float, nullable=False),
    sa.Column("y0", sa.Float, nullable=False),
    sa.Column("x1", sa.Float, nullable=False),
    sa.Column("y1", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("model", sa.String(64), nullable=False),
)

# Raw features (content, style, colour) of each region's crop, float16 like `features`: search by
# region projects them with the collection's facet transforms at query time.
region_features = sa.Table(
    "region_features",
    metadata_obj,
    sa.Column("region_id", sa.Integer, sa.ForeignKey("regions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("facet", sa.String(32), primary_key=True),
    sa.Column("vector", sa.LargeBinary, nullable=False),
)

# Which detector has looked at which artwork, and how many regions it found: "no face" is known only
# where one has looked (a filter faces=0 leaves out the works never looked at).
detections = sa.Table(
    "detections",
    metadata_obj,
    sa.Column("artwork_id", sa.Integer, sa.ForeignKey("artworks.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Index("ix_detections_kind_count", "kind", "count", "artwork_id"),  # for `people>=2` filters
)

# The collection map (`artlens map`): one row per laid-out facet (how and when it was made, the
# clusters' centres), and one row per work on it. `placed` marks works put on an existing map by
# `add` (artlens.maps.layout.place) rather than fitted with the rest: their share says when a full
# re-layout would help.
layouts = sa.Table(
    "layouts",
    metadata_obj,
    sa.Column("facet", sa.String(32), primary_key=True),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("info", JSON, nullable=False, default=dict),
    sa.Column("at", sa.DateTime, nullable=False),
)

layout_points = sa.Table(
    "layout_points",
    metadata_obj,
    sa.Column("facet", sa.String(32), sa.ForeignKey("layouts.facet", ondelete="CASCADE"), primary_key=True),
    sa.Column("artwork_id", sa.Integer, sa.ForeignKey("artworks.id", ondelete="CASCADE"), primary_key=True, index=True),
    sa.Column("x", sa.Float, nullable=False),
    sa.Column("y", sa.Float, nullable=False),
    sa.Column("placed", sa.Boolean, nullable=False),
    sa.Column("cluster", sa.Integer, nullable=False),
)

# The collection's own model files (models/<name>.npz: label heads, the learned style space), so that every
# machine of a PostgreSQL collection has them; `files_version` in settings changes with each write.
shared_files = sa.Table(
    "shared_files",
    metadata_obj,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)

settings = sa.Table(
    "settings",
    metadata_obj,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", JSON, nullable=False),
)


@dataclass(frozen=True)
class ArtworkRow:
    """What the catalog knows about one file."""

    id: int
    path: str
    sha256: str
    pixel_hash: str
    phash: str
    width: int
    height: int
    format: str
    duplicate_of: int | None
    meta: dict[str, str]


@dataclass
class NewArtwork:
    """A decoded, embedded file ready to be written to the catalog."""

    path: str
    file_size: int
    mtime_ns: int
    sha256: str
    pixel_hash: str
    phash: str
    width: int
    height: int
    format: str
    thumbnail: bytes
    features: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)


def get_setting(conn: Connection, key: str, default: Any = None) -> Any:
    row = conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).first()
    return default if row is None else row[0]


def get_settings(conn: Connection, keys: Sequence[str]) -> dict[str, Any]:
    rows = dict(conn.execute(sa.select(settings.c.key, settings.c.value).where(settings.c.key.in_(list(keys)))).all())
    return {key: rows.get(key) for key in keys}


def set_setting(conn: Connection, key: str, value: Any) -> None:
    conn.execute(sa.delete(settings).where(settings.c.key == key))
    conn.execute(sa.insert(settings).values(key=key, value=value))


def _row(r: Any) -> ArtworkRow:
    return ArtworkRow(
        id=r.id, path=r.path, sha256=r.sha256, pixel_hash=r.pixel_hash, phash=r.phash,
        width=r.width, height=r.height, format=r.format, duplicate_of=r.duplicate_of, meta=dict(r.meta or {}),
    )


def file_states(conn: Connection) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime_ns) for every file already seen (added or failed), to skip unchanged ones."""
    seen = {r.path: (r.file_size, r.mtime_ns) for r in conn.execute(sa.select(artworks.c.path, artworks.c.file_size, artworks.c.mtime_ns))}
    for r in conn.execute(sa.select(failures.c.path, failures.c.file_size, failures.c.mtime_ns)):
        seen.setdefault(r.path, (r.file_size, r.mtime_ns))
    return seen


# INSERT ... RETURNING the new ids in the order of the rows. SQLAlchemy runs it a row at a time on SQLite (no
# sentinel column to order a multi-row statement's rows by); one multi-row INSERT with the ids read back by path
# committed no faster (bench/catalog_commit.py, interleaved runs: 3,750-3,930 works/s either way).
_INSERT_ARTWORKS = sa.insert(artworks).returning(artworks.c.id, sort_by_parameter_order=True)


def _forget(conn: Connection, path: str) -> dict[str, str]:
    """Drop what is stored for `path` (a changed file is re-added from scratch), except the labels
    people gave it: those are returned, for the new row."""
    conn.execute(sa.delete(failures).where(failures.c.path == path))
    old = conn.execute(sa.select(artworks.c.id).where(artworks.c.path == path)).scalar()
    kept: dict[str, str] = {}
    if old is not None:
        kept = {r.name: r.value for r in conn.execute(sa.select(labels.c.name, labels.c.value).where(labels.c.artwork_id == old))}
        conn.execute(sa.delete(labels).where(labels.c.artwork_id == old))
        # Copies that pointed at the old row become originals again on their own next add; here
        # they are simply re-pointed at nothing so no dangling reference remains.
        conn.execute(sa.update(artworks).where(artworks.c.duplicate_of == old).values(duplicate_of=None))
        conn.execute(sa.delete(features).where(features.c.artwork_id == old))
        conn.execute(sa.delete(thumbnails).where(thumbnails.c.artwork_id == old))
        conn.execute(sa.delete(predictions).where(predictions.c.artwork_id == old))
        conn.execute(sa.delete(meta_values).where(meta_values.c.artwork_id == old))
        conn.execute(sa.delete(artworks).where(artworks.c.id == old))
    return kept


def insert_artworks(conn: Connection, arts: Sequence[NewArtwork], replace: Iterable[str] = ()) -> list[int | None]:
    """Store a batch of artworks; returns, per artwork, the id of the artwork it exactly duplicates or None.

    `replace`: paths that may already have rows (changed files), dropped first. The whole batch takes
    one lookup for copies of catalogued works and one multi-row insert per table: per-row statements
    cost more in SQLAlchemy than SQLite spends running them. A copy of an earlier work of the same
    batch points at that work.
    """
    kept = {path: _forget(conn, path) for path in replace}
    now = _now()
    known = _originals_of(conn, [a.sha256 for a in arts], [a.pixel_hash for a in arts])
    first_in_batch: dict[str, int] = {}  # hash -> position of the first new original carrying it
    originals: list[int | None] = []
    pending: list[int | None] = []  # position of the in-batch original, per artwork
    for i, art in enumerate(arts):
        hit = _first_carrying(known, art.sha256, art.pixel_hash)
        earlier = _first_carrying(first_in_batch, art.sha256, art.pixel_hash)
        if hit is None and earlier is None:
            first_in_batch.setdefault(art.sha256, i)
            first_in_batch.setdefault(art.pixel_hash, i)
        originals.append(hit)
        pending.append(None if hit is not None else earlier)
    ids: list[int] = [0] * len(arts)

    def insert(positions: list[int]) -> None:
        if not positions:
            return
        rows = [{
            "path": arts[i].path, "file_size": arts[i].file_size, "mtime_ns": arts[i].mtime_ns,
            "sha256": arts[i].sha256, "pixel_hash": arts[i].pixel_hash, "phash": arts[i].phash,
            "width": arts[i].width, "height": arts[i].height, "format": arts[i].format,
            "duplicate_of": originals[i], "meta": arts[i].meta, "added_at": now,
        } for i in positions]
        new_ids = conn.execute(_INSERT_ARTWORKS, rows).scalars().all()
        for i, new_id in zip(positions, new_ids):
            ids[i] = int(new_id)
        _insert_meta_values(conn, [(ids[i], arts[i].meta) for i in positions])

    # Originals first, so that copies of them within the batch can point at their new ids.
    insert([i for i in range(len(arts)) if originals[i] is None and pending[i] is None])
    for i, earlier in enumerate(pending):
        if earlier is not None:
            originals[i] = ids[earlier]
    insert([i for i in range(len(arts)) if originals[i] is not None])
    feature_rows = [
        {"artwork_id": ids[i], "facet": name, "vector": np.asarray(vec, np.float16).tobytes()}
        for i, art in enumerate(arts) if originals[i] is None for name, vec in art.features.items()
    ]
    if feature_rows:
        conn.execute(sa.insert(features), feature_rows)
    if arts:
        conn.execute(sa.insert(thumbnails), [{"artwork_id": ids[i], "data": a.thumbnail} for i, a in enumerate(arts)])
    for i, art in enumerate(arts):  # a changed file keeps the labels people gave it
        for name, value in kept.get(art.path, {}).items():
            set_label(conn, ids[i], name, value)
    return originals


def _originals_of(conn: Connection, sha256s: Sequence[str], pixel_hashes: Sequence[str]) -> dict[str, int]:
    """hash (file or pixel) -> id of the first indexed artwork carrying it, for the hashes given."""
    found: dict[str, int] = {}
    for chunk_s, chunk_p in zip(_chunks(list(sha256s), 400), _chunks(list(pixel_hashes), 400)):
        q = (
            sa.select(artworks.c.id, artworks.c.sha256, artworks.c.pixel_hash)
            .where(artworks.c.duplicate_of.is_(None))
            .where(sa.or_(artworks.c.sha256.in_(chunk_s), artworks.c.pixel_hash.in_(chunk_p)))
            .order_by(artworks.c.id)
        )
        for r in conn.execute(q):
            found.setdefault(r.sha256, r.id)
            found.setdefault(r.pixel_hash, r.id)
    return found


def _first_carrying(by_hash: dict[str, int], sha256: str, pixel_hash: str) -> int | None:
    """The lowest id (or position) carrying either hash: the same bytes or the same pixels."""
    return min((by_hash[h] for h in (sha256, pixel_hash) if h in by_hash), default=None)


def record_failure(conn: Connection, path: str, file_size: int | None, mtime_ns: int | None, reason: str, message: str) -> None:
    _forget(conn, path)
    conn.execute(sa.insert(failures).values(path=path, file_size=file_size, mtime_ns=mtime_ns, reason=reason, message=message, at=_now()))


def set_metadata(conn: Connection, path: str, meta: dict[str, str]) -> bool:
    """Merge `meta` into the artwork at `path`; False when the catalog has no such file."""
    row = conn.execute(sa.select(artworks.c.id, artworks.c.meta).where(artworks.c.path == path)).first()
    if row is None:
        return False
    merged = {**(row.meta or {}), **meta}
    if merged != row.meta:
        conn.execute(sa.update(artworks).where(artworks.c.id == row.id).values(meta=merged))
        conn.execute(sa.delete(meta_values).where(meta_values.c.artwork_id == row.id))
        _insert_meta_values(conn, [(row.id, merged)])
    return True


def meta_value_rows(items: Iterable[tuple[int, Mapping[str, Any] | None]]) -> list[dict[str, Any]]:
    """`meta_values` rows for (artwork id, metadata) pairs: one per column with a value."""
    return [{"artwork_id": int(i), "name": str(name), "value": str(value)[:META_VALUE_CHARS]}
            for i, meta in items for name, value in (meta or {}).items() if value is not None]


def _insert_meta_values(conn: Connection, items: Iterable[tuple[int, Mapping[str, Any] | None]]) -> None:
    rows = meta_value_rows(items)
    if rows:
        conn.execute(sa.insert(meta_values), rows)


MAX_ID = 2**63 - 1  # SQLite's INTEGER: a larger number names no artwork (and cannot even be bound)


def artworks_by_id(conn: Connection, ids: Iterable[int]) -> dict[int, ArtworkRow]:
    ids = [int(i) for i in ids if 0 <= int(i) <= MAX_ID]
    out: dict[int, ArtworkRow] = {}
    for chunk in _chunks(ids, 500):
        for r in conn.execute(sa.select(artworks).where(artworks.c.id.in_(chunk))):
            out[r.id] = _row(r)
    return out


def artworks_by_path(conn: Connection, paths: Iterable[str]) -> dict[str, ArtworkRow]:
    out: dict[str, ArtworkRow] = {}
    for chunk in _chunks([str(p) for p in paths], 500):
        for r in conn.execute(sa.select(artworks).where(artworks.c.path.in_(chunk))):
            out[r.path] = _row(r)
    return out


def iter_artworks(conn: Connection, include_duplicates: bool = False) -> Iterator[ArtworkRow]:
    q = sa.select(artworks).order_by(artworks.c.id)
    if not include_duplicates:
        q = q.where(artworks.c.duplicate_of.is_(None))
    for r in conn.execute(q):
        yield _row(r)


def artwork_by_hash(conn: Connection, sha256: str, pixel_hash: str) -> ArtworkRow | None:
    """The indexed artwork a query file is a copy of, if the collection holds one."""
    found = _first_carrying(_originals_of(conn, [sha256], [pixel_hash]), sha256, pixel_hash)
    return None if found is None else artworks_by_id(conn, [found])[found]


def load_features(conn: Connection, facet: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, raw float32 matrix) of one raw facet for every indexed artwork, in id order."""
    q = (
        sa.select(features.c.artwork_id, features.c.vector)
        .join(artworks, artworks.c.id == features.c.artwork_id)
        .where(features.c.facet == facet, artworks.c.duplicate_of.is_(None))
        .order_by(features.c.artwork_id)
    )
    ids: list[int] = []
    blobs: list[bytes] = []
    for r in conn.execute(q):
        ids.append(r.artwork_id)
        blobs.append(r.vector)
    mat = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(ids), dim).astype(np.float32)
    return np.asarray(ids, dtype=np.int64), mat


def thumbnail(conn: Connection, artwork_id: int) -> bytes | None:
    return conn.execute(sa.select(thumbnails.c.data).where(thumbnails.c.artwork_id == artwork_id)).scalar()


def list_failures(conn: Connection) -> list[dict[str, str]]:
    rows = conn.execute(sa.select(failures.c.path, failures.c.reason, failures.c.message).order_by(failures.c.path))
    return [{"path": r.path, "reason": r.reason, "message": r.message} for r in rows]


def exact_duplicates(conn: Connection) -> list[tuple[ArtworkRow, ArtworkRow]]:
    """(copy, original) for every file that repeats an indexed artwork."""
    copies = [_row(r) for r in conn.execute(sa.select(artworks).where(artworks.c.duplicate_of.is_not(None)).order_by(artworks.c.id))]
    originals = artworks_by_id(conn, {c.duplicate_of for c in copies if c.duplicate_of is not None})
    return [(c, originals[c.duplicate_of]) for c in copies if c.duplicate_of in originals]


def count_artworks(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(artworks).where(artworks.c.duplicate_of.is_(None))).scalar_one()


def metadata_columns(conn: Connection) -> list[str]:
    return sorted(_distinct_first(conn, meta_values, "name"))


def _distinct_first(conn: Connection, table: sa.Table, column: str) -> list[str]:
    """The distinct values of the leading column of one of `table`'s indexes, one index probe each (a loose
    index scan: PostgreSQL before 18 and SQLite would otherwise read the whole index for DISTINCT)."""
    name, col = table.name, table.c[column].name
    q = sa.text(f'WITH RECURSIVE v(x) AS (SELECT (SELECT "{col}" FROM "{name}" ORDER BY "{col}" LIMIT 1) UNION ALL '
                f'SELECT (SELECT "{col}" FROM "{name}" WHERE "{col}" > v.x ORDER BY "{col}" LIMIT 1) FROM v WHERE v.x IS NOT NULL) '
                "SELECT x FROM v WHERE x IS NOT NULL")
    return [str(x) for (x,) in conn.execute(q)]


def filter_ids(conn: Connection, where: Sequence[tuple[str, str, str]], limit: int | None = None,
               among: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Sorted ids of indexed artworks passing every (column, op, value) condition (`filter_conditions`),
    the first `limit` of them when given, only those `among` these ids when given."""
    q = _filter_query(tuple((str(c), str(o), str(v)) for c, o, v in where), limit, among is not None, conn.dialect.name)
    return _sorted_ids(conn.execute(q, {} if among is None else {"among": _among_value(among, conn.dialect.name)}).scalar())


def _sorted_ids(joined: str | None) -> np.ndarray:
    """The ids of a string `_id_string` made, sorted: numpy parses it in C (25,000 ids: 0.3 ms, against 3 ms through a
    list of strings)."""
    return np.sort(np.fromstring(joined, dtype=np.int64, sep=",")) if joined else np.zeros(0, np.int64)


@functools.lru_cache(maxsize=256)
def _filter_query(where: tuple[tuple[str, str, str], ...], limit: int | None, among: bool, dialect: str) -> sa.Select:
    """The statement `filter_ids` runs (the candidates a bound parameter "among"), built once per filter: building
    it took as long as SQLite took to check 400 candidates with it (0.7 ms)."""
    parts = _id_sets(where, per_id=among and dialect == "sqlite")
    wanted = [s for keep, s in parts if keep]
    # Read off the first wanted set's index, never touching the artworks' rows: 10,001 of 1M works by one
    # metadata value took 57 ms through the artworks table, mostly its rows' visibility (docs/benchmarks.md).
    # Checking a few works (`among`) the same way on PostgreSQL too: a condition on artworks.id let its planner
    # hash the whole set (400 works against 50% of 1M: 43 -> 4 ms). SQLite checks those the other way round,
    # each work's own entries (ix_meta_values_artwork), faster there (6 vs 16 ms).
    if wanted and (not among or dialect == "postgresql"):
        q, ids, rest = wanted[0], wanted[0].selected_columns[0], [p for p in parts if p[1] is not wanted[0]]
    else:
        # Driven by the artworks table itself, whose rows say which works are duplicates: no second look-up of each
        # (the first set `_id_sets` gives is always the duplicates'; 400 candidates on SQLite: 2.7 -> 2.1 ms).
        q, ids, rest = sa.select(artworks.c.id).where(artworks.c.duplicate_of.is_(None)), artworks.c.id, list(parts[1:])
    if dialect == "sqlite" and not among and len(wanted) > 1:
        # SQLite would list every other wanted set and seek the first one's index once per id of it (a style's 16,500
        # of 1M works and half the works by 50 values of another column: 455 ms); each work the first set lists is
        # looked up in the others instead, one seek a set (15 ms: the cost follows the first set, so put it first).
        looked_up = [(True, s) for keep, s in _id_sets(where, per_id=True) if keep][1:]
        conditions = _conditions([p for p in rest if not p[0]], ids, dialect) + _conditions(looked_up, ids, dialect, per_id=True)
    else:
        conditions = _conditions(rest, ids, dialect, per_id=among)
    if among:
        conditions.insert(0, _among(ids, dialect))
    q = q.where(*conditions)
    # Only the first `limit` need the database's order: a whole listing is sorted by `filter_ids` (five values' 50,000
    # of 1M works on SQLite: 15.7 -> 11.1 ms without the database's sort).
    return _id_string(q if limit is None else q.order_by(ids).limit(limit))


def _id_string(q: sa.Select) -> sa.Select:
    """The ids `q` selects joined into one string by the database (sorted ids let an index answer a broad filter by
    over-fetching instead of a per-id selector): a row object per id (10,000 for a 1% filter of 1M works) made
    Python's garbage collector run in about one listing in a hundred, which then took ~90 ms instead of 6."""
    return sa.select(sa.func.aggregate_strings(sa.cast(q.subquery().c[0], sa.Text), ","))


def _among(ids: sa.ColumnElement, dialect: str) -> sa.ColumnElement:
    """`ids` in the bound parameter "among" (`_among_value`), one parameter, not one per id: an array on PostgreSQL (not
    400 to parse and plan), sent as its text (the driver's list adapter took ~0.4 ms of a 3.5 ms check); a JSON list on
    SQLite (SQLAlchemy wrote 400 placeholders into the statement at every search, ~1 ms of a 3.7 ms check)."""
    if dialect == "postgresql":
        return ids == sa.any_(sa.cast(sa.bindparam("among", type_=sa.Text), postgresql.ARRAY(sa.Integer)))
    return ids.in_(sa.select(sa.func.json_each(sa.bindparam("among", type_=sa.String)).table_valued("value").c.value))


def _among_value(among: Sequence[int] | np.ndarray, dialect: str) -> str:
    """The candidate ids as `_among` binds them: an array's text on PostgreSQL, a JSON list on SQLite."""
    ids = np.asarray(among, dtype=np.int64).tolist()
    text = ",".join(map(str, ids))
    return "{" + text + "}" if dialect == "postgresql" else "[" + text + "]"


def filter_conditions(where: Sequence[tuple[str, str, str]], ids: sa.ColumnElement = artworks.c.id) -> list[sa.ColumnElement]:
    """SQL conditions on a column of artwork ids (`artworks.id`, or a published vector table's id) for
    (column, op, value) filters, exact duplicates left out.

    Conditions on the same column with `=` are alternatives (style=Baroque style=Rococo);
    different columns must all hold. `!=` excludes a value (works without one pass).
    Each reads an index (`meta_values`, predictions by model and label, detections by kind and count),
    never every artwork's metadata.
    """
    return _conditions(_id_sets(where), ids)


def _conditions(parts: Sequence[tuple[bool, sa.Select]], ids: sa.ColumnElement, dialect: str = "postgresql",
                per_id: bool = False) -> list[sa.ColumnElement]:
    """`ids` in each wanted set and in no other one. per_id: a few ids, each looked up in the sets' indexes
    (SQLite otherwise lists every set whole: 2,000 ids against a 50% filter of 1M works took 430 ms)."""
    def lookup(s: sa.Select) -> sa.ColumnElement:
        return sa.exists(s.where(s.selected_columns[0] == ids))

    if per_id:
        return [lookup(s) if keep else ~lookup(s) for keep, s in parts]
    # A set to leave out is NOT IN on SQLite, which lists it once (1% of 1M works: 21 -> 2.9 ms against a
    # correlated NOT EXISTS, which looked up each work), and NOT EXISTS on PostgreSQL, an anti-join (its NOT IN
    # is hashed only while the set fits in work_mem, and quadratic past it).
    if dialect == "sqlite":
        return [ids.in_(s) if keep else ids.not_in(s) for keep, s in parts]
    return [ids.in_(s) if keep else ~lookup(s) for keep, s in parts]


def _id_sets(where: Sequence[tuple[str, str, str]], per_id: bool = False) -> list[tuple[bool, sa.Select]]:
    """The filters as sets of artwork ids, each (True, ids a work must be among) or (False, ids it must not), after
    the duplicates (always first: False, the works marked duplicate_of another) in the order of their first condition
    in `where` (the first wanted set drives a listing: put the most selective first). per_id: for looking up a few
    works each (see `_with_value`)."""
    art = artworks.alias("filtered")  # not correlated with an outer query on artworks
    counts = detections.alias() if per_id else detections  # see `_with_value`
    placed: list[tuple[int, bool, sa.Select]] = [(-1, False, sa.select(art.c.id).where(art.c.duplicate_of.is_not(None)))]
    equal: dict[str, tuple[int, list[str]]] = {}
    for at, (column, op, value) in enumerate(where):
        if column in COUNT_FILTERS:  # a number: compared as one, every condition must hold; works never looked at fail
            count = _compare(counts.c.count, op, _count(column, value))
            placed.append((at, True, sa.select(counts.c.artwork_id).where(counts.c.kind == COUNT_FILTERS[column], count)))
        elif op == "=":
            equal.setdefault(column, (at, []))[1].append(value)
        elif op == "!=":
            if column.startswith(PREDICTION_PREFIX) or len(value) <= META_VALUE_CHARS:
                placed.append((at, False, _with_value(column, [value])))
            else:  # only a prefix is indexed: compare the whole value
                placed.append((at, False, sa.select(art.c.id).where(_meta_field(column, art) == value)))
        else:
            raise InputError(f"bad filter {column}{op}{value}: {op} compares counts ({', '.join(COUNT_FILTERS)}); metadata takes = or !=")
    for column, (at, values) in equal.items():
        placed.append((at, True, _with_value(column, values, per_id)))
        if not column.startswith(PREDICTION_PREFIX) and any(len(v) > META_VALUE_CHARS for v in values):
            placed.append((at, True, sa.select(art.c.id).where(_meta_field(column, art).in_(values))))  # the index matched prefixes
    return [(keep, ids) for _, keep, ids in sorted(placed, key=lambda p: p[0])]


def _with_value(column: str, values: Sequence[str], per_id: bool = False) -> sa.Select:
    """Ids of the artworks whose `column` (metadata, or `pred.MODEL`) has one of `values` (metadata: its
    indexed prefix). per_id: each work is looked up by (work, column) and its value compared with the list;
    SQLite would otherwise seek once per value (400 works x 50 values: 4.8 -> 1.6 ms); its table aliased, so that
    a lookup from another set on the same table is correlated with that set's rows, not merged into its query."""
    preds, values_ = (predictions.alias(), meta_values.alias()) if per_id else (predictions, meta_values)

    def compared(field_: sa.ColumnElement, listed: Sequence[str]) -> sa.ColumnElement:
        return (field_.concat("") if per_id and len(listed) > 1 else field_).in_(listed)  # no index on `x || ''`

    if column.startswith(PREDICTION_PREFIX):
        model = column[len(PREDICTION_PREFIX):]
        return sa.select(preds.c.artwork_id).where(preds.c.model == model, compared(preds.c.label, values))
    prefixes = sorted({indexed_value(column, v) for v in values})
    return sa.select(values_.c.artwork_id).where(values_.c.name == column, compared(values_.c.value, prefixes))


def indexed_value(column: str, value: str) -> str:
    """What a filter's value is looked up and counted (`value_counts`) by: a predicted label whole, a metadata
    value by its first META_VALUE_CHARS characters (as `meta_value_rows` stores it)."""
    return value if column.startswith(PREDICTION_PREFIX) else value[:META_VALUE_CHARS]


def _meta_field(column: str, table: sa.FromClause = artworks) -> sa.ColumnElement:
    return table.c.meta[column].as_string()


_COMPARE = {"=": "__eq__", "!=": "__ne__", ">=": "__ge__", "<=": "__le__", ">": "__gt__", "<": "__lt__"}


def _compare(field_: sa.ColumnElement, op: str, value: int) -> sa.ColumnElement:
    return getattr(field_, _COMPARE[op])(value)


def _count(column: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"bad filter {column}: {value!r} is not a whole number") from None


def _field(column: str) -> sa.ColumnElement:
    """A filterable value: a metadata column, `pred.MODEL` for a label model's decision, or a
    region count (`faces`: NULL where no detector has looked)."""
    if column in COUNT_FILTERS:
        return (
            sa.select(detections.c.count)
            .where(detections.c.artwork_id == artworks.c.id, detections.c.kind == COUNT_FILTERS[column])
            .scalar_subquery()
        )
    if column.startswith(PREDICTION_PREFIX):
        model = column[len(PREDICTION_PREFIX):]
        return (
            sa.select(predictions.c.label)
            .where(predictions.c.artwork_id == artworks.c.id, predictions.c.model == model)
            .scalar_subquery()
        )
    return _meta_field(column)


def value_counts(conn: Connection, above: int) -> dict[str, dict[str, int]]:
    """column -> {value: works holding it} for the metadata values (by their indexed prefix) and predicted labels
    (`pred.MODEL`) held by more than `above` works; any other value is held by at most `above`. Read off the
    indexes (a scan of each: 0.2 s at 1M works on SQLite), for a vector build to keep."""
    out: dict[str, dict[str, int]] = {}
    for prefix, name, value in (("", meta_values.c.name, meta_values.c.value),
                                (PREDICTION_PREFIX, predictions.c.model, predictions.c.label)):
        q = sa.select(name, value, sa.func.count()).group_by(name, value).having(sa.func.count() > above)
        for column, v, n in conn.execute(q):
            out.setdefault(prefix + column, {})[v] = int(n)
    return out


def coded_columns(conn: Connection, max_values: int) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, tuple[str, ...]]]]:
    """The searchable works' sorted ids, and column -> (int16 code per work, the values coded) for every metadata
    column of at most `max_values` distinct values (by indexed prefix), every label model (`pred.MODEL`) and every
    region count (`faces`, `people`: the count itself, at most the int16 maximum, no values); -1 where a work has
    none (`filter_columns`). Each value's works come as one string (`_id_string`): no row object per work."""
    ids = indexed_ids(conn)
    out: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}

    def grouped(q: sa.Select, work: sa.ColumnElement) -> Iterator[tuple[str, Any, np.ndarray]]:
        """(column, value, positions in `ids` of its works) per group of `q` (its two columns: name, value)."""
        columns = list(q.selected_columns)
        q = q.add_columns(sa.func.aggregate_strings(sa.cast(work, sa.Text), ",")).group_by(*columns)
        for column, value, works in conn.execute(q):
            at, found = sorted_positions(ids, np.fromstring(works or "", dtype=np.int64, sep=","))
            yield str(column), value, at[found]

    few = sa.select(meta_values.c.name).group_by(meta_values.c.name).having(sa.func.count(meta_values.c.value.distinct()) <= max_values)
    for prefix, q, work in (
            ("", sa.select(meta_values.c.name, meta_values.c.value).where(meta_values.c.name.in_(few)), meta_values.c.artwork_id),
            (PREDICTION_PREFIX, sa.select(predictions.c.model, predictions.c.label), predictions.c.artwork_id)):
        values: dict[str, list[str]] = {}
        for column, value, at in grouped(q, work):
            listed = values.setdefault(prefix + column, [])
            codes = out.setdefault(prefix + column, (np.full(len(ids), -1, np.int16), ()))[0]
            codes[at] = len(listed)
            listed.append(str(value))
        out.update({column: (out[column][0], tuple(listed)) for column, listed in values.items()})
    count_column = {kind: column for column, kind in COUNT_FILTERS.items()}
    for kind, count, at in grouped(sa.select(detections.c.kind, detections.c.count), detections.c.artwork_id):
        if kind in count_column:
            out.setdefault(count_column[kind], (np.full(len(ids), -1, np.int16), ()))[0][at] = min(int(count), np.iinfo(np.int16).max)
    return ids, out


def column_values(conn: Connection, columns: Sequence[str]) -> dict[str, dict[int, str]]:
    """column -> {artwork id: value} over every artwork, for metadata columns and `pred.MODEL`; works
    without a value are left out. One query that reads only these values (a map of 100,000 works
    would otherwise load every row's metadata)."""
    out: dict[str, dict[int, str]] = {c: {} for c in columns}
    if not columns:
        return out
    for row in conn.execute(sa.select(artworks.c.id, *(_field(c) for c in columns))):
        for col, value in zip(columns, row[1:]):
            if value is not None:
                out[col][int(row[0])] = str(value)
    return out


def write_predictions(conn: Connection, model: str, version: str, rows: Iterable[tuple[int, str, float, list]]) -> int:
    """Replace `model`'s predictions for the given artworks: (artwork_id, label, confidence, top3)."""
    rows = list(rows)
    ids = [r[0] for r in rows]
    for chunk in _chunks(ids, 500):
        conn.execute(sa.delete(predictions).where(predictions.c.model == model, predictions.c.artwork_id.in_(chunk)))
    now = _now()
    if rows:
        conn.execute(sa.insert(predictions), [
            {"artwork_id": i, "model": model, "version": version, "label": label, "confidence": float(conf), "top3": top3, "at": now}
            for i, label, conf, top3 in rows
        ])
    return len(rows)


def set_label(conn: Connection, artwork_id: int, name: str, value: str | None) -> None:
    """Record a person's label for an artwork (replacing an earlier one); value None removes it."""
    conn.execute(sa.delete(labels).where(labels.c.artwork_id == artwork_id, labels.c.name == name))
    if value is not None:
        conn.execute(sa.insert(labels).values(artwork_id=artwork_id, name=name, value=value, at=_now()))


def human_labels(conn: Connection, name: str | None = None) -> dict[int, dict[str, str]]:
    """artwork id -> {label name: value} of the labels people gave (of one `name`, or all)."""
    q = sa.select(labels.c.artwork_id, labels.c.name, labels.c.value)
    if name is not None:
        q = q.where(labels.c.name == name)
    out: dict[int, dict[str, str]] = {}
    for r in conn.execute(q):
        out.setdefault(r.artwork_id, {})[r.name] = r.value
    return out


def label_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """label name -> {value: how many artworks have it} over the labels people gave."""
    q = sa.select(labels.c.name, labels.c.value, sa.func.count()).group_by(labels.c.name, labels.c.value).order_by(labels.c.name, labels.c.value)
    out: dict[str, dict[str, int]] = {}
    for name, value, n in conn.execute(q):
        out.setdefault(name, {})[value] = int(n)
    return out


def prediction_count(conn: Connection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(predictions)).scalar_one())


def prediction_models(conn: Connection) -> list[str]:
    return _distinct_first(conn, predictions, "model")  # by ix_predictions_model_label


def predictions_by_artwork(conn: Connection, ids: Sequence[int] | None = None) -> dict[int, dict[str, dict[str, Any]]]:
    """artwork id -> {model: {"label", "confidence", "top3"}}, for every artwork or just `ids`."""
    q = sa.select(predictions.c.artwork_id, predictions.c.model, predictions.c.label, predictions.c.confidence, predictions.c.top3)
    chunks = [None] if ids is None else list(_chunks([int(i) for i in ids], 500))
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for chunk in chunks:
        for r in conn.execute(q if chunk is None else q.where(predictions.c.artwork_id.in_(chunk))):
            out.setdefault(r.artwork_id, {})[r.model] = {"label": r.label, "confidence": round(float(r.confidence), 4), "top3": r.top3}
    return out


def unknown_columns(conn: Connection, names: Iterable[str | None], predictions: bool = False) -> tuple[list[str], list[str]]:
    """(names the collection cannot filter on, the names it can). None entries are options not given.

    With predictions=True, `pred.MODEL` counts as a column for every model that has predictions.
    """
    known = set(metadata_columns(conn)) | set(COUNT_FILTERS)
    if predictions:
        known |= {PREDICTION_PREFIX + m for m in prediction_models(conn)}
    return sorted({n for n in names if n and n not in known}), sorted(known)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _chunks(items: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def catalog_version(conn: Connection) -> int:
    """A counter bumped by every committed batch: facet vectors built from an older one are stale."""
    return int(get_setting(conn, "catalog_version", 0))


def bump_version(conn: Connection) -> None:
    set_setting(conn, "catalog_version", catalog_version(conn) + 1)


# The settings `filters_changed` renews: listings of filters kept in memory (`store/listings.py`) hold while they stay.
# FILTERS_TOKEN for every filter (works added or replaced); FILTERS_TOKEN:KIND for the filters on one kind of column.
FILTERS_TOKEN = "filters_token"
METADATA_KIND, COUNTS_KIND = "meta", "counts"


def filter_kinds(where: Sequence[tuple[str, str, str]]) -> list[str]:
    """The kinds of column `where` filters on: "meta" (metadata), "pred.MODEL" (one label model's decisions),
    "counts" (detected regions); a write to another kind cannot change what it passes."""
    return sorted({COUNTS_KIND if c in COUNT_FILTERS else c if c.startswith(PREDICTION_PREFIX) else METADATA_KIND
                   for c, _, _ in where})


def filters_changed(conn: Connection, kind: str | None = None) -> None:
    """Mark, in the transaction that changes them, that filters on `kind` (`filter_kinds`; None: every filter) may
    pass other works now (see `listings`)."""
    set_setting(conn, FILTERS_TOKEN if kind is None else f"{FILTERS_TOKEN}:{kind}", secrets.token_hex(8))


def filters_token(conn: Connection, where: Sequence[tuple[str, str, str]]) -> str | None:
    """The token of `where`'s filters: the all-filters token and those of its kinds of column, one query; None in a
    catalog that never had one (nothing may be kept)."""
    return filters_tokens(conn, [where])[0]


def filters_tokens(conn: Connection, filters: Sequence[Sequence[tuple[str, str, str]]]) -> list[str | None]:
    """`filters_token` of each filter, all read in one query."""
    keys = [[FILTERS_TOKEN, *(f"{FILTERS_TOKEN}:{kind}" for kind in filter_kinds(where))] for where in filters]
    values = get_settings(conn, sorted({k for ks in keys for k in ks} | {FILTERS_TOKEN}))
    if values[FILTERS_TOKEN] is None:
        return [None] * len(filters)
    return ["/".join(str(values[k] or "-") for k in ks) for ks in keys]


def only_kinds_changed(listed: str, now: str | None) -> bool:
    """Whether a filter's token `now` (`filters_tokens`) differs from `listed` in its kinds' parts alone: labels or
    metadata written since, no works added or replaced (which renew the all-filters token, its first part)."""
    return now is not None and now != listed and now.split("/")[0] == listed.split("/")[0]


# -- integrity (artlens check) ------------------------------------------------------------------

JPEG_MAGIC = b"\xff\xd8\xff"


def integrity_problems(conn: Connection, limit: int = 10) -> list[str]:
    """SQLite's own check of every page and index: [] when sound. A PostgreSQL server checks its own
    pages as it reads them (and its administrator runs amcheck): nothing to do from here."""
    if conn.dialect.name != "sqlite":
        return []
    rows = [str(r[0]) for r in conn.exec_driver_sql(f"PRAGMA integrity_check({int(limit)})")]
    return [] if rows == ["ok"] else rows


def schema_problems(conn: Connection) -> list[str]:
    found = []
    tables = set(sa.inspect(conn).get_table_names())
    found += [f"table {name} is missing" for name in metadata_obj.tables if name not in tables]
    if "settings" in tables:
        found += [f"setting {key} is missing" for key in ("schema_version", "backbone", "style_variant") if get_setting(conn, key) is None]
        version = get_setting(conn, "schema_version")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            found.append(f"schema version {version} is newer than this ArtLens reads ({SCHEMA_VERSION}): upgrade ArtLens")
    return found


def indexed_ids(conn: Connection) -> np.ndarray:
    """Sorted ids of the artworks that are searchable (every one that is not an exact copy), read as one string."""
    return _sorted_ids(conn.execute(_id_string(sa.select(artworks.c.id).where(artworks.c.duplicate_of.is_(None)))).scalar())


def feature_gaps(conn: Connection) -> dict[str, list[int]]:
    """raw feature -> ids of searchable artworks without it, or with a vector of another length than the rest."""
    stored = set(conn.execute(sa.select(features.c.facet).distinct()).scalars())
    gaps: dict[str, list[int]] = {}
    for name in [*RAW_FEATURES, *sorted(stored - set(RAW_FEATURES))]:
        has = sa.select(features.c.artwork_id).where(features.c.facet == name, features.c.artwork_id == artworks.c.id)
        q = sa.select(artworks.c.id).where(artworks.c.duplicate_of.is_(None), ~has.exists()).order_by(artworks.c.id)
        missing = [int(i) for i in conn.execute(q).scalars()]
        length = sa.func.length(features.c.vector)
        lengths = conn.execute(sa.select(length, sa.func.count()).where(features.c.facet == name)
                               .group_by(length).order_by(sa.func.count().desc())).all()
        if len(lengths) > 1:  # the most common length is the right one
            odd = sa.select(features.c.artwork_id).where(features.c.facet == name, length != lengths[0][0])
            missing += [int(i) for i in conn.execute(odd).scalars()]
        if missing:
            gaps[name] = sorted(set(missing))
    return gaps


def thumbnail_gaps(conn: Connection) -> list[int]:
    """Ids of artworks (exact copies included) without a thumbnail, or whose thumbnail is not a JPEG."""
    q = (sa.select(artworks.c.id).select_from(artworks.outerjoin(thumbnails, thumbnails.c.artwork_id == artworks.c.id))
         .where(sa.or_(thumbnails.c.data.is_(None), sa.func.substr(thumbnails.c.data, 1, 3) != JPEG_MAGIC)).order_by(artworks.c.id))
    return [int(i) for i in conn.execute(q).scalars()]


def set_thumbnail(conn: Connection, artwork_id: int, data: bytes) -> None:
    conn.execute(sa.delete(thumbnails).where(thumbnails.c.artwork_id == artwork_id))
    conn.execute(sa.insert(thumbnails).values(artwork_id=artwork_id, data=data))


# -- re-embedding with another backbone --------------------------------------------------------
# New features are written beside the old ones under a prefixed facet name, batch by batch (so an
# interrupted run continues), and swapped in by one transaction at the end.
STAGED = "next:"


def staged_ids(conn: Connection) -> set[int]:
    """Artworks whose features for the next backbone are written (all facets go in together)."""
    rows = conn.execute(sa.select(features.c.artwork_id).where(features.c.facet == STAGED + "content"))
    return set(rows.scalars())


def stage_features(conn: Connection, rows: Iterable[tuple[int, dict[str, np.ndarray]]]) -> None:
    conn.execute(sa.delete(features).where(features.c.facet.like(STAGED + "%"),
                                           features.c.artwork_id.in_([i for i, _ in rows])))
    values = [{"artwork_id": i, "facet": STAGED + name, "vector": np.asarray(vec, np.float16).tobytes()}
              for i, feats in rows for name, vec in feats.items()]
    if values:
        conn.execute(sa.insert(features), values)


def clear_staged(conn: Connection) -> None:
    conn.execute(sa.delete(features).where(features.c.facet.like(STAGED + "%")))


def swap_in_staged(conn: Connection) -> None:
    """The staged features replace the current ones; predictions made from the old ones go."""
    conn.execute(sa.delete(features).where(features.c.facet.not_like(STAGED + "%")))
    conn.execute(sa.update(features).values(facet=sa.func.substr(features.c.facet, len(STAGED) + 1)))
    conn.execute(sa.delete(predictions))
    # Region vectors came from the old backbone: `detect` embeds the regions again.
    conn.execute(sa.delete(region_features))
    bump_version(conn)


# -- regions ------------------------------------------------------------------------------------


def undetected_ids(conn: Connection, kind: str, model: str) -> list[int]:
    """Searchable artworks that detector `model` has not looked at for `kind` yet."""
    done = sa.select(detections.c.artwork_id).where(detections.c.kind == kind, detections.c.model == model)
    q = sa.select(artworks.c.id).where(artworks.c.duplicate_of.is_(None), artworks.c.id.not_in(done)).order_by(artworks.c.id)
    return [int(i) for i in conn.execute(q).scalars()]


def write_detections(conn: Connection, kind: str, model: str, found: Sequence[tuple[int, np.ndarray, np.ndarray]],
                     vectors: Sequence[dict[str, np.ndarray]] | None = None) -> int:
    """Replace the `kind` regions of each (artwork id, boxes (n, 4), scores (n,)) and record the look.

    vectors: per artwork, raw feature name -> (n, d) features of its n region crops (row i = box i)."""
    ids = [i for i, _, _ in found]
    conn.execute(sa.delete(regions).where(regions.c.artwork_id.in_(ids), regions.c.kind == kind))
    conn.execute(sa.delete(detections).where(detections.c.artwork_id.in_(ids), detections.c.kind == kind))
    written = 0
    for n, (i, boxes, scores) in enumerate(found):
        rows = [{"artwork_id": i, "kind": kind, "x0": float(b[0]), "y0": float(b[1]), "x1": float(b[2]), "y1": float(b[3]),
                 "score": float(sc), "model": model} for b, sc in zip(boxes, scores)]
        if not rows:
            continue
        # One insert per region: SQLite's RETURNING gives the ids that the region vectors point to.
        region_ids = [conn.execute(sa.insert(regions).values(**row).returning(regions.c.id)).scalar_one() for row in rows]
        if vectors is not None:
            write_region_features(conn, region_ids, vectors[n])
        written += len(rows)
    if found:
        now = _now()
        conn.execute(sa.insert(detections), [{"artwork_id": i, "kind": kind, "model": model, "count": len(scores), "at": now}
                                             for i, _, scores in found])
    return written


def write_region_features(conn: Connection, region_ids: Sequence[int], raw: dict[str, np.ndarray]) -> None:
    """Store raw features (name -> (n, d), row i for region_ids[i]), replacing earlier ones."""
    conn.execute(sa.delete(region_features).where(region_features.c.region_id.in_(list(region_ids))))
    rows = [{"region_id": int(r), "facet": name, "vector": np.asarray(mat[n], np.float16).tobytes()}
            for name, mat in raw.items() for n, r in enumerate(region_ids)]
    if rows:
        conn.execute(sa.insert(region_features), rows)


def regions_without_features(conn: Connection) -> dict[int, list[tuple[int, str, list[float]]]]:
    """artwork id -> [(region id, kind, box)] of the regions that have no vectors yet (detected before
    regions had vectors, or whose vectors a re-embed removed)."""
    have = sa.select(region_features.c.region_id).distinct()
    q = sa.select(regions).where(regions.c.id.not_in(have)).order_by(regions.c.artwork_id, regions.c.id)
    out: dict[int, list[tuple[int, str, list[float]]]] = {}
    for r in conn.execute(q):
        out.setdefault(int(r.artwork_id), []).append((int(r.id), r.kind, [r.x0, r.y0, r.x1, r.y1]))
    return out


@dataclass(frozen=True)
class RegionTable:
    """Every region with vectors, row-aligned: ids, artwork ids, kinds, boxes, detector scores, raw features."""

    ids: np.ndarray  # (n,) int64 region ids, ascending
    artwork_ids: np.ndarray  # (n,) int64
    kinds: np.ndarray  # (n,) str
    boxes: np.ndarray  # (n, 4) float32, in the artwork's pixels
    scores: np.ndarray  # (n,) float32
    raw: dict[str, np.ndarray]  # raw feature name -> (n, d) float32


def load_region_table(conn: Connection, names: Sequence[str], dims: dict[str, int]) -> RegionTable:
    """The regions of searchable artworks that have every raw feature in `names`."""
    q = (sa.select(regions).join(artworks, artworks.c.id == regions.c.artwork_id)
         .where(artworks.c.duplicate_of.is_(None)).order_by(regions.c.id))
    rows = list(conn.execute(q))
    blobs: dict[str, dict[int, bytes]] = {name: {} for name in names}
    fq = sa.select(region_features).where(region_features.c.facet.in_(list(names)))
    for r in conn.execute(fq):
        if len(r.vector) == 2 * dims[r.facet]:  # vectors of another backbone length are stale: skipped
            blobs[r.facet][int(r.region_id)] = r.vector
    rows = [r for r in rows if all(int(r.id) in blobs[name] for name in names)]
    raw = {name: np.frombuffer(b"".join(blobs[name][int(r.id)] for r in rows), np.float16).reshape(len(rows), dims[name]).astype(np.float32)
           for name in names}
    return RegionTable(
        ids=np.asarray([r.id for r in rows], np.int64), artwork_ids=np.asarray([r.artwork_id for r in rows], np.int64),
        kinds=np.asarray([r.kind for r in rows], dtype=object), scores=np.asarray([r.score for r in rows], np.float32),
        boxes=np.asarray([[r.x0, r.y0, r.x1, r.y1] for r in rows], np.float32).reshape(len(rows), 4), raw=raw)


def region_key(conn: Connection) -> tuple[int, int]:
    """(region vectors, highest region id): changes whenever regions or their vectors change."""
    n, top = conn.execute(sa.select(sa.func.count(), sa.func.max(region_features.c.region_id))).one()
    return int(n), int(top or 0)


def region_by_id(conn: Connection, region_id: int) -> dict[str, Any] | None:
    """One region: id, artwork id, kind, box, score, model; None if there is no such region."""
    r = conn.execute(sa.select(regions).where(regions.c.id == region_id)).first()
    if r is None:
        return None
    return {"id": int(r.id), "artwork_id": int(r.artwork_id), "kind": r.kind, "box": [r.x0, r.y0, r.x1, r.y1],
            "score": r.score, "model": r.model}


def regions_of(conn: Connection, artwork_id: int) -> list[dict[str, Any]]:
    """The regions of one artwork: kind, box, score, model; best score first."""
    q = sa.select(regions).where(regions.c.artwork_id == artwork_id).order_by(regions.c.kind, regions.c.score.desc())
    return [{"id": int(r.id), "kind": r.kind, "box": [r.x0, r.y0, r.x1, r.y1], "score": r.score, "model": r.model}
            for r in conn.execute(q)]


def detected_kinds(conn: Connection) -> set[str]:
    """The region kinds some detector has looked for in this collection."""
    return {str(k) for k in conn.execute(sa.select(detections.c.kind).distinct()).scalars()}


def region_counts(conn: Connection, kind: str) -> dict[int, int]:
    """artwork id -> regions of `kind` found, for the artworks a detector has looked at."""
    q = sa.select(detections.c.artwork_id, detections.c.count).where(detections.c.kind == kind)
    return {int(i): int(n) for i, n in conn.execute(q)}


def boxes_by_artwork(conn: Connection, kind: str) -> dict[int, list[list[float]]]:
    """artwork id -> [x0, y0, x1, y1, score] of each region of `kind`, best first."""
    q = sa.select(regions).where(regions.c.kind == kind).order_by(regions.c.artwork_id, regions.c.score.desc())
    out: dict[int, list[list[float]]] = {}
    for r in conn.execute(q):
        out.setdefault(int(r.artwork_id), []).append([round(r.x0, 1), round(r.y0, 1), round(r.x1, 1), round(r.y1, 1), round(r.score, 3)])
    return out


# -- the collection map ---------------------------------------------------------------------


@dataclass
class LayoutRows:
    """One facet's stored map: works in id order with their position, whether placed, and cluster."""

    facet: str
    method: str
    info: dict[str, Any]
    at: dt.datetime
    ids: np.ndarray  # (n,) int64, ascending
    xy: np.ndarray  # (n, 2) float32
    placed: np.ndarray  # (n,) bool
    clusters: np.ndarray  # (n,) int32


def write_layout(conn: Connection, facet: str, method: str, info: dict[str, Any], ids: np.ndarray, xy: np.ndarray,
                 placed: np.ndarray, clusters: np.ndarray) -> None:
    """Replace a facet's map with these works (ids must name artworks)."""
    conn.execute(sa.delete(layout_points).where(layout_points.c.facet == facet))
    conn.execute(sa.delete(layouts).where(layouts.c.facet == facet))
    conn.execute(sa.insert(layouts).values(facet=facet, method=method, info=info, at=_now()))
    add_layout_points(conn, facet, ids, xy, placed, clusters)


def add_layout_points(conn: Connection, facet: str, ids: np.ndarray, xy: np.ndarray, placed: np.ndarray, clusters: np.ndarray) -> None:
    rows = [{"facet": facet, "artwork_id": int(i), "x": float(p[0]), "y": float(p[1]), "placed": bool(b), "cluster": int(c)}
            for i, p, b, c in zip(ids, xy, placed, clusters)]
    for chunk in _chunks(rows, 5000):
        conn.execute(sa.insert(layout_points), chunk)


def drop_layout_points(conn: Connection, facet: str, ids: Iterable[int]) -> None:
    for chunk in _chunks([int(i) for i in ids], 900):
        conn.execute(sa.delete(layout_points).where(layout_points.c.facet == facet, layout_points.c.artwork_id.in_(chunk)))


def set_layout_info(conn: Connection, facet: str, info: dict[str, Any]) -> None:
    conn.execute(sa.update(layouts).where(layouts.c.facet == facet).values(info=info))


def layout_facets(conn: Connection) -> dict[str, tuple[str, dict[str, Any], dt.datetime, int, int]]:
    """facet -> (method, info, when made, works, works placed since) of every stored map, counted in SQL."""
    counts = {r[0]: (int(r[1]), int(r[2] or 0)) for r in conn.execute(
        sa.select(layout_points.c.facet, sa.func.count(), sa.func.sum(sa.cast(layout_points.c.placed, sa.Integer))).group_by(layout_points.c.facet))}
    return {r.facet: (r.method, dict(r.info or {}), r.at, *counts.get(r.facet, (0, 0)))
            for r in conn.execute(sa.select(layouts).order_by(layouts.c.facet))}


def load_layout(conn: Connection, facet: str) -> LayoutRows | None:
    head = conn.execute(sa.select(layouts).where(layouts.c.facet == facet)).first()
    if head is None:
        return None
    q = (sa.select(layout_points.c.artwork_id, layout_points.c.x, layout_points.c.y, layout_points.c.placed, layout_points.c.cluster)
         .where(layout_points.c.facet == facet).order_by(layout_points.c.artwork_id))
    # Plain tuples, then arrays: under a second for 100,000 points on a busy machine.
    rows = [tuple(r) for r in conn.execute(q)]
    ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    table = np.array([r[1:] for r in rows], dtype=np.float64).reshape(-1, 4)
    return LayoutRows(facet=facet, method=head.method, info=dict(head.info or {}), at=head.at, ids=ids,
                      xy=table[:, 0:2].astype(np.float32), placed=table[:, 2] != 0, clusters=table[:, 3].astype(np.int32))


# -- shared files (models) ----------------------------------------------------------------------


def put_shared_file(conn: Connection, name: str, data: bytes) -> None:
    import hashlib

    conn.execute(sa.delete(shared_files).where(shared_files.c.name == name))
    conn.execute(sa.insert(shared_files).values(name=name, data=data, sha256=hashlib.sha256(data).hexdigest(), at=_now()))
    set_setting(conn, "files_version", int(get_setting(conn, "files_version", 0)) + 1)


def shared_file_digests(conn: Connection) -> dict[str, str]:
    return {r.name: r.sha256 for r in conn.execute(sa.select(shared_files.c.name, shared_files.c.sha256))}


def shared_file(conn: Connection, name: str) -> bytes | None:
    return conn.execute(sa.select(shared_files.c.data).where(shared_files.c.name == name)).scalar()
