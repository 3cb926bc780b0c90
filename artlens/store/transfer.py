"""Copy one catalog into another, row for row, across backends (SQLite to PostgreSQL and back): what
`artlens migrate` does to the catalog part of a collection.

Every table is copied with its ids, so the vectors and maps built from the source stay valid for the
copy. Rows go in batches inside one transaction: an interrupted copy leaves the destination empty, and
running it again starts over.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from artlens.errors import CollectionError
from artlens.store import catalog, pgvectors

BATCH = 500
SERIAL = {"artworks": "id", "regions": "id"}  # tables whose ids PostgreSQL hands out from a sequence


def copy_catalog(source: Engine, dest: Engine, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every row of `source` into `dest`, whose schema is at the same revision and which holds no
    artworks yet. Returns rows copied per table; `progress(table, rows so far)` after each batch."""
    counts: dict[str, int] = {}
    with source.connect() as src, dest.begin() as dst:
        if dst.execute(sa.select(sa.func.count()).select_from(catalog.artworks)).scalar_one():
            raise CollectionError("the destination collection already holds artworks: migrate into a new one")
        # The settings of a new catalog (schema version) are replaced by the source's.
        dst.execute(sa.delete(catalog.settings))
        for table in catalog.metadata_obj.sorted_tables:  # parents before the rows that point at them
            counts[table.name] = _copy_table(src, dst, table, progress)
        # Copies point at their originals: set once every artwork is in (the column refers to its own table).
        for copy_id, original in src.execute(sa.select(catalog.artworks.c.id, catalog.artworks.c.duplicate_of)
                                             .where(catalog.artworks.c.duplicate_of.is_not(None))):
            dst.execute(sa.update(catalog.artworks).where(catalog.artworks.c.id == copy_id).values(duplicate_of=original))
        # Vectors published in the source's database are not in the copy's (the copy publishes its own).
        dst.execute(sa.delete(catalog.settings).where(catalog.settings.c.key == pgvectors.PUBLISHED))
        catalog.filters_changed(dst)  # a server that listed filters of the empty catalog lists them again
        if dst.dialect.name == "postgresql":
            for name, column in SERIAL.items():  # the next id after the copied ones
                dst.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', '{column}'), "
                                    f"coalesce((SELECT max({column}) FROM {name}), 0) + 1, false)"))
    return counts


def _copy_table(src: Connection, dst: Connection, table: sa.Table, progress: Callable[[str, int], None] | None) -> int:
    key = list(table.primary_key.columns)
    done = 0
    rows = src.execution_options(yield_per=BATCH).execute(sa.select(table).order_by(*key))
    for batch in rows.partitions(BATCH):
        values = [dict(r._mapping) for r in batch]
        if table is catalog.artworks:
            for v in values:
                v["duplicate_of"] = None
        dst.execute(sa.insert(table), values)
        done += len(values)
        if progress is not None:
            progress(table.name, done)
    return done
