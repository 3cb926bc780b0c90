"""A large collection in PostgreSQL searches its vectors in the database when a broad filter needs it: pgvector
HNSW, the filter in the same query (searches without filters stay on the local index). "Large" is above
`index.EXACT_BELOW` artworks (30,000); these tests lower it to 100 so that 242 WikiArt paintings count, and compare
every answer with the same collection's exact search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from artlens import Collection, collection
from artlens.retrieval import filtered, search
from artlens.store import database, index, pgvectors
from artlens.store.database import Catalog

from conftest import copy_collection

SMALL_EXACT_BELOW = 100


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "EXACT_BELOW", SMALL_EXACT_BELOW)
    monkeypatch.setattr(search, "EXACT_BELOW", SMALL_EXACT_BELOW)


@pytest.fixture
def in_postgresql(small_collection: Collection, large: None, tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """`small_collection` migrated into PostgreSQL as a large collection: its vectors are published."""
    return copy_collection(small_collection.directory, tmp_path / "pg", "postgresql", request)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The facets searches ask the database's index for, in order (Catalog.nearest, spied on)."""
    facets: list[str] = []
    nearest = Catalog.nearest

    def spy(self: Catalog, info: dict, facet: str, *rest, **kw) -> np.ndarray:
        facets.append(facet)
        return nearest(self, info, facet, *rest, **kw)

    monkeypatch.setattr(Catalog, "nearest", spy)
    return facets


def published_tables(col: Collection) -> list[str]:
    with col.catalog.engine.connect() as conn:
        return sorted(sa.inspect(conn).get_table_names())


EVERY = ["style!=none"]  # a filter every work passes


def ask_the_database(m: pytest.MonkeyPatch, columns_current: bool = False) -> None:
    """Filtered searches of these few works go to the database's index, as a broad filter's do at 1M works whose
    works lie away from the query when the filter columns are out of date: no post-filter, too many to score exactly
    (over 5) or to list here (over 0)."""
    m.setattr(filtered, "POST_FILTER_ABOVE", 10**9)
    m.setattr(index, "EXACT_FILTER_BELOW", 5)
    m.setattr(filtered, "LIST_LOCALLY_BELOW", 0)
    m.setattr(database, "KNOWN_UP_TO", 0)
    if not columns_current:
        columns_out_of_date(m)


def columns_out_of_date(m: pytest.MonkeyPatch) -> None:
    """As after another machine's write, before this one codes its filter columns again: none decides a filter."""
    m.setattr(Catalog, "_current_columns", lambda self, conn, where: (None, None))


def overlap(a: list[int], b: list[int]) -> float:
    return len(set(a) & set(b)) / max(len(a), 1)


