"""Damaged collections: a command that meets damage names it and says how to fix it (never a
traceback), `artlens check` finds it, and `check --repair` rebuilds what the catalog can rebuild and
says what it cannot. On works of the bundled demo: no research data needed."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artlens import CheckReport, Collection, CollectionError
from artlens.cli import app

from conftest import DEMO_IMAGES

JPEG = b"\xff\xd8\xff"


def run(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def collection(demo_collection: Path, tmp_path: Path) -> Path:
    shutil.copytree(demo_collection, tmp_path / "col")
    return tmp_path / "col"


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def keep_only(folder: Path, *names: str) -> None:
    for path in folder.iterdir():
        if path.name not in names:
            path.unlink()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated joint index": lambda col: truncate(col / "vectors" / "joint.faiss"),
    "ids missing": lambda col: (col / "vectors" / "ids.npy").unlink(),
    "state unreadable": lambda col: (col / "vectors" / "state.json").write_text("{not json"),
    "state missing": lambda col: (col / "vectors" / "state.json").unlink(),
    # What two racing builds left behind before builds were swapped in whole.
    "half a build": lambda col: keep_only(col / "vectors", "state.json", "near_duplicates.json"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_vectors_are_named_and_check_repair_rebuilds_them(collection: Path, damage: str) -> None:
    DAMAGE[damage](collection)
    for command in (["search", collection, "--image", DEMO_IMAGES[0]], ["info", collection]):
        result = run(*command)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith(f"Error: the search vectors of {collection} are damaged (")
        assert f"run `artlens check --repair {collection}`" in result.stderr

    found = run("check", collection, "--json")
    assert found.exit_code == 1
    report = json.loads(found.stdout)
    assert report["ok"] is False and report["parts"]["vectors"] == "damaged"
    assert report["parts"] | {"vectors": "ok"} == {"catalog": "ok", "vectors": "ok", "thumbnails": "ok", "models": "ok"}

    fixed = run("check", collection, "--repair")
    assert fixed.exit_code == 0, fixed.output
    assert "vectors: rebuilt from the catalog (6 artworks)" in fixed.stdout
    with Collection.open(collection) as col:
        assert len(col.search(images=[DEMO_IMAGES[0]], k=3)) == 3
        assert col.check() == CheckReport(str(collection), dict.fromkeys(("catalog", "vectors", "thumbnails", "models"), "ok"), (), (), ())


def test_add_rebuilds_a_half_written_vectors_folder(collection: Path, demo_art: Path) -> None:
    """As reported: with vectors/ holding only state.json and near_duplicates.json, `artlens add`
    said "Added 0 ... unchanged" and left the collection unsearchable."""
    DAMAGE["half a build"](collection)
    result = run("add", collection, demo_art)
    assert result.exit_code == 0 and result.stdout.startswith("Added 0 artworks"), result.output
    with Collection.open(collection) as col:
        assert not col.is_stale() and len(col.search(images=[DEMO_IMAGES[0]], k=3)) == 3


def test_a_deleted_vectors_folder_is_rebuilt_by_check_repair(collection: Path) -> None:
    shutil.rmtree(collection / "vectors")
    with Collection.open(collection) as col:
        assert col.is_stale()
        with pytest.raises(CollectionError, match="no search index yet"):
            col.search(images=[DEMO_IMAGES[0]])
        assert col.check().problems == ("vectors: not built for the 6 artworks of the catalog",)
        assert col.check(repair=True).repaired == ("vectors: rebuilt from the catalog (6 artworks)",)
        assert len(col.search(images=[DEMO_IMAGES[0]], k=2)) == 2


def test_a_database_that_is_not_one_is_named_and_not_repairable(collection: Path) -> None:
    (collection / "artlens.db").write_bytes(b"this is not a database" * 100)
    for wal in collection.glob("artlens.db-*"):
        wal.unlink()
    result = run("info", collection)
    assert result.exit_code == 1
    assert f"Error: {collection / 'artlens.db'} is damaged (file is not a database)" in result.stderr
    with pytest.raises(CollectionError, match="cannot be repaired"):
        Collection.open(collection)
    with pytest.raises(CollectionError, match="file is not a database"):
        Collection.create(collection)  # `artlens add` on it: refused, the file left as it is
    assert (collection / "artlens.db").read_bytes().startswith(b"this is not")

    check = run("check", collection, "--repair", "--json")
    assert check.exit_code == 1
    report = json.loads(check.stdout)
    assert report["ok"] is False and report["parts"] == {"catalog": "damaged"} and report["repaired"] == []
    assert "new collection" in report["remaining"][0] and "artlens add NEW-COLLECTION" in report["remaining"][0]


def test_a_model_file_that_does_not_load_is_moved_aside(collection: Path) -> None:
    models = collection / "models"
    models.mkdir()
    (models / "watercolour.npz").write_bytes(b"PK\x03\x04 cut short")
    with Collection.open(collection) as col:
        report = col.check()
        assert not report.ok and report.parts["models"] == "damaged"
        assert report.problems[0].startswith("models: watercolour.npz does not load (")
        repaired = col.check(repair=True)
        assert repaired.ok and repaired.repaired == ("models: watercolour.npz moved to models/broken/",)
        assert (models / "broken" / "watercolour.npz").is_file() and not (models / "watercolour.npz").exists()
        assert col.annotate(models=["depiction"])["depiction"].total == 6


def test_missing_or_broken_thumbnails_are_made_again_from_the_files(collection: Path) -> None:
    with sqlite3.connect(collection / "artlens.db") as conn:
        conn.execute("DELETE FROM thumbnails WHERE artwork_id = 1")
        conn.execute("UPDATE thumbnails SET data = x'00' WHERE artwork_id = 2")
    conn.close()
    with Collection.open(collection) as col:
        assert col.check().problems == ("thumbnails: 2 artworks have no readable thumbnail (ids 1, 2)",)
        assert col.check(repair=True).repaired == ("thumbnails: 2 made again from the image files",)
        assert (col.thumbnail(1) or b"").startswith(JPEG) and (col.thumbnail(2) or b"").startswith(JPEG)
        assert col.check().ok


def test_artworks_without_features_are_reported_not_a_traceback(collection: Path) -> None:
    with sqlite3.connect(collection / "artlens.db") as conn:
        conn.execute("DELETE FROM features WHERE artwork_id = 3 AND facet = 'content'")
    conn.close()
    with Collection.open(collection) as col:
        report = col.check(repair=True)
        assert report.parts["catalog"] == "damaged" and not report.ok
        assert "catalog: 1 artwork has no content features (id 3)" in report.problems
        assert any("new collection" in r for r in report.remaining)
        with pytest.raises(CollectionError, match="run `artlens check"):
            col.build()


def test_a_damaged_model_file_is_named_by_annotate(collection: Path) -> None:
    """annotate meets a model file cut short: a clear message naming it and the repair, not a traceback."""
    directory = collection
    models = directory / "models"
    models.mkdir(exist_ok=True)
    (models / "mine.npz").write_bytes(b"PK\x03\x04 cut short")
    result = CliRunner().invoke(app, ["annotate", str(directory)])
    assert result.exit_code == 1, result.output
    assert "mine.npz does not load" in result.stderr and "artlens check --repair" in result.stderr
