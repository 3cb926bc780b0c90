"""Near-duplicates: copies of a painting are reported, different paintings are not.

A small collection of its own (30 real WikiArt paintings, four altered copies and one byte-for-byte
copy, made in tmp_path; the tests using it are marked `data`), plus unit tests of
`find_near_duplicates` on hand-made hashes and vectors.
The thresholds themselves are measured by bench/near_duplicates.py.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from typer.testing import CliRunner

from artlens import Collection
from artlens.cli import app
from artlens.retrieval.duplicates import (
    CONTENT_MIN_SIMILARITY,
    CONTENT_MIN_SIMILARITY_FAR,
    JOINT_PHASH_MAX_DISTANCE,
    PHASH_MAX_DISTANCE,
    content_bar,
    find_near_duplicates,
)

from conftest import WIKIART, read_labels

# One altered copy of four of the paintings, as a user's folder of downloads might hold them.
COPIES = {
    "jpeg": (0, lambda im: im, 60),                                                 # re-encoded at quality 60
    "resized": (7, lambda im: im.resize((112, 112), Image.Resampling.LANCZOS), 90),  # half size
    "cropped": (14, lambda im: im.crop((6, 6, 218, 218)), 90),                      # 5% cropped, 6 px per border
    "recoloured": (21, lambda im: ImageEnhance.Color(ImageEnhance.Brightness(im).enhance(1.15)).enhance(1.3), 90),
}
EXACT_COPY_OF = 28


def _paintings() -> list[Path]:
    """30 paintings spread over the styles (every 95th of labels.csv)."""
    rows = read_labels(WIKIART)
    return [WIKIART / r["image"] for r in rows[::95][:30]]


@pytest.fixture(scope="module")
def copies_collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Collection, list[Path], dict[str, tuple[Path, Path]]]:
    paintings = _paintings()
    folder = tmp_path_factory.mktemp("copies")
    made: dict[str, tuple[Path, Path]] = {}
    for name, (i, alter, quality) in COPIES.items():
        dst = folder / f"{name}-{paintings[i].name}"
        with Image.open(paintings[i]) as im:
            alter(im.convert("RGB")).save(dst, "JPEG", quality=quality)
        made[name] = (paintings[i], dst)
    exact = folder / f"exact-{paintings[EXACT_COPY_OF].name}"
    shutil.copyfile(paintings[EXACT_COPY_OF], exact)
    made["exact"] = (paintings[EXACT_COPY_OF], exact)
    col = Collection.create(tmp_path_factory.mktemp("collections") / "copies")
    col.add([*map(str, paintings), str(folder)])
    yield col, paintings, made
    col.close()


def _near_pairs(col: Collection) -> dict[frozenset[str], dict]:
    return {frozenset((d.a.path, d.b.path)): d for d in col.duplicates().near}


@pytest.mark.data
@pytest.mark.parametrize("kind", list(COPIES))
def test_an_altered_copy_is_a_near_duplicate_of_its_painting(copies_collection, kind: str) -> None:
    col, _, made = copies_collection
    original, copy = made[kind]
    near = _near_pairs(col)
    pair = near.get(frozenset((str(original), str(copy))))
    assert pair is not None, f"{kind} copy not reported; near pairs: {list(near.values())}"
    assert pair.content_similarity >= content_bar(pair.phash_distance)
    # and its only near-duplicate
    assert [p for p in near if str(copy) in p] == [frozenset((str(original), str(copy)))]


@pytest.mark.data
def test_different_paintings_are_not_near_duplicates(copies_collection) -> None:
    col, paintings, _ = copies_collection
    originals = {str(p) for p in paintings}
    assert [d for d in col.duplicates().near if {d.a.path, d.b.path} <= originals] == []


@pytest.mark.data
def test_a_byte_copy_is_an_exact_duplicate_not_a_near_one(copies_collection) -> None:
    col, _, made = copies_collection
    original, copy = made["exact"]
    data = col.duplicates()
    # whichever of the two files was ingested first is the one kept
    assert [({d.path, d.duplicate_of}, d.same) for d in data.exact] == [({str(copy), str(original)}, "bytes")]
    assert all(str(copy) not in (d.a.path, d.b.path) for d in data.near)


@pytest.mark.data
def test_cli_duplicates_json_has_the_documented_shape(copies_collection) -> None:
    col, _, made = copies_collection
    result = CliRunner().invoke(app, ["duplicates", str(col.directory), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["exact", "near"]
    assert data == col.duplicates().as_dict()
    assert set(data["exact"][0]) == {"path", "id", "duplicate_of", "original_id", "same"}
    assert len(data["near"]) == len(COPIES)
    for d in data["near"]:
        assert list(d) == ["a", "b", "phash_distance", "content_similarity"]
        assert set(d["a"]) == set(d["b"]) == {"id", "path"}
        assert d["a"]["id"] < d["b"]["id"]
        assert isinstance(d["phash_distance"], int) and 0 <= d["phash_distance"] <= JOINT_PHASH_MAX_DISTANCE
        assert isinstance(d["content_similarity"], float) and -1.0 <= d["content_similarity"] <= 1.0
    assert {frozenset((d["a"]["path"], d["b"]["path"])) for d in data["near"]} == {
        frozenset(map(str, made[k])) for k in COPIES
    }


@pytest.mark.data
def test_cli_duplicates_text_lists_both_kinds(copies_collection) -> None:
    col, _, _ = copies_collection
    result = CliRunner().invoke(app, ["duplicates", str(col.directory)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"1 exact duplicates, {len(COPIES)} near-duplicate pairs."


# --- find_near_duplicates on hand-made inputs ----------------------------------------------------------

BASE = 0x0123456789ABCDEF


def _hash(flipped_bits: int, base: int = BASE) -> str:
    """`base` with its lowest `flipped_bits` bits inverted, as 16 hex digits."""
    return f"{base ^ ((1 << flipped_bits) - 1):016x}"


def _unit_pair(cos: float, dim: int = 8) -> np.ndarray:
    """Two unit vectors with the given cosine."""
    v = np.zeros((2, dim), np.float32)
    v[0, 0] = 1.0
    v[1, 0], v[1, 1] = cos, math.sqrt(max(0.0, 1.0 - cos * cos))
    return v


def test_fewer_than_two_artworks_have_no_pairs() -> None:
    assert find_near_duplicates(np.array([], np.int64), [], None) == []
    assert find_near_duplicates(np.array([7]), [_hash(0)], None) == []
    assert find_near_duplicates(np.array([7]), [_hash(0)], _unit_pair(1.0)[:1]) == []


def test_hash_alone_reports_up_to_the_threshold_inclusive() -> None:
    at = find_near_duplicates(np.array([3, 9]), [_hash(0), _hash(PHASH_MAX_DISTANCE)], None)
    assert [(d.a, d.b, d.phash_distance) for d in at] == [(3, 9, PHASH_MAX_DISTANCE)]
    assert math.isnan(at[0].content_similarity)  # no content given
    assert find_near_duplicates(np.array([3, 9]), [_hash(0), _hash(PHASH_MAX_DISTANCE + 1)], None) == []
    # an explicit threshold is honoured too
    assert len(find_near_duplicates(np.array([3, 9]), [_hash(0), _hash(6)], None, phash_max=6)) == 1


def test_identical_hashes_are_reported_whatever_the_content() -> None:
    found = find_near_duplicates(np.array([1, 2]), [_hash(0), _hash(0)], _unit_pair(-0.2))
    assert [(d.phash_distance, d.content_similarity) for d in found] == [(0, -0.2)]


def test_beyond_the_hash_threshold_the_content_must_agree() -> None:
    ids, hashes = np.array([1, 2]), [_hash(0), _hash(12)]
    bar = float(content_bar(12))
    assert CONTENT_MIN_SIMILARITY < bar < CONTENT_MIN_SIMILARITY_FAR
    assert len(find_near_duplicates(ids, hashes, _unit_pair(bar + 0.01))) == 1
    assert find_near_duplicates(ids, hashes, _unit_pair(bar - 0.01)) == []
    # too far apart in hash: never, even with identical content
    assert find_near_duplicates(ids, [_hash(0), _hash(JOINT_PHASH_MAX_DISTANCE + 1)], _unit_pair(1.0)) == []
    # and without content vectors only the hash counts
    assert find_near_duplicates(ids, hashes, None) == []


def test_content_bar_rises_from_the_hash_threshold_to_the_joint_limit() -> None:
    assert content_bar(0) == 0.0 and content_bar(PHASH_MAX_DISTANCE) == 0.0
    assert math.isclose(float(content_bar(PHASH_MAX_DISTANCE + 1e-9)), CONTENT_MIN_SIMILARITY, abs_tol=1e-6)
    assert math.isclose(float(content_bar(JOINT_PHASH_MAX_DISTANCE)), CONTENT_MIN_SIMILARITY_FAR)
    assert np.all(np.diff(content_bar(np.arange(PHASH_MAX_DISTANCE + 1, JOINT_PHASH_MAX_DISTANCE + 1))) > 0)
    assert content_bar(JOINT_PHASH_MAX_DISTANCE + 1) == np.inf


def test_pairs_are_ordered_by_id_and_found_among_many() -> None:
    rng = np.random.default_rng(0)
    n = 40
    vecs = rng.standard_normal((n, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    hashes = [f"{int(x):016x}" for x in rng.integers(0, 2**63, n)]
    ids = np.arange(100, 100 + n)[::-1].copy()     # descending ids: a < b must still hold
    hashes[5], vecs[5] = _hash(14, int(hashes[30], 16)), vecs[30]   # row 5 a cropped copy of row 30
    found = find_near_duplicates(ids, hashes, vecs)
    assert [(d.a, d.b, d.phash_distance, d.content_similarity) for d in found] == [(int(ids[30]), int(ids[5]), 14, 1.0)]


@pytest.mark.data
def test_duplicates_of_one_artwork(copies_collection) -> None:
    col, _, _ = copies_collection
    everything = col.duplicates()
    pair = everything.near[0]
    mine = col.duplicates(pair.a.id)
    assert pair in mine.near
    assert all(pair.a.id in (d.a.id, d.b.id) for d in mine.near)
    assert [d for d in everything.near if pair.a.id in (d.a.id, d.b.id)] == mine.near
    assert all(pair.a.id in (d.id, d.original_id) for d in mine.exact)
