"""The map page (`/map`): a real `artlens serve` and Debian's chromium (Playwright), on 50 demo works
with their joint and style maps made here. Screenshots (laptop and phone) go to the test's tmp folder
and, with ARTLENS_SCREENSHOTS=DIR, to DIR as well, to be looked at.

The 100,000-work timings are a benchmark, not a test: bench/map_page.py (figures in docs/map.md).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from artlens import Collection  # noqa: E402
from artlens.web import create_app  # noqa: E402

from conftest import DEMO, DEMO_IMAGES, ROOT  # noqa: E402
from webserver import CHROMIUM, launch_chromium, serve  # noqa: E402

WAIT_MS = 15_000
TOKEN = "map-test-token"
WORKS = 50
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("map-page") / "demo"
    with Collection.create(directory) as col:
        col.add(DEMO_IMAGES[:WORKS], metadata=DEMO / "labels.csv")
        col.map(["joint", "style"])
    return directory


@pytest.fixture(scope="module")
def server(mapped: Path):
    with serve(mapped, cwd=ROOT, env={"ARTLENS_TOKEN": TOKEN}, log=mapped.parent / "server.log") as running:
        yield f"http://127.0.0.1:{running.port}"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium); it is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def _open(browser, server: str, viewport: dict[str, int] = LAPTOP, phone: bool = False, path: str = "/map"):
    """A page at /map, painted; refused CSP rules and JavaScript errors collected in page.problems."""
    context = browser.new_context(viewport=viewport, base_url=server, is_mobile=phone, has_touch=phone, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    pg.problems = []
    pg.on("pageerror", lambda exc: pg.problems.append(str(exc)))
    pg.on("console", lambda msg: pg.problems.append(msg.text) if "Content Security Policy" in msg.text else None)
    pg.goto(path)
    pg.wait_for_selector("canvas#map[data-state=ready]")
    return pg


@pytest.fixture
def page(browser, server):
    pg = _open(browser, server)
    yield pg
    problems = pg.problems
    pg.context.close()
    assert not problems, problems


def _canvas_point(pg, artwork_id: int) -> tuple[float, float]:
    """Where a work is drawn, in page pixels."""
    box = pg.locator("canvas#map").bounding_box()
    sx, sy = pg.evaluate("id => window.artlensMap.where(id)", artwork_id)
    return box["x"] + sx, box["y"] + sy


def _lonely_work(pg) -> int:
    """A work with no other within 12 px, so that hovering it can mean only it."""
    spots = {i: _canvas_point(pg, i) for i in pg.evaluate("window.artlensMap.ids()")}
    return next(i for i, (x, y) in spots.items()
                if all((x - a) ** 2 + (y - b) ** 2 > 144 for j, (a, b) in spots.items() if j != i))


def _shot(pg, tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    pg.screenshot(path=str(out))
    if os.environ.get("ARTLENS_SCREENSHOTS"):
        shutil.copy(out, Path(os.environ["ARTLENS_SCREENSHOTS"]) / name)
    return out


def test_without_a_map_the_page_says_how_to_make_one(demo_collection: Path) -> None:
    page = TestClient(create_app(demo_collection)).get("/map")
    assert page.status_code == 200
    assert 'id="no-map"' in page.text and "artlens map demo" in page.text and "map.js" not in page.text


def test_the_map_paints_every_work_and_hover_shows_one(page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    stats = page.evaluate("window.artlensMap.stats")
    assert stats["points"] == WORKS and 0 < stats["firstPaint"] <= stats["colouredPaint"]
    assert page.locator("#map-status").inner_text() == f"{WORKS} works · joint layout"
    assert page.locator('nav a[href="/map"]').get_attribute("aria-current") == "page"
    work = _lonely_work(page)
    page.mouse.move(*_canvas_point(page, work))
    tip = page.locator("#tip")
    tip.wait_for(state="visible")
    assert tip.get_attribute("data-id") == str(work)
    title = page.request.get(f"/api/artworks/{work}").json()["metadata"]["title"]
    expect(tip.locator(".tip-title")).to_have_text(title)
    assert tip.locator("img").get_attribute("src") == f"/api/artworks/{work}/thumbnail"
    _shot(page, tmp_path, "map-laptop-hover.png")
    page.mouse.click(*_canvas_point(page, work))
    page.wait_for_url(f"**/artworks/{work}")


def test_colour_by_shows_a_legend_and_the_clusters_are_named(page, server) -> None:
    legend = page.locator("#legend")
    assert legend.locator("summary").inner_text() == "style"  # the default: the first of style, genre, artist
    styles = page.request.get("/api/maps/joint/values?column=style").json()
    assert legend.locator("li").count() == len(styles["values"]) + (styles["other"] > 0) + (styles["missing"] > 0)
    assert "Baroque" in legend.inner_text()
    page.select_option("#colour", "genre")
    page.wait_for_selector("#legend summary:text-is('genre')")
    assert "portrait" in legend.inner_text()
    page.select_option("#colour", "")
    legend.wait_for(state="hidden")


def test_the_facet_switch_moves_the_works_to_the_other_layout(page) -> None:
    work = page.evaluate("window.artlensMap.ids()")[0]
    before = _canvas_point(page, work)
    page.select_option("#facet", "style")
    page.wait_for_selector("#map-status:text-is('50 works · style layout')")
    after = _canvas_point(page, work)
    assert before != after


def test_a_box_selection_exports_its_works_and_searches_with_them(page, tmp_path: Path) -> None:
    box = page.locator("canvas#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.keyboard.down("Shift")
    page.mouse.move(cx - 150, cy - 150)
    page.mouse.down()
    page.mouse.move(cx + 150, cy + 150, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    bar = page.locator("#selection")
    bar.wait_for(state="visible")
    count = int(page.locator("#sel-count").inner_text().split()[0])
    assert 0 < count < WORKS
    _shot(page, tmp_path, "map-laptop-selection.png")
    with page.expect_download() as got:
        page.click("#sel-export")
    rows = list(csv.DictReader(io.StringIO(Path(got.value.path()).read_text())))
    assert len(rows) == count and list(rows[0]) == ["id", "path", "title"]
    assert all(r["path"].endswith(".jpg") and r["title"] for r in rows)
    page.click("#sel-search")
    page.wait_for_url("**/?id=*")
    assert page.locator("#board .board-item").count() == min(count, 16)
    page.wait_for_selector("#results .card")


def test_a_lasso_selection_labels_its_works_with_the_token(browser, server) -> None:
    pg = _open(browser, server, path=f"/map?token={TOKEN}")
    try:
        assert "token" not in pg.url  # kept for the tab, out of the address bar
        pg.click("[data-mode=lasso]")
        box = pg.locator("canvas#map").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        pg.mouse.move(cx, cy - 200)
        pg.mouse.down()
        for dx, dy in [(200, 0), (0, 200), (-200, 0), (0, -200)]:
            pg.mouse.move(cx + dx, cy + dy - 0, steps=4)
        pg.mouse.up()
        pg.locator("#selection").wait_for(state="visible")
        count = int(pg.locator("#sel-count").inner_text().split()[0])
        assert count > 0
        pg.click("#sel-label")
        pg.fill("#label-name", "calm")
        pg.click("#label-form [data-value=yes]")
        pg.wait_for_selector(f"#sel-message:has-text('{count} works labelled')")
        counts = pg.request.get("/api/labels").json()
        assert counts["labels"]["calm"]["yes"] == count
        assert not pg.problems, pg.problems
    finally:
        pg.context.close()


def test_on_a_phone_two_fingers_zoom_the_map(browser, server) -> None:
    pg = _open(browser, server, PHONE, phone=True)
    try:
        first, second = pg.evaluate("window.artlensMap.ids()")[:2]

        def spread() -> float:
            (ax, ay), (bx, by) = _canvas_point(pg, first), _canvas_point(pg, second)
            return float(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5)

        before = spread()
        box = pg.locator("canvas#map").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        touch = pg.context.new_cdp_session(pg)
        fingers = lambda d: [{"x": cx - d, "y": cy, "id": 0}, {"x": cx + d, "y": cy, "id": 1}]  # noqa: E731
        touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": fingers(30)})
        for d in range(40, 100, 10):
            touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": fingers(d)})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        pg.wait_for_timeout(100)
        assert spread() > 2 * before  # fingers 60 -> 180 px apart: about 3 times closer
        assert not pg.problems, pg.problems
    finally:
        pg.context.close()


def test_zoomed_in_the_map_shows_thumbnails_on_a_laptop_and_a_phone(browser, server, tmp_path: Path) -> None:
    for name, viewport, phone in (("laptop", LAPTOP, False), ("phone", PHONE, True)):
        pg = _open(browser, server, viewport, phone)
        try:
            pg.wait_for_load_state("networkidle")  # the thumbnails drawn
            pg.wait_for_timeout(200)
            _shot(pg, tmp_path, f"map-{name}.png")
            for _ in range(3):
                pg.click("#zoom-in")
            pg.wait_for_load_state("networkidle")
            pg.wait_for_timeout(300)
            thumbnails = [r for r in pg.evaluate("performance.getEntriesByType('resource').map(e => e.name)") if r.endswith("/thumbnail")]
            assert thumbnails  # few works in view: their thumbnails are drawn
            _shot(pg, tmp_path, f"map-{name}-zoomed.png")
            assert not pg.problems, pg.problems
        finally:
            pg.context.close()
