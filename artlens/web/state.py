"""What the app shares between requests: one open Collection, the write lock, the token, the limits."""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request

from artlens.store import catalog
from artlens.collection import Collection
from artlens.web.errors import ApiError

UPLOADS_DIR = "uploads"


@dataclass
class AppState:
    collection: Collection
    token: str | None
    max_upload_bytes: int
    add_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def engine(self) -> Any:
        # The collection's own engine (one connection pool per app; SQLite in WAL mode).
        return self.collection.engine

    @property
    def uploads_dir(self) -> Path:
        return self.collection.directory / UPLOADS_DIR

    def artwork(self, artwork_id: int) -> catalog.ArtworkRow:
        """The catalog row for `artwork_id`, or ApiError 404."""
        with self.engine.connect() as conn:
            rows = catalog.artworks_by_id(conn, [artwork_id])
        if artwork_id not in rows:
            raise ApiError(404, f"no artwork with id {artwork_id}", {"id": artwork_id})
        return rows[artwork_id]

    def predictions(self, ids: list[int]) -> dict[int, dict[str, dict[str, Any]]]:
        """artwork id -> {model: {"label", "confidence", "top3"}} for these ids."""
        if not ids:
            return {}
        with self.engine.connect() as conn:
            return catalog.predictions_by_artwork(conn, ids)

    def check_columns(self, conditions: list[tuple[str, str, str]]) -> None:
        """ApiError 400 naming filter columns the collection does not have."""
        with self.engine.connect() as conn:
            unknown, _ = catalog.unknown_columns(conn, [c for c, _, _ in conditions], predictions=True)
            columns = catalog.metadata_columns(conn)
            models = catalog.prediction_models(conn)
        if unknown:
            raise ApiError(400, f"unknown filter column(s): {', '.join(unknown)}",
                           {"columns": columns, "predictions": models})

    def require_writer(self, request: Request) -> None:
        """401/403 unless the request carries `Authorization: Bearer <token>` matching the app's token."""
        if not self.token:
            raise ApiError(403, "write endpoints are disabled: the server was started without an API token")
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise ApiError(401, "this endpoint needs an 'Authorization: Bearer <token>' header",
                           headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            raise ApiError(403, "the API token is not valid")


def get_state(request: Request) -> AppState:
    return request.app.state.artlens
