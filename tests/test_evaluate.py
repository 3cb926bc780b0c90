"""`artlens eval`: every labelled artwork queries the rest; scores per facet."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from artlens import Collection, InputError
from artlens.cli import app
from artlens.evaluate import RetrievalTask, evaluate_retrieval, ranked_neighbours


def test_a_perfect_facet_and_a_useless_one() -> None:
    # Four artworks, two styles. "good" puts each work next to its twin; "bad" next to the other style.
    meta = [{"style": "a", "artist": "x"}, {"style": "a", "artist": "y"}, {"style": "b", "artist": "x"}, {"style": "b", "artist": "y"}]
    good = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], np.float32)
    bad = np.array([[1, 0], [0, 1], [0.9, 0.1], [0.1, 0.9]], np.float32)
    good /= np.linalg.norm(good, axis=1, keepdims=True)
    bad /= np.linalg.norm(bad, axis=1, keepdims=True)
    result = evaluate_retrieval({"good": good, "bad": bad}, meta, RetrievalTask(labels=("style",), group="artist", k=3))
    assert result["facets"]["good"]["style"]["P@1"] == 1.0
    assert result["facets"]["good"]["style"]["mAP"] == 1.0
    assert result["facets"]["bad"]["style"]["P@1"] == 0.0
    # bad: for works 0 and 1 the one same-style work comes 3rd of 3 (AP 1/3); for works 2 and 3
    # it comes 2nd (AP 1/2), so mAP = (1/3 + 1/3 + 1/2 + 1/2) / 4 = 5/12.
    assert result["facets"]["bad"]["style"]["mAP"] == pytest.approx(5 / 12)
    # By artist "good" is wrong first (same style, other artist), then right: P@1 = 0.
    assert result["facets"]["good"]["group:artist"]["P@1"] == 0.0


def test_the_query_never_finds_itself() -> None:
    mat = np.eye(5, dtype=np.float32)
    ranked = ranked_neighbours(mat, np.arange(5), depth=4)
    assert all(i not in ranked[i] for i in range(5))


def test_eval_retrieval_on_wikiart_paintings(small_collection: Collection) -> None:
    result = small_collection.evaluate_retrieval(labels=["style", "genre"], group="artist")
    assert set(result["facets"]) == {"joint", "content", "style", "color"}
    style = {f: result["facets"][f]["style"] for f in result["facets"]}
    assert set(style["joint"]) == {"P@1", "P@5", "P@10", "P@60", "mAP", "queries"}
    assert style["joint"]["P@10"] > 2 * (1 / 11)  # well above chance with 11 styles
    assert style["color"]["mAP"] < style["style"]["mAP"]
    assert set(result["facets"]["joint"]["graded"]) >= {"P@60", "AP@60", "nDCG@60"}
    assert set(result["facets"]["joint"]["group:artist"]) >= {"P@1", "P@5", "P@10"}


def test_eval_retrieval_command(small_collection: Collection) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "retrieval", str(small_collection.directory), "--label", "style", "--facet", "style", "--facet", "color", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data["facets"]) == ["style", "color"]
    table = runner.invoke(app, ["eval", "retrieval", str(small_collection.directory), "--label", "style"])
    assert table.exit_code == 0
    assert "best for style:" in table.stdout


def test_eval_errors(small_collection: Collection) -> None:
    with pytest.raises(InputError, match="unknown metadata column museum"):
        small_collection.evaluate_retrieval(labels=["museum"])
    with pytest.raises(InputError, match="at least one label"):
        small_collection.evaluate_retrieval(labels=[])
    with pytest.raises(InputError, match="min-shared"):
        small_collection.evaluate_retrieval(labels=["style", "genre"], min_shared=3)
