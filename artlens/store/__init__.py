"""Storage: the catalog database (`Catalog`, SQLAlchemy: SQLite by default), the facet vectors on disk
(`vectors`) and the vector indexes (`index`, FAISS). SQLAlchemy is imported nowhere outside this package."""
