"""The collection map (`artlens map`): layouts stored in the catalog, new works placed without moving the
old ones, pictures, the REST endpoints, and the measures of a layout's quality. On the bundled demo works."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from artlens import Collection, CollectionError, InputError, NotFoundError
from artlens.cli import app
from artlens.evaluation import map_quality as mq
from artlens.maps import layout
from artlens.web import create_app

from conftest import DEMO, DEMO_IMAGES

FIRST = 50  # works laid out; the other 15 demo works are added later


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 demo works with metadata, their joint and style maps made."""
    directory = tmp_path_factory.mktemp("map") / "demo"
    with Collection.create(directory) as col:
        col.add(DEMO_IMAGES[:FIRST], metadata=DEMO / "labels.csv")
        col.map(["joint", "style"])
    return directory


def test_a_map_is_stored_in_the_catalog_and_read_back(mapped: Path) -> None:
    with Collection.open(mapped) as col:
        joint = col.layout("joint")
        assert joint.info.method == "tsne" and joint.info.works == FIRST and joint.info.placed == 0
        assert np.array_equal(joint.ids, col.vectors.ids)
        radius = np.hypot(joint.x, joint.y)
        assert radius.max() == pytest.approx(1.0, abs=1e-5)  # centred and scaled: within distance 1
        assert [m.facet for m in col.maps()] == ["joint", "style"]
        assert [m["facet"] for m in col.info().as_dict()["maps"]] == ["joint", "style"]


def test_neighbours_on_the_map_share_their_movement_more_than_chance(mapped: Path) -> None:
    with Collection.open(mapped) as col:
        joint = col.layout("joint")
        styles = np.array([a.metadata.get("style", "") for a in col.artworks(limit=100).artworks], dtype=object)
        near = mq.map_neighbours(np.column_stack([joint.x, joint.y]), 5)
        chance = sum((styles == s).sum() * ((styles == s).sum() - 1) for s in set(styles)) / (len(styles) * (len(styles) - 1))
        assert mq.label_agreement(near, styles) > 2 * chance


def test_add_places_new_works_without_moving_the_old_ones(mapped: Path, tmp_path: Path) -> None:
    directory = shutil.copytree(mapped, tmp_path / "demo")
    with Collection.open(directory) as col:
        before = col.layout("joint")
        col.add(DEMO_IMAGES, metadata=DEMO / "labels.csv")
        after = col.layout("joint")
        assert len(after) == len(DEMO_IMAGES)
        old = np.isin(after.ids, before.ids)
        assert np.array_equal(after.x[old], before.x) and np.array_equal(after.y[old], before.y)
        assert after.placed.tolist() == (~old).tolist()
        # 15 of 65 placed (23%): over the 20% from which a full re-layout is advised.
        assert after.info.placed == 15 and "23% of its works were placed" in (after.info.relayout or "")
        assert col.map(["joint"]).maps[0].relayout is None  # a new layout fits them all
        assert col.layout("joint").info.placed == 0


