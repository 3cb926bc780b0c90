"""Faces as regions of a collection: `Collection.detect` / `artlens detect`, filtering by their count, and
search by region (`Collection.search_regions`, `artlens search --region`, the web app's boxes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from artlens import Collection, CollectionError, InputError, NotFoundError
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
    regions = [r for r in demo.regions(hals["id"]) if r["kind"] == "face"]
    assert len(regions) == 1 and regions[0]["score"] > 0.9
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


def test_filter_by_the_number_of_people(demo: Collection) -> None:
    with_people = {r.path for r in demo.search(ids=[1], where=["people>=1"], k=65, include_self=True)}
    without = {r.path for r in demo.search(ids=[1], where=["people=0"], k=65, include_self=True)}
    assert str(PORTRAIT) in with_people and not with_people & without and len(with_people) + len(without) == 65
    # (Chardin's teapot still life is counted as one person since session 9: its teapot scores 0.20, threshold 0.168.)
    still_life = next(p for p in DEMO_IMAGES if p.name.startswith("paul-gauguin_pears-and-grapes"))
    assert str(still_life) in without
    hals = next(a for a in demo.export() if a["path"].endswith(PORTRAIT.name))
    assert hals["people"] == len(hals["person_boxes"]) >= 1  # export carries the count and the boxes


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
    report = json.loads(result.stdout)
    assert (report["looked_at"], report["faces"], report["unreadable"]) == (1, 1, [])
    assert report["people"] >= 1 and report["embedded"] == report["faces"] + report["people"]  # the sitter, and her face


def test_add_can_detect_as_it_goes(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["add", str(tmp_path / "col"), str(PORTRAIT), "--detect", "--json"])
    assert result.exit_code == 0, result.output
    detected = json.loads(result.stdout)["detect"]
    assert (detected["looked_at"], detected["faces"], detected["unreadable"]) == (1, 1, [])


# ---------------------------------------------------------------- the web app

def test_the_api_gives_an_artworks_regions(demo: Collection) -> None:
    from fastapi.testclient import TestClient

    from artlens.web import create_app

    hals = next(a for a in demo.export() if a["path"].endswith(PORTRAIT.name))
    detail = TestClient(create_app(demo.directory)).get(f"/api/artworks/{hals['id']}").json()
    kinds = [r["kind"] for r in detail["regions"]]
    assert kinds.count("face") == 1 and set(kinds) <= {"face", "person"}
    assert all(len(r["box"]) == 4 for r in detail["regions"])


def test_the_artwork_page_draws_the_faces_in_a_browser(demo: Collection, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from webserver import launch_chromium, serve

    hals = next(a for a in demo.export() if a["path"].endswith(PORTRAIT.name))
    copy = tmp_path / "demo"
    shutil.copytree(demo.directory, copy)
    with serve(copy, cwd=ROOT, log=tmp_path / "server.log") as running, sync_playwright() as p:
        browser = launch_chromium(p)
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
    browse = client.get("/browse").text  # one-click count filters once faces were detected
    assert 'href="/browse?where=faces%3E%3D1"' in browse and ">with faces<" in browse
    assert "<code>faces&gt;=1</code>" in client.get("/").text  # the search page names them too
    bad = client.get("/api/artworks", params={"where": "faces>=many"})
    assert bad.status_code == 400 and "whole number" in bad.json()["error"]


# ---------------------------------------------------------------- search by region

def _hals(demo: Collection) -> tuple[int, dict]:
    hals = next(a for a in demo.export() if a["path"].endswith(PORTRAIT.name))
    return hals["id"], demo.regions(hals["id"])[0]


def test_a_detected_face_finds_works_with_faces_like_it(demo: Collection) -> None:
    hals_id, face = _hals(demo)
    results = demo.search_regions(region_id=face["id"], k=5)
    assert len(results) == 5 and hals_id not in {r.id for r in results}  # its own work is left out
    for r in results:
        assert r.region is not None and r.region["kind"] == "face"
        assert r.region["id"] in {x["id"] for x in demo.regions(r.id)}  # the region that matched is the work's own
        assert r.why and set(r.scores) == {"content", "style", "color"}
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    baroque = demo.search_regions(region_id=face["id"], where=["style=Baroque"], facet="content", k=65)
    assert baroque and all(r.metadata["style"] == "Baroque" for r in baroque)
    people = demo.search_regions(region_id=face["id"], kinds=["person"], k=3)  # a face's look among people
    assert people and all(r.region["kind"] == "person" for r in people)


def test_a_box_on_an_image_finds_the_same_face_first(demo: Collection) -> None:
    """The face's box drawn on the portrait's file finds that very face first (when the work itself may
    appear), and another work's face otherwise."""
    hals_id, face = _hals(demo)
    own = demo.search_regions(image=PORTRAIT, box=face["box"], include_self=True, k=3)
    assert own[0].id == hals_id and own[0].region["id"] == face["id"] and own[0].scores["content"] > 0.8
    others = demo.search_regions(image=PORTRAIT, box=face["box"], k=3)
    assert hals_id not in {r.id for r in others}
    on_artwork = demo.search_regions(artwork_id=hals_id, box=face["box"], k=3)  # the same box, named by artwork id
    assert [r.id for r in on_artwork] == [r.id for r in others]


