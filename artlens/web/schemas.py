"""The REST API's contract: the JSON every route answers with (pydantic models, so /openapi.json says
exactly what comes back), the one error body, and the text patterns the API checks its inputs with.

A pattern is written once, here, and used twice: in the schema (clients and schemathesis read it) and
by the route that checks the input (`matches`), so that what the schema calls valid and what the
server accepts are the same strings. The patterns are ECMA-262 and Python `re` alike: explicit
character classes only (no `.`, `\\s`, `\\d`, `\\w`, whose meaning differs between the two).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from artlens.vocabulary import COUNT_FILTERS, COUNT_OPERATORS

# --- errors --------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    """Every error the API answers: a message for people and data for programs."""

    error: str = Field(description="what went wrong, in a sentence")
    detail: Any = Field(description="data about it: e.g. {\"id\": 12}, {\"file\", \"reason\"}, the columns a filter may use, "
                                    "or the list of invalid fields ({\"loc\", \"msg\", \"type\"}) of a 422")


ERROR_MEANINGS = {
    400: "A bad request: a malformed or unknown filter, weight, facet or metadata, a missing query, or a Host "
         "header the server does not answer to.",
    401: "This operation needs `Authorization: Bearer <token>`.",
    403: "The token is wrong, or the server runs without a token (writes disabled).",
    404: "No artwork with this id (ids beyond 2^63-1 name none), or its file or thumbnail is gone.",
    409: "The collection is not ready for this: no artworks or no search index yet, an artwork not indexed yet, "
         "or too few labels to train.",
    413: "An uploaded file or the request body is over the server's limit.",
    422: "A field is invalid (type, range, pattern), or an uploaded file is not a usable image "
         "(detail.reason: empty, not-an-image, truncated, corrupt, too-large, unreadable, unsupported).",
    423: "Another writer (an add, an index build, training) is changing the collection; try again when it ends.",
    500: "A bug in ArtLens: the server log has the traceback.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, all with the one error body (and 500 always)."""
    return {s: {"model": ErrorBody, "description": ERROR_MEANINGS[s]} for s in sorted({*statuses, 400, 500})}


# --- input patterns ------------------------------------------------------------------------------

MAX_ARTWORK_ID = 2**63 - 1  # SQLite's largest integer: a larger id names no artwork
# Weights: up to 6 digits each side of the point (a longer number would read as infinity).
_NUMBER = r"(?:[0-9]{1,6}(?:\.[0-9]{0,6})?|\.[0-9]{1,6})"
_ZERO = r"(?:0{1,6}(?:\.0{0,6})?|0{0,6}\.0{1,6})"
_POSITIVE = r"(?:0{0,5}[1-9][0-9]{0,5}(?:\.[0-9]{0,6})?|0{0,6}\.0{0,5}[1-9][0-9]{0,5})"
LABEL_NAME = r"[A-Za-z0-9_-]{1,64}"
# Python's str.strip() whitespace: a label value needs one character outside it.
LABEL_VALUE = r"[^\t\n\u000b\f\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
METADATA_COLUMN = r"(?!image$)[A-Za-z0-9_][A-Za-z0-9_ .-]{0,62}[A-Za-z0-9_.-]|(?!image$)[A-Za-z0-9_]"


def column_pattern(columns: list[str]) -> str:
    """Exactly one of the collection's columns (none matches when it has none)."""
    return _alternatives(columns)


def _alternatives(names: list[str]) -> str:
    # Longest first, so that a name that is a prefix of another cannot cut it short.
    return "(?:" + "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n))) + ")" if names else "(?!)"


def weights_pattern(facets: list[str]) -> str:
    """FACET=NUMBER,... with the collection's facets, numbers >= 0, at least one of them positive."""
    name = _alternatives(facets)
    return rf"{name}={_ZERO}(?:,{name}={_ZERO})*,{name}={_POSITIVE}(?:,{name}={_NUMBER})*|{name}={_POSITIVE}(?:,{name}={_NUMBER})*"


def where_pattern(columns: list[str]) -> str:
    """COLUMN=VALUE or COLUMN!=VALUE with a column the collection has (metadata or pred.MODEL), the value the
    rest of the line; or a count compared with a whole number (faces>=2). Groups: 1 column, 2 operator,
    3 value, or 4 count, 5 operator, 6 number (numbered: ECMA and Python name groups differently)."""
    counts = "|".join(re.escape(c) for c in COUNT_FILTERS)
    compare = "|".join(re.escape(op) for op in COUNT_OPERATORS)
    return rf" *(?:({_alternatives(columns)}) *(!=|=)([^\r\n\u2028\u2029]*)|({counts}) *({compare}) *([0-9]{{1,9}}) *)"