def test_a_large_postgresql_collection_searches_with_pgvector_and_filters_in_sql(
        small_collection: Collection, in_postgresql: Path, asked: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Migrating publishes the copied vectors: a table of halfvec columns, one HNSW index per facet.
    with Collection.open(in_postgresql) as col:
        published = col.catalog.published_vectors()
        assert published is not None and published["catalog_version"] == col.vectors.catalog_version
        assert set(published["facets"]) == {"joint"}  # the default mix: what most searches rank by
        assert all(f["ef_search"] in pgvectors.EF_SEARCH and f["recall"] >= pgvectors.MIN_RECALL for f in published["facets"].values())
        assert [t for t in published_tables(col) if t.startswith(pgvectors.TABLE_PREFIX)] == [published["table"]]
        assert [f.name for f in col.info().facets if "pgvector HNSW, ef_search" in f.index] == ["joint"]

        # Without filters the local index answers (ten times faster at 1M works than the database's of the same build).
        ids = [int(i) for i in col.vectors.ids[::12]]
        for i in ids[:3]:
            assert [r.id for r in col.search(ids=[i], k=10)] == [r.id for r in small_collection.search(ids=[i], k=10)]
        assert asked == []

        # A filter (metadata) allowing more than index.EXACT_FILTER_BELOW works (lowered to 5 here) goes into
        # the same SQL query when it may allow more than the local index takes listed (lowered to 0); every
        # result passes it. One known to allow fewer (the build's value counts) is listed for the local index. Each is
        # the filter's first use here (the listings of earlier searches emptied): a listed filter is not asked again.
        style = small_collection.search(ids=[ids[0]], k=1)[0].metadata["style"]
        exact = small_collection.search(ids=[ids[0]], k=10, where=[f"style={style}"])
        asked.clear()
        with monkeypatch.context() as m:
            m.setattr(index, "EXACT_FILTER_BELOW", 5)
            listed = col.search(ids=[ids[0]], k=10, where=[f"style={style}"])
            assert asked == [] and all(h.metadata["style"] == style for h in listed)
            m.setattr(filtered, "LIST_LOCALLY_BELOW", 0)
            columns_out_of_date(m)
            col.catalog.listings.clear()
            hits = col.search(ids=[ids[0]], k=10, where=[f"style={style}"])
            assert asked == ["joint"] and len(hits) == 10
            assert all(h.metadata["style"] == style for h in hits)
            assert overlap([h.id for h in hits], [h.id for h in exact]) >= 0.9
            # An index scan that stops short (pgvector's max_scan_tuples under a very selective filter) does not
            # cut the results short: the local index answers instead.
            nearest = Catalog.nearest
            m.setattr(Catalog, "nearest", lambda self, *a, **kw: nearest(self, *a, **kw)[:2])
            col.catalog.listings.clear()
            assert len(col.search(ids=[ids[0]], k=10, where=[f"style={style}"])) == 10
        # A selective filter is scored exactly on this machine: its works listed by the catalog, no HNSW scan.
        asked.clear()
        hits = col.search(ids=[ids[0]], k=10, where=[f"style={style}"])
        assert asked == [] and [(h.id, h.score) for h in hits] == [(h.id, h.score) for h in exact]
        # Other weights of the joint's facets: the same table, with a query that scores that mix; the database's
        # results agree with the local index's.
        weights = {"content": 1.0, "color": 1.0}
        agree = []
        with monkeypatch.context() as m:
            ask_the_database(m)
            reads: list[str] = []
            setting = Catalog.setting
            m.setattr(collection, "FOLLOW_SECONDS", 3600.0)
            m.setattr(Catalog, "setting", lambda self, key: (reads.append(key), setting(self, key))[1])
            asked.clear()
            for i in ids:
                mine = [r.id for r in col.search(ids=[i], k=10, weights=weights, where=EVERY)]
                exact = [r.id for r in small_collection.search(ids=[i], k=10, weights=weights)]
                agree.append(overlap(mine, exact))
        assert asked == ["joint"] * len(ids) and np.mean(agree) >= 0.9, agree
        # A busy server reads what is published at most once a second (here: an hour), not once per search.
        assert reads.count(pgvectors.PUBLISHED) <= 1
        # One facet: candidates from its local FAISS index.
        asked.clear()
        mine = [r.id for r in col.search(ids=[ids[1]], k=5, facet="color", where=EVERY)]
        assert asked == [] and mine == [r.id for r in small_collection.search(ids=[ids[1]], k=5, facet="color")]


def test_a_search_survives_its_table_being_replaced_and_a_small_build_unpublishes(
        in_postgresql: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ask_the_database(monkeypatch)
    with Collection.open(in_postgresql) as col:
        published = col.catalog.published_vectors()
        table = published["table"]
        first = [r.id for r in col.search(ids=[int(col.vectors.ids[0])], k=5, where=EVERY)]

        # An index whose tuned depth did not reach recall 0.95 (random vectors do that) is not asked.
        poor = {**published, "facets": {f: {**v, "recall": 0.5} for f, v in published["facets"].items()}}
        col.catalog.set_settings({pgvectors.PUBLISHED: poor})
        with monkeypatch.context() as m:
            m.setattr(Catalog, "nearest", lambda *a, **kw: pytest.fail("asked an index of poor recall"))
            assert [r.id for r in col.search(ids=[int(col.vectors.ids[0])], k=5, where=EVERY)] == first
            assert not any("pgvector" in f.index for f in col.info().facets)
        col.catalog.set_settings({pgvectors.PUBLISHED: published})
        with col.catalog.engine.begin() as conn:  # as a newer build on another machine would
            conn.exec_driver_sql(f'DROP TABLE "{table}"')
        assert [r.id for r in col.search(ids=[int(col.vectors.ids[0])], k=5, where=EVERY)] == first  # the local index answers

        report = col.check()
        assert report.parts["vectors"] == "damaged" and "table of published vectors" in report.problems[0]
        assert col.check(repair=True).parts["vectors"] == "repaired"  # a rebuild publishes again
        assert col.catalog.published_vectors()["table"] != table and col.check().parts["vectors"] == "ok"
        monkeypatch.setattr(index, "EXACT_BELOW", 30_000)
        col.build()  # too small for it now: nothing left in the database
        assert col.catalog.published_vectors() is None
        assert not [t for t in published_tables(col) if t.startswith(pgvectors.TABLE_PREFIX)]
        assert len(col.search(ids=[int(col.vectors.ids[0])], k=5)) == 5


def test_a_broad_filter_the_filter_columns_decide_stays_on_the_local_index(
        in_postgresql: Path, asked: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the filter columns are current they decide any filter over the build's works in a few ms, and the local
    index searches their answer as a mask of its rows (no ids listed): pgvector (p99 56-89 ms at 1M works for broad
    filters away from the query) answers only what they cannot decide."""
    ask_the_database(monkeypatch, columns_current=True)
    listed: list[object] = []
    filter_ids = Catalog.filter_ids
    monkeypatch.setattr(Catalog, "filter_ids", lambda self, where, *a, **kw: listed.append(where) or filter_ids(self, where, *a, **kw))
    with Collection.open(in_postgresql) as col:
        query = int(col.vectors.ids[5])
        style = col.search(ids=[query], k=1)[0].metadata["style"]
        local = col.search(ids=[query], k=5, where=[f"style={style}"])
        assert asked == [] and listed == [] and all(hit.metadata["style"] == style for hit in local)
        columns_out_of_date(monkeypatch)
        col.catalog.listings.clear()  # (what the first search listed is held)
        assert [h.id for h in col.search(ids=[query], k=5, where=[f"style={style}"])] == [h.id for h in local]
        assert asked == ["joint"]


def test_two_web_servers_search_one_collection_in_the_database(
        small_collection: Collection, in_postgresql: Path, asked: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from artlens.web import create_app

    url = (in_postgresql / "database.url").read_text().strip()
    monkeypatch.setenv("ARTLENS_HOME", str(tmp_path / "second-machine"))  # the URL's local folder: a machine of its own
    monkeypatch.setattr(index, "EXACT_FILTER_BELOW", 5)  # a filter of more works than that goes to the database,
    monkeypatch.setattr(filtered, "LIST_LOCALLY_BELOW", 0)  # as one of more works than a machine lists does
    columns_out_of_date(monkeypatch)
    query = int(small_collection.vectors.ids[5])
    style = small_collection.search(ids=[query], k=1)[0].metadata["style"]
    answers = []
    for app in (create_app(in_postgresql), create_app(url)):  # the second builds its own vectors from the catalog
        r = TestClient(app).post("/api/search", data={"id": str(query), "k": "5", "where": f"style={style}"})
        assert r.status_code == 200, r.text
        assert all(hit["metadata"]["style"] == style for hit in r.json()["results"])
        answers.append([hit["id"] for hit in r.json()["results"]])
    assert asked == ["joint", "joint"]  # both asked the database's index, with the filter in the query
    assert answers[0] == answers[1]


def test_the_database_returns_the_rows_a_ranking_needs_from_a_search_of_its_tuned_depth(in_postgresql: Path) -> None:
    # Asking for k rows, not ef_search of them, lets a filtered scan stop after its first pass over the graph.
    with Collection.open(in_postgresql) as col:
        published = col.catalog.published_vectors()
        query = np.asarray(col.vectors.matrices["joint"][0], np.float32)
        ef = published["facets"]["joint"]["ef_search"]
        assert ef > 7
        deep = col.catalog.nearest(published, "joint", query, ef)
        assert len(deep) == min(ef, len(col.vectors))
        assert col.catalog.nearest(published, "joint", query, 7).tolist() == deep[:7].tolist()
        style = col.catalog.artworks([int(deep[0])])[int(deep[0])].meta["style"]
        some = col.catalog.nearest(published, "joint", query, 3, [("style", "=", style)])
        assert len(some) == 3 and {col.catalog.artworks([int(i)])[int(i)].meta["style"] for i in some} == {style}
