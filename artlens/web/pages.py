"""HTML pages over the REST API: search (`/`), one artwork (`/artworks/{id}`), browse (`/browse`), the map (`/map`).

Server-rendered with Jinja2; the search page uses a little vanilla JS (static/search.js) that calls
POST /api/search. Everything (CSS, JS) is served by the app itself: no CDN, no external fonts.
"""

from __future__ import annotations

import os
import threading
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from artlens import ArtLensError, NotFoundError
from artlens.vocabulary import TEACHABLE_CONTENT, facet_title, in_display_order, is_label_name
from artlens.web import api
from artlens.web.rendering import STATIC_DIR, error_page
from artlens.web.rendering import page as _page
from artlens.web.schemas import MAX_ARTWORK_ID
from artlens.web.state import AppState, get_state

__all__ = ["STATIC_DIR", "router"]

router = APIRouter(include_in_schema=False)
State = Annotated[AppState, Depends(get_state)]

BROWSE_PAGE = 48
MAX_VALUES_PER_COLUMN = 200

_values_lock = threading.Lock()
_values_cache: dict[tuple[str, int, int], dict[str, list[str]]] = {}



def _columns(state: AppState) -> tuple[list[str], list[str]]:
    return state.collection.columns(), state.collection.prediction_models()


def filter_values(state: AppState) -> dict[str, list[str]]:
    """column (and pred.MODEL) -> its distinct values (at most MAX_VALUES_PER_COLUMN), cached until the collection changes."""
    key = (str(state.collection.directory), *state.collection.change_key())
    with _values_lock:
        if key in _values_cache:
            return _values_cache[key]
    out = state.collection.filter_values(MAX_VALUES_PER_COLUMN)
    with _values_lock:
        _values_cache.clear()
        _values_cache[key] = out
    return out


def not_found(request: Request, message: str) -> HTMLResponse:
    return error_page(request, 404, message, "Artwork not found")


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request, state: State) -> HTMLResponse:
    columns, models = _columns(state)
    return _page(request, "search.html", columns=columns, models=models, values=filter_values(state),
                 total=state.collection.count(), sliders=_sliders(state), counts=_count_suggestions(state))


# Count filters offered as one-click choices: (label, condition) for each count `detect` has made.
COUNT_CHOICES = {"faces": [("with faces", "faces>=1"), ("no faces", "faces=0"), ("several faces", "faces>=3")],
                 "people": [("with people", "people>=1"), ("no people", "people=0"), ("groups", "people>=3")]}


def _count_suggestions(state: AppState) -> list[tuple[str, str]]:
    return [choice for name in state.collection.count_filters() for choice in COUNT_CHOICES.get(name, [])]


def _sliders(state: AppState) -> list[tuple[str, str, float]]:
    """(facet, label, default weight) for every facet of the collection, in the default mix's order."""
    weights = state.collection.facet_weights()
    return [(f, facet_title(f), weights[f]) for f in in_display_order(list(weights))]


@router.get("/artworks/{artwork_id}", response_class=HTMLResponse)
def artwork_page(artwork_id: str, request: Request, state: State) -> HTMLResponse:
    if not (artwork_id.isascii() and artwork_id.isdigit()):
        return not_found(request, f"There is no artwork with id “{artwork_id[:40]}”: ids are whole numbers.")
    if not 0 < int(artwork_id) <= MAX_ARTWORK_ID:
        return not_found(request, f"There is no artwork with id {artwork_id[:40]} in this collection.")
    try:
        detail = api.artwork_detail(int(artwork_id), state)
    except NotFoundError:
        return not_found(request, f"There is no artwork with id {int(artwork_id)} in this collection.")
    mlt = detail["more_like_this"]
    rows = [(f, facet_title(f), mlt[f]) for f in in_display_order(list(mlt))]
    # Boxes drawn largest first, so a face inside a person's box lies on top of it and can be clicked.
    drawn = sorted(detail["regions"], key=lambda r: -(r["box"][2] - r["box"][0]) * (r["box"][3] - r["box"][1]))
    return _page(request, "artwork.html", a=detail, rows=rows, drawn=drawn, kinds_text=_kinds_text(detail["regions"]),
                 file_missing=not os.path.isfile(detail["path"]))


def _kinds_text(regions: list[dict[str, Any]]) -> str:
    """'1 face', '2 people and 1 face'...: what the artwork's regions are, for its checkbox."""
    words = {"face": ("face", "faces"), "person": ("person", "people")}
    counts: dict[str, int] = {}
    for r in regions:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    names = [f"{n} {words.get(kind, (kind, kind + 's'))[n != 1]}" for kind, n in sorted(counts.items(), reverse=True)]
    return " and ".join(names)