def anchored(pattern: str) -> str:
    """The form the schema publishes: the whole string must match."""
    return f"^(?:{pattern})$"


def matches(pattern: str, text: str) -> re.Match[str] | None:
    """Does `text` match `pattern` as the schema means it (the whole string, ASCII classes)?"""
    return re.fullmatch(pattern, text, re.ASCII)


# --- answers -------------------------------------------------------------------------------------

Metadata = dict[str, str]


class MatchedRegion(BaseModel):
    id: int
    kind: str = Field(description="'face' or 'person'")
    box: list[float] = Field(description="x0, y0, x1, y1 in the artwork's own pixels")
    score: float = Field(description="the detector's confidence")


class SearchHit(BaseModel):
    id: int
    path: str = Field(description="the file the catalog records for it")
    score: float = Field(description="the ranking score (weighted similarity)")
    scores: dict[str, float] = Field(description="similarity in every facet")
    metadata: Metadata
    why: str = Field(description="how unusual each facet's similarity is, e.g. 'style top 0.4% · content top 3%'")
    region: MatchedRegion | None = Field(None, description="search by region: the region of this artwork that matched")


class SearchPage(BaseModel):
    results: list[SearchHit]
    offset: int
    k: int
    has_more: bool = Field(description="more results follow: ask again with offset + k")


class PredictionOut(BaseModel):
    label: str = Field(description="the model's decision, or 'unsure'")
    confidence: float
    top3: list[tuple[str, float]] = Field(description="[[class, probability], ...]")


class ArtworkOut(BaseModel):
    id: int
    path: str
    width: int
    height: int
    format: str = Field(description="decoded format: JPEG, PNG, TIFF, WEBP, GIF, BMP or MPO")
    duplicate_of: int | None = Field(description="the original's id for an exact copy")
    metadata: Metadata
    predictions: dict[str, PredictionOut] = Field(description="label model -> its decision")


class ArtworkList(BaseModel):
    total: int = Field(description="artworks that pass the filters")
    offset: int
    limit: int
    artworks: list[ArtworkOut]


class ArtworkRef(BaseModel):
    id: int
    path: str


class ExactCopyOut(BaseModel):
    path: str
    id: int
    duplicate_of: str = Field(description="the original's path")
    original_id: int
    same: str = Field(description="'bytes' or 'pixels'")


class NearPairOut(BaseModel):
    a: ArtworkRef
    b: ArtworkRef
    phash_distance: int
    content_similarity: float


class DuplicatesOut(BaseModel):
    exact: list[ExactCopyOut]
    near: list[NearPairOut]


class NeighbourOut(BaseModel):
    id: int
    path: str
    score: float
    metadata: Metadata


class RegionOut(BaseModel):
    id: int = Field(description="the region's id: GET /api/regions/{id}/similar finds works with a region like it")
    kind: str = Field(description="'face' or 'person'")
    box: list[float] = Field(description="x0, y0, x1, y1 in the artwork's own pixels")
    score: float
    model: str = Field(description="the detector that found it")


class ArtworkDetail(ArtworkOut):
    regions: list[RegionOut] = Field(description="regions detected in it (`artlens detect`), best first per kind")
    duplicates: DuplicatesOut
    more_like_this: dict[str, list[NeighbourOut]] = Field(description="facet -> the most similar artworks in it")


class FailureOut(BaseModel):
    path: str
    reason: str
    message: str


class DuplicateCounts(BaseModel):
    exact: int
    near: int


class FacetOut(BaseModel):
    name: str
    dim: int
    index: str = Field(description="'exact' or the approximate index kind")
    learned: dict[str, Any] | None = Field(default=None, description="the card of a learned space")


class ModelOut(BaseModel):
    backbone: str
    input_size: int
    style: str
    version: str = Field(description="the backbone's weights and graph, as the collection recorded them")


class RegionCounts(BaseModel):
    looked_at: int = Field(description="artworks the detector has looked at")
    found: int = Field(description="regions found in them")


class InfoOut(BaseModel):
    directory: str
    artworks: int
    failed: list[FailureOut]
    duplicates: DuplicateCounts
    facets: list[FacetOut]
    weights: dict[str, float] = Field(description="the default joint mix")
    columns: list[str]
    labels: dict[str, dict[str, int]] = Field(description="label name -> value -> artworks")
    model: ModelOut
    stale: bool = Field(description="the catalog changed since the vectors were built")
    regions: dict[str, RegionCounts] = Field(description="per count (faces, people), once `detect` has run")
    maps: list[MapInfoOut] = Field(default_factory=list, description="the stored maps (`artlens map`)")


