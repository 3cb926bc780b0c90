"""Storage: the catalog (SQLAlchemy), the facet vectors on disk, and the vector indexes (FAISS)."""
