"""HTML pages over the REST API: search (`/`), one artwork (`/artworks/{id}`), browse (`/browse`).

Server-rendered with Jinja2; the search page uses a little vanilla JS (static/search.js) that calls
POST /api/search. Everything (CSS, JS) is served by the app itself: no CDN, no external fonts.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from artlens.store import catalog
from artlens.collection import is_label_name
from artlens.features.facets import DEFAULT_WEIGHTS, FACETS
from artlens.vocabulary import facet_title, in_display_order
from artlens.web import api
from artlens.web.errors import ApiError
from artlens.web.state import AppState, get_state

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))

router = APIRouter(include_in_schema=False)
State = Annotated[AppState, Depends(get_state)]

BROWSE_PAGE = 48
MAX_VALUES_PER_COLUMN = 200

_values_lock = threading.Lock()
_values_cache: dict[tuple[str, int, int], dict[str, list[str]]] = {}


def _basename(path: str) -> str:
    return os.path.basename(path or "")


templates.env.filters["basename"] = _basename


def _columns(state: AppState) -> tuple[list[str], list[str]]:
    with state.engine.connect() as conn:
        return list(catalog.metadata_columns(conn)), list(catalog.prediction_models(conn))


def filter_values(state: AppState) -> dict[str, list[str]]:
    """column (and pred.MODEL) -> its distinct values (at most MAX_VALUES_PER_COLUMN), cached per catalog version."""
    with state.engine.connect() as conn:
        version = int(catalog.catalog_version(conn) or 0)
        n_predictions = int(conn.execute(sa.select(sa.func.count()).select_from(catalog.predictions)).scalar_one())
        key = (str(state.collection.directory), version, n_predictions)
        with _values_lock:
            if key in _values_cache:
                return _values_cache[key]
        values: dict[str, set[str]] = {}
        for row in catalog.iter_artworks(conn):
            for column, value in (row.meta or {}).items():
                if value not in (None, ""):
                    values.setdefault(column, set()).add(str(value))
        for _artwork, models in catalog.predictions_by_artwork(conn).items():
            for model, pred in models.items():
                values.setdefault(catalog.PREDICTION_PREFIX + model, set()).add(str(pred["label"]))
    out = {c: sorted(v)[:MAX_VALUES_PER_COLUMN] for c, v in sorted(values.items())}
    with _values_lock:
        _values_cache.clear()
        _values_cache[key] = out
    return out


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"active": name.split(".")[0], **context}, status_code=status)


def not_found(request: Request, message: str) -> HTMLResponse:
    return _page(request, "not_found.html", status=404, message=message)


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request, state: State) -> HTMLResponse:
    columns, models = _columns(state)
    return _page(request, "search.html", columns=columns, models=models, values=filter_values(state),
                 total=_count(state), sliders=_sliders(state))


def _sliders(state: AppState) -> list[tuple[str, str, float]]:
    """(facet, label, default weight) for every facet of the collection, in the default mix's order."""
    try:
        vecs = state.collection.vectors
        facets, weights = vecs.facets, vecs.weights
    except Exception:  # noqa: BLE001 - no index yet: the default facets
        facets, weights = FACETS, DEFAULT_WEIGHTS
    return [(f, facet_title(f), float(weights.get(f, 0.0))) for f in in_display_order(list(facets))]


def _count(state: AppState) -> int:
    with state.engine.connect() as conn:
        return int(catalog.count_artworks(conn))


@router.get("/artworks/{artwork_id}", response_class=HTMLResponse)
def artwork_page(artwork_id: str, request: Request, state: State) -> HTMLResponse:
    if not artwork_id.isdigit():
        return not_found(request, f"There is no artwork with id “{artwork_id[:40]}”: ids are whole numbers.")
    try:
        detail = api.artwork_detail(int(artwork_id), state)
    except ApiError as exc:
        if exc.status == 404:
            return not_found(request, f"There is no artwork with id {int(artwork_id)} in this collection.")
        raise
    mlt = detail["more_like_this"]
    rows = [(f, facet_title(f), mlt[f]) for f in in_display_order(list(mlt))]
    return _page(request, "artwork.html", a=detail, rows=rows,
                 file_missing=not os.path.isfile(detail["path"]))


@router.get("/label", response_class=HTMLResponse)
def label_page(request: Request, state: State, name: str = "") -> HTMLResponse:
    name = name.strip()
    if name and not is_label_name(name):
        return not_found(request, f"“{name[:40]}” is not a label name: use letters, digits, - and _.")
    return _page(request, "label.html", label_name=name, labels=state.collection.label_counts(), writes_enabled=state.token is not None)


@router.get("/browse", response_class=HTMLResponse)
def browse_page(
    request: Request,
    state: State,
    offset: Annotated[int, Query(ge=0)] = 0,
    where: Annotated[list[str], Query()] = [],  # noqa: B006
) -> HTMLResponse:
    where = [w.strip() for w in where if w and w.strip()]
    error = None
    listing: dict[str, Any] = {"total": 0, "artworks": [], "offset": 0, "limit": BROWSE_PAGE}
    try:
        listing = api.list_artworks(state, offset=offset, limit=BROWSE_PAGE, where=where)
    except ApiError as exc:
        error = exc.error
    except Exception as exc:  # noqa: BLE001 - e.g. a malformed filter: show it, keep the page
        error = str(exc) or type(exc).__name__

    def link(**changes: Any) -> str:
        params: list[tuple[str, Any]] = [("where", w) for w in changes.get("where", where)]
        off = changes.get("offset", 0)
        if off:
            params.append(("offset", off))
        return "/browse" + ("?" + urlencode(params) if params else "")

    chips = [(w, link(where=[x for x in where if x != w])) for w in where]
    total = listing["total"]
    prev_link = link(offset=max(0, offset - BROWSE_PAGE)) if offset > 0 else None
    next_link = link(offset=offset + BROWSE_PAGE) if offset + BROWSE_PAGE < total else None
    columns, models = _columns(state)
    return _page(request, "browse.html", status=400 if error else 200, listing=listing, where=where, chips=chips, error=error,
                 prev_link=prev_link, next_link=next_link, offset=offset, page_size=BROWSE_PAGE,
                 columns=columns, models=models, values=filter_values(state))
