"""REST routes for the labels people give and the active-learning loop: label, suggest, train.

Giving a label or training a model changes the collection, so those routes need the app's bearer
token, like adding images (checked before the body is read); reading labels and suggestions does not.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Security
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool

from artlens import InputError, RequestError
from artlens.web.api import ArtworkId
from artlens.web.schemas import LABEL_NAME, LABEL_VALUE, LabelCounts, LabelGiven, LabelValue, Suggestions, Trained, anchored, errors
from artlens.web.state import AppState, WriterRoute, bearer, get_state

router = APIRouter(prefix="/api")
writes = APIRouter(prefix="/api", route_class=WriterRoute, dependencies=[Security(bearer)])
State = Annotated[AppState, Depends(get_state)]
MAX_SUGGESTIONS = 60
LabelName = Annotated[str, PathParam(pattern=anchored(LABEL_NAME), description="1-64 letters, digits, - and _")]


@router.get("/labels", summary="Labels people gave: per name, how many artworks have each value", response_model=LabelCounts,
            responses=errors())
def list_labels(state: State) -> dict[str, Any]:
    return {"labels": state.collection.label_counts()}


@writes.put("/artworks/{artwork_id}/labels/{name}", summary="Give an artwork a label (needs Authorization: Bearer <token>)",
            response_model=LabelGiven, responses=errors(401, 403, 404, 422, 423))
def put_label(artwork_id: ArtworkId, name: LabelName, body: LabelValue, state: State) -> dict[str, Any]:
    if body.value is not None and re.search(LABEL_VALUE, body.value) is None:
        raise RequestError(422, "a label value cannot be empty or blank (give null to remove the label)",
                           [{"loc": ["body", "value"], "msg": "blank", "type": "value_error"}])
    state.collection.artwork(artwork_id, predictions=False)
    state.collection.set_label(artwork_id, name, body.value)
    value = body.value.strip() if body.value is not None else None
    return {"id": artwork_id, "name": name, "value": value, "counts": state.collection.label_counts().get(name, {})}


@router.get("/labels/{name}/suggestions", summary="The artworks to ask about next for a yes/no label (active learning)",
            response_model=Suggestions, responses=errors(409, 422))
def suggestions(name: LabelName, state: State, n: Annotated[int, Query(ge=1, le=MAX_SUGGESTIONS)] = 12) -> dict[str, Any]:
    found = state.collection.label_suggestions(name, n)
    return {
        "name": name,
        "counts": state.collection.label_counts().get(name, {}),
        "suggestions": [s.as_dict() for s in found],
    }


@writes.post("/labels/{name}/train", summary="Train a yes/no label model from the labels given, then describe every artwork with it (needs the token)",
             response_model=Trained, responses=errors(401, 403, 409, 422, 423))
async def train(name: LabelName, state: State) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with state.add_lock:  # one writer at a time, as for adding images
            try:
                card = state.collection.train_label(name, kind="binary")
            except InputError as exc:
                # A well-formed request the collection cannot serve yet (too few labels): a conflict with its state.
                raise RequestError(409, str(exc), exc.detail) from None
            summary = state.collection.annotate(models=[name])
        return {"name": name, "kind": card.kind, "data": card["data"], "held_out": _plain(card.held_out),
                "thresholds": card.thresholds, "decisions": summary[name].counts if name in summary else {},
                "decided": summary[name].decided if name in summary else 0, "unsure": summary[name].unsure if name in summary else 0}

    return await run_in_threadpool(work)


def _plain(figures: dict[str, Any]) -> dict[str, Any]:
    """The headline held-out figures of a binary card (no per-class tables)."""
    keep = ("n", "positives", "average_precision", "yes_precision", "confident_precision", "confident_coverage",
            "confident_precision_unseen", "confident_coverage_unseen")
    return {k: figures.get(k) for k in keep}
