"""Typed errors: the library raises these, the CLI and the REST API turn them into clear messages."""

from __future__ import annotations


class ArtLensError(Exception):
    """Something the user can fix: a wrong path, a bad option, a collection that is not built."""


class CollectionError(ArtLensError):
    """The collection directory is missing, not a collection, or not ready for the request."""


class InputError(ArtLensError):
    """A file, CSV or option given by the user cannot be used."""
