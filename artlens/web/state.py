"""What the app shares between requests: one open Collection, the write lock, the token, the limits."""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import Request

from artlens import catalog
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
        return getattr(self.collection, "engine", None) or self.collection._engine

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
        out: dict[int, dict[str, dict[str, Any]]] = {}
        if not ids:
            return out
        p = catalog.predictions
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = sa.select(p.c.artwork_id, p.c.model, p.c.label, p.c.confidence, p.c.top3).where(p.c.artwork_id.in_(ids[i:i + 500]))
                for r in conn.execute(q):
                    out.setdefault(r.artwork_id, {})[r.model] = {"label": r.label, "confidence": round(float(r.confidence), 4), "top3": r.top3}
        return out

    def check_columns(self, conditions: list[tuple[str, str, str]]) -> None:
        """ApiError 400 naming filter columns the collection does not have."""
        with self.engine.connect() as conn:
            columns = set(catalog.metadata_columns(conn))
            models = set(catalog.prediction_models(conn))
        unknown = []
        for column, _, _ in conditions:
            if column.startswith(catalog.PREDICTION_PREFIX):
                if column[len(catalog.PREDICTION_PREFIX):] not in models:
                    unknown.append(column)
            elif column not in columns:
                unknown.append(column)
        if unknown:
            raise ApiError(400, f"unknown filter column(s): {', '.join(sorted(set(unknown)))}",
                           {"columns": sorted(columns), "predictions": sorted(models)})

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