class MapInfoOut(BaseModel):
    facet: str
    method: str = Field(description="tsne, umap or pca (pca for collections too small for the others)")
    works: int
    placed: int = Field(description="works placed on the map by later adds (the others were laid out together)")
    made: str = Field(description="when the layout was made (ISO time, UTC)")
    seconds: float = Field(description="how long the layout took")
    relayout: str | None = Field(description="why a full re-layout (`artlens map`) would help now, or null")


class MapList(BaseModel):
    maps: list[MapInfoOut]


class MapPoint(BaseModel):
    id: int
    x: float = Field(description="centred; every work within distance 1 of the centre")
    y: float
    placed: bool = Field(description="placed by a later add rather than laid out with the rest")
    cluster: int = Field(description="the cluster's id (see /api/maps/{facet}/clusters)")


class MapPage(BaseModel):
    facet: str
    method: str
    total: int
    offset: int
    limit: int
    has_more: bool
    points: list[MapPoint]


class ValueShare(BaseModel):
    value: str
    share: float = Field(description="of the cluster's works")


class MapCluster(BaseModel):
    id: int
    x: float
    y: float
    size: int
    name: str = Field(description="its most common values of `by` (those over 15% of it, at most two), or empty")
    common: dict[str, list[ValueShare]] = Field(description="column -> its three most common values in the cluster")


class MapClustersOut(BaseModel):
    facet: str
    by: str = Field(description="the column that names the clusters")
    clusters: list[MapCluster]


class MapValuesOut(BaseModel):
    facet: str
    column: str = Field(description="the metadata column or pred.MODEL (empty when the collection has no columns)")
    total: int = Field(description="works on the map (= codes decoded)")
    values: list[str] = Field(description="the most common values, most common first")
    counts: list[int] = Field(description="works with each of `values`")
    other: int = Field(description="works with a value outside `values`")
    missing: int = Field(description="works without a value")
    other_code: int = Field(description="the code of a value outside `values` (254)")
    missing_code: int = Field(description="the code of no value (255)")
    codes: str = Field(description="base64 of one byte a work, in the order of /api/maps/{facet}/points: "
                                   "i for values[i], other_code, or missing_code")


class ArtworkBriefs(BaseModel):
    artworks: list[ArtworkOut] = Field(description="the artworks of the ids asked that exist, in the order asked")


class UploadedFile(BaseModel):
    file: str = Field(description="the client's file name (for messages only)")
    id: int | None = Field(description="the artwork's id (null if it could not be added)")
    duplicate_of: int | None


class AddFailure(BaseModel):
    path: str
    reason: str
    message: str


class AddResult(BaseModel):
    added: int
    duplicates: int
    unchanged: int
    ignored: int
    failed: list[AddFailure]
    failure_reasons: dict[str, int]
    passed_over: list[str] = Field(default_factory=list)
    metadata_rows: int
    metadata_problems: list[str]
    seconds: float
    interrupted: bool
    files: list[UploadedFile]


class LabelCounts(BaseModel):
    labels: dict[str, dict[str, int]] = Field(description="label name -> value -> artworks")


class LabelValue(BaseModel):
    value: str | None = Field(description='the label, e.g. "yes" or "no" (null removes it)', max_length=200,
                              json_schema_extra={"pattern": LABEL_VALUE})


class LabelGiven(BaseModel):
    id: int
    name: str
    value: str | None
    counts: dict[str, int] = Field(description="value -> artworks, for this label")


class SuggestionOut(BaseModel):
    id: int
    score: float
    reason: str
    path: str
    metadata: Metadata


class Suggestions(BaseModel):
    name: str
    counts: dict[str, int]
    suggestions: list[SuggestionOut]


class Trained(BaseModel):
    name: str
    kind: str
    data: dict[str, Any] = Field(description="what it was trained on (labelled, held out, ...)")
    held_out: dict[str, Any] = Field(description="held-out figures: n, positives, average precision, precision and coverage")
    thresholds: dict[str, Any]
    decisions: dict[str, int] = Field(description="decision -> artworks, after describing the collection")
    decided: int = Field(description="artworks it decided (yes or no)")
    unsure: int = Field(description="artworks it left unsure")
