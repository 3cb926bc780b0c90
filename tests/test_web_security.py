"""The web server under hostile use (issue 15): decompression bombs, DNS rebinding, ids of any size, the
token kept off the command line, a relative collection path, the docs without a CDN.

Runs on six bundled demo works (no research data). The real-server tests start `artlens serve` on
127.0.0.1 (tests/webserver.py); their load is bounded in count and time.
"""

from __future__ import annotations

import json
import shutil
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from artlens import Collection, CollectionError, ImageError, load_query_image
from artlens.web import create_app
from artlens.web.security import SECURITY_HEADERS, allowed_hosts

from conftest import DEMO_IMAGES
from webserver import multipart, png_bomb, serve

TOKEN = "security-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PEAK_RSS_LIMIT_MB = 1024  # docs/security.md: the bound the server stays under with hostile uploads
HUGE_IDS = [10**23, 2**63, 2**64 + 5]


@pytest.fixture
def writable(demo_collection: Path, tmp_path: Path) -> Path:
    """A copy of the demo collection that a test may change."""
    return Path(shutil.copytree(demo_collection, tmp_path / "collection"))


@pytest.fixture(scope="module")
def client(demo_collection: Path) -> TestClient:
    return TestClient(create_app(demo_collection, token=TOKEN), raise_server_exceptions=False)


def from_host(app, host: str) -> TestClient:
    """A client that looks like a browser on the network asking for `host` (TestClient calls are not checked)."""
    return TestClient(app, base_url=f"http://{host}", client=("127.0.0.1", 50000))


# ---------------------------------------------------------------- decoding: bounded, once, off the loop

def test_a_query_image_is_decoded_once(demo_collection: Path, tmp_path: Path) -> None:
    """A decoded query needs its file no more: search uses the decoded pixels (the server decodes each upload once)."""
    query = tmp_path / "query.jpg"
    shutil.copy(DEMO_IMAGES[10], query)
    with Collection.open(demo_collection) as col:
        by_path = col.search(images=[query], k=3)
        decoded = load_query_image(query)
        query.unlink()
        assert [r.id for r in col.search(images=[decoded], k=3)] == [r.id for r in by_path]


def test_query_decoding_refuses_what_would_hold_too_many_pixels(tmp_path: Path) -> None:
    """Judged from the header: a PNG or progressive JPEG decodes whole, a baseline JPEG at 1/8 scale."""
    big_png = png_bomb(tmp_path / "big.png", 5_000, 5_000)
    with pytest.raises(ImageError, match="too large to use as a query") as caught:
        load_query_image(big_png, max_pixels=16_000_000)
    assert caught.value.reason == "too-large"
    picture = Image.new("RGB", (6_000, 4_000), (90, 60, 30))
    picture.save(tmp_path / "baseline.jpg", quality=60)
    picture.save(tmp_path / "progressive.jpg", quality=60, progressive=True)
    assert load_query_image(tmp_path / "baseline.jpg", max_pixels=1_000_000).width == 6_000  # decoded at 750 x 500
    with pytest.raises(ImageError, match="too large"):
        load_query_image(tmp_path / "progressive.jpg", max_pixels=1_000_000)


