"""What the app shares between requests: one open Collection, the write lock, the token, the limits, and
the pool that decodes uploads."""

from __future__ import annotations

import asyncio
import hmac
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer

from artlens import AccessError, Collection
from artlens.vocabulary import JOINT

UPLOADS_DIR = "uploads"
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    """What one request may cost. Defaults: see docs/security.md (and `artlens serve --help`)."""

    upload_bytes: int = 25 * 2**20       # one uploaded file
    request_bytes: int = 0               # the whole body; 0: four full-size files plus 1 MiB of form fields
    query_pixels: int = 16_000_000       # pixels a query image's decoder may hold at once
    decode_workers: int = 2              # uploads decoded at the same time (each in its own thread)

    def __post_init__(self) -> None:
        if min(self.upload_bytes, self.query_pixels, self.decode_workers) < 1 or self.request_bytes < 0:
            raise ValueError(f"limits must be positive: {self}")

    @property
    def body_bytes(self) -> int:
        return self.request_bytes or 4 * self.upload_bytes + (1 << 20)


class Decoder:
    """Runs image decoding in its own small thread pool: never on the event loop (a decode of a big
    upload takes seconds), and at most `workers` at once (each can hold hundreds of MB)."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="artlens-decode")

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class AppState:
    collection: Collection
    token: str | None
    limits: Limits
    decoder: Decoder
    add_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def uploads_dir(self) -> Path:
        return self.collection.directory / UPLOADS_DIR

    def filter_columns(self) -> list[str]:
        """What `where` may name: metadata columns and pred.MODEL for every model with decisions."""
        return [*self.collection.columns(), *(f"pred.{m}" for m in self.collection.prediction_models())]

    def weight_facets(self) -> list[str]:
        """The single facets a joint mix can weight."""
        return list(self.collection.facet_weights())

    def search_facets(self) -> list[str]:
        return [JOINT, *self.weight_facets()]

    def require_writer(self, request: Request) -> None:
        """AccessError 401/403 unless the request carries `Authorization: Bearer <token>` matching the app's token."""
        if not self.token:
            raise AccessError("write endpoints are disabled: the server was started without an API token", 403)
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise AccessError("this endpoint needs an 'Authorization: Bearer <token>' header", 401,
                              headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise AccessError("the API token is not valid", 403)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.artlens
    return state


class WriterRoute(APIRoute):
    """A route that changes the collection: the token is checked before the request body is read, so a
    request without it gets 401/403 whatever its body (never a 400 or 422 about a body it may not send)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            get_state(request).require_writer(request)
            return await handler(request)

        return checked


# Declares the bearer scheme in the OpenAPI schema (so /docs can send the token); WriterRoute does the checking.
bearer = HTTPBearer(auto_error=False, scheme_name="bearer", bearerFormat="the server's token (--token-file or ARTLENS_TOKEN)",
                    description="The token the server was started with. Needed by the operations that change the collection.")
