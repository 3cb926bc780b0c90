"""The OpenAPI schema is the contract: schemathesis (every check, coverage + fuzzing + stateful phases,
valid and invalid data) runs against a real server on six demo works, with and without the token, and
finds nothing. The cases it found once are kept below as plain examples.

Bounded: a few examples per operation and a hard timeout per run (about 15 s each here).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from artlens import Collection
from artlens.web import create_app

from conftest import DEMO_IMAGES, ROOT
from webserver import serve

pytest.importorskip("schemathesis")

TOKEN = "contract-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HOOKS = ROOT / "tests" / "schemathesis_hooks.py"
ST = Path(sys.executable).parent / "st"


@pytest.fixture(scope="module")
def client(demo_collection: Path) -> TestClient:
    return TestClient(create_app(demo_collection, token=TOKEN))


def _image(index: int = 10) -> tuple[str, tuple[str, bytes, str]]:
    return ("image", (DEMO_IMAGES[index].name, DEMO_IMAGES[index].read_bytes(), "image/jpeg"))


@pytest.mark.parametrize("with_token", [True, False], ids=["with-token", "without-token"])
def test_schemathesis_finds_nothing(demo_collection: Path, tmp_path: Path, with_token: bool) -> None:
    collection = shutil.copytree(demo_collection, tmp_path / "collection")  # writes with the token change it
    with Collection.open(collection) as col:
        col.map(["joint"])  # so the map routes answer 200 for joint and 404 for the other facets
    with serve(collection, env={"ARTLENS_TOKEN": TOKEN}, log=tmp_path / "server.log") as server:
        command = [str(ST), "run", f"http://127.0.0.1:{server.port}/openapi.json", "--checks", "all",
                   "--phases", "coverage,fuzzing,stateful", "--mode", "all", "--max-examples", "15", "--seed", "15",
                   "--no-color", *(["-H", f"Authorization: Bearer {TOKEN}"] if with_token else [])]
        run = subprocess.run(command, capture_output=True, text=True, timeout=110, cwd=tmp_path,
                             env={**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)})
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "No issues found" in run.stdout or "1 warning" in run.stdout, report  # the warning: 401s without the token
    assert "Traceback" not in (tmp_path / "server.log").read_text()


def test_every_operation_documents_its_answers_and_one_error_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            responses = op["responses"]
            assert {"200", "400", "500"} <= set(responses), (method, path)
            for status, answer in responses.items():
                schema = next(iter(answer["content"].values()))["schema"]
                if status != "200":
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
                elif "application/json" in answer["content"]:
                    assert "$ref" in schema, f"{method} {path}: 200 is typed"
    assert spec["components"]["schemas"]["ErrorBody"]["required"] == ["error", "detail"]


def test_a_search_needs_a_query_that_is_really_there(client: TestClient) -> None:
    """An empty list of images sends no part at all: the schema asks for at least one item."""
    response = client.post("/api/search", files=[("facet", (None, b"joint"))])
    assert response.status_code == 400 and "at least one query" in response.json()["error"]


def test_an_image_part_must_be_a_file(client: TestClient) -> None:
    """A part without a file name is a text field to every multipart parser: 422 with where it is."""
    response = client.post("/api/search", files=[("image", (None, DEMO_IMAGES[0].read_bytes(), "image/jpeg"))])
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "image", 0]
    empty = client.post("/api/search", files=[("image", ("empty.png", b"", "image/png"))])
    assert empty.status_code == 422 and empty.json()["detail"] == {"file": "empty.png", "reason": "empty"}


def test_weights_and_filters_are_read_as_the_schema_writes_them(client: TestClient) -> None:
    search = {"id": "1", "k": "3"}
    same = client.post("/api/search", data={**search, "weights": "style=0.5,style=0.5"}).json()
    assert same == client.post("/api/search", data={**search, "weights": "style=1"}).json()  # a facet named twice: the sum
    for bad in ("style=0", "style=1e5", "style=inf", "style=nan", "style=-1", " style=1", "shape=1", "style=1234567"):
        assert client.post("/api/search", data={**search, "weights": bad}).status_code == 400, bad
    assert client.post("/api/search", data={**search, "facet": "style", "weights": "style=1"}).status_code == 400
    assert client.post("/api/search", data={**search, "facet": "smell"}).status_code == 400


def test_metadata_columns_of_an_upload_follow_the_schema(demo_collection: Path, tmp_path: Path) -> None:
    directory = shutil.copytree(demo_collection, tmp_path / "collection")
    client = TestClient(create_app(directory, token=TOKEN))
    for bad in ('{"image": "x"}', '{" artist": "x"}', '{"": "x"}', '{"a\\nb": "x"}', '{"a": [1]}', "[1]", "{", '{"a": NaN}'):
        response = client.post("/api/artworks", files=[_image()], data={"metadata": bad}, headers=AUTH)
        assert response.status_code == 400, bad
    ok = client.post("/api/artworks", files=[_image()], data={"metadata": '{"artist": "x", "year": 1720, "signed": true, "x": null}'},
                     headers=AUTH)
    assert ok.status_code == 200, ok.text
    assert client.get(f"/api/artworks/{ok.json()['files'][0]['id']}").json()["metadata"] == {"artist": "x", "year": "1720", "signed": "true"}


def test_label_names_and_values_follow_the_schema(demo_collection: Path, tmp_path: Path) -> None:
    client = TestClient(create_app(shutil.copytree(demo_collection, tmp_path / "collection"), token=TOKEN))
    assert client.put("/api/artworks/1/labels/bad name", json={"value": "yes"}, headers=AUTH).status_code == 422
    for blank in ("", "  ", "\x1f", "\u3000"):
        assert client.put("/api/artworks/1/labels/nice", json={"value": blank}, headers=AUTH).status_code == 422, repr(blank)
    given = client.put("/api/artworks/1/labels/nice", json={"value": " yes "}, headers=AUTH).json()
    assert given == {"id": 1, "name": "nice", "value": "yes", "counts": {"yes": 1}}
    assert client.post("/api/labels/nice/train", headers=AUTH).status_code == 409  # too few answers: not ready


def test_a_405_names_every_method_of_the_path(client: TestClient) -> None:
    for method, path, allowed in (("DELETE", "/api/artworks", "GET, POST"), ("PATCH", "/api/search", "POST"),
                                  ("POST", "/api/info", "GET"), ("DELETE", "/api/artworks/1/labels/nice", "PUT")):
        response = client.request(method, path)
        assert response.status_code == 405 and response.headers["allow"] == allowed, (method, path)
        assert set(response.json()) == {"error", "detail"}
