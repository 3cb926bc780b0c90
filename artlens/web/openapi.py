"""The OpenAPI schema and its interactive docs, both served by the app itself.

The schema FastAPI builds from the routes is completed with what only the collection knows (its
facets, filter columns) and what FastAPI cannot say about a multipart body (at least one query, the
media types of file parts, the metadata part being JSON, weights only with the joint facet). The
patterns are those the routes check with (schemas.py): schema-valid input is accepted, other input
is refused with 400 or 422.

/docs is Swagger UI from the `fastapi-offline` package (no CDN): its files under /docs/assets, started
by static/docs.js (no inline script, so the page keeps a strict Content-Security-Policy).
"""

from __future__ import annotations

import copy
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from artlens.web.schemas import LABEL_VALUE, MAX_ARTWORK_ID, METADATA_COLUMN, anchored, column_pattern, weights_pattern, where_pattern
from artlens.web.state import AppState

# Swagger UI sets inline styles on its own elements; everything is still loaded from this server.
DOCS_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ArtLens API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" href="/docs/assets/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""


def swagger_assets() -> Path | None:
    """The folder of Swagger UI's files in the fastapi-offline package, or None without it."""
    try:
        folder = Path(str(files("fastapi_offline") / "static"))
    except ModuleNotFoundError:
        return None
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def install(app: FastAPI, state: AppState) -> None:
    """/openapi.json completed from the collection, and /docs (when Swagger UI's files are installed)."""
    cache: dict[tuple[Any, ...], dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        key = (tuple(state.search_facets()), tuple(state.filter_columns()))
        if key not in cache:
            if not app.openapi_schema:
                app.openapi_schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                                                 description=app.description, routes=app.routes)
            cache.clear()
            cache[key] = complete(copy.deepcopy(app.openapi_schema), list(key[0]), list(key[1]))
        return cache[key]

    app.openapi = openapi  # type: ignore[method-assign]

    assets = swagger_assets()
    if assets is None:
        return
    app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE, headers={"Content-Security-Policy": DOCS_POLICY})


def complete(spec: dict[str, Any], facets: list[str], columns: list[str]) -> dict[str, Any]:
    """Add to FastAPI's schema what the routes check beyond types: the collection's names, and the body rules."""
    where = {"type": "string", "pattern": anchored(where_pattern(columns)),
             "description": f"COLUMN=VALUE or COLUMN!=VALUE; columns: {', '.join(columns) or 'none yet'}"}
    paths = spec["paths"]

    search = paths["/api/search"]["post"]["requestBody"]
    body = _form_schema(spec, search)
    props = body["properties"]
    props["facet"]["enum"] = facets
    props["weights"] = {"type": "string", "pattern": anchored(weights_pattern([f for f in facets if f != "joint"])),
                        "description": props["weights"].get("description", "")}
    props["where"]["items"] = where
    # At least one query: an image or an id (an empty list sends nothing, so it does not count).
    body["anyOf"] = [{"required": [n], "properties": {n: {"minItems": 1}}} for n in ("image", "id")]
    # Weights are the joint facet's mix: with another facet they are refused (400).
    body["if"] = {"required": ["weights"]}
    body["then"] = {"properties": {"facet": {"const": "joint"}}}
    _file_parts(search, ["image", "not_image"], body)

    for route in ("/api/artworks", "/api/artworks/{artwork_id}/regions/similar", "/api/regions/{region_id}/similar"):
        listing = next(p for p in paths[route]["get"]["parameters"] if p["name"] == "where")
        listing["schema"]["items"] = where

    for route in ("/api/maps/{facet}", "/api/maps/{facet}/points", "/api/maps/{facet}/clusters", "/api/maps/{facet}/values"):
        param = next(p for p in paths[route]["get"]["parameters"] if p["name"] == "facet")
        param["schema"]["enum"] = facets
    # A cluster is named by a column of the collection (metadata or pred.MODEL); a pattern as for `where`, so
    # that a collection without columns yet publishes one that nothing matches.
    column = {"type": "string", "pattern": anchored(column_pattern(columns))}
    for param in paths["/api/maps/{facet}/clusters"]["get"]["parameters"]:
        if param["name"] == "by":
            param["schema"] = {**column, "description": param["schema"].get("description", "")}
        elif param["name"] == "column":
            param["schema"]["items"] = column
    for param in paths["/api/maps/{facet}/values"]["get"]["parameters"]:
        if param["name"] == "column":
            param["schema"] = {**column, "description": param["schema"].get("description", "")}

    add = paths["/api/artworks"]["post"]["requestBody"]
    add_body = _form_schema(spec, add)
    add_props = add_body["properties"]
    add_props["metadata"] = {
        "type": "object", "description": add_props["metadata"].get("description", ""),
        "propertyNames": {"pattern": anchored(METADATA_COLUMN)},
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
    }
    _file_parts(add, ["image"], add_body, {"metadata": "application/json"})

    label = spec["components"]["schemas"]["LabelValue"]["properties"]["value"]
    label["pattern"] = LABEL_VALUE
    return _exact_bounds(spec)


def _exact_bounds(node: Any) -> Any:
    """Integer bounds as integers: the schema carries 2^63-1 as a float (2^63), one past the largest id."""
    if isinstance(node, dict):
        for key in ("minimum", "maximum"):
            if node.get("type") == "integer" and isinstance(node.get(key), float):
                node[key] = MAX_ARTWORK_ID if node[key] >= MAX_ARTWORK_ID else int(node[key])
        for value in node.values():
            _exact_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _exact_bounds(value)
    return node


def _form_schema(spec: dict[str, Any], request_body: dict[str, Any]) -> dict[str, Any]:
    ref = request_body["content"]["multipart/form-data"]["schema"]["$ref"]
    schema: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


def _file_parts(request_body: dict[str, Any], names: list[str], schema: dict[str, Any], others: dict[str, str] | None = None) -> None:
    """Say that the file parts are files (`format: binary`: sent with a file name) of image media types, and
    which media types the other parts take."""
    from artlens.web.api import IMAGE_PART_TYPES

    for n in names:
        schema["properties"][n]["items"] = {"type": "string", "format": "binary", "contentMediaType": "image/*"}

    encoding = {n: {"contentType": IMAGE_PART_TYPES} for n in names} | {n: {"contentType": t} for n, t in (others or {}).items()}
    request_body["content"]["multipart/form-data"]["encoding"] = encoding
