"""Predictions in the catalog: filters on them and the export, independent of how they were made."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artlens import Collection, InputError
from artlens.cli import app
from artlens.store import catalog

from conftest import copy_collection


@pytest.fixture()
def predicted(small_collection: Collection, tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Collection:
    """A copy of the small collection (on each catalog backend) where a stand-in model called 'baroque'
    said yes to Baroque works."""
    col = Collection.open(copy_collection(small_collection.directory, tmp_path / "col", backend, request))
    with col.catalog.engine.begin() as conn:
        arts = list(catalog.iter_artworks(conn))
        catalog.write_predictions(conn, "baroque", "test-1", [
            (a.id, "yes" if a.meta["style"] == "Baroque" else "no", 0.9, []) for a in arts
        ])
    return col


def test_search_filters_on_predictions(predicted: Collection) -> None:
    query = predicted.export()[0]["path"]
    results = predicted.search(images=[query], where=["pred.baroque=yes"], k=100)
    assert results and {r.metadata["style"] for r in results} == {"Baroque"}
    not_yes = predicted.search(images=[query], where=["pred.baroque!=yes"], k=300)
    assert "Baroque" not in {r.metadata["style"] for r in not_yes}
    with pytest.raises(InputError, match="unknown metadata column pred.medium"):
        predicted.search(images=[query], where=["pred.medium=oil"])


def test_export_has_a_prediction_and_confidence_column_per_model(predicted: Collection) -> None:
    runner = CliRunner()
    as_csv = runner.invoke(app, ["export", str(predicted.directory), "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 242
    assert list(rows[0])[:2] == ["id", "path"] and {"style", "artist", "pred.baroque", "conf.baroque"} <= set(rows[0])
    assert {r["pred.baroque"] for r in rows if r["style"] == "Baroque"} == {"yes"}
    as_json = runner.invoke(app, ["export", str(predicted.directory), "--format", "json"])
    data = json.loads(as_json.stdout)
    assert data[0]["conf.baroque"] == 0.9


def test_predictions_of_a_changed_file_are_dropped(predicted: Collection) -> None:
    with predicted.catalog.engine.begin() as conn:
        art = next(catalog.iter_artworks(conn))
        catalog.record_failure(conn, art.path, 0, 0, "truncated", "stand-in for a file that changed and broke")
        assert art.id not in catalog.predictions_by_artwork(conn)
