"""Alembic's entry point for the catalog's migrations (artlens/store/migrate.py runs them).

ArtLens hands Alembic an open connection (config.attributes["connection"]) whose search_path already
names the collection's schema on PostgreSQL; SQLite runs ALTERs in batch mode (copy and move), as
Alembic needs there.
"""

from alembic import context

from artlens.store.catalog import metadata_obj

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata_obj, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
