"""The names of a collection directory's parts (docs/architecture.md shows the whole layout)."""

DB_FILE = "artlens.db"  # the catalog (SQLite, WAL)
VECTORS_DIR = "vectors"  # transforms, matrices and indexes per facet, rebuilt from the catalog
LISTED_FILE = "listed-filters.bin"  # the works of frequent filters, listed ahead of first searches (store/listed_file.py)
MODELS_DIR = "models"  # the collection's own label heads and learned style space
BROKEN_MODELS_DIR = "broken"  # inside models/: where `check --repair` moves model files that do not load
DATABASE_FILE = "database.url"  # instead of DB_FILE: the URL of the collection's PostgreSQL catalog