def test_hostile_uploads_keep_memory_bounded_and_the_server_answering(demo_collection: Path, tmp_path: Path) -> None:
    """8 concurrent 13,000 x 13,000 PNG bombs (0.66 MB each, 676 MB decoded), then 8 concurrent PNGs at the
    query pixel limit (4,000 x 4,000 RGBA), against a real server: peak RSS stays under 1 GB and /api/info
    and a static file keep answering (before: 4.25 GB, and an 11 s stall of every request)."""
    bomb = multipart([("image", "bomb.png", png_bomb(tmp_path / "bomb.png", 13_000, 13_000).read_bytes(), "image/png")])
    at_limit = multipart([("image", "big.png", png_bomb(tmp_path / "big.png", 4_000, 4_000).read_bytes(), "image/png")])
    with serve(demo_collection, log=tmp_path / "server.log") as server:
        query = multipart([("image", "query.jpg", DEMO_IMAGES[10].read_bytes(), "image/jpeg")])
        assert server.request("POST", "/api/search", *query)[0] == 200  # the model is loaded: the baseline
        probes: list[float] = []
        failures: list[int] = []
        done = threading.Event()

        def probe() -> None:
            while not done.is_set():
                for path in ("/api/info", "/static/app.css"):
                    status, seconds, _, _ = server.request("GET", path, timeout=30)
                    probes.append(seconds)
                    failures.extend([status] if status != 200 else [])
                time.sleep(0.02)

        def attack(body: bytes, headers: dict[str, str]) -> list[int]:
            with ThreadPoolExecutor(8) as pool:
                return [r[0] for r in pool.map(lambda _: server.request("POST", "/api/search", body, headers, timeout=120), range(8))]

        prober = threading.Thread(target=probe)
        start = time.monotonic()
        prober.start()
        try:
            refused = attack(*bomb)
            decoded = attack(*at_limit)
        finally:
            elapsed = time.monotonic() - start
            time.sleep(max(0.0, 1.0 - elapsed))  # at least a second of probes
            done.set()
            prober.join(timeout=60)
        peak = server.peak_rss_mb()
    p99 = sorted(probes)[int(0.99 * (len(probes) - 1))]
    print(f"\nhostile uploads: {elapsed:.1f} s, peak RSS {peak:.0f} MB; {len(probes)} probes: median "
          f"{statistics.median(probes) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    assert refused == [422] * 8  # refused from the header: too large to use as a query
    assert decoded == [200] * 8  # at the limit: decoded, two at a time
    assert peak < PEAK_RSS_LIMIT_MB
    assert not failures and p99 < 2.0
    assert "Traceback" not in (tmp_path / "server.log").read_text()


# ---------------------------------------------------------------- who may call: Host, headers, token

def test_only_the_servers_own_host_names_are_answered(demo_collection: Path) -> None:
    """A DNS-rebinding page sends its own name as Host: 400, for reads too (the API and original images)."""
    app = create_app(demo_collection, hosts=allowed_hosts("127.0.0.1", ["art.example.org", "proxy.local:8443"]))
    for host in ("127.0.0.1:8000", "localhost:8000", "LOCALHOST", "[::1]:8000", "art.example.org", "proxy.local:8443"):
        assert from_host(app, host).get("/api/info").status_code == 200, host
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "proxy.local:8444", "localhost:99999"):
        response = from_host(app, host).get("/api/artworks/1/image")
        assert response.status_code == 400, host
        assert response.json()["detail"] == {"host": host.lower() if host != "LOCALHOST" else host}
    assert from_host(create_app(demo_collection, hosts=["*"]), "anything.example").get("/api/info").status_code == 200


def test_every_response_carries_the_security_headers(demo_collection: Path, tmp_path: Path) -> None:
    app = create_app(demo_collection, token=TOKEN)
    damaged = Path(shutil.copytree(demo_collection, tmp_path / "damaged"))
    (damaged / "artlens.db").write_bytes(b"not a database" * 100)
    client = from_host(app, "127.0.0.1:8000")
    responses = [client.get("/"), client.get("/browse"), client.get("/api/info"), client.get("/static/app.css"),
                 client.get("/api/artworks/1/thumbnail"), client.get("/api/artworks/987654"), client.delete("/api/info"),
                 client.post("/api/artworks"), from_host(app, "evil.example").get("/")]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.request.url, name)
    policy = SECURITY_HEADERS["content-security-policy"]
    assert "http" not in policy and "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy


