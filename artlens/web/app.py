"""The FastAPI app factory: one collection per app, REST API under /api, OpenAPI at /openapi.json,
HTML pages at /, /artworks/{id} and /browse.

    uvicorn.run(create_app(Path("my-collection"), token=os.environ.get("ARTLENS_TOKEN")), host="127.0.0.1", port=8000)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from artlens import Collection
from artlens.web import api, errors, labels_api, pages
from artlens.web.state import AppState
from artlens.web.uploads import BodyLimitMiddleware

# Room for form fields and multipart framing on top of the files themselves.
_FORM_ALLOWANCE = 1 << 20


def create_app(collection_dir: Path, token: str | None = None, max_upload_bytes: int = 25 * 2**20,
               max_request_bytes: int | None = None) -> FastAPI:
    """A REST API over the collection at `collection_dir`.

    token: the bearer token write endpoints (POST /api/artworks) require; None disables them.
    max_upload_bytes: the largest file accepted in an upload (413 beyond it).
    max_request_bytes: the largest request body (default: four full-size files plus form fields).
    """
    if max_upload_bytes < 1:
        raise ValueError("max_upload_bytes must be positive")
    collection = Collection.open(Path(collection_dir))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        collection.close()

    app = FastAPI(
        lifespan=lifespan,
        title="ArtLens",
        summary="Search and describe an art collection by content, style and colour.",
        version="1",
    )
    app.state.artlens = AppState(collection=collection, token=token or None, max_upload_bytes=max_upload_bytes)
    errors.install(app)
    app.include_router(api.router)
    app.include_router(labels_api.router)
    # HTML pages (search, artwork, browse) and their CSS/JS, all served by the app itself.
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    app.add_middleware(BodyLimitMiddleware, limit=max_request_bytes or 4 * max_upload_bytes + _FORM_ALLOWANCE)

    return app
