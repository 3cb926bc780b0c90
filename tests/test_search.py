"""Searching by example: one image, a moodboard, images to avoid, facets, weights and filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artlens import Collection, InputError


def _any_path(collection: Collection) -> str:
    from artlens.store import catalog

    with collection.catalog.engine.connect() as conn:
        return next(catalog.iter_artworks(conn)).path


def test_a_collection_image_finds_others_not_itself(small_collection: Collection) -> None:
    query = _any_path(small_collection)
    results = small_collection.search(images=[query], k=5)
    assert len(results) == 5
    assert query not in [r.path for r in results]
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    top = results[0]
    assert set(top.scores) == {"content", "style", "color", "style_learned"}
    assert top.why.startswith(("learned style", "style", "content", "colour"))
    # Asked for, the query comes first with a perfect score.
    with_self = small_collection.search(images=[query], k=1, include_self=True)
    assert with_self[0].path == query and with_self[0].score == pytest.approx(1.0, abs=1e-3)


def test_a_reencoded_copy_from_outside_finds_its_original(small_collection: Collection, tmp_path: Path) -> None:
    query = _any_path(small_collection)
    copy = tmp_path / "copy.jpg"
    Image.open(query).resize((180, 180)).save(copy, quality=60)
    results = small_collection.search(images=[copy], k=3)
    assert results[0].path == query
    assert results[0].score > 0.8


def test_each_facet_ranks_by_its_own_score(small_collection: Collection) -> None:
    query = _any_path(small_collection)
    for facet in ("content", "style", "color"):
        results = small_collection.search(images=[query], facet=facet, k=10)
        scores = [r.scores[facet] for r in results]
        assert scores == sorted(scores, reverse=True)
        assert results[0].score == pytest.approx(results[0].scores[facet], abs=1e-4)
        assert results[0].why.split()[0] == {"color": "colour"}.get(facet, facet)


def test_weights_change_the_mix(small_collection: Collection) -> None:
    query = _any_path(small_collection)
    color_heavy = small_collection.search(images=[query], weights={"color": 1.0, "style": 0.001}, k=10)
    by_color = small_collection.search(images=[query], facet="color", k=10)
    assert [r.path for r in color_heavy[:5]] == [r.path for r in by_color[:5]]
    r = color_heavy[0]
    assert r.score == pytest.approx((1.0 * r.scores["color"] + 0.001 * r.scores["style"]) / 1.001, abs=1e-3)


def test_a_moodboard_finds_what_its_images_share(small_collection: Collection) -> None:
    everything = small_collection.search(images=[_any_path(small_collection)], k=1000, include_self=True)
    ukiyo = sorted(r.path for r in everything if r.metadata.get("style") == "Ukiyo_e")

    def share_ukiyo(results) -> float:
        return float(np.mean([r.metadata.get("style") == "Ukiyo_e" for r in results]))

    board = ukiyo[:3]
    results = small_collection.search(images=board, facet="style", k=10)
    assert not set(board) & {r.path for r in results}
    alone = np.mean([share_ukiyo(small_collection.search(images=[p], facet="style", k=10)) for p in board])
    together = share_ukiyo(results)
    chance = len(ukiyo) / len(everything)
    assert together >= alone, "three prints together should find more of their kind than each alone"
    assert together >= 3 * chance


def test_images_to_avoid_push_results_away(small_collection: Collection) -> None:
    query = _any_path(small_collection)
    plain = small_collection.search(images=[query], k=10)
    avoid = plain[0].path
    pushed = small_collection.search(images=[query], not_images=[avoid], k=10)
    assert avoid not in [r.path for r in pushed[:3]]
    assert [r.path for r in pushed] != [r.path for r in plain]


def test_metadata_filters(small_collection: Collection) -> None:
    query = _any_path(small_collection)
    baroque = small_collection.search(images=[query], where=["style=Baroque"], k=50)
    assert baroque and all(r.metadata["style"] == "Baroque" for r in baroque)
    either = small_collection.search(images=[query], where=["style=Baroque", "style=Rococo"], k=60)
    assert {r.metadata["style"] for r in either} == {"Baroque", "Rococo"}
    not_baroque = small_collection.search(images=[query], where=["style!=Baroque"], k=100)
    assert "Baroque" not in {r.metadata.get("style") for r in not_baroque}
    assert small_collection.search(images=[query], where=["style=No such style"]) == []


def test_bad_queries_say_what_is_wrong(small_collection: Collection, tmp_path: Path) -> None:
    query = _any_path(small_collection)
    with pytest.raises(InputError, match="unknown metadata column museum"):
        small_collection.search(images=[query], where=["museum=Louvre"])
    with pytest.raises(InputError, match="query image not found"):
        small_collection.search(images=[tmp_path / "nope.jpg"])
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(InputError, match="cannot use .*broken.jpg as a query"):
        small_collection.search(images=[tmp_path / "broken.jpg"])
    with pytest.raises(InputError, match="unknown facet"):
        small_collection.search(images=[query], facet="mood")
    with pytest.raises(InputError, match="COLUMN=VALUE"):
        small_collection.search(images=[query], where=["style"])


def test_style_neighbours_share_the_style_on_wikiart(small_collection: Collection) -> None:
    """A light version of the quality test (the full one runs on all of WikiArt in test_quality.py)."""
    from artlens.store import catalog

    with small_collection.catalog.engine.connect() as conn:
        arts = list(catalog.iter_artworks(conn))
    hits = []
    for art in arts[::6]:
        results = small_collection.search(images=[art.path], k=10)
        hits.append(np.mean([r.metadata["style"] == art.meta["style"] for r in results]))
    assert np.mean(hits) > 0.35  # 11 styles: chance is about 0.09


def _random_facets(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for facet, dim in (("content", 128), ("style", 128), ("color", 64)):
        x = rng.standard_normal((n, dim)).astype(np.float32)
        out[facet] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def test_any_mix_of_the_joint_facets_is_one_scan_of_the_joint_index(monkeypatch: pytest.MonkeyPatch) -> None:
    from artlens.retrieval import search
    from artlens.store.index import build_index
    from artlens.store.vectors import FacetVectors, joint_matrix

    n, k = 5000, 10
    monkeypatch.setattr(search, "EXACT_BELOW", 1000)  # large enough to ask an index
    mats = _random_facets(n)
    queries = _random_facets(20, seed=1)
    mix_of_collection = {"content": 0.35, "style": 0.55, "color": 0.1}
    joint = joint_matrix(mats, mix_of_collection)
    ids = np.arange(n, dtype=np.int64) * 2 + 5
    vectors = FacetVectors(directory=Path("."), ids=ids, matrices=mats, transforms={}, quantiles={f: np.linspace(-1, 1, 11) for f in mats},
                           weights=mix_of_collection, catalog_version=1, _indexes={"joint": build_index(joint, ids, exact_below=1000)})
    mine = {"content": 1.0, "color": 3.0}
    assert search.candidate_facets(vectors, mine) == ["joint"]
    # The index's depth is tuned for the collection's own mix (at any scale); another mix asks it for more.
    assert search._own_mix(vectors, {"content": 0.7, "style": 1.1, "color": 0.2})
    assert not search._own_mix(vectors, mine)

    # The joint query scores the mix itself: its inner product with a joint vector is the weighted mean of facet cosines.
    q = {f: queries[f][0] for f in mats}
    mix_scores = (1.0 * mats["content"] @ q["content"] + 3.0 * mats["color"] @ q["color"]) / 4.0
    np.testing.assert_allclose(joint @ search._joint_query(q, mine, mix_of_collection), mix_scores, atol=1e-5)

    found = 0
    for i in range(20):
        q = {f: queries[f][i] for f in mats}
        hits = search.rank(vectors, q, mine, k)
        exact = (1.0 * mats["content"] @ q["content"] + 3.0 * mats["color"] @ q["color"]) / 4.0
        found += len({h.id for h in hits} & set(ids[np.argsort(-exact)[:k]]))
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert found / (20 * k) >= 0.9


def test_a_filter_on_a_large_collection_checks_the_index_best_candidates(small_collection: Collection, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a collection of more than `filtered.POST_FILTER_ABOVE` works does: the catalog checks the index's best
    candidates (POST_FILTER_FACTOR per result), and lists a filter's works only when too few of those pass; a filter
    its build counted as allowing few enough works to score exactly (`FacetVectors.value_counts`) is listed at once.
    Each search here is a filter's first use: the catalog's listings of earlier searches are emptied, and its filter
    columns set aside (what a search meets when another process changed them)."""
    from artlens.retrieval import filtered
    from artlens.store import index

    query = _any_path(small_collection)
    cases = [["style!=Baroque"], ["style=Baroque", "style=Rococo"], ["style=Baroque"], ["style=No such style"]]
    listed = {tuple(w): small_collection.search(images=[query], where=w, k=10) for w in cases}  # 242 works: listed
    calls: list[str] = []
    real = small_collection.catalog.filter_ids

    def recorded(where, limit=None, among=None):  # type: ignore[no-untyped-def]
        calls.append("listed" if among is None else f"checked {len(among)}")
        return real(where, limit, among)

    monkeypatch.setattr(filtered, "POST_FILTER_ABOVE", 0)
    monkeypatch.setattr(filtered, "POST_FILTER_FACTOR", 4)
    monkeypatch.setattr(small_collection.catalog, "filter_ids", recorded)
    monkeypatch.setattr(small_collection.catalog, "_columns", None)
    # No style is held by more than COUNTED_ABOVE (100) of these works: each allows at most 100, which is "few"
    # unless fewer than that are scored exactly.
    assert small_collection.vectors.value_counts == {}
    calls.clear()
    small_collection.catalog.listings.clear()
    assert small_collection.search(images=[query], where=["style=Baroque"], k=10) == listed[("style=Baroque",)]
    assert calls == ["listed"]

    monkeypatch.setattr(index, "EXACT_FILTER_BELOW", 50)
    for where in cases:
        calls.clear()
        small_collection.catalog.listings.clear()
        assert small_collection.search(images=[query], where=where, k=10) == listed[tuple(where)]
    assert calls == ["checked 44", "listed"]  # 4 x (10 results + the query, left out); none passed, so all listed
    calls.clear()
    small_collection.catalog.listings.clear()
    small_collection.search(images=[query], where=["style!=Baroque"], k=10)
    assert calls == ["checked 44"]