def test_region_queries_that_cannot_work_say_why(demo: Collection, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="give one query"):
        demo.search_regions(box=[0, 0, 10, 10])
    with pytest.raises(InputError, match="a box goes with"):
        demo.search_regions(image=PORTRAIT)
    with pytest.raises(InputError, match="regions are searched by"):
        demo.search_regions(region_id=1, facet="style_learned")
    with pytest.raises(NotFoundError, match="no region with id 99999"):
        demo.search_regions(region_id=99999)
    fresh = Collection.create(tmp_path / "fresh")
    fresh.add(DEMO_IMAGES[:3])
    with pytest.raises(CollectionError, match="artlens detect"):
        fresh.search_regions(image=PORTRAIT, box=[10, 10, 60, 60])


def test_cli_search_by_region(demo: Collection) -> None:
    hals_id, face = _hals(demo)
    box = ",".join(str(round(v)) for v in face["box"])
    result = CliRunner().invoke(app, ["search", str(demo.directory), "--image", str(PORTRAIT), "--region", box, "-k", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.count("matched face") == 2
    by_id = CliRunner().invoke(app, ["search", str(demo.directory), "--region-id", str(face["id"]), "-k", "1", "--json"])
    assert json.loads(by_id.stdout)["results"][0]["region"]["kind"] == "face"
    bad = CliRunner().invoke(app, ["search", str(demo.directory), "--image", str(PORTRAIT), "--region", "10,10,5"])
    assert bad.exit_code != 0 and "four numbers" in bad.output


def test_region_vectors_follow_a_reembed(tmp_path: Path) -> None:
    """A re-embed drops the regions' vectors (they came from the old backbone); the next detect embeds
    the same regions again without detecting anew."""
    col = Collection.create(tmp_path / "col")
    col.add([PORTRAIT, *DEMO_IMAGES[:2]])
    first = col.detect()
    assert first.embedded == first.faces + first.people and first.faces >= 1
    col.reembed(backbone="lite0")
    with pytest.raises(CollectionError, match="artlens detect"):
        col.search_regions(image=PORTRAIT, box=[50, 40, 140, 110])
    again = col.detect()
    assert (again.looked_at, again.faces, again.people, again.embedded) == (0, 0, 0, first.embedded)
    assert col.search_regions(image=PORTRAIT, box=[50, 40, 140, 110], include_self=True)


def test_the_api_searches_by_region(demo: Collection) -> None:
    from fastapi.testclient import TestClient

    from artlens.web import create_app

    hals_id, face = _hals(demo)
    client = TestClient(create_app(demo.directory))
    page = client.get(f"/api/regions/{face['id']}/similar", params={"k": 3, "facet": "style"}).json()
    assert len(page["results"]) == 3 and all(r["region"]["kind"] == "face" for r in page["results"]) and page["has_more"]
    box = ",".join(str(round(v)) for v in face["box"])
    drawn = client.get(f"/api/artworks/{hals_id}/regions/similar", params={"box": box, "k": 2, "where": "faces>=1"})
    assert drawn.status_code == 200 and len(drawn.json()["results"]) == 2
    assert client.get("/api/regions/99999/similar").status_code == 404
    assert client.get(f"/api/artworks/{hals_id}/regions/similar", params={"box": "1,2,3"}).status_code == 422


def test_drawing_a_box_in_the_browser_finds_works_with_such_a_region(demo: Collection, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from webserver import launch_chromium, serve

    hals_id, _ = _hals(demo)
    copy = tmp_path / "demo"
    shutil.copytree(demo.directory, copy)
    with serve(copy, cwd=ROOT, log=tmp_path / "server.log") as running, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"http://127.0.0.1:{running.port}/artworks/{hals_id}")
        page.locator("#boxed img").wait_for()
        page.wait_for_load_state("networkidle")
        frame = page.locator("#boxed").bounding_box()
        assert frame
        # The drag starts inside the detected person's box, which covers most of this portrait.
        page.mouse.move(frame["x"] + frame["width"] * 0.25, frame["y"] + frame["height"] * 0.1)
        page.mouse.down()
        page.mouse.move(frame["x"] + frame["width"] * 0.7, frame["y"] + frame["height"] * 0.55, steps=4)
        assert page.locator("#drawn").is_visible()  # the box follows the pointer
        page.mouse.up()
        page.wait_for_url("**/regions?box=*")
        page.wait_for_load_state("networkidle")
        cards = page.locator(".region-results .card")
        assert cards.count() >= 10
        # Each result outlines its matching face inside its picture.
        picture, outline = cards.first.locator("img").bounding_box(), cards.first.locator(".region").bounding_box()
        assert picture and outline and outline["width"] > 2
        assert picture["x"] <= outline["x"] and outline["x"] + outline["width"] <= picture["x"] + picture["width"] + 1
        page.screenshot(path=str(tmp_path / "regions.png"), full_page=True)  # looked at by eye when written
        page.goto(f"http://127.0.0.1:{running.port}/artworks/{hals_id}")
        page.locator("a.region.face").first.click()  # a detected face is a link to works with faces like it
        page.wait_for_url("**/regions/*")
        assert "like this face" in page.locator("h1").inner_text()
        browser.close()
