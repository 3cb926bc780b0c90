"""The learned style space as a facet: shipped by default, trained per collection, searched like any other."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artlens import Collection, InputError
from artlens.cli import app
from artlens.web import create_app

from conftest import WIKIART

runner = CliRunner()


@pytest.fixture()
def collection(small_collection: Collection, tmp_path: Path) -> Collection:
    shutil.copytree(small_collection.directory, tmp_path / "col")
    return Collection.open(tmp_path / "col")


def _paintings(col: Collection, n: int) -> list[str]:
    return [row["path"] for row in col.export()[:n]]


def test_a_new_collection_gets_the_default_learned_style_facet(small_collection: Collection) -> None:
    facets = {f.name: f for f in small_collection.info().facets}
    assert "style_learned" in facets
    card = facets["style_learned"].learned
    assert card["group"] == "artist" and "WikiArt" in card["trained_on"]
    assert facets["style_learned"].dim == small_collection.vectors.matrices["style_learned"].shape[1]


def test_search_by_learned_style_with_a_moodboard_and_an_image_to_avoid(small_collection: Collection) -> None:
    a, b, c = _paintings(small_collection, 3)
    hits = small_collection.search(images=[a, b], not_images=[c], facet="style_learned", k=5)
    assert len(hits) == 5 and not {a, b} & {h.path for h in hits}
    assert all("style_learned" in h.scores for h in hits)
    assert "learned style" in hits[0].why
    # A query from outside the collection is projected by the same space.
    outside = next(p for p in sorted((WIKIART / "images").glob("*/*.jpg")) if str(p) not in {a, b, c})
    assert len(small_collection.search(images=[outside], facet="style_learned", k=3)) == 3
    mixed = small_collection.search(images=[a], weights={"style_learned": 0.6, "content": 0.4}, k=3)
    assert len(mixed) == 3 and "learned style" in mixed[0].why
    with pytest.raises(InputError, match="unknown facet"):
        small_collection.search(images=[a], weights={"style_lerned": 1.0})


def test_learn_a_collection_style_space_from_its_artists(collection: Collection) -> None:
    epochs = []
    report = collection.learn_style("artist", epochs=3, progress=epochs.append)
    assert report["epochs_run"] <= 3 and report["val_groups"] >= 2 and epochs
    assert (collection.directory / "models" / "style_learned.npz").exists()
    card = next(f for f in collection.info().facets if f.name == "style_learned").learned
    assert card["group"] == "artist" and "this collection" in card["trained_on"]
    # Evaluation covers the learned facet like the others.
    result = collection.evaluate_retrieval(labels=["style"], group="artist", facets=["style", "style_learned"])
    assert {"style", "style_learned"} == set(result["facets"])
    reopened = Collection.open(collection.directory)
    assert reopened.search(images=_paintings(reopened, 1), facet="style_learned", k=2)


def test_learn_style_errors_name_what_to_fix(collection: Collection) -> None:
    with pytest.raises(InputError, match="unknown metadata column"):
        collection.learn_style("painter")
    with pytest.raises(InputError, match="unknown loss"):
        collection.learn_style("artist", loss="cosine")


def test_learn_style_command(collection: Collection) -> None:
    result = runner.invoke(app, ["learn", "style", str(collection.directory), "--group", "artist", "--loss", "triplet", "--epochs", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["loss"] == "triplet"
    bad = runner.invoke(app, ["learn", "style", str(collection.directory), "--group", "nope"])
    assert bad.exit_code == 1 and "unknown metadata column nope" in bad.output


def test_the_web_app_offers_the_learned_facet(small_collection: Collection) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_app(small_collection.directory))
    page = client.get("/").text
    assert 'data-facet="style_learned"' in page
    first = client.get("/api/artworks?limit=1").json()["artworks"][0]["id"]
    found = client.post("/api/search", data={"id": [first], "facet": "style_learned", "k": 3}).json()
    assert len(found["results"]) == 3 and "style_learned" in found["results"][0]["scores"]
    assert client.get(f"/api/artworks/{first}").json()["more_like_this"]["style_learned"]
    assert client.post("/api/search", data={"id": [first], "facet": "nope"}).status_code == 400
