"""The FastAPI app factory: one collection per app, REST API under /api, OpenAPI at /openapi.json and
its docs at /docs, HTML pages at /, /artworks/{id}, /browse and /label.

    uvicorn.run(create_app(Path("my-collection"), token=os.environ.get("ARTLENS_TOKEN")), host="127.0.0.1", port=8000)

Every response passes the Host check and carries the security headers (security.py); the limits are
in state.Limits and docs/security.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from artlens import Collection
from artlens.web import api, errors, labels_api, openapi, pages
from artlens.web.security import HostCheck, SecurityHeaders, allowed_hosts
from artlens.web.state import AppState, Decoder, Limits
from artlens.web.uploads import BodyLimitMiddleware


class _App(FastAPI):
    """FastAPI with the Host check and the security headers outside everything else, the error
    middleware included, so that no answer (a 500 neither) goes out without them."""

    hosts: list[str]

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(HostCheck(super().build_middleware_stack(), self.hosts))


def create_app(collection_dir: str | Path, token: str | None = None, max_upload_bytes: int = 25 * 2**20,
               max_request_bytes: int | None = None, hosts: Iterable[str] | None = None,
               limits: Limits | None = None) -> FastAPI:
    """A REST API over the collection at `collection_dir` (a relative path is resolved now; a PostgreSQL
    URL names the collection's catalog).

    token: the bearer token the write endpoints require; None disables them.
    max_upload_bytes, max_request_bytes: the largest file in an upload, the largest request body
        (default: four full-size files plus form fields); `limits` sets these and the others at once.
    hosts: the Host header values answered (default: 127.0.0.1, localhost, [::1]; see security.allowed_hosts).
    """
    if limits is None:
        if max_upload_bytes < 1:
            raise ValueError("max_upload_bytes must be positive")
        limits = Limits(upload_bytes=max_upload_bytes, request_bytes=max_request_bytes or 0)
    collection = Collection.open(Collection.locate(collection_dir))
    decoder = Decoder(limits.decode_workers)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        decoder.close()
        collection.close()

    app = _App(
        lifespan=lifespan,
        title="ArtLens",
        summary="Search and describe an art collection by content, style and colour.",
        version="1",
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,  # /docs is served offline by openapi.py
    )
    app.hosts = list(hosts) if hosts is not None else allowed_hosts()
    app.state.artlens = state = AppState(collection=collection, token=token or None, limits=limits, decoder=decoder)
    errors.install(app)
    app.include_router(api.router)
    app.include_router(api.writes)
    app.include_router(labels_api.router)
    app.include_router(labels_api.writes)
    openapi.install(app, state)
    # HTML pages (search, artwork, browse, label) and their CSS/JS, all served by the app itself.
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    app.add_middleware(BodyLimitMiddleware, limit=limits.body_bytes)
    routers = (api.router, api.writes, labels_api.router, labels_api.writes, pages.router)
    app.state.route_methods = errors.route_methods([*app.router.routes, *(r for router in routers for r in router.routes)])
    return app
