"""What the app shares between requests: one open Collection, the write lock, the token, the limits."""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request

from artlens import AccessError, Collection

UPLOADS_DIR = "uploads"


@dataclass
class AppState:
    collection: Collection
    token: str | None
    max_upload_bytes: int
    add_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def uploads_dir(self) -> Path:
        return self.collection.directory / UPLOADS_DIR

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
