"""Jobs that move data between layers: ingest (files -> features -> catalog)."""
