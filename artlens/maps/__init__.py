"""The collection map: 2-D layouts of the facets, their storage rules, pictures and cluster names."""