def test_writes_check_the_token_before_reading_the_body(client: TestClient) -> None:
    """No token: 401 whatever the body (malformed multipart, bad JSON, a missing field), never 400 or 422."""
    garbage = {"Content-Type": "multipart/form-data; boundary=x"}
    assert client.post("/api/artworks", content=b"--x\r\nbroken", headers=garbage).status_code == 401
    assert client.put("/api/artworks/1/labels/nice", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 401
    assert client.put("/api/artworks/99999999999999999999999/labels/bad name!").status_code == 401
    assert client.post("/api/labels/x/train", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.post("/api/artworks", content=b"--x\r\nbroken", headers={**garbage, **AUTH}).status_code in (400, 422)


def test_token_from_a_file_and_a_relative_collection_path(demo_collection: Path, tmp_path: Path) -> None:
    """`serve col --token-file F` from the collection's parent folder: the token is not in the process's
    command line, and uploaded files get their ids (a relative path used to leave them null)."""
    shutil.copytree(demo_collection, tmp_path / "col")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    with serve("col", "--token-file", str(token_file), cwd=tmp_path, log=tmp_path / "server.log") as server:
        assert TOKEN.encode() not in Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        body, headers = multipart([("image", "new.jpg", DEMO_IMAGES[12].read_bytes(), "image/jpeg"),
                                   ("metadata", None, b'{"artist": "someone"}', "application/json")])
        status, _, data, _ = server.request("POST", "/api/artworks", body, {**headers, **AUTH}, timeout=120)
        assert status == 200, data
        report = json.loads(data)
        assert report["added"] == 1 and isinstance(report["files"][0]["id"], int)
        new_id = report["files"][0]["id"]
        status, _, data, _ = server.request("GET", f"/api/artworks/{new_id}")
        assert json.loads(data)["metadata"] == {"artist": "someone"}
        assert server.request("POST", "/api/artworks", body, headers)[0] == 401


def test_a_token_file_that_cannot_be_used_is_a_clear_error(demo_collection: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from artlens.cli import app

    empty = tmp_path / "empty"
    empty.write_text("\n")
    for args, message in (([str(tmp_path / "missing")], "cannot read the token file"), ([str(empty)], "is empty")):
        result = CliRunner().invoke(app, ["serve", str(demo_collection), "--token-file", *args])
        assert result.exit_code == 1 and message in result.stderr
    both = CliRunner().invoke(app, ["serve", str(demo_collection), "--token-file", str(empty)], env={"ARTLENS_TOKEN": "x"})
    assert both.exit_code == 1 and "give the token one way" in both.stderr


# ---------------------------------------------------------------- ids of any size, empty collections

@pytest.mark.parametrize("huge", HUGE_IDS)
def test_ids_beyond_sqlite_are_refused_never_a_500(client: TestClient, huge: int) -> None:
    for method, url in (("GET", f"/api/artworks/{huge}"), ("GET", f"/api/artworks/{huge}/thumbnail"),
                        ("GET", f"/api/artworks/{huge}/image"), ("PUT", f"/api/artworks/{huge}/labels/nice")):
        response = client.request(method, url, json={"value": "yes"}, headers=AUTH)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "artwork_id", url
    for field in ("id", "not_id"):
        response = client.post("/api/search", data={"id": "1", field: str(huge)} if field == "not_id" else {"id": str(huge)})
        assert response.status_code == 422 and response.json()["error"].startswith("invalid request: ")
    page = client.get(f"/artworks/{huge}")
    assert page.status_code == 404 and "Artwork not found" in page.text


def test_the_largest_id_is_simply_not_found(client: TestClient) -> None:
    largest = 2**63 - 1
    assert client.get(f"/api/artworks/{largest}").status_code == 404
    assert client.post("/api/search", data={"id": str(largest)}).json() == {"error": f"no artwork with id {largest}", "detail": {"id": largest}}


def test_searching_a_collection_without_artworks_says_so(tmp_path: Path) -> None:
    art = tmp_path / "art"
    art.mkdir()
    (art / "broken.jpg").write_bytes(b"not really a jpeg")
    with Collection.create(tmp_path / "col") as col:
        col.add([art])
        with pytest.raises(CollectionError, match="no artworks yet"):
            col.search(images=[DEMO_IMAGES[0]])
    response = TestClient(create_app(tmp_path / "col")).post("/api/search", files=[("image", ("q.jpg", DEMO_IMAGES[0].read_bytes(), "image/jpeg"))])
    assert response.status_code == 409 and "no artworks yet" in response.json()["error"]


# ---------------------------------------------------------------- the docs, offline

def test_the_api_docs_load_nothing_from_outside(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "http" not in page.text
    assert "'unsafe-inline'" not in page.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/static/docs.js"):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/redoc").status_code == 404  # ReDoc would need a CDN: not served


def test_the_openapi_schema_declares_the_bearer_token_on_writes_only(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {**spec["components"]["securitySchemes"]["bearer"], "type": "http", "scheme": "bearer"}
    secured = {(path, method) for path, ops in spec["paths"].items() for method, op in ops.items() if op.get("security")}
    assert secured == {("/api/artworks", "post"), ("/api/artworks/{artwork_id}/labels/{name}", "put"), ("/api/labels/{name}/train", "post")}
