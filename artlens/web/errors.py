"""Errors on the web: one JSON handler for the API (`{"error": "...", "detail": ...}` with the error's
HTTP status) and one HTML handler for the pages (an error page with the same status).

ArtLens errors carry their status (artlens.errors). Anything else is a bug: logged with its
traceback, answered as "internal error" (500), with the traceback in the answer only in debug mode
(ARTLENS_DEBUG=1).
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from artlens import ArtLensError, CollectionError
from artlens.web.rendering import error_page

log = logging.getLogger("artlens.web")

def error_response(status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


def wants_html(request: Request) -> bool:
    """A page (not the API, static files or the OpenAPI docs) asked for by a browser."""
    path = request.url.path
    if path.startswith(("/api", "/static", "/docs", "/openapi", "/redoc")):
        return False
    return "text/html" in request.headers.get("accept", "text/html")


def _clean_validation(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Echo where and what, not the raw input (which may be large or binary).
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors]


def _respond(request: Request, status: int, message: str, detail: Any = None, headers: dict[str, str] | None = None) -> Response:
    if wants_html(request):
        return error_page(request, status, message)
    return error_response(status, message, detail, headers)


def route_methods(routes: Iterable[Any]) -> list[tuple[re.Pattern[str], set[str]]]:
    """(path regex, methods) of every route with methods: what allowed_methods looks up."""
    return [(r.path_regex, set(r.methods)) for r in routes if getattr(r, "methods", None) and getattr(r, "path_regex", None)]


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette's 405 names only the first route's)."""
    table: list[tuple[re.Pattern[str], set[str]]] = getattr(request.app.state, "route_methods", [])
    path = request.url.path
    return sorted({m for regex, methods in table if regex.match(path) for m in methods})


def install(app: FastAPI) -> None:
    @app.exception_handler(ArtLensError)
    async def _artlens_error(request: Request, exc: ArtLensError) -> Response:
        detail = exc.detail if exc.detail is not None else {"kind": "collection" if isinstance(exc, CollectionError) else "input"}
        return _respond(request, exc.http_status, str(exc), detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = _clean_validation(list(exc.errors()))
        first = problems[0] if problems else {"loc": [], "msg": ""}
        where = ".".join(str(part) for part in first["loc"][1:]) or "request"
        # The first problem in the message: what a page can show as it is (detail has them all).
        return _respond(request, 422, f"invalid request: {where}: {first['msg']}"[:300], problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 404 and message == "Not Found":
            message = "not found"
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            headers["Allow"] = ", ".join(allowed) or headers.get("Allow", "GET, HEAD")
            message = f"{request.method} is not allowed here; use {headers['Allow']}"
        return _respond(request, exc.status_code, message, None, headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        debug = bool(os.environ.get("ARTLENS_DEBUG"))
        detail: Any = "".join(traceback.format_exception(exc)) if debug else type(exc).__name__
        return _respond(request, 500, "internal error, see the server log", detail)
