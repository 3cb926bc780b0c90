"""The REST API (artlens.web) over a real collection of WikiArt paintings, through FastAPI's TestClient."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from artlens.web import create_app  # noqa: E402

from conftest import WIKIART  # noqa: E402

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def client(small_collection) -> TestClient:
    return TestClient(create_app(small_collection.directory))


@pytest.fixture(scope="module")
def outside(small_collection, wikiart_labels) -> list[Path]:
    """Real WikiArt paintings that are not in the small collection."""
    inside = {a["path"] for a in TestClient(create_app(small_collection.directory)).get("/api/artworks?limit=500").json()["artworks"]}
    paths = [WIKIART / r["image"] for r in wikiart_labels]
    return [p for p in paths if str(p) not in inside and str(p.resolve()) not in inside][:5]


@pytest.fixture(scope="module")
def first(client: TestClient) -> dict:
    return client.get("/api/artworks?limit=1").json()["artworks"][0]


def _files(*paths: Path, field: str = "image") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(field, (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [r["id"] for r in response.json()["results"]]


def _assert_error(response, status: int | tuple[int, ...]) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail"} and isinstance(body["error"], str) and body["error"]
    return body


def test_search_by_upload_has_the_documented_shape(client, outside):
    r = client.post("/api/search", files=_files(outside[0]), data={"k": "5"})
    assert r.status_code == 200, r.text
    body = r.json()
    results = body["results"]
    assert len(results) == 5
    for hit in results:
        assert set(hit) == {"id", "path", "score", "scores", "metadata", "why"}
        assert set(hit["scores"]) == {"content", "style", "color", "style_learned"}
        assert {"style", "artist", "genre"} <= set(hit["metadata"])
        assert hit["why"]
    scores = [h["score"] for h in results]
    assert scores == sorted(scores, reverse=True)
    assert body["offset"] == 0 and body["k"] == 5 and body["has_more"] is True


def test_search_by_id_excludes_itself_unless_asked(client, first):
    ids = _ids(client.post("/api/search", data={"id": str(first["id"]), "k": "5"}))
    assert first["id"] not in ids and len(ids) == 5
    with_self = _ids(client.post("/api/search", data={"id": str(first["id"]), "k": "5", "include_self": "true"}))
    assert with_self[0] == first["id"]


def test_search_by_upload_of_a_collection_file_excludes_it(client, first):
    ids = _ids(client.post("/api/search", files=_files(Path(first["path"])), data={"k": "5"}))
    assert first["id"] not in ids


def test_moodboard_with_negative(client, outside):
    single = _ids(client.post("/api/search", files=_files(outside[0]), data={"k": "10"}))
    board = client.post("/api/search", files=_files(outside[0], outside[1]) + _files(outside[2], field="not_image"),
                        data={"k": "10"})
    assert len(_ids(board)) == 10 and _ids(board) != single
    mixed = client.post("/api/search", files=_files(outside[0]), data={"k": "10", "not_id": str(_ids(board)[0])})
    assert _ids(board)[0] not in _ids(mixed)[:1]


def test_weights_change_the_order(client, outside):
    style = _ids(client.post("/api/search", files=_files(outside[0]), data={"weights": "style=1", "k": "10"}))
    color = _ids(client.post("/api/search", files=_files(outside[0]), data={"weights": "color=1", "k": "10"}))
    assert style != color
    _assert_error(client.post("/api/search", files=_files(outside[0]), data={"weights": "shape=1"}), 400)
    _assert_error(client.post("/api/search", files=_files(outside[0]), data={"facet": "smell"}), 400)


def test_where_filter(client, outside, first):
    style = first["metadata"]["style"]
    r = client.post("/api/search", files=_files(outside[0]), data={"where": f"style={style}", "k": "8"})
    results = r.json()["results"]
    assert results and all(h["metadata"]["style"] == style for h in results)
    r = client.post("/api/search", files=_files(outside[0]), data={"where": f"style!={style}", "k": "8"})
    assert all(h["metadata"]["style"] != style for h in r.json()["results"])
    _assert_error(client.post("/api/search", files=_files(outside[0]), data={"where": "nosuchcolumn=x"}), 400)
    _assert_error(client.post("/api/search", files=_files(outside[0]), data={"where": "no-operator"}), 400)


def test_paging_gives_the_next_results(client, first):
    data = {"id": str(first["id"])}
    ten = _ids(client.post("/api/search", data={**data, "k": "10"}))
    page1 = _ids(client.post("/api/search", data={**data, "k": "5", "offset": "0"}))
    page2 = _ids(client.post("/api/search", data={**data, "k": "5", "offset": "5"}))
    assert page1 + page2 == ten
    assert not set(page1) & set(page2)


def test_search_needs_a_query(client):
    _assert_error(client.post("/api/search", data={"k": "5"}), 400)
    _assert_error(client.post("/api/search", data={"id": "999999"}), 404)
    _assert_error(client.post("/api/search", data={"id": "1", "k": "0"}), 422)


def test_artwork_detail(client, first):
    r = client.get(f"/api/artworks/{first['id']}")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["id"] == first["id"] and d["path"] == first["path"]
    assert d["width"] > 0 and d["height"] > 0 and d["format"] == "JPEG"
    assert d["metadata"]["style"] and isinstance(d["predictions"], dict)
    assert set(d["duplicates"]) == {"exact", "near"}
    assert set(d["more_like_this"]) == {"content", "style", "color", "style_learned"}
    for hits in d["more_like_this"].values():
        assert 1 <= len(hits) <= 6 and first["id"] not in [h["id"] for h in hits]


def test_artwork_list_paging_and_filter(client, first):
    r = client.get("/api/artworks", params={"offset": 0, "limit": 10})
    body = r.json()
    assert body["total"] == 242 and len(body["artworks"]) == 10
    assert {"id", "path", "metadata", "predictions"} <= set(body["artworks"][0])
    nxt = client.get("/api/artworks", params={"offset": 10, "limit": 10}).json()["artworks"]
    assert not {a["id"] for a in nxt} & {a["id"] for a in body["artworks"]}
    style = first["metadata"]["style"]
    only = client.get("/api/artworks", params={"where": f"style={style}", "limit": 500}).json()
    assert only["total"] == 22 and all(a["metadata"]["style"] == style for a in only["artworks"])
    _assert_error(client.get("/api/artworks", params={"where": "pred.nomodel=yes"}), 400)


def test_thumbnail_and_image(client, first):
    thumb = client.get(f"/api/artworks/{first['id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"
    img = client.get(f"/api/artworks/{first['id']}/image")
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert img.content == Path(first["path"]).read_bytes()


def test_unknown_id_is_404(client):
    for url in ("/api/artworks/999999", "/api/artworks/999999/thumbnail", "/api/artworks/999999/image"):
        assert "999999" in _assert_error(client.get(url), 404)["error"]


def test_info(client):
    info = client.get("/api/info").json()
    assert info["artworks"] == 242
    assert {"style", "artist", "genre"} <= set(info["columns"])
    assert {f["name"] for f in info["facets"]} == {"joint", "content", "style", "color", "style_learned"}


def test_bad_uploads_are_clean_json_errors(client, outside):
    leftovers = set(Path(tempfile.gettempdir()).glob(".upload-*"))
    data = outside[0].read_bytes()
    cases = {
        "not-an-image": ("notes.jpg", b"this is plain text, not a JPEG at all\n" * 20),
        "truncated": ("cut.jpg", data[: len(data) // 3]),
        "empty": ("empty.jpg", b""),
    }
    for reason, (name, content) in cases.items():
        r = client.post("/api/search", files=[("image", (name, content, "image/jpeg"))])
        body = _assert_error(r, (400, 422))
        assert body["detail"]["reason"] == reason, body
        assert name in body["error"] and "/tmp" not in body["error"]
    assert set(Path(tempfile.gettempdir()).glob(".upload-*")) == leftovers


def test_too_large_upload_is_413(small_collection, outside):
    small = TestClient(create_app(small_collection.directory, token=TOKEN, max_upload_bytes=2_000))
    assert outside[0].stat().st_size > 2_000
    body = _assert_error(small.post("/api/search", files=_files(outside[0])), 413)
    assert "limit" in body["error"]
    _assert_error(small.post("/api/artworks", files=_files(outside[0]), headers={"Authorization": f"Bearer {TOKEN}"}), 413)
    # A body over the request limit is refused, by its Content-Length ...
    big = [("image", (f"{i}.jpg", b"\xff" * 1_900, "image/jpeg")) for i in range(600)]
    _assert_error(small.post("/api/search", files=big), 413)

    # ... and, without one (chunked), by counting the bytes as they arrive.
    def chunked():
        yield b'--B\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        for _ in range(200):
            yield b"\xff" * 10_000
        yield b"\r\n--B--\r\n"

    r = small.post("/api/search", content=chunked(), headers={"Content-Type": "multipart/form-data; boundary=B"})
    assert "request body" in _assert_error(r, 413)["error"]


def test_path_tricks_never_serve_a_file(client):
    for url in ("/api/artworks/..%2F..%2Fetc%2Fpasswd/image", "/api/artworks/-1/image", "/api/artworks/1%2F..%2F2/thumbnail",
                "/api/artworks/%2Fetc%2Fpasswd/image", "/api/artworks/1/..%2F..%2F..%2Fetc%2Fpasswd"):
        r = client.get(url)
        _assert_error(r, (404, 422))
        assert b"root:" not in r.content
    # An absolute path where a file or an id is expected is not read.
    _assert_error(client.post("/api/search", data={"image": "/etc/passwd"}), (400, 422))
    _assert_error(client.post("/api/search", data={"id": "/etc/passwd"}), 422)
    _assert_error(client.post("/api/search", data={"id": "1", "not_image": "/etc/hostname"}), (400, 422))
    r = client.post("/api/search", files=[("image", ("/etc/passwd", b"root:x:0:0", "image/jpeg"))])
    _assert_error(r, 422)


def test_add_needs_the_token_and_makes_the_image_searchable(small_collection, outside, tmp_path):
    directory = tmp_path / "col"
    shutil.copytree(small_collection.directory, directory)
    new = outside[3]
    closed = TestClient(create_app(directory))
    assert "disabled" in _assert_error(closed.post("/api/artworks", files=_files(new)), 403)["error"]

    app = TestClient(create_app(directory, token=TOKEN))
    _assert_error(app.post("/api/artworks", files=_files(new)), 401)
    _assert_error(app.post("/api/artworks", files=_files(new), headers={"Authorization": "Bearer wrong"}), (401, 403))
    _assert_error(app.post("/api/artworks", files=_files(new), headers={"Authorization": TOKEN}), 401)
    assert not (directory / "uploads").exists() or not any((directory / "uploads").iterdir())

    auth = {"Authorization": f"Bearer {TOKEN}"}
    _assert_error(app.post("/api/artworks", files=[("image", ("x.jpg", b"not an image", "image/jpeg"))], headers=auth), 422)
    _assert_error(app.post("/api/artworks", files=_files(new), data={"metadata": "[1, 2]"}, headers=auth), 400)
    r = app.post("/api/artworks", files=[("image", ("../../evil name.jpg", new.read_bytes(), "image/jpeg"))],
                 data={"metadata": '{"style": "Uploaded", "artist": "someone"}'}, headers=auth)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["added"] == 1 and report["failed"] == []
    new_id = report["files"][0]["id"]
    stored = list((directory / "uploads").iterdir())
    assert len(stored) == 1 and stored[0].suffix == ".jpg" and len(stored[0].stem) == 64
    assert not (tmp_path / "evil name.jpg").exists()

    detail = app.get(f"/api/artworks/{new_id}").json()
    assert detail["metadata"] == {"style": "Uploaded", "artist": "someone"}
    assert Path(detail["path"]) == stored[0]
    hits = app.post("/api/search", files=_files(new), data={"include_self": "true", "k": "3"}).json()["results"]
    assert hits[0]["id"] == new_id and hits[0]["score"] > 0.99
    assert app.get("/api/info").json()["artworks"] == 243

    again = app.post("/api/artworks", files=_files(new), headers=auth).json()
    assert again["added"] == 0 and again["files"][0]["id"] == new_id


def test_openapi_lists_the_endpoints(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/api/search", "/api/artworks", "/api/artworks/{artwork_id}", "/api/artworks/{artwork_id}/thumbnail",
            "/api/artworks/{artwork_id}/image", "/api/info"} <= set(paths)
    assert {"get", "post"} <= set(paths["/api/artworks"])
    assert "post" in paths["/api/search"]


def test_concurrent_searches(client, outside, first):
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> list[int]:
        if i % 2:
            return _ids(client.post("/api/search", data={"id": str(first["id"]), "k": "5"}))
        return _ids(client.post("/api/search", files=_files(outside[i % len(outside)]), data={"k": "5"}))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, range(8)))
    assert all(len(r) == 5 for r in results)
    assert results[1] == results[3] == results[5] == results[7]


def test_labelling_loop_through_the_api(small_collection, tmp_path):
    """A person labels "ukiyo_e" yes/no on the suggested works, then trains a model from the answers."""
    directory = tmp_path / "col"
    shutil.copytree(small_collection.directory, directory)
    closed = TestClient(create_app(directory))
    assert "disabled" in _assert_error(closed.put("/api/artworks/1/labels/ukiyo_e", json={"value": "yes"}), 403)["error"]
    app = TestClient(create_app(directory, token=TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    _assert_error(app.put("/api/artworks/1/labels/ukiyo_e", json={"value": "yes"}), 401)
    _assert_error(app.put("/api/artworks/999999/labels/ukiyo_e", json={"value": "yes"}, headers=auth), 404)
    _assert_error(app.put("/api/artworks/1/labels/bad%20name", json={"value": "yes"}, headers=auth), 422)  # not a label name
    style = {a["id"]: a["metadata"]["style"] for a in app.get("/api/artworks?limit=500").json()["artworks"]}
    for _ in range(5):
        page = app.get("/api/labels/ukiyo_e/suggestions?n=10").json()
        assert len(page["suggestions"]) == 10 and {"id", "score", "reason", "path"} <= set(page["suggestions"][0])
        for s in page["suggestions"]:
            value = "yes" if style[s["id"]] == "Ukiyo_e" else "no"
            r = app.put(f"/api/artworks/{s['id']}/labels/ukiyo_e", json={"value": value}, headers=auth)
            assert r.status_code == 200 and r.json()["value"] == value
    counts = app.get("/api/labels").json()["labels"]["ukiyo_e"]
    assert counts["yes"] + counts["no"] == 50 and counts["yes"] >= 5
    _assert_error(app.post("/api/labels/ukiyo_e/train"), 401)
    r = app.post("/api/labels/ukiyo_e/train", headers=auth)
    assert r.status_code == 200, r.text
    trained = r.json()
    assert trained["kind"] == "binary" and trained["data"]["labelled"] == 50
    assert sum(trained["decisions"].values()) == len(style) == trained["decided"] + trained["unsure"]
    said = app.get("/api/artworks?where=pred.ukiyo_e%3Dyes&limit=500").json()["artworks"]
    assert said and np_mean([style[a["id"]] == "Ukiyo_e" for a in said]) >= 0.5


def np_mean(values: list[bool]) -> float:
    return sum(values) / len(values)
