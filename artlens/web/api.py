"""REST routes under /api: search, artworks (list, detail, thumbnail, image), info, the collection map, add.

No route takes a filesystem path from the client: artworks are named by catalog id, and files are
served only from paths the catalog recorded for that id. Every answer has a model in schemas.py and
every error the one error body; the OpenAPI schema (openapi.py) is the contract.
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Security, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import Field

from artlens import Artwork, QueryImage, RequestError, parse_weights
from artlens.vocabulary import COUNT_FILTERS, COUNT_OPERATORS
from artlens.web.schemas import (
    MAX_ARTWORK_ID,
    AddResult,
    ArtworkBriefs,
    ArtworkDetail,
    ArtworkList,
    InfoOut,
    MapClustersOut,
    MapList,
    MapPage,
    MapValuesOut,
    SearchPage,
    errors,
    matches,
    weights_pattern,
    where_pattern,
)
from artlens.web.state import AppState, WriterRoute, bearer, get_state
from artlens.web.uploads import CheckedUpload, checked_upload, parse_metadata, query_image, remove_all

router = APIRouter(prefix="/api")
writes = APIRouter(prefix="/api", route_class=WriterRoute, dependencies=[Security(bearer)])
State = Annotated[AppState, Depends(get_state)]

MAX_K = 1000
MAX_OFFSET = 10_000
# Per search: positive and negative examples; the four add up to MAX_QUERY_IMAGES.
MAX_IMAGES, MAX_IDS, MAX_NOT_IMAGES, MAX_NOT_IDS = 16, 16, 8, 8
MAX_QUERY_IMAGES = MAX_IMAGES + MAX_IDS + MAX_NOT_IMAGES + MAX_NOT_IDS
MAX_ADD_FILES = 32
MORE_LIKE_THIS = 6
MEDIA_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff",
               "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp"}
OTHER_MEDIA_TYPE = "application/octet-stream"
IMAGE_PART_TYPES = "image/jpeg, image/png, image/gif, image/webp, image/tiff, image/bmp"

ArtworkId = Annotated[int, PathParam(ge=1, le=MAX_ARTWORK_ID, description="an artwork's catalog id")]
FormId = Annotated[int, Field(ge=1, le=MAX_ARTWORK_ID)]


def _binary(*media_types: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types}}}


def parse_where_text(state: AppState, where: list[str]) -> list[tuple[str, str, str]]:
    """`where` strings -> (column, op, value) conditions, by the pattern the schema publishes (400 otherwise)."""
    if not where:
        return []
    pattern = where_pattern(state.filter_columns())
    out = []
    for text in where:
        found = matches(pattern, text)
        if found is None:
            column = re.split(r"[!<>=]", text, maxsplit=1)[0].strip() if re.search(r"[!<>=]", text) else ""
            known = state.filter_columns()
            if column in COUNT_FILTERS or (column in known and re.search(r"[<>]", text)):
                raise RequestError(400, f"bad filter {text[:100]!r}: counts ({', '.join(COUNT_FILTERS)}) take a whole number "
                                   f"and {' '.join(COUNT_OPERATORS)}; columns take = or !=", {"columns": known})
            if column and column not in known:
                raise RequestError(400, f"unknown filter column(s): {column[:100]}",
                                   {"columns": state.collection.columns(), "predictions": state.collection.prediction_models()})
            raise RequestError(400, f"bad filter {text[:100]!r}: expected COLUMN=VALUE or COLUMN!=VALUE with a column of the collection",
                               {"columns": known})
        out.append((found[1], found[2], found[3].strip()) if found[1] is not None else (found[4], found[5], found[6]))
    return out


def parse_weights_text(state: AppState, text: str | None) -> dict[str, float] | None:
    """'style=0.6,content=0.4' -> {facet: weight} by the pattern the schema publishes (400 otherwise); a facet
    named twice counts the sum."""
    if text is None:
        return None
    facets = state.weight_facets()
    if not matches(weights_pattern(facets), text):
        parsed = parse_weights(text)  # InputError naming the problem, when it is one parse_weights sees
        unknown = [f for f in parsed or {} if f not in facets]
        if unknown:
            raise RequestError(400, f"unknown facet {', '.join(unknown)} in the weights: choose from {', '.join(facets)}",
                               {"facets": facets})
        raise RequestError(400, f"bad weights {text[:100]!r}: expected FACET=NUMBER,... with facets from {', '.join(facets)}, "
                                "numbers >= 0 (up to 6 digits each side of the point), at least one of them positive",
                           {"facets": facets})
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        weights[name] = weights.get(name, 0.0) + float(value)
    return weights


def _check_query(state: AppState, facet: str, weights: str | None, where: list[str]) -> tuple[dict[str, float] | None, list[tuple[str, str, str]]]:
    facets = state.search_facets()
    if facet not in facets:
        raise RequestError(400, f"unknown facet {facet[:100]!r}: choose one of {', '.join(facets)}", {"facets": facets})
    if weights is not None and facet != "joint":
        raise RequestError(400, "weights apply to the joint facet only; drop the facet or the weights")
    return parse_weights_text(state, weights), parse_where_text(state, where)


@router.post("/search", summary="Search by example images and/or artwork ids", response_model=SearchPage,
             response_model_exclude_unset=True, responses=errors(400, 404, 409, 413, 422))
async def search(
    state: State,
    image: Annotated[list[UploadFile], File(description="query image(s): several make a moodboard", max_length=MAX_IMAGES)] = [],  # noqa: B006
    id: Annotated[list[FormId], Form(description="artwork id(s) to use as query images", max_length=MAX_IDS)] = [],  # noqa: B006,A002
    not_image: Annotated[list[UploadFile], File(description="image(s) to move away from", max_length=MAX_NOT_IMAGES)] = [],  # noqa: B006
    not_id: Annotated[list[FormId], Form(description="artwork id(s) to move away from", max_length=MAX_NOT_IDS)] = [],  # noqa: B006
    facet: Annotated[str, Form(description="joint (the weighted mix) or one facet of the collection")] = "joint",
    weights: Annotated[str | None, Form(description="the joint mix, e.g. style=0.6,content=0.3,color=0.1 (facet joint only)")] = None,
    where: Annotated[list[str], Form(description="COLUMN=VALUE or COLUMN!=VALUE; pred.MODEL=VALUE")] = [],  # noqa: B006
    k: Annotated[int, Form(ge=1, le=MAX_K)] = 10,
    offset: Annotated[int, Form(ge=0, le=MAX_OFFSET)] = 0,
    include_self: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    """The same JSON as `artlens search --json`, plus `offset`, `k` and `has_more` for paging.

    Each uploaded image is decoded once, off the event loop, in the server's decoding pool (at most
    `--decode-workers` at a time, at most `--max-query-pixels` held by the decoder); artworks named by id
    use their stored vectors."""
    if not image and not id:
        raise RequestError(400, "give at least one query: an 'image' file or an artwork 'id'")
    parsed_weights, conditions = await run_in_threadpool(_check_query, state, facet, weights, where)
    positives: list[QueryImage] = [await query_image(up, state) for up in image]
    negatives: list[QueryImage] = [await query_image(up, state) for up in not_image]
    hits = await run_in_threadpool(
        state.collection.search, images=positives, not_images=negatives, ids=id, not_ids=not_id, facet=facet,
        weights=parsed_weights, where=conditions, k=k + offset + 1, include_self=include_self,
    )
    return _page_of(hits, offset, k)


@router.get("/artworks", summary="A page of artworks, filterable by metadata and predictions", response_model=ArtworkList,
            responses=errors(400, 422))
def list_artworks(
    state: State,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    where: Annotated[list[str], Query(description="COLUMN=VALUE or COLUMN!=VALUE; pred.MODEL=VALUE")] = [],  # noqa: B006
) -> dict[str, Any]:
    return state.collection.artworks(parse_where_text(state, where), offset, limit).as_dict()


MAX_BRIEF_IDS = 500


@router.get("/artworks/by-id", summary="Several artworks by id (path, metadata): for a map's tooltips and exported lists",
            response_model=ArtworkBriefs, responses=errors(422))
def artworks_by_id(
    state: State,
    id: Annotated[list[int], Query(min_length=1, max_length=MAX_BRIEF_IDS, description=f"artwork ids (1 to {MAX_BRIEF_IDS})")],  # noqa: A002
) -> dict[str, Any]:
    """Unknown ids are left out (no 404): a list asked for from a map may name works removed since."""
    known = [i for i in id if 0 < i <= MAX_ARTWORK_ID]
    return {"artworks": [a.as_dict() for a in state.collection.artworks_by_id(known)]}


@router.get("/artworks/{artwork_id}", summary="One artwork: file facts, metadata, predictions, duplicates, similar works",
            response_model=ArtworkDetail, responses=errors(404, 422))
def artwork_detail(artwork_id: ArtworkId, state: State) -> dict[str, Any]:
    art: Artwork = state.collection.artwork(artwork_id)
    target = art.duplicate_of if art.duplicate_of is not None else artwork_id
    return {
        **art.as_dict(),
        "regions": state.collection.regions(artwork_id),
        "duplicates": state.collection.duplicates(artwork_id).as_dict(),
        "more_like_this": {f: [n.as_dict() for n in near] for f, near in state.collection.more_like_this(target, MORE_LIKE_THIS).items()},
    }


@router.get("/artworks/{artwork_id}/thumbnail", summary="The artwork's JPEG thumbnail", response_class=Response,
            responses={**_binary("image/jpeg"), **errors(404, 422)})
def artwork_thumbnail(artwork_id: ArtworkId, state: State) -> Response:
    state.collection.artwork(artwork_id, predictions=False)
    data = state.collection.thumbnail(artwork_id)
    if data is None:
        raise RequestError(404, f"artwork {artwork_id} has no thumbnail", {"id": artwork_id})
    return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/artworks/{artwork_id}/image", summary="The artwork's original file", response_class=FileResponse,
            responses={**_binary(*dict.fromkeys(MEDIA_TYPES.values()), OTHER_MEDIA_TYPE), **errors(404, 422)})
def artwork_image(artwork_id: ArtworkId, state: State) -> FileResponse:
    row = state.collection.artwork(artwork_id, predictions=False)
    # Only the exact path the catalog recorded for this id: nothing from the request reaches the filesystem.
    if not os.path.isfile(row.path):
        raise RequestError(404, f"the file of artwork {artwork_id} is no longer at its recorded path", {"id": artwork_id})
    return FileResponse(row.path, media_type=MEDIA_TYPES.get(row.format, OTHER_MEDIA_TYPE))


BOX_PATTERN = r"^\d{1,6}(\.\d{1,3})?(,\d{1,6}(\.\d{1,3})?){3}$"
RegionFacet = Literal["joint", "content", "style", "color"]
RegionKind = Literal["face", "person"]
# The query parameters both searches by region take.
RegionFacetQuery = Annotated[RegionFacet, Query(description="joint (content, style and colour as in the collection's mix) or one of them")]
RegionKindsQuery = Annotated[list[RegionKind], Query(description="region kinds to search (default: all)")]
RegionWhereQuery = Annotated[list[str], Query(description="COLUMN=VALUE or COLUMN!=VALUE; pred.MODEL=VALUE; faces>=N")]


@router.get("/artworks/{artwork_id}/regions/similar", summary="Artworks with a region like a box drawn on this artwork",
            response_model=SearchPage, responses=errors(400, 404, 409, 422))
def similar_to_box(
    artwork_id: ArtworkId,
    state: State,
    box: Annotated[str, Query(pattern=BOX_PATTERN, description="x0,y0,x1,y1 in the artwork's own pixels (clipped to it)")],
    facet: RegionFacetQuery = "joint",
    kind: RegionKindsQuery = [],  # noqa: B006
    where: RegionWhereQuery = [],  # noqa: B006
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Each result carries `region`: the detected face or person that matched (needs `artlens detect`;
    409 before it). The artwork's file is decoded again and the box's crop embedded."""
    values = [float(v) for v in box.split(",")]
    hits = state.collection.search_regions(artwork_id=artwork_id, box=values, facet=facet, kinds=kind,
                                           where=parse_where_text(state, where), k=k + offset + 1)
    return _page_of(hits, offset, k)


