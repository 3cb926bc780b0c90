"""ArtLens: search and describe art collections by content, style and colour."""
