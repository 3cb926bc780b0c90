"""The Jinja2 templates of the web pages and the two ways to answer with one: a page, or an error page."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["basename"] = lambda path: os.path.basename(path or "")

HEADINGS = {400: "Bad request", 401: "Token needed", 403: "Not allowed", 404: "Not found", 409: "Not ready", 422: "Not usable", 500: "Internal error"}


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"active": name.split(".")[0], **context}, status_code=status)


def error_page(request: Request, status: int, message: str, heading: str | None = None) -> HTMLResponse:
    return page(request, "error.html", status=status, code=status, message=message, heading=heading or HEADINGS.get(status, "Error"))
