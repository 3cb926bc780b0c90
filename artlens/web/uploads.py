"""Uploaded files: size limits enforced while the bytes arrive, real image checks, safe file names.

No client-supplied name is ever used as a path: uploads go to temporary files with generated names,
and files kept in a collection are named `<sha256 of the bytes><suffix of the decoded format>`.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artlens import ImageError, QueryImage, RequestError, inspect_image, load_query_image
from artlens.web.schemas import METADATA_COLUMN, matches
from artlens.web.state import AppState

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


async def save_upload(upload: UploadFile, directory: Path, max_bytes: int) -> Path:
    """Copy `upload` into a new temporary file in `directory`, at most `max_bytes` (RequestError 413 beyond)."""
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
        return path
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _unusable(exc: ImageError, path: Path, name: str) -> RequestError:
    """A 422 naming the client's file, never the server's temporary path."""
    message = str(exc).replace(str(path), name)
    return RequestError(422, f"{name}: {message}" if name not in message else message, {"file": name, "reason": exc.reason})


async def query_image(upload: UploadFile, state: AppState) -> QueryImage:
    """Decode an uploaded query image once, in the app's decoding pool, with the query pixel limit; the
    temporary file is gone when this returns. RequestError 413 (too many bytes) or 422 (not usable)."""
    name = display_name(upload)
    path = await save_upload(upload, Path(tempfile.gettempdir()), state.limits.upload_bytes)
    try:
        return await state.decoder.run(load_query_image, path, state.limits.query_pixels)
    except ImageError as exc:
        raise _unusable(exc, path, name) from None
    finally:
        path.unlink(missing_ok=True)


async def checked_upload(upload: UploadFile, directory: Path, state: AppState) -> CheckedUpload:
    """Save an upload to add into `directory` and check that it decodes (in the decoding pool, with the
    limits of `artlens add`). RequestError 413 or 422."""
    name = display_name(upload)
    path = await save_upload(upload, directory, state.limits.upload_bytes)
    try:
        img = await state.decoder.run(inspect_image, path)
    except ImageError as exc:
        path.unlink(missing_ok=True)
        raise _unusable(exc, path, name) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return CheckedUpload(path=path, filename=name, sha256=img.sha256, suffix=SUFFIX_BY_FORMAT.get(img.format, ".img"))


def remove_all(paths: list[Path]) -> None:
    for p in paths:
        try:
            p.unlink(missing_ok=True)
        except OSError:
            pass


def parse_metadata(text: str | None) -> dict[str, str]:
    """The `metadata` form field (a JSON object of column: text, number, true/false or null) -> {column: text}.

    RequestError 400 for anything else; column names match schemas.METADATA_COLUMN (as the schema says).
    """
    if not text:
        return {}

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(text, parse_constant=no_constant)
    except ValueError as exc:
        raise RequestError(400, f"metadata is not valid JSON: {getattr(exc, 'msg', exc)}") from None
    return as_str_dict(value)


def as_str_dict(value: Any) -> dict[str, str]:
    """A metadata JSON object -> {column: text}; RequestError 400 for anything else."""
    if not isinstance(value, dict):
        raise RequestError(400, "metadata must be a JSON object of column: value")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not matches(METADATA_COLUMN, k):
            raise RequestError(400, f"bad metadata column name {k[:100]!r}: use letters, digits, space, '.', '-' and '_' "
                                    "(not 'image')", {"column": k[:100]})
        if isinstance(v, (dict, list)):
            raise RequestError(400, f"metadata value for {k!r} must be text or a number")
        if v is None:
            continue
        text = v if isinstance(v, str) else (("true" if v else "false") if isinstance(v, bool) else str(v))
        out[k] = text.replace("\r", " ").replace("\n", " ").strip()
    return out
