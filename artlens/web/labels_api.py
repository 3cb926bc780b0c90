"""REST routes for the labels people give and the active-learning loop: label, suggest, train.

Giving a label or training a model changes the collection, so those routes need the app's bearer
token, like adding images; reading labels and suggestions does not.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from artlens.web.state import AppState, get_state

router = APIRouter(prefix="/api")
State = Annotated[AppState, Depends(get_state)]
MAX_SUGGESTIONS = 60


class LabelValue(BaseModel):
    value: str | None = Field(description='the label, e.g. "yes" or "no" (null removes it)', max_length=200)


@router.get("/labels", summary="Labels people gave: per name, how many artworks have each value")
def list_labels(state: State) -> dict[str, Any]:
    return {"labels": state.collection.label_counts()}


@router.put("/artworks/{artwork_id}/labels/{name}", summary="Give an artwork a label (needs Authorization: Bearer <token>)")
def put_label(artwork_id: int, name: str, body: LabelValue, request: Request, state: State) -> dict[str, Any]:
    state.require_writer(request)
    state.collection.artwork(artwork_id, predictions=False)
    state.collection.set_label(artwork_id, name, body.value)
    return {"id": artwork_id, "name": name, "value": body.value, "counts": state.collection.label_counts().get(name, {})}


@router.get("/labels/{name}/suggestions", summary="The artworks to ask about next for a yes/no label (active learning)")
def suggestions(name: str, state: State, n: Annotated[int, Query(ge=1, le=MAX_SUGGESTIONS)] = 12) -> dict[str, Any]:
    found = state.collection.label_suggestions(name, n)
    return {
        "name": name,
        "counts": state.collection.label_counts().get(name, {}),
        "suggestions": [s.as_dict() for s in found],
    }


@router.post("/labels/{name}/train", summary="Train a yes/no label model from the labels given, then describe every artwork with it (needs the token)")
async def train(name: str, request: Request, state: State) -> dict[str, Any]:
    state.require_writer(request)

    def work() -> dict[str, Any]:
        with state.add_lock:  # one writer at a time, as for adding images
            card = state.collection.train_label(name, kind="binary")
            summary = state.collection.annotate(models=[name])
        return {"name": name, "kind": card.kind, "data": card["data"], "held_out": _plain(card.held_out),
                "thresholds": card.thresholds, "decisions": summary[name].counts if name in summary else {}}

    return await run_in_threadpool(work)


def _plain(figures: dict[str, Any]) -> dict[str, Any]:
    """The headline held-out figures of a binary card (no per-class tables)."""
    keep = ("n", "positives", "average_precision", "yes_precision", "confident_precision", "confident_coverage",
            "confident_precision_unseen", "confident_coverage_unseen")
    return {k: figures.get(k) for k in keep}
