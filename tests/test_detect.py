"""Faces as regions of a collection: `Collection.detect` / `artlens detect`, and filtering by their count."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artlens import Collection, InputError
from artlens.cli import app

from conftest import DEMO, DEMO_IMAGES, ROOT

PORTRAIT = next(p for p in DEMO_IMAGES if p.name.startswith("frans-hals"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Collection:
    """The whole bundled demo, faces detected once for the module."""
    col = Collection.create(tmp_path_factory.mktemp("detect") / "demo")
    col.add([DEMO / "images"], metadata=DEMO / "labels.csv")
    report = col.detect()
    assert report.looked_at == 65 and report.unreadable == []
    return col


def test_faces_are_found_and_a_second_run_does_nothing(demo: Collection) -> None:
    hals = next(a for a in demo.export() if a["path"].endswith(PORTRAIT.name))
    assert hals["faces"] == 1 and len(hals["face_boxes"]) == 1  # export carries the count and the boxes
    regions = demo.regions(hals["id"])
    assert [r["kind"] for r in regions] == ["face"] and regions[0]["score"] > 0.9
    x0, y0, x1, y1 = regions[0]["box"]
    row = demo.catalog.artworks([hals["id"]])[hals["id"]]
    assert 0 <= x0 < x1 <= row.width and 0 <= y0 < y1 <= row.height  # in the work's own pixels
    assert demo.detect().looked_at == 0
    assert demo.info().faces == (65, 17)


def test_filter_by_the_number_of_faces(demo: Collection) -> None:
    with_faces = {r.path for r in demo.search(ids=[1], where=["faces>=1"], k=65, include_self=True)}
    without = {r.path for r in demo.search(ids=[1], where=["faces=0"], k=65, include_self=True)}
    assert str(PORTRAIT) in with_faces and 10 <= len(with_faces) <= 20
    assert not with_faces & without and len(with_faces) + len(without) == 65
    two = {r.path for r in demo.search(ids=[1], where=["faces>=2"], k=65, include_self=True)}
    assert two < with_faces and two
    with pytest.raises(InputError, match="compares counts"):
        demo.search(ids=[1], where=["genre>=1"])
    with pytest.raises(InputError, match="whole number"):
        demo.search(ids=[1], where=["faces>=some"])


def test_works_never_looked_at_match_no_count(tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "col")
    col.add(DEMO_IMAGES[:4])
    assert col.search(ids=[1], where=["faces=0"], include_self=True) == []  # unknown is not zero


def test_an_unreadable_file_is_reported_and_looked_at_next_time(tmp_path: Path) -> None:
    folder = tmp_path / "art"
    folder.mkdir()
    for p in DEMO_IMAGES[:3]:
        shutil.copy(p, folder / p.name)
    col = Collection.create(tmp_path / "col")
    col.add([folder])
    gone = sorted(folder.iterdir())[0]
    gone.rename(tmp_path / "aside.jpg")
    report = col.detect()
    assert report.looked_at == 2 and [p for p, _ in report.unreadable] == [str(gone)]
    (tmp_path / "aside.jpg").rename(gone)
    assert col.detect().looked_at == 1


def test_cli_detect(tmp_path: Path) -> None:
    col = Collection.create(tmp_path / "col")
    col.add([PORTRAIT])
    result = CliRunner().invoke(app, ["detect", str(col.directory), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"looked_at": 1, "faces": 1, "unreadable": []}


def test_add_can_detect_as_it_goes(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["add", str(tmp_path / "col"), str(PORTRAIT), "--detect", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["detect"] == {"looked_at": 1, "faces": 1, "unreadable": []}


# ---------------------------------------------------------------- the web app

def test_the_api_gives_an_artworks_regions(demo: Collection) -> None:
    from fastapi.testclient import TestClient

    from artlens.web import create_app

    hals = next(a for a in demo.export() if a["path"].endswith(PORTRAIT.name))
    detail = TestClient(create_app(demo.directory)).get(f"/api/artworks/{hals['id']}").json()
    assert [r["kind"] for r in detail["regions"]] == ["face"] and len(detail["regions"][0]["box"]) == 4


def test_the_artwork_page_draws_the_faces_in_a_browser(demo: Collection, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from webserver import serve

    hals = next(a for a in demo.export() if a["path"].endswith(PORTRAIT.name))
    copy = tmp_path / "demo"
    shutil.copytree(demo.directory, copy)
    with serve(copy, cwd=ROOT, log=tmp_path / "server.log") as running, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # the page's own CSP applies: no bypass
        page.goto(f"http://127.0.0.1:{running.port}/artworks/{hals['id']}")
        page.locator("#boxed img").wait_for()
        page.wait_for_load_state("networkidle")
        image, face = page.locator("#boxed img").bounding_box(), page.locator(".region.face").bounding_box()
        assert image and face
        # The box lies inside the picture, in its upper half (a portrait's face), at a face's size.
        assert image["x"] <= face["x"] and face["x"] + face["width"] <= image["x"] + image["width"]
        assert image["y"] <= face["y"] and face["y"] + face["height"] / 2 <= image["y"] + image["height"] / 2
        assert 0.05 < face["width"] / image["width"] < 0.6
        page.screenshot(path=str(tmp_path / "artwork-faces.png"))  # looked at by eye when this test was written
        page.locator("#show-regions").uncheck()
        assert not page.locator(".region.face").is_visible()
        browser.close()


def test_the_api_and_browse_filter_by_faces(demo: Collection) -> None:
    from fastapi.testclient import TestClient

    from artlens.web import create_app

    client = TestClient(create_app(demo.directory))
    with_faces = client.get("/api/artworks", params={"where": "faces>=1", "limit": 100}).json()
    assert {a["path"] for a in with_faces["artworks"]} == {r.path for r in demo.search(ids=[1], where=["faces>=1"], k=65, include_self=True)}
    assert client.get("/browse", params={"where": "faces=0"}).status_code == 200
    bad = client.get("/api/artworks", params={"where": "faces>=many"})
    assert bad.status_code == 400 and "whole number" in bad.json()["error"]
