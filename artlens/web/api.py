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

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from artlens import Artwork, RequestError, parse_weights, parse_where
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


def _stored_paths(state: AppState, ids: list[int]) -> list[str]:
    """Catalog paths of artworks named by id (404 for unknown ids, 409 when the file is gone)."""
    out = []
    for i in ids:
        path = state.collection.artwork(i, predictions=False).path
        if not os.path.isfile(path):
            raise RequestError(409, f"the file of artwork {i} is no longer at its recorded path", {"id": i})
        out.append(path)
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
        raise RequestError(400, "give at least one query: an 'image' file or an artwork 'id'")
    if len(image) + len(id) + len(not_image) + len(not_id) > MAX_QUERY_IMAGES:
        raise RequestError(400, f"at most {MAX_QUERY_IMAGES} query images and ids in one search")
    parsed_weights = parse_weights(weights)
    conditions = parse_where(where)
    if conditions:
        state.collection.check_filters(conditions)
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
    return state.collection.artworks(where, offset, limit).as_dict()


@router.get("/artworks/{artwork_id}", summary="One artwork: file facts, metadata, predictions, duplicates, similar works")
def artwork_detail(artwork_id: int, state: State) -> dict[str, Any]:
    art: Artwork = state.collection.artwork(artwork_id)
    target = art.duplicate_of if art.duplicate_of is not None else artwork_id
    return {
        **art.as_dict(),
        "duplicates": state.collection.duplicates(artwork_id).as_dict(),
        "more_like_this": {f: [n.as_dict() for n in near] for f, near in state.collection.more_like_this(target, MORE_LIKE_THIS).items()},
    }


@router.get("/artworks/{artwork_id}/thumbnail", summary="The artwork's JPEG thumbnail",
            responses={200: {"content": {"image/jpeg": {}}}})
def artwork_thumbnail(artwork_id: int, state: State) -> Response:
    state.collection.artwork(artwork_id, predictions=False)
    data = state.collection.thumbnail(artwork_id)
    if data is None:
        raise RequestError(404, f"artwork {artwork_id} has no thumbnail", {"id": artwork_id})
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/artworks/{artwork_id}/image", summary="The artwork's original file",
            responses={200: {"content": {"image/*": {}}}})
def artwork_image(artwork_id: int, state: State) -> FileResponse:
    row = state.collection.artwork(artwork_id, predictions=False)
    # Only the exact path the catalog recorded for this id: nothing from the request reaches the filesystem.
    if not os.path.isfile(row.path):
        raise RequestError(404, f"the file of artwork {artwork_id} is no longer at its recorded path", {"id": artwork_id})
    return FileResponse(row.path, media_type=MEDIA_TYPES.get(row.format, "application/octet-stream"))


@router.get("/info", summary="Collection facts: counts, failures, duplicates, facets, model, columns")
def info(state: State) -> dict[str, Any]:
    return state.collection.info().as_dict()


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
        raise RequestError(400, "give at least one 'image' file to add")
    if len(image) > MAX_QUERY_IMAGES:
        raise RequestError(400, f"at most {MAX_QUERY_IMAGES} files in one request")
    meta: dict[str, str] = {}
    if metadata:
        try:
            meta = as_str_dict(json.loads(metadata))
        except json.JSONDecodeError as exc:
            raise RequestError(400, f"metadata is not valid JSON: {exc.msg}") from None
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
    by_path = state.collection.artworks_by_path(finals)
    files = [{"file": s.filename, "id": (a.id if (a := by_path.get(str(uploads / f"{s.sha256}{s.suffix}"))) is not None else None),
              "duplicate_of": (a.duplicate_of if a is not None else None)} for s in saved]
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
