"""Bring a catalog's schema to this ArtLens's revision, with Alembic, on SQLite and PostgreSQL alike.

The revisions are in migrations/versions/ (a new one: docs/deploying.md says how to write it). Opening a
catalog at the current revision costs one small query; Alembic itself is imported only when a catalog
needs creating or upgrading. Catalogs made before Alembic (ArtLens's create_all, schema_version 1) hold
the first revision's tables, or the part of them that existed when they were made: they are stamped, not
rebuilt, and the tables they lack are created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from artlens.errors import CollectionError

HEAD = "0003"  # the newest revision in migrations/versions (tests/test_migrations.py checks it)
FIRST = "0001"  # the tables ArtLens made with create_all before it used Alembic
FIRST_TABLES = ("artworks", "failures", "settings", "features", "thumbnails", "predictions", "labels",
                "detections", "regions", "region_features", "layouts", "layout_points")  # those revision 0001 makes
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LOCK_KEY = 0x4172744C656E73  # "ArtLens": PostgreSQL advisory lock taken while a schema is created or upgraded


def current_revision(conn: Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def alembic_config(conn: Connection | None = None) -> Any:
    """Alembic's configuration for the catalog's migrations, running on `conn` (migrations/env.py reads it)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def upgrade(engine: Engine, schema: str | None = None) -> None:
    """Create or upgrade the catalog behind `engine` (on PostgreSQL, in `schema`, created if missing).
    Two processes creating one collection at once are serialised (an advisory lock on PostgreSQL; on
    SQLite the collection's writer lock, taken by the caller)."""
    with engine.connect() as conn:
        if current_revision(conn) == HEAD and not missing_first_tables(conn):
            return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        current = current_revision(conn)
        if current is not None or sa.inspect(conn).has_table("settings"):
            # A catalog from before Alembic was made by the create_all of its day, which may predate some of
            # the first revision's tables (detections, regions, layouts): make those first, as the code
            # declares them (no later revision alters them). Catalogs stamped before this was known are mended
            # the same way at their next open.
            from artlens.store.catalog import metadata_obj

            missing = missing_first_tables(conn)
            metadata_obj.create_all(conn, tables=[metadata_obj.tables[name] for name in missing], checkfirst=True)
        if current != HEAD:
            _upgrade(conn, current)


def missing_first_tables(conn: Connection) -> list[str]:
    """Tables of the first revision that the catalog lacks (see `upgrade`)."""
    have = set(sa.inspect(conn).get_table_names())
    return [name for name in FIRST_TABLES if name not in have]


def _upgrade(conn: Connection, current: str | None) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(conn)
    known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
    if current is not None and current not in known:
        raise CollectionError(f"this catalog's schema (revision {current}) is newer than this ArtLens reads: upgrade ArtLens",
                              {"kind": "schema", "part": "catalog", "problem": f"revision {current}"})
    if current is None and sa.inspect(conn).has_table("settings"):
        command.stamp(config, FIRST)  # made by create_all before Alembic: the first revision, or part of it
    command.upgrade(config, "head")
