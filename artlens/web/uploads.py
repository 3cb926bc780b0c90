"""Uploaded files: size limits enforced while the bytes arrive, real image checks, safe file names.

No client-supplied name is ever used as a path: uploads go to temporary files with generated names,
and files kept in a collection are named `<sha256 of the bytes><suffix of the decoded format>`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artlens import ImageError, RequestError, inspect_image

CHUNK = 1 << 16
SUFFIX_BY_FORMAT = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "TIFF": ".tif", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}


class BodyLimitMiddleware:
    """Refuse request bodies over `limit` bytes with 413, counting the bytes actually received
    (a Content-Length header over the limit is refused before reading; a missing or lying one
    does not help)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.limit:
                    await _send_413(send, self.limit)
                    return
        received = 0
        limit = self.limit

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's body parsing; FastAPI re-raises HTTPException as is.
                    raise StarletteHTTPException(413, f"request body over the limit of {limit:,} bytes")
            return message

        await self.app(scope, counting_receive, send)


async def _send_413(send: Send, limit: int) -> None:
    import json

    body = json.dumps({"error": f"request body over the limit of {limit:,} bytes", "detail": {"limit": limit}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


@dataclass
class CheckedUpload:
    """An upload saved to a temporary file and decoded successfully."""

    path: Path          # temporary file (generated name); the caller deletes or moves it
    filename: str       # the client's name, for messages only
    sha256: str
    suffix: str


def display_name(upload: UploadFile) -> str:
    name = (upload.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:200] or "upload"


async def save_checked(upload: UploadFile, directory: Path, max_bytes: int) -> CheckedUpload:
    """Copy `upload` into a new temporary file in `directory` (at most `max_bytes`), then decode it.

    Raises RequestError 413 (too many bytes) or 422 (not a usable image, with the ImageError reason).
    """
    name = display_name(upload)
    fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=directory)
    path = Path(tmp)
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise RequestError(413, f"{name}: upload over the limit of {max_bytes:,} bytes",
                                   {"file": name, "limit": max_bytes})
                out.write(chunk)
        try:
            img = inspect_image(path)
        except ImageError as exc:
            message = str(exc).replace(str(path), name)
            raise RequestError(422, f"{name}: {message}" if name not in message else message,
                           {"file": name, "reason": exc.reason}) from None
        return CheckedUpload(path=path, filename=name, sha256=img.sha256, suffix=SUFFIX_BY_FORMAT.get(img.format, ".img"))
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def remove_all(paths: list[Path]) -> None:
    for p in paths:
        try:
            p.unlink(missing_ok=True)
        except OSError:
            pass


def as_str_dict(value: Any) -> dict[str, str]:
    """A metadata JSON object -> {column: text}; RequestError 400 for anything else."""
    if not isinstance(value, dict):
        raise RequestError(400, "metadata must be a JSON object of column: value")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k.strip() or k.strip() == "image" or any(c in k for c in "\r\n"):
            raise RequestError(400, f"bad metadata column name {k!r}")
        if isinstance(v, (dict, list)):
            raise RequestError(400, f"metadata value for {k!r} must be text or a number")
        if v is None:
            continue
        text = v if isinstance(v, str) else (("true" if v else "false") if isinstance(v, bool) else str(v))
        out[k.strip()] = text.replace("\r", " ").replace("\n", " ").strip()
    return out
