"""Describing a collection: default label models, a model trained from a column, filters and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artlens import Collection, InputError
from artlens.cli import app

from conftest import copy_collection


@pytest.fixture()
def collection(small_collection: Collection, tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Collection:
    """A private copy of the shared 242-painting collection, on each catalog backend."""
    return Collection.open(copy_collection(small_collection.directory, tmp_path / "col", backend, request))


def test_annotate_with_the_default_models(collection: Collection) -> None:
    assert {"style", "genre", "depiction", "medium", "people"} <= set(collection.label_models())
    assert "content" not in collection.label_models()  # the closed-world PACS objects are not shipped (issue 17)
    summary = collection.annotate(models=["style", "depiction"])
    assert summary["style"].total == 242 and summary["depiction"].total == 242
    assert set(summary["depiction"].counts) <= {"painting", "drawing", "cartoon", "photo", "unsure"}
    # WikiArt paintings are paintings: the depiction model should say so for most of them.
    assert summary["depiction"].counts.get("painting", 0) > 0.8 * 242
    rows = {r["path"]: r for r in collection.export()}
    some = next(iter(rows.values()))
    assert {"pred.style", "conf.style", "pred.depiction", "conf.depiction"} <= set(some)
    assert 0 <= some["conf.depiction"] <= 1


def test_train_a_label_from_a_metadata_column_and_use_it(collection: Collection) -> None:
    card = collection.train_label("style", group="artist", name="my_style")
    assert card["kind"] == "one-of-many" and card["name"] == "my_style"
    # 1/11 held out, by artist: no artist is on both sides.
    assert card["data"]["held_out"] == pytest.approx(card["data"]["labelled"] / 11, abs=12)
    assert 0 <= card["held_out"]["top1_accuracy"] <= card["held_out"]["top3_accuracy"] <= 1
    assert {"macro_f1", "mcc", "confident_precision", "confident_coverage"} <= set(card["held_out"])
    assert (collection.directory / "models" / "my_style.npz").is_file()
    assert "my_style" in collection.label_models()
    summary = collection.annotate(models=["my_style"])
    assert summary["my_style"].total == 242
    decided = {label: n for label, n in summary["my_style"].counts.items() if label != "unsure"}
    assert decided and set(decided) <= {r["style"] for r in collection.export()}
    label = max(decided, key=decided.get)
    query = collection.export()[0]["path"]
    results = collection.search(images=[query], where=[f"pred.my_style={label}"], k=300, include_self=True)
    assert len(results) == decided[label]


def test_annotate_and_train_errors(collection: Collection) -> None:
    with pytest.raises(InputError, match="unknown label model nope"):
        collection.annotate(models=["nope"])
    with pytest.raises(InputError, match="unknown metadata column museum"):
        collection.train_label("museum")
    with pytest.raises(InputError, match="unknown kind"):
        collection.train_label("style", kind="several")


def test_annotate_command_and_export_round_trip(collection: Collection, tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["annotate", str(collection.directory), "--model", "genre", "--json"])
    assert done.exit_code == 0, done.output
    genre = json.loads(done.stdout)["genre"]
    assert genre["total"] == 242 == sum(genre["counts"].values())
    assert genre["decided"] + genre["unsure"] == 242 and genre["unsure"] == genre["counts"].get("unsure", 0)
    text = runner.invoke(app, ["annotate", str(collection.directory), "--model", "genre"])
    assert text.exit_code == 0, text.output
    assert f"genre: 242 artworks, {genre['decided']} decided, {genre['unsure']} unsure" in text.stdout
    out = tmp_path / "export.json"
    exported = runner.invoke(app, ["export", str(collection.directory), "--format", "json", "--output", str(out)])
    assert exported.exit_code == 0, exported.output
    rows = json.loads(out.read_text())
    assert len(rows) == 242 and all("pred.genre" in r and "conf.genre" in r for r in rows)


def test_test_time_augmentation_reads_six_views_and_marks_the_predictions(collection: Collection) -> None:
    from PIL import Image

    from artlens.features.embed import tta_views

    views = tta_views(Image.new("RGB", (200, 100)))
    assert [v.size for v in views] == [(200, 100)] + [(160, 80)] * 5  # whole, centre, 4 corners
    # Describe a few artworks with six views each, the rest from stored features when a file is gone.
    with collection.catalog.engine.begin() as conn:  # the collection is a copy: point one artwork at a missing file
        conn.exec_driver_sql("UPDATE artworks SET path = '/nowhere/gone.jpg' WHERE id = (SELECT min(id) FROM artworks)")
    summary = collection.annotate(models=["depiction"], tta=True)
    assert summary["depiction"].total == 242
    assert summary["depiction"].counts.get("painting", 0) > 0.8 * 242
    with collection.catalog.engine.connect() as conn:
        versions = {v for (v,) in conn.exec_driver_sql("SELECT DISTINCT version FROM predictions WHERE model = 'depiction'")}
    assert len(versions) == 1 and next(iter(versions)).endswith("+tta")


def test_people_says_yes_on_portraits_and_almost_never_on_abstract_paintings(collection: Collection) -> None:
    """The one shipped content attribute, calibrated on real art with real negatives (issue 17)."""
    summary = collection.annotate(models=["people"])
    assert set(summary["people"].counts) <= {"yes", "no", "unsure"}
    rows = collection.export()
    by_genre = lambda genre: [r["pred.people"] for r in rows if r.get("genre") == genre]  # noqa: E731
    abstract, portraits = by_genre("abstract_painting"), by_genre("portrait")
    assert len(abstract) > 20 and len(portraits) > 20
    assert abstract.count("yes") <= 0.03 * len(abstract)
    assert portraits.count("yes") >= 0.6 * len(portraits) and portraits.count("no") <= 0.05 * len(portraits)