@router.get("/artworks/{artwork_id}/regions", response_class=HTMLResponse)
def box_search_page(artwork_id: int, request: Request, state: State, box: str = "",
                    facet: str = "joint") -> HTMLResponse:
    """Works with a region like a box drawn on this artwork."""
    if not api.matches_box(box):
        return error_page(request, 400, "A box is four numbers x0,y0,x1,y1 in the artwork's pixels: drag one over the picture.")
    try:
        art = state.collection.artwork(artwork_id, predictions=False)
        results = api.similar_to_box(artwork_id, state, box=box, facet=_region_facet(facet), k=REGION_RESULTS)["results"]
    except ArtLensError as exc:
        return error_page(request, exc.http_status, str(exc))
    query = {"artwork": art.as_dict(), "box": [float(v) for v in box.split(",")], "kind": "box"}
    return _page(request, "regions.html", query=query, results=results, facet=facet, sizes=_sizes(state, results),
                 link=f"/artworks/{artwork_id}/regions?box={box}")


@router.get("/regions/{region_id}", response_class=HTMLResponse)
def region_search_page(region_id: int, request: Request, state: State, facet: str = "joint") -> HTMLResponse:
    """Works with a region like a detected face or person."""
    try:
        region = state.collection.region(region_id)
        art = state.collection.artwork(region["artwork_id"], predictions=False)
        results = api.similar_to_region(region_id, state, facet=_region_facet(facet), k=REGION_RESULTS)["results"]
    except ArtLensError as exc:
        return error_page(request, exc.http_status, str(exc))
    query = {"artwork": art.as_dict(), "box": region["box"], "kind": region["kind"]}
    return _page(request, "regions.html", query=query, results=results, facet=facet, sizes=_sizes(state, results),
                 link=f"/regions/{region_id}")


def _sizes(state: AppState, results: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """Each result's width and height in pixels: its region's box is drawn as percentages of them."""
    arts = [state.collection.artwork(r["id"], predictions=False) for r in results]
    return {a.id: (a.width, a.height) for a in arts}


REGION_RESULTS = 24


def _region_facet(facet: str) -> Any:
    return facet if facet in ("joint", "content", "style", "color") else "joint"


@router.get("/label", response_class=HTMLResponse)
def label_page(request: Request, state: State, name: str = "") -> HTMLResponse:
    name = name.strip()
    if name and not is_label_name(name):
        return not_found(request, f"“{name[:40]}” is not a label name: use letters, digits, - and _.")
    return _page(request, "label.html", label_name=name, labels=state.collection.label_counts(), writes_enabled=state.token is not None,
                 suggested=[w for w in TEACHABLE_CONTENT if w not in state.collection.label_models()])


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
    except ArtLensError as exc:  # e.g. a malformed filter: show it, keep the page
        error = str(exc)

    def link(**changes: Any) -> str:
        params: list[tuple[str, Any]] = [("where", w) for w in changes.get("where", where)]
        off = changes.get("offset", 0)
        if off:
            params.append(("offset", off))
        return "/browse" + ("?" + urlencode(params) if params else "")

    chips = [(w, link(where=[x for x in where if x != w])) for w in where]
    choices = [(label, cond, link(where=[*where, cond])) for label, cond in _count_suggestions(state) if cond not in where]
    total = listing["total"]
    prev_link = link(offset=max(0, offset - BROWSE_PAGE)) if offset > 0 else None
    next_link = link(offset=offset + BROWSE_PAGE) if offset + BROWSE_PAGE < total else None
    columns, models = _columns(state)
    return _page(request, "browse.html", status=400 if error else 200, listing=listing, where=where, chips=chips, error=error,
                 prev_link=prev_link, next_link=next_link, offset=offset, page_size=BROWSE_PAGE, choices=choices,
                 columns=columns, models=models, values=filter_values(state))


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request, state: State) -> HTMLResponse:
    """The collection map (static/map.js draws it from /api/maps/...); without a map, how to make one."""
    maps = [m.facet for m in state.collection.maps()]
    columns, models = _columns(state)
    return _page(request, "map.html", facets=maps, columns=[*columns, *(f"pred.{m}" for m in models)],
                 colour_by=next((c for c in ("style", "genre", "artist") if c in columns), columns[0] if columns else ""),
                 writes_enabled=state.token is not None, collection=state.collection.directory.name,
                 total=state.collection.count(), max_ids=api.MAX_IDS)
