"""Bring a catalog's schema to this ArtLens's revision, with Alembic, on SQLite and PostgreSQL alike.

The revisions are in migrations/versions/ (a new one: docs/deploying.md says how to write it). Opening a
catalog at the current revision costs one small query; Alembic itself is imported only when a catalog
needs creating or upgrading. Catalogs made before Alembic (ArtLens's create_all, schema_version 1) are
the first revision's tables exactly: they are stamped, not rebuilt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from artlens.errors import CollectionError

HEAD = "0002"  # the newest revision in migrations/versions (tests/test_migrations.py checks it)
FIRST = "0001"  # the tables ArtLens made with create_all before it used Alembic
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
        if current_revision(conn) == HEAD:
            return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        current = current_revision(conn)
        if current == HEAD:
            return
        from alembic import command
        from alembic.script import ScriptDirectory

        config = alembic_config(conn)
        known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
        if current is not None and current not in known:
            raise CollectionError(f"this catalog's schema (revision {current}) is newer than this ArtLens reads: upgrade ArtLens",
                                  {"kind": "schema", "part": "catalog", "problem": f"revision {current}"})
        if current is None and sa.inspect(conn).has_table("settings"):
            command.stamp(config, FIRST)  # made by create_all before Alembic: exactly the first revision
        command.upgrade(config, "head")
