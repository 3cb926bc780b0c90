"""The names of a collection directory's parts (docs/architecture.md shows the whole layout)."""

DB_FILE = "artlens.db"  # the catalog (SQLite, WAL)
VECTORS_DIR = "vectors"  # transforms, matrices and indexes per facet, rebuilt from the catalog
FILTER_COLUMNS_FILE = "filter-columns.bin"  # every filterable column coded per work, for searches (store/columns_file.py)
MODELS_DIR = "models"  # the collection's own label heads and learned style space
BROKEN_MODELS_DIR = "broken"  # inside models/: where `check --repair` moves model files that do not load
DATABASE_FILE = "database.url"  # instead of DB_FILE: the URL of the collection's PostgreSQL catalog
