"""Retrieval: ranking by facets (search) and near-duplicate detection."""