def test_a_large_collection_is_laid_out_on_a_sample_and_the_rest_placed(mapped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(layout.FIT_SAMPLE, "tsne", 30)  # as for 20,000 of a larger collection
    with Collection.open(shutil.copytree(mapped, tmp_path / "demo")) as col:
        made = col.map(["joint"]).maps[0]
        joint = col.layout("joint")
    # The 20 placed with the layout are part of it: no re-layout advised, and `placed` counts later adds only.
    assert (made.works, made.placed, made.relayout) == (FIRST, 0, None)
    assert len(np.unique(np.column_stack([joint.x, joint.y]), axis=0)) == FIRST  # none hidden under another


def test_a_picture_of_the_map_as_png_and_as_self_contained_html(mapped: Path, tmp_path: Path) -> None:
    with Collection.open(mapped) as col:
        png = col.draw_map(tmp_path / "map.png", colour_by="genre")
        page = col.draw_map(tmp_path / "map.html", facet="style", thumbnails=True)
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 800
    text = page.read_text()
    assert "<script src" not in text and "http" not in text.replace("https://", "").split("<script>")[1]  # nothing fetched
    data = json.loads(text.split("const D = ", 1)[1].split(";\n", 1)[0])
    assert len(data["ids"]) == FIRST and data["colourBy"] == "style" and data["thumbs"][0].startswith("data:image/jpeg;base64,")


def test_clusters_are_named_by_their_most_common_values(mapped: Path) -> None:
    with Collection.open(mapped) as col:
        found = col.map_clusters("joint", by="style", columns=["genre"])
    assert sum(c["size"] for c in found.clusters) == FIRST
    first = found.clusters[0]
    top = first["common"]["style"][0]
    assert first["name"].startswith(top["value"].replace("_", " ")) and set(first["common"]) == {"style", "genre"}


def test_the_rest_api_gives_the_map_as_one_binary_payload_and_as_pages(mapped: Path) -> None:
    client = TestClient(create_app(mapped))
    with Collection.open(mapped) as col:
        joint = col.layout("joint")
    answer = client.get("/api/maps/joint/points")
    n = int(answer.headers["X-ArtLens-Count"])
    assert answer.headers["content-type"] == "application/octet-stream" and n == FIRST and len(answer.content) == 21 * n
    buf = answer.content
    assert np.array_equal(np.frombuffer(buf, "<i8", n), joint.ids)
    assert np.array_equal(np.frombuffer(buf, "<f4", n, 8 * n), joint.x) and np.array_equal(np.frombuffer(buf, "<f4", n, 12 * n), joint.y)
    page = client.get("/api/maps/joint", params={"offset": 40, "limit": 20}).json()
    assert (page["total"], len(page["points"]), page["has_more"]) == (FIRST, 10, False)
    assert client.get("/api/maps/content").status_code == 404  # a facet without a map
    assert client.get("/api/maps/smell").status_code == 400
    assert client.get("/api/maps/joint/clusters", params={"by": "nope"}).status_code == 404
    assert [m["facet"] for m in client.get("/api/maps").json()["maps"]] == ["joint", "style"]


def test_a_column_over_the_map_comes_as_one_code_a_work_for_colouring(mapped: Path) -> None:
    client = TestClient(create_app(mapped))
    with Collection.open(mapped) as col:
        joint = col.layout("joint")
        styles = [a.metadata.get("style") for a in col.artworks_by_id(joint.ids.tolist())]
    answer = client.get("/api/maps/joint/values", params={"column": "style", "top": 2})
    assert answer.status_code == 200, answer.text
    v = answer.json()
    codes = np.frombuffer(base64.b64decode(v["codes"]), np.uint8)
    assert v["total"] == len(codes) == FIRST and len(v["values"]) == len(v["counts"]) == 2
    # In the order of the points: code i names values[i]; any other style is `other_code`.
    expected = [v["values"].index(s) if s in v["values"] else v["other_code"] for s in styles]
    assert codes.tolist() == expected
    assert v["counts"] == [styles.count(s) for s in v["values"]] and v["other"] == FIRST - sum(v["counts"]) and v["missing"] == 0
    assert sorted(v["counts"], reverse=True) == v["counts"]  # most common first
    assert client.get("/api/maps/joint/values").json()["column"] == "style"  # the default, as for cluster names
    assert client.get("/api/maps/joint/values", params={"column": "nope"}).status_code == 404
    assert client.get("/api/maps/content/values").status_code == 404  # no content map
    assert client.get("/api/maps/joint/values", params={"top": 251}).status_code == 422


def test_several_works_by_id_in_the_order_asked(mapped: Path) -> None:
    client = TestClient(create_app(mapped))
    found = client.get("/api/artworks/by-id", params={"id": [3, 1, 999_999, 3]}).json()["artworks"]
    assert [a["id"] for a in found] == [3, 1]  # unknown ids left out, each once
    assert found[0]["path"].endswith(".jpg") and found[0]["metadata"]["title"]
    assert client.get("/api/artworks/by-id").status_code == 422
    assert client.get("/api/artworks/by-id", params={"id": list(range(1, 502))}).status_code == 422


def test_mistakes_get_clear_errors(mapped: Path, demo_collection: Path, tmp_path: Path) -> None:
    with Collection.open(mapped) as col:
        with pytest.raises(InputError, match="unknown facet 'smell'"):
            col.map(["smell"])
        with pytest.raises(InputError, match="unknown layout method"):
            col.map(method="som")
        with pytest.raises(NotFoundError, match="no content map yet; make it with `artlens map"):
            col.layout("content")
        with pytest.raises(InputError, match=r"\.png or \.html"):
            col.draw_map(tmp_path / "map.svg")
        with pytest.raises(InputError, match="unknown metadata column nope"):
            col.draw_map(tmp_path / "map.png", colour_by="nope")
    with Collection.create(tmp_path / "empty") as empty, pytest.raises(CollectionError, match="no search index yet"):
        empty.map()


def test_a_collection_too_small_for_t_sne_gets_pca(demo_collection: Path, tmp_path: Path) -> None:
    with Collection.open(shutil.copytree(demo_collection, tmp_path / "six")) as col:
        made = col.map(["joint"]).maps[0]
        assert (made.method, made.works) == ("pca", 6)
    assert layout.fit(np.ones((1, 4), np.float32))[0].tolist() == [[0.0, 0.0]]  # one work: the centre


def test_the_command_lays_out_draws_and_reports(mapped: Path, tmp_path: Path) -> None:
    directory = shutil.copytree(mapped, tmp_path / "demo")
    result = CliRunner().invoke(app, ["map", str(directory), "--reuse", "--png", str(tmp_path / "m.png"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["laid_out"] == [] and data["files"] == [str(tmp_path / "m.png")] and data["maps"][0]["facet"] == "joint"
    bad = CliRunner().invoke(app, ["map", str(directory), "--facet", "smell"])
    assert bad.exit_code == 1 and "unknown facet 'smell'" in bad.output


def test_the_rule_that_places_a_new_work() -> None:
    placed = np.array([[1, 0], [0.8, 0.6], [0, 1]], np.float32)
    xy = np.array([[0, 0], [10, 0], [0, 10]], np.float32)
    new = np.array([[1, 0], [0, 1]], np.float32)  # the same as the first work, and as the third
    # The most similar work's place, moved a tenth of the way toward the median of the 3 most similar places:
    # the first new work's median is (0, 0), its twin's place, so it steps aside by STEP; the second goes from
    # (0, 10) a tenth of the way toward (0, 0).
    first, third = layout.place(new, placed, xy, k=3)
    assert np.hypot(*first) == pytest.approx(layout.STEP) and third == pytest.approx([0.0, 10.0 - 1.0])
    assert layout.place(new, placed, xy, k=1, pull=0.5)[1].tolist() == pytest.approx([layout.STEP * np.cos(2.39996), 10 + layout.STEP * np.sin(2.39996)])


def test_the_measures_of_a_layout_on_hand_made_neighbours() -> None:
    high = np.array([[1, 2], [0, 2], [0, 1]])
    low = np.array([[2, 1], [2, 3], [3, 0]])
    assert mq.knn_preservation(high, low) == pytest.approx((2 + 1 + 1) / 6)
    labels = np.array(["a", "a", "b", ""], dtype=object)  # the fourth has no label: never counted
    near = np.array([[1, 2], [0, 3], [0, 1], [0, 1]])
    assert mq.label_agreement(near, labels) == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)
    line = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [7.0, 0.0]])
    assert mq.map_neighbours(line, 1)[:, 0].tolist() == [1, 0, 1, 2]
    unit = np.eye(4, dtype=np.float32) + 0.1
    assert mq.facet_neighbours(unit / np.linalg.norm(unit, axis=1, keepdims=True), 2).shape == (4, 2)
