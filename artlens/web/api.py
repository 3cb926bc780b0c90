"""REST routes under /api: search, artworks (list, detail, thumbnail, image), info, add.

No route takes a filesystem path from the client: artworks are named by catalog id, and files are
served only from paths the catalog recorded for that id.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from artlens.store import catalog
from artlens.retrieval import search as ranking
from artlens.collection import parse_where
from artlens.features.facets import FACETS, parse_weights
from artlens.web.errors import ApiError
from artlens.web.state import AppState, get_state
from artlens.web.uploads import CheckedUpload, as_str_dict, remove_all, save_checked

router = APIRouter(prefix="/api")
State = Annotated[AppState, Depends(get_state)]

MAX_K = 1000
MAX_OFFSET = 10_000
MAX_QUERY_IMAGES = 32
MORE_LIKE_THIS = 6
MEDIA_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff",
               "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp"}


def _artwork_summary(row: catalog.ArtworkRow) -> dict[str, Any]:
    return {"id": row.id, "path": row.path, "width": row.width, "height": row.height, "format": row.format,
            "duplicate_of": row.duplicate_of, "metadata": row.meta}


def _stored_paths(state: AppState, ids: list[int]) -> list[str]:
    """Catalog paths of artworks named by id (404 for unknown ids, 409 when the file is gone)."""
    with state.engine.connect() as conn:
        rows = catalog.artworks_by_id(conn, ids)
    out = []
    for i in ids:
        if i not in rows:
            raise ApiError(404, f"no artwork with id {i}", {"id": i})
        if not os.path.isfile(rows[i].path):
            raise ApiError(409, f"the file of artwork {i} is no longer at its recorded path", {"id": i})
        out.append(rows[i].path)
    return out


@router.post("/search", summary="Search by example images and/or artwork ids")
async def search(
    state: State,
    image: Annotated[list[UploadFile], File(description="query image(s): several make a moodboard")] = [],  # noqa: B006
    id: Annotated[list[int], Form(description="artwork id(s) to use as query images")] = [],  # noqa: B006,A002
    not_image: Annotated[list[UploadFile], File(description="image(s) to move away from")] = [],  # noqa: B006
    not_id: Annotated[list[int], Form(description="artwork id(s) to move away from")] = [],  # noqa: B006
    facet: Annotated[str, Form(description="joint|content|style|color, or a learned facet such as style_learned")] = "joint",
    weights: Annotated[str | None, Form(description="e.g. style=0.6,content=0.3,color=0.1 (joint facet)")] = None,
    where: Annotated[list[str], Form(description="COLUMN=VALUE or COLUMN!=VALUE; pred.MODEL=VALUE")] = [],  # noqa: B006
    k: Annotated[int, Form(ge=1, le=MAX_K)] = 10,
    offset: Annotated[int, Form(ge=0, le=MAX_OFFSET)] = 0,
    include_self: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """The same JSON as `artlens search --json`, plus `offset`, `k` and `has_more` for paging."""
    if not image and not id:
        raise ApiError(400, "give at least one query: an 'image' file or an artwork 'id'")
    if len(image) + len(id) + len(not_image) + len(not_id) > MAX_QUERY_IMAGES:
        raise ApiError(400, f"at most {MAX_QUERY_IMAGES} query images and ids in one search")
    try:
        parsed_weights = parse_weights(weights)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    conditions = parse_where(where)
    if conditions:
        state.check_columns(conditions)
    positives = _stored_paths(state, id)
    negatives = _stored_paths(state, not_id)
    saved: list[CheckedUpload] = []
    tmpdir = Path(tempfile.gettempdir())
    try:
        for up in image:
            saved.append(await save_checked(up, tmpdir, state.max_upload_bytes))
        n_pos = len(saved)
        for up in not_image:
            saved.append(await save_checked(up, tmpdir, state.max_upload_bytes))
        pos = [str(s.path) for s in saved[:n_pos]] + positives
        neg = [str(s.path) for s in saved[n_pos:]] + negatives
        hits = await run_in_threadpool(
            state.collection.search, images=pos, not_images=neg, facet=facet, weights=parsed_weights,
            where=conditions, k=k + offset + 1, include_self=include_self,
        )
    finally:
        remove_all([s.path for s in saved])
    page = hits[offset:offset + k]
    return {"results": [h.as_dict() for h in page], "offset": offset, "k": k, "has_more": len(hits) > offset + k}


@router.get("/artworks", summary="A page of artworks, filterable by metadata and predictions")
def list_artworks(
    state: State,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    where: Annotated[list[str], Query(description="COLUMN=VALUE or COLUMN!=VALUE; pred.MODEL=VALUE")] = [],  # noqa: B006
) -> dict[str, Any]:
    conditions = parse_where(where)
    if conditions:
        state.check_columns(conditions)
    with state.engine.connect() as conn:
        ids = catalog.filter_ids(conn, conditions)
        page = [int(i) for i in ids[offset:offset + limit]]
        rows = catalog.artworks_by_id(conn, page)
    preds = state.predictions(page)
    items = [{**_artwork_summary(rows[i]), "predictions": preds.get(i, {})} for i in page if i in rows]
    return {"total": int(len(ids)), "offset": offset, "limit": limit, "artworks": items}


def _more_like_this(state: AppState, artwork_id: int) -> dict[str, list[dict[str, Any]]]:
    """The nearest artworks to one indexed artwork, per facet, from its stored vectors (no decoding)."""
    try:
        vecs = state.collection.vectors
    except Exception:  # noqa: BLE001 - no index yet: nothing to suggest
        return {f: [] for f in FACETS}
    if not vecs.has(artwork_id):
        return {f: [] for f in vecs.facets}
    row = int(vecs.rows(np.array([artwork_id]))[0])
    query = {f: np.asarray(vecs.matrices[f][row], np.float32) for f in vecs.facets}
    out: dict[str, list[dict[str, Any]]] = {}
    hits_by_facet = {f: ranking.rank(vecs, query, {f: 1.0}, MORE_LIKE_THIS, None, {artwork_id}) for f in vecs.facets}
    with state.engine.connect() as conn:
        rows = catalog.artworks_by_id(conn, {h.id for hits in hits_by_facet.values() for h in hits})
    for f, hits in hits_by_facet.items():
        out[f] = [{"id": h.id, "path": rows[h.id].path, "score": round(h.score, 4), "metadata": rows[h.id].meta}
                  for h in hits if h.id in rows]
    return out


@router.get("/artworks/{artwork_id}", summary="One artwork: file facts, metadata, predictions, duplicates, similar works")
def artwork_detail(artwork_id: int, state: State) -> dict[str, Any]:
    row = state.artwork(artwork_id)
    dups = state.collection.duplicates(artwork_id)
    target = row.duplicate_of if row.duplicate_of is not None else artwork_id
    return {
        **_artwork_summary(row),
        "predictions": state.predictions([artwork_id]).get(artwork_id, {}),
        "duplicates": dups,
        "more_like_this": _more_like_this(state, target),
    }


@router.get("/artworks/{artwork_id}/thumbnail", summary="The artwork's JPEG thumbnail",
            responses={200: {"content": {"image/jpeg": {}}}})
def artwork_thumbnail(artwork_id: int, state: State) -> Response:
    state.artwork(artwork_id)
    data = state.collection.thumbnail(artwork_id)
    if data is None:
        raise ApiError(404, f"artwork {artwork_id} has no thumbnail", {"id": artwork_id})
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/artworks/{artwork_id}/image", summary="The artwork's original file",
            responses={200: {"content": {"image/*": {}}}})
def artwork_image(artwork_id: int, state: State) -> FileResponse:
    row = state.artwork(artwork_id)
    # Only the exact path the catalog recorded for this id: nothing from the request reaches the filesystem.
    if not os.path.isfile(row.path):
        raise ApiError(404, f"the file of artwork {artwork_id} is no longer at its recorded path", {"id": artwork_id})
    return FileResponse(row.path, media_type=MEDIA_TYPES.get(row.format, "application/octet-stream"))


@router.get("/info", summary="Collection facts: counts, failures, duplicates, facets, model, columns")
def info(state: State) -> dict[str, Any]:
    return state.collection.info()


@router.post("/artworks", summary="Add images (needs Authorization: Bearer <token>)")
async def add_artworks(
    request: Request,
    state: State,
    image: Annotated[list[UploadFile], File(description="image file(s) to add")] = [],  # noqa: B006
    metadata: Annotated[str | None, Form(description='JSON object applied to every file, e.g. {"artist": "Monet"}')] = None,
) -> dict[str, Any]:
    """Saves each upload as `<collection>/uploads/<sha256><suffix>` and adds it; returns the add report
    with the ids of the uploaded files."""
    state.require_writer(request)
    if not image:
        raise ApiError(400, "give at least one 'image' file to add")
    if len(image) > MAX_QUERY_IMAGES:
        raise ApiError(400, f"at most {MAX_QUERY_IMAGES} files in one request")
    meta: dict[str, str] = {}
    if metadata:
        try:
            meta = as_str_dict(json.loads(metadata))
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"metadata is not valid JSON: {exc.msg}") from None
    uploads = state.uploads_dir
    uploads.mkdir(exist_ok=True)
    saved: list[CheckedUpload] = []
    try:
        for up in image:
            saved.append(await save_checked(up, uploads, state.max_upload_bytes))
    except BaseException:
        remove_all([s.path for s in saved])
        raise
    finals: list[Path] = []
    for s in saved:
        final = uploads / f"{s.sha256}{s.suffix}"
        if final.exists():
            s.path.unlink(missing_ok=True)
        else:
            os.replace(s.path, final)
        finals.append(final)
    finals = list(dict.fromkeys(finals))
    report = await run_in_threadpool(_add_locked, state, finals, meta)
    with state.engine.connect() as conn:
        by_path = {p: conn.execute(catalog.artworks.select().where(catalog.artworks.c.path == str(p))).first() for p in finals}
    files = [{"file": s.filename, "id": (r.id if (r := by_path.get(uploads / f"{s.sha256}{s.suffix}")) is not None else None),
              "duplicate_of": (r.duplicate_of if r is not None else None)} for s in saved]
    return {**report, "files": files}


def _add_locked(state: AppState, paths: list[Path], meta: dict[str, str]) -> dict[str, Any]:
    with state.add_lock:
        if not meta:
            return state.collection.add(paths).as_dict()
        with tempfile.TemporaryDirectory(prefix="artlens-meta-") as tmp:
            csv_path = Path(tmp) / "metadata.csv"
            columns = sorted(meta)
            with open(csv_path, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(["image", *columns])
                for p in paths:
                    writer.writerow([str(p.resolve()), *(meta[c] for c in columns)])
            return state.collection.add(paths, metadata=csv_path).as_dict()
