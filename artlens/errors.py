"""Typed errors: what a user can fix, each carrying its CLI exit code and HTTP status.

The library raises these; the CLI (one handler), the JSON API (one handler) and the HTML pages
(one handler) turn them into a clear message. Anything else that escapes is a bug: it keeps its
traceback in debug mode (`artlens --debug`, or ARTLENS_DEBUG=1) and reads "internal error, see
the log" otherwise.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

EXIT_INTERNAL = 70  # BSD sysexits EX_SOFTWARE: a bug, not a mistake of the user


class ArtLensError(Exception):
    """Something the user can fix: a wrong path, a bad option, a collection that is not built.

    detail: data for the JSON error body (e.g. the columns a filter could use); headers: extra HTTP
    headers (e.g. WWW-Authenticate).
    """

    exit_code: int = 1
    http_status: int = 400

    def __init__(self, message: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.detail = detail
        self.headers = headers


class InputError(ArtLensError):
    """A file, CSV, filter or option given by the user cannot be used."""


class NotFoundError(InputError):
    """An artwork id (or another named thing) that the collection does not have."""

    http_status = 404


class CollectionError(ArtLensError):
    """The collection directory is missing, not a collection, or not ready for the request."""

    http_status = 409


class CollectionBusyError(CollectionError):
    """Another process (or thread) is writing to the collection: an add, an index build, `learn style`,
    `labels train` or `annotate`. Try again when it has finished, or wait for it (`artlens add --wait`,
    `wait=` in Python). detail: {"pid", "command"} of the writer."""

    exit_code = 75  # BSD sysexits EX_TEMPFAIL: the same command will work later
    http_status = 423  # Locked


ImageFailure = Literal["empty", "not-an-image", "truncated", "corrupt", "too-large", "unreadable", "unsupported"]
IMAGE_FAILURES: frozenset[str] = frozenset(get_args(ImageFailure))


class ImageError(InputError):
    """A file that cannot be used as an image; `reason` says why (one of IMAGE_FAILURES), `str(err)`
    says it to a human."""

    http_status = 422

    def __init__(self, reason: ImageFailure, message: str, path: Any = None) -> None:
        if reason not in IMAGE_FAILURES:
            raise ValueError(f"unknown ImageError reason {reason!r}")
        super().__init__(message, {"reason": reason})
        self.reason: ImageFailure = reason
        self.message = message
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the error picklable, so it survives a worker process boundary.
        return (type(self), (self.reason, self.message, self.path))


class AccessError(ArtLensError):
    """A request that needs a token it does not carry (401) or carries a wrong one (403)."""

    def __init__(self, message: str, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, None, headers)
        self.http_status = status


class RequestError(ArtLensError):
    """A web request the API refuses with a specific status (too large, too many files, a gone file)."""

    def __init__(self, status: int, message: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message, detail, headers)
        self.http_status = status