@router.get("/regions/{region_id}/similar", summary="Artworks with a region like a detected one (a face, a person)",
            response_model=SearchPage, responses=errors(404, 409, 422))
def similar_to_region(
    region_id: Annotated[int, PathParam(ge=1, le=MAX_ARTWORK_ID, description="a region's id (see an artwork's `regions`)")],
    state: State,
    facet: RegionFacetQuery = "joint",
    kind: RegionKindsQuery = [],  # noqa: B006
    where: RegionWhereQuery = [],  # noqa: B006
    k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Each result carries `region`: the region that matched; the query region's own artwork is left out."""
    hits = state.collection.search_regions(region_id=region_id, facet=facet, kinds=kind, where=parse_where_text(state, where),
                                           k=k + offset + 1)
    return _page_of(hits, offset, k)


def matches_box(text: str) -> bool:
    return re.fullmatch(BOX_PATTERN, text, re.ASCII) is not None


def _page_of(hits: list[Any], offset: int, k: int) -> dict[str, Any]:
    page = hits[offset:offset + k]
    return {"results": [h.as_dict() for h in page], "offset": offset, "k": k, "has_more": len(hits) > offset + k}


@router.get("/info", summary="Collection facts: counts, failures, duplicates, facets, model, columns", response_model=InfoOut,
            responses=errors())
def info(state: State) -> dict[str, Any]:
    return state.collection.info().as_dict()


MAX_MAP_PAGE = 10_000
MapFacet = Annotated[str, PathParam(description="a facet of the collection (joint, content, style, color, style_learned)")]


@router.get("/maps", summary="The stored maps: facet, method, works, how many placed since, re-layout advice", response_model=MapList,
            responses=errors())
def maps(state: State) -> dict[str, Any]:
    return {"maps": [m.as_dict() for m in state.collection.maps()]}


@router.get("/maps/{facet}", summary="A page of a facet's map: id, x, y, placed, cluster per work (by id)", response_model=MapPage,
            responses=errors(404, 409, 422))
def map_page(
    facet: MapFacet,
    state: State,
    offset: Annotated[int, Query(ge=0, le=MAX_ARTWORK_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_MAP_PAGE)] = 1000,
) -> dict[str, Any]:
    """404 when the facet has no map yet (`artlens map`); for all points at once, `/api/maps/{facet}/points`."""
    return state.collection.layout(facet).page(offset, limit)


@router.get("/maps/{facet}/points", summary="All of a facet's map as one binary payload (ids, x, y, cluster, placed)",
            response_class=Response, responses={**_binary(OTHER_MEDIA_TYPE), **errors(404, 409, 422)})
def map_points(facet: MapFacet, state: State) -> Response:
    """Little-endian arrays one after the other, n works in id order: ids int64[n], x float32[n], y float32[n],
    cluster int32[n], placed uint8[n] (21 bytes a work; n is in `X-ArtLens-Count`). Each array starts at a
    multiple of its item size, so a browser reads them as typed arrays over the one buffer without copying
    (100,000 works: 2.1 MB)."""
    layout = state.collection.layout(facet)
    return Response(content=layout.payload(), media_type=OTHER_MEDIA_TYPE,
                    headers={"X-ArtLens-Count": str(len(layout)), "X-ArtLens-Layout": layout.PAYLOAD_LAYOUT, "Cache-Control": "no-cache"})


@router.get("/maps/{facet}/clusters", summary="A map's clusters named by the most common values of a column", response_model=MapClustersOut,
            responses=errors(404, 409, 422))
def map_clusters(
    facet: MapFacet,
    state: State,
    by: Annotated[str | None, Query(description="metadata column or pred.MODEL that names the clusters "
                                    "(default: style, genre or artist, the first the collection has)")] = None,
    column: Annotated[list[str], Query(max_length=20, description="more columns whose common values to list (up to 20)")] = [],  # noqa: B006
) -> dict[str, Any]:
    """404 for a column the collection does not have (now: columns come and go with the works that carry them)."""
    _check_columns(state, [by, *column])
    return state.collection.map_clusters(facet, by=by, columns=column).as_dict()


@router.get("/maps/{facet}/values", summary="A column's values over a map, one byte a work: what colours the map",
            response_model=MapValuesOut, responses=errors(404, 409, 422))
def map_values(
    facet: MapFacet,
    state: State,
    column: Annotated[str | None, Query(description="metadata column or pred.MODEL (default: style, genre or artist, "
                                        "the first the collection has)")] = None,
    top: Annotated[int, Query(ge=1, le=250, description="how many of the most common values get their own code")] = 12,
) -> dict[str, Any]:
    """Codes aligned with `/api/maps/{facet}/points` (id order), base64 in JSON: 133 kB for 100,000 works.
    404 for a column the collection does not have, or a facet without a map."""
    _check_columns(state, [column])
    return state.collection.map_values(facet, column, top).as_dict()


def _check_columns(state: AppState, columns: list[str | None]) -> None:
    known = state.filter_columns()
    unknown = [c for c in columns if c is not None and c not in known]
    if unknown:
        raise RequestError(404, f"no column {unknown[0][:100]!r} in the collection: choose from {', '.join(known) or 'none yet'}",
                           {"columns": known})


@writes.post("/artworks", summary="Add images (needs Authorization: Bearer <token>)", response_model=AddResult,
             responses=errors(401, 403, 409, 413, 422, 423))
async def add_artworks(
    state: State,
    image: Annotated[list[UploadFile], File(description="image file(s) to add", min_length=1, max_length=MAX_ADD_FILES)],
    metadata: Annotated[str | None, Form(description='JSON object applied to every file, e.g. {"artist": "Monet"}')] = None,
) -> dict[str, Any]:
    """Saves each upload as `<collection>/uploads/<sha256><suffix>` and adds it; returns the add report
    with the ids of the uploaded files."""
    meta = parse_metadata(metadata)
    uploads = state.uploads_dir
    uploads.mkdir(exist_ok=True)
    saved: list[CheckedUpload] = []
    try:
        for up in image:
            saved.append(await checked_upload(up, uploads, state))
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
    by_path = await run_in_threadpool(state.collection.artworks_by_path, finals)
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
