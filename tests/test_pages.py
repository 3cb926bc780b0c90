"""The HTML pages of artlens.web (search `/`, artwork `/artworks/{id}`, browse `/browse`,
label `/label`).

(a) plain HTTP through FastAPI's TestClient; (b) a real browser (Playwright driving Debian's
chromium at /usr/bin/chromium) against uvicorn serving a copy of the session's small collection.
The browser tests fail (they do not skip) when chromium or playwright is missing: CI installs both.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from artlens.web import create_app  # noqa: E402

from conftest import ROOT, WIKIART  # noqa: E402
from webserver import CHROMIUM, launch_chromium, serve  # noqa: E402

WAIT_MS = 15_000
TOKEN = "page-test-token"


# ---------------------------------------------------------------- (a) plain HTTP

@pytest.fixture(scope="module")
def client(small_collection) -> TestClient:
    return TestClient(create_app(small_collection.directory))


@pytest.fixture(scope="module")
def some_id(client: TestClient) -> int:
    return client.get("/api/artworks?limit=1").json()["artworks"][0]["id"]


def _html(response, status: int = 200) -> str:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_search_page_is_html_with_its_controls(client):
    page = _html(client.get("/"))
    for needle in ('id="files"', 'id="w-style"', 'id="w-content"', 'id="w-color"', 'value="0.55"', 'value="0.35"',
                   'value="0.1"', 'id="filter-input"', 'id="results"', "/static/search.js", "/static/app.css"):
        assert needle in page
    assert "242 artworks" in page
    assert "http://" not in page and "https://" not in page  # nothing from outside the app


def test_static_assets_are_served(client):
    css = client.get("/static/app.css")
    js = client.get("/static/search.js")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert js.status_code == 200 and "/api/search" in js.text
    assert "@import" not in css.text and "url(http" not in css.text


def test_artwork_page_shows_image_metadata_and_more_like_this(client, some_id):
    page = _html(client.get(f"/artworks/{some_id}"))
    detail = client.get(f"/api/artworks/{some_id}").json()
    assert f"/api/artworks/{some_id}/image" in page
    for value in detail["metadata"].values():
        assert value in page
    assert "More like this" in page and "By style" in page and "By content" in page and "By colour" in page
    for facet in ("style", "content", "color"):
        for hit in detail["more_like_this"][facet]:
            assert f'href="/artworks/{hit["id"]}"' in page
    assert "Duplicates" in page


@pytest.mark.parametrize("bad", ["999999", "abc", "-1"])
def test_unknown_artwork_is_a_404_html_page(client, bad):
    page = _html(client.get(f"/artworks/{bad}"), 404)
    assert "Artwork not found" in page
    assert "<html" in page and "/static/app.css" in page


def test_api_404_stays_json(client):
    r = client.get("/api/artworks/999999")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")


def test_browse_page_lists_filters_and_pages(client):
    page = _html(client.get("/browse"))
    assert "<strong>242</strong> artworks" in page
    assert page.count('class="card"') == 48 and 'rel="next"' in page and 'rel="prev"' not in page
    baroque = _html(client.get("/browse", params={"where": "style=Baroque"}))
    assert "<strong>22</strong> artworks match" in baroque and baroque.count('class="card"') == 22
    assert "style=Baroque" in baroque  # the chip
    last = _html(client.get("/browse", params={"offset": 240}))
    assert last.count('class="card"') == 2 and 'rel="prev"' in last and 'rel="next"' not in last


def test_browse_with_an_unknown_column_shows_the_error(client):
    page = _html(client.get("/browse", params={"where": "nosuchcolumn=1"}), 400)
    assert 'role="alert"' in page and "unknown filter column(s): nosuchcolumn" in page


def test_pages_are_not_in_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert all(p.startswith("/api/") for p in paths)


# ---------------------------------------------------------------- (b) a real browser

@pytest.fixture(scope="module")
def server(small_collection, tmp_path_factory: pytest.TempPathFactory):
    """`artlens serve` on a copy of the small collection, on 127.0.0.1:<free port> (tests/webserver.py); stopped afterwards."""
    copy = tmp_path_factory.mktemp("pages") / "collection"
    shutil.copytree(small_collection.directory, copy)
    with serve(copy, cwd=ROOT, env={"ARTLENS_TOKEN": TOKEN}, log=copy.parent / "server.log") as running:
        yield f"http://127.0.0.1:{running.port}"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"the browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium); it is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need the Python package 'playwright' (pip install playwright)")
    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    # bypass_csp: Playwright's wait_for_function evaluates strings, which the pages' CSP forbids; the CSP
    # itself is tested in test_browser_pages_and_api_docs_keep_to_the_content_security_policy.
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server, bypass_csp=True)
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def outside_painting(small_collection, wikiart_labels) -> Path:
    """A real Baroque painting that is not in the small collection."""
    inside = {Path(p).name for p in (r.path for r in _rows(small_collection))}
    for row in wikiart_labels:
        if row["style"] == "Baroque" and Path(row["image"]).name not in inside:
            return WIKIART / row["image"]
    raise AssertionError("no Baroque painting outside the small collection")


def _rows(collection):
    from artlens.store import catalog

    with collection.catalog.engine.connect() as conn:
        return list(catalog.iter_artworks(conn))


def _result_ids(pg) -> list[int]:
    return [int(x) for x in pg.eval_on_selector_all("#results .card", "els => els.map(e => e.dataset.id)")]


def _search_by_upload(pg, painting: Path) -> list[int]:
    pg.goto("/")
    pg.set_input_files("#files", str(painting))
    pg.wait_for_selector("#results .card")
    pg.wait_for_function("document.getElementById('status').textContent.includes('results')")
    return _result_ids(pg)


def test_browser_upload_gives_result_cards(page, outside_painting):
    t0 = time.monotonic()
    ids = _search_by_upload(page, outside_painting)
    assert time.monotonic() - t0 < 10
    assert len(ids) == 24 and len(set(ids)) == 24
    card = page.locator("#results .card").first
    assert card.locator("img").get_attribute("src") == f"/api/artworks/{ids[0]}/thumbnail"
    assert card.locator(".fbar").count() == 4 and card.locator(".why").inner_text().strip()  # one bar per facet
    assert card.locator("a.card-title").get_attribute("href") == f"/artworks/{ids[0]}"
    assert page.locator("#board .board-item").count() == 1
    # "more results" pages on with offset
    page.click("#more")
    page.wait_for_function("document.querySelectorAll('#results .card').length > 24")
    more = _result_ids(page)
    assert more[:24] == ids and not set(more[24:]) & set(ids)
    # an artwork from the results joins the moodboard
    page.locator("#results .card").nth(2).locator("button.use").click()
    page.wait_for_function("document.querySelectorAll('#board .board-item').length == 2")
    page.wait_for_function("document.getElementById('status').textContent.includes('results')")
    assert ids[2] not in _result_ids(page)[:24]  # a query artwork is not its own hit


def _set_weights(pg, **weights: float) -> None:
    """Move the sliders in one go (each change re-runs the search; only the last one renders)."""
    pg.evaluate("""w => { for (const [f, v] of Object.entries(w)) { const el = document.getElementById('w-' + f);
        el.value = v; el.dispatchEvent(new Event('input')); el.dispatchEvent(new Event('change')); } }""", weights)


def test_browser_changing_a_facet_weight_reorders_results(page, outside_painting):
    before = _search_by_upload(page, outside_painting)
    page.evaluate("document.getElementById('status').textContent = ''")
    _set_weights(page, style_learned=0, style=0, content=0, color=1)
    page.wait_for_function("document.getElementById('status').textContent.includes('results')")
    after = _result_ids(page)
    assert page.locator("#w-color-out").inner_text() == "1.00"
    assert after != before
    # colour-only ranking: the colour bars are in descending order
    colour = [float(x) for x in page.eval_on_selector_all(".card .fbar:nth-child(4) .fval", "els => els.map(e => e.textContent)")]
    assert colour == sorted(colour, reverse=True)


def test_browser_opens_the_artwork_page_from_a_result(page, outside_painting):
    ids = _search_by_upload(page, outside_painting)
    page.locator("#results .card").first.locator("a.card-title").click()
    page.wait_for_url(f"**/artworks/{ids[0]}")
    assert page.locator("h1.artwork-title").inner_text().strip()
    page.wait_for_function("(() => { const i = document.querySelector('.hero img'); return i && i.complete && i.naturalWidth > 0; })()")
    assert page.locator(".mlt-row").count() == 4  # learned style, style, content, colour
    assert page.locator(".mlt-row[data-facet=style] .strip li").count() > 0
    # "search with this artwork" starts the search page from it
    page.click("text=Search with this artwork")
    page.wait_for_selector("#results .card")
    assert ids[0] not in _result_ids(page)


def test_browser_metadata_filter_keeps_only_baroque(page, outside_painting):
    _search_by_upload(page, outside_painting)
    page.evaluate("document.getElementById('status').textContent = ''")
    page.fill("#filter-input", "style=Baroque")
    page.press("#filter-input", "Enter")
    page.wait_for_function("document.getElementById('status').textContent.includes('results')")
    assert page.locator("#chips .chip").inner_text().startswith("style=Baroque")
    styles = page.eval_on_selector_all(
        "#results .card", "cards => cards.map(c => { const d = Array.from(c.querySelectorAll('.kv div'))"
                          ".find(x => x.querySelector('dt').textContent === 'style'); return d && d.querySelector('dd').textContent; })")
    assert len(styles) == 22 and set(styles) == {"Baroque"}  # 22 Baroque paintings in the small collection
    assert page.locator("#more").is_hidden()


def test_browser_non_image_upload_shows_the_api_error(page, tmp_path):
    fake = tmp_path / "notes.jpg"
    fake.write_text("these are my notes, not a painting\n" * 20)
    page.goto("/")
    page.set_input_files("#files", str(fake))
    error = page.locator("#error")
    error.wait_for(state="visible")
    assert "notes.jpg" in error.inner_text()
    assert page.locator("#results .card").count() == 0


def test_browser_browse_page_filters_by_style(page):
    page.goto("/browse")
    assert "242" in page.locator("#total").inner_text()
    page.fill("input[name=where][type=text]", "style=Baroque")
    page.press("input[name=where][type=text]", "Enter")
    page.wait_for_url("**/browse?where=style%3DBaroque")
    assert page.locator("#total strong").inner_text() == "22"
    assert page.locator(".grid.browse .card").count() == 22


def test_label_page_without_a_token_says_labelling_is_off(client):
    page = _html(client.get("/label?name=ukiyo_e"))
    assert "Labelling is off" in page and 'data-name="ukiyo_e"' in page and "/static/label.js" in page
    _html(client.get("/label?name=bad%20name!"), 404)
    # No content word but people is shipped as a decision: the page offers BAM's others to teach.
    start = _html(client.get("/label"))
    assert 'id="suggested-labels"' in start and 'href="/label?name=bird"' in start and "name=people" not in start


def test_browser_labelling_teaches_a_label_and_describes_the_collection(page, tmp_path):
    """A person answers yes/no on suggested works, the suggestions adapt, and training describes every work."""
    page.goto(f"/label?name=ukiyo_e&token={TOKEN}")
    page.wait_for_selector("#suggestions .label-card")
    assert "token" not in page.url  # kept in the tab, not left in the address bar
    for _ in range(3):
        cards = page.locator("#suggestions .label-card:not(.answered)")
        n = cards.count()
        assert n == 12
        for artwork_id in [int(x) for x in cards.evaluate_all("els => els.map(e => e.dataset.id)")]:
            card = page.locator(f'#suggestions .label-card[data-id="{artwork_id}"]')
            card.locator("button.yes" if _style_of(page, artwork_id) == "Ukiyo_e" else "button.no").click()
            # answered, or already gone with the whole answered batch (the next one replaces it)
            page.wait_for_function("id => { const c = document.querySelector(`#suggestions [data-id='${id}']`); "
                                   "return !c || c.classList.contains('answered'); }", arg=artwork_id)
        page.wait_for_function("document.querySelectorAll('#suggestions .label-card:not(.answered)').length == 12")
    counts = page.locator("#counts").inner_text()
    yes = int(counts.split("yes")[0])
    assert yes >= 4, counts  # chance alone gives about 3 of 36
    reasons = page.eval_on_selector_all("#suggestions .reason", "els => els.map(e => e.textContent)")
    assert reasons and all(r.startswith("model unsure") for r in reasons)
    page.screenshot(path=str(tmp_path / "label.png"), full_page=True)
    if os.environ.get("ARTLENS_SCREENSHOTS"):
        shutil.copy(tmp_path / "label.png", Path(os.environ["ARTLENS_SCREENSHOTS"]) / "label-laptop.png")
    page.click("#train")
    page.wait_for_selector("#trained a[href*='pred.ukiyo_e']", timeout=120_000)
    assert "Trained on 36 answers" in page.locator("#trained").inner_text()
    page.click("#trained a")
    page.wait_for_url("**/browse?where=pred.ukiyo_e%3Dyes")
    assert int(page.locator("#total strong").inner_text()) >= 1


_STYLES: dict[int, str] = {}


def _style_of(page, artwork_id: int) -> str:
    if artwork_id not in _STYLES:
        _STYLES[artwork_id] = page.request.get(f"/api/artworks/{artwork_id}").json()["metadata"]["style"]
    return _STYLES[artwork_id]


def test_browser_pages_and_api_docs_keep_to_the_content_security_policy(browser, server, some_id):
    """Every page, and Swagger UI at /docs, work under the server's CSP: nothing refused, nothing fetched
    from outside the server (the docs included: no CDN)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=server)
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    refused: list[str] = []
    outside: list[str] = []
    pg.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)
    pg.on("request", lambda req: outside.append(req.url) if not req.url.startswith((server, "data:", "blob:")) else None)
    try:
        for url in ("/", f"/artworks/{some_id}", "/browse", "/label?name=ukiyo_e"):
            pg.goto(url)
            pg.wait_for_load_state("networkidle")
        pg.goto("/docs")
        pg.wait_for_selector(".opblock-summary-path", timeout=30_000)
        paths = set(pg.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.dataset.path)"))
        assert {"/api/search", "/api/artworks", "/api/info"} <= paths
        assert pg.locator("button.authorize").count() == 1  # the bearer scheme: /docs can send the token
    finally:
        context.close()
    assert refused == [] and outside == []
