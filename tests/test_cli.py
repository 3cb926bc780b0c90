"""The `artlens` command: exact output shapes and exit codes, driven in-process."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from artlens import Collection
from artlens.cli import app

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def first_path(col: Collection) -> str:
    from artlens.store import catalog

    with col.catalog.engine.connect() as conn:
        return next(catalog.iter_artworks(conn)).path


def test_search_json_has_the_documented_shape(small_collection: Collection) -> None:
    result = run("search", small_collection.directory, "--image", first_path(small_collection), "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["results"] and len(data["results"]) == 3
    hit = data["results"][0]
    assert {"id", "path", "score", "scores", "metadata"} <= set(hit)
    assert set(hit["scores"]) == {"content", "style", "color", "style_learned"}
    assert set(hit["metadata"]) >= {"style", "artist"}


def test_search_with_weights_and_filters(small_collection: Collection) -> None:
    result = run("search", small_collection.directory, "-i", first_path(small_collection), "--weights", "style=0.6,content=0.3,color=0.1",
                 "--where", "style=Rococo", "-k", "4", "--json")
    assert result.exit_code == 0, result.output
    assert {r["metadata"]["style"] for r in json.loads(result.stdout)["results"]} == {"Rococo"}


def test_search_prints_a_block_per_result(small_collection: Collection) -> None:
    result = run("search", small_collection.directory, "-i", first_path(small_collection), "--facet", "style", "-k", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 6
    assert re.fullmatch(r" 1\. \d\.\d{3}  content -?\d\.\d\d  style -?\d\.\d\d  colour -?\d\.\d\d  learned style -?\d\.\d\d  \(style top [\d.]+%\)", lines[0])
    assert lines[1].startswith("    /") and lines[1].endswith(".jpg")
    assert lines[2].startswith("    style=")
    assert lines[3].startswith(" 2. ")


def test_info_json(small_collection: Collection) -> None:
    result = run("info", small_collection.directory, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["artworks"] == 242
    assert data["failed"] == []
    assert set(data["duplicates"]) == {"exact", "near"}
    assert [f["name"] for f in data["facets"]] == ["joint", "content", "style", "color", "style_learned"]
    assert data["columns"] == ["artist", "genre", "style"]
    assert data["model"] == {"backbone": "lite0-art-int8", "input_size": 224, "style": "adain", "version": "art-v1/taps-v1/int8-v2"}


def test_duplicates_json(small_collection: Collection) -> None:
    result = run("duplicates", small_collection.directory, "--json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == {"exact", "near"}


def test_errors_are_one_clear_line(tmp_path: Path, small_collection: Collection) -> None:
    missing = run("info", tmp_path / "nothing-here")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == f"Error: {tmp_path / 'nothing-here'} is not an ArtLens collection (no artlens.db); create it with `artlens add`"
    bad_weight = run("search", small_collection.directory, "-i", first_path(small_collection), "--weights", "style=lots")
    assert bad_weight.exit_code == 1
    assert bad_weight.stderr.strip() == "Error: bad weight 'style=lots': 'lots' is not a number"
    unknown_facet = run("search", small_collection.directory, "-i", first_path(small_collection), "--facet", "mood")
    assert unknown_facet.exit_code == 1  # which facets exist depends on the collection: it says which
    assert unknown_facet.stderr.strip().startswith("Error: unknown facet 'mood': choose one of joint, content, style, color")
    no_query = run("search", small_collection.directory)
    assert no_query.exit_code == 2


def test_add_reports_what_it_did(tmp_path: Path) -> None:
    import shutil

    from conftest import WIKIART, read_labels

    art = tmp_path / "art"
    art.mkdir()
    for r in read_labels(WIKIART)[:3]:
        shutil.copy(WIKIART / r["image"], art)
    (art / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    result = run("add", tmp_path / "col", art)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"Added 3 artworks to {tmp_path / 'col'} in ")
    assert lines[0].endswith("(0 exact duplicates, 0 unchanged, 1 failed, 0 non-image files ignored).")
    assert lines[1].startswith("Failed (")
    assert "broken.png" in lines[2]


def test_every_command_has_an_example_in_its_help() -> None:
    for command in ("add", "search", "info", "duplicates"):
        result = run(command, "--help")
        assert result.exit_code == 0
        assert "Example: artlens " + command in result.stdout


def test_labels_set_suggest_and_train_from_the_command_line(small_collection: Collection, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(small_collection.directory, tmp_path / "col")
    col = tmp_path / "col"
    with Collection.open(col) as opened:
        styles = {r["id"]: r["style"] for r in opened.export()}
    yes = [str(i) for i, s in styles.items() if s == "Ukiyo_e"][:3]
    no = [str(i) for i, s in styles.items() if s != "Ukiyo_e"][:3]
    assert run("labels", "set", col, "--name", "ukiyo_e", "--value", "yes", *yes).exit_code == 0
    result = run("labels", "set", col, "--name", "ukiyo_e", "--value", "no", *no)
    assert result.exit_code == 0 and "yes 3" in result.output and "no 3" in result.output
    result = run("labels", "suggest", col, "--name", "ukiyo_e", "-k", "5", "--json")
    suggestions = json.loads(result.output)["suggestions"]
    assert len(suggestions) == 5 and not {str(s["id"]) for s in suggestions} & set(yes + no)
    bad = run("labels", "set", col, "--name", "ukiyo_e", "--value", "yes", "999999")
    assert bad.exit_code != 0 and "no artwork" in bad.output
    assert run("labels", "set", col, "--name", "ukiyo_e", "--value", "none", yes[0]).exit_code == 0
    with Collection.open(col) as opened:
        assert opened.labels("ukiyo_e").get(int(yes[0])) is None