def test_a_build_bounds_what_a_filter_allows() -> None:
    """`vectors.most_allowed`: the fewest works any one column's `=` values hold together, by the counts a build keeps;
    a value not counted holds at most COUNTED_ABOVE; nothing known without counts or without an `=` on a value."""
    from artlens.store.vectors import COUNTED_ABOVE, most_allowed

    counts = {"style": {"Baroque": 5000, "Rococo": 3000}, "pred.genre": {"portrait": 400}}
    assert most_allowed(counts, [("style", "=", "Baroque")]) == 5000
    assert most_allowed(counts, [("style", "=", "Baroque"), ("style", "=", "Rococo")]) == 8000
    assert most_allowed(counts, [("style", "=", "Baroque"), ("pred.genre", "=", "portrait")]) == 400
    assert most_allowed(counts, [("style", "=", "Cubism")]) == COUNTED_ABOVE
    assert most_allowed(counts, [("artist", "=", "a"), ("artist", "=", "b")]) == 2 * COUNTED_ABOVE
    assert most_allowed(counts, [("style", "!=", "Baroque")]) is None
    assert most_allowed(counts, [("people", "=", "2")]) is None  # a count, not a value
    assert most_allowed(None, [("style", "=", "Baroque")]) is None  # a build from before counts were kept


def test_a_listing_starts_from_the_filter_column_that_holds_fewest_works() -> None:
    """`vectors.most_selective_first`: the catalog lists a filter by its first column and looks each work up in the
    others, so the `=` columns go first by the works they hold, everything else after them in its own order."""
    from artlens.store.vectors import most_selective_first

    counts = {"style": {"Baroque": 5000, "Rococo": 3000}, "pred.genre": {"portrait": 400}}
    where = [("people", ">=", "1"), ("style", "=", "Baroque"), ("genre", "!=", "nude"), ("pred.genre", "=", "portrait"), ("style", "=", "Rococo")]
    assert most_selective_first(counts, where) == [("pred.genre", "=", "portrait"), ("style", "=", "Baroque"), ("style", "=", "Rococo"),
                                                   ("people", ">=", "1"), ("genre", "!=", "nude")]
    assert most_selective_first(None, where) == where
