"""Typed errors end to end: a user's mistake is one clear line (CLI) or a JSON body / an error page with
its status (web); anything else is a bug, reported as one and logged with its traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from artlens import ArtLensError, Collection, CollectionError, ImageError, InputError, NotFoundError
from artlens.cli import app
from artlens.errors import EXIT_INTERNAL
from artlens.web import create_app


def test_every_user_error_is_an_artlens_error_with_its_status() -> None:
    assert (InputError("x").exit_code, InputError("x").http_status) == (1, 400)
    assert NotFoundError("x").http_status == 404 and isinstance(NotFoundError("x"), InputError)
    assert CollectionError("x").http_status == 409
    bad = ImageError("truncated", "cut.jpg: the file ends early")
    assert isinstance(bad, ArtLensError) and bad.http_status == 422 and bad.detail == {"reason": "truncated"}


def a_bug(self: Collection) -> None:
    """Stands in for a bug: an exception no ArtLens code foresees. (Damage to a collection, such as
    garbage in artlens.db, is a CollectionError that names it: tests/test_integrity.py.)"""
    raise ZeroDivisionError("division by zero")


def test_a_bug_is_one_line_and_a_logged_traceback(demo_collection: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Collection, "info", a_bug)
    monkeypatch.setenv("ARTLENS_LOG", str(tmp_path / "errors.log"))
    monkeypatch.delenv("ARTLENS_DEBUG", raising=False)
    result = CliRunner().invoke(app, ["info", str(demo_collection)])
    assert result.exit_code == EXIT_INTERNAL
    assert "Internal error (ZeroDivisionError): this is a bug in ArtLens" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Traceback" in (tmp_path / "errors.log").read_text()


def test_debug_shows_the_traceback(demo_collection: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Collection, "info", a_bug)
    result = CliRunner().invoke(app, ["--debug", "info", str(demo_collection)])
    assert result.exit_code != 0 and result.exception is not None
    assert type(result.exception).__name__ == "ZeroDivisionError"  # raised as is, with its traceback


def test_a_user_error_keeps_exit_code_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["search", str(tmp_path / "nothing"), "--image", "x.jpg"])
    assert result.exit_code == 1 and result.stderr.startswith("Error: ")


def test_the_api_answers_errors_as_json_with_their_status(demo_collection: Path) -> None:
    client = TestClient(create_app(demo_collection))
    missing = client.get("/api/artworks/987654")
    assert missing.status_code == 404 and missing.json() == {"error": "no artwork with id 987654", "detail": {"id": 987654}}
    bad_filter = client.get("/api/artworks", params={"where": "museum=Louvre"})
    assert bad_filter.status_code == 400 and bad_filter.json()["error"] == "unknown filter column(s): museum"
    bad_weights = client.post("/api/search", data={"id": "1", "weights": "style=lots"})
    assert bad_weights.status_code == 400 and "not a number" in bad_weights.json()["error"]


def test_pages_answer_errors_with_an_error_page(demo_collection: Path) -> None:
    client = TestClient(create_app(demo_collection))
    page = client.get("/artworks/987654", headers={"accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Artwork not found" in page.text
    browse = client.get("/browse", params={"where": "no-equals-sign"}, headers={"accept": "text/html"})
    assert browse.status_code == 400 and "bad filter" in browse.text


def test_a_bug_in_the_api_is_a_500_without_internals(demo_collection: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Collection, "info", a_bug)
    client = TestClient(create_app(demo_collection), raise_server_exceptions=False)
    response = client.get("/api/info")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error, see the server log", "detail": "ZeroDivisionError"}


def test_an_id_too_large_for_the_catalog_names_no_artwork(demo_collection: Path) -> None:
    result = CliRunner().invoke(app, ["labels", "set", str(demo_collection), "--name", "x", "--value", "yes", str(10**23)])
    assert result.exit_code == 1 and result.stderr.strip() == f"Error: no artwork with id {10**23}"
