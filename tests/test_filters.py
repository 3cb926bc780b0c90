"""Filters read indexes, on both catalog backends: metadata values (`meta_values`), predictions by model and
label, detections by kind and count; and a catalog from before those indexes gets them when opened."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from artlens import Collection
from artlens.store import catalog, columns_file, database, migrate
from artlens.store.catalog import META_VALUE_CHARS, NewArtwork
from artlens.store.database import Catalog
from artlens.store.layout import FILTER_COLUMNS_FILE

from conftest import write_csv

LONG = "a very long title " * 20  # longer than the indexed prefix


def work(n: int, **meta: str) -> NewArtwork:
    return NewArtwork(path=f"/art/{n}.jpg", file_size=n, mtime_ns=n, sha256=f"{n:064x}", pixel_hash=f"{n + 10**6:064x}",
                      phash="0" * 16, width=10, height=10, format="JPEG", thumbnail=b"", meta=meta)


def ids(cat: Catalog, *where: tuple[str, str, str]) -> list[int]:
    return cat.filter_ids(list(where)).tolist()


def test_filters_on_metadata_predictions_and_counts(collection_dir: Path) -> None:
    with Collection.create(collection_dir) as col:
        cat = col.catalog
        cat.commit_batch([work(1, style="Baroque", title=LONG + "1"), work(2, style="Rococo", title=LONG + "2"),
                          work(3, style="Baroque"), work(4)], [], [])
        a, b, c, d = cat.indexed_ids().tolist()
        assert cat.unknown_columns(["style", "title", "era"]) == (["era"], ["faces", "people", "style", "title"])
        assert ids(cat, ("style", "=", "Baroque")) == [a, c]
        assert ids(cat, ("style", "=", "Baroque"), ("style", "=", "Rococo")) == [a, b, c]  # alternatives
        assert ids(cat, ("style", "!=", "Baroque")) == [b, d]  # a work without a style passes
        assert ids(cat, ("style", "=", "Baroque"), ("title", "!=", LONG + "1")) == [c]
        # Values longer than the indexed prefix still compare whole.
        assert len(LONG) > META_VALUE_CHARS
        assert ids(cat, ("title", "=", LONG + "2")) == [b]
        assert ids(cat, ("title", "!=", LONG + "2")) == [a, c, d]
        assert cat.filter_ids([("style", "=", "Baroque")], limit=1).tolist() == [a]

        # Metadata merged later, a prediction model and a detector are filterable at once.
        cat.merge_metadata({"/art/4.jpg": {"style": "Baroque"}, "/art/1.jpg": {"style": "Rococo"}}, skip=set())
        assert ids(cat, ("style", "=", "Baroque")) == [c, d]
        cat.write_predictions("medium", "v1", [(a, "oil", 0.9, []), (b, "ink", 0.8, []), (c, "oil", 0.7, [])])
        assert cat.unknown_columns(["pred.medium", "pred.genre"], predictions=True)[0] == ["pred.genre"]
        assert ids(cat, ("pred.medium", "=", "oil")) == [a, c]
        assert ids(cat, ("pred.medium", "!=", "oil")) == [b, d]
        box = np.array([[0, 0, 5, 5]], np.float32)
        cat.write_detections("face", "m", [(a, box, np.array([0.9])), (b, np.zeros((0, 4), np.float32), np.zeros(0))])
        assert ids(cat, ("faces", ">=", "1")) == [a]
        assert ids(cat, ("faces", "=", "0")) == [b]  # works never looked at have no count
        assert ids(cat, ("faces", "<=", "1"), ("pred.medium", "=", "oil")) == [a]
        # Several columns at once, in either order (a listing is driven by the first one, each work looked up in
        # the others): two metadata columns, metadata and a label, two counts of one kind.
        cat.merge_metadata({"/art/1.jpg": {"era": "old"}, "/art/3.jpg": {"era": "old"}, "/art/4.jpg": {"era": "new"}}, skip=set())
        for where in ([("style", "=", "Baroque"), ("era", "=", "old")], [("era", "=", "old"), ("era", "=", "new"), ("style", "=", "Baroque")],
                      [("pred.medium", "=", "oil"), ("era", "=", "old")], [("faces", ">=", "1"), ("faces", "<=", "1"), ("pred.medium", "=", "oil")]):
            alone = [set(ids(cat, c)) for c in where if c[1] != "=" or c[0] != "era"] + [set(ids(cat, *[c for c in where if c[0] == "era"]))]
            expected = sorted(set.intersection(*alone))
            assert ids(cat, *where) == ids(cat, *reversed(where)) == expected, where
        assert ids(cat, ("style", "=", "Baroque"), ("era", "=", "old")) == [c]

        # The same filters checked on a few works (the best candidates of an index), not listed.
        for where in ([("style", "=", "Baroque")], [("style", "=", "Baroque"), ("style", "=", "Rococo")], [("style", "!=", "Baroque")],
                      [("title", "=", LONG + "2")], [("pred.medium", "!=", "oil")], [("faces", "=", "0")]):
            for among in ([a, b], [c, d], [d, b, a], []):
                assert cat.filter_ids(where, among=among).tolist() == sorted(set(ids(cat, *where)) & set(among))

        # What a vector build keeps to bound what a filter allows: the values (long ones by their indexed prefix)
        # and labels held by more than so many works.
        with cat.engine.connect() as conn:
            assert catalog.value_counts(conn, 1) == {"style": {"Baroque": 2, "Rococo": 2}, "title": {LONG[:META_VALUE_CHARS]: 2}, "era": {"old": 2},
                                                     "pred.medium": {"oil": 2}}
            assert catalog.value_counts(conn, 2) == {}

        # A changed file is added again from scratch: its old values go with its old row.
        cat.commit_batch([replace(work(5, style="Gothic"), path="/art/3.jpg")], [], ["/art/3.jpg"])
        assert ids(cat, ("style", "=", "Baroque")) == [d]
        gothic = ids(cat, ("style", "=", "Gothic"))
        assert [cat.artworks(gothic)[i].path for i in gothic] == ["/art/3.jpg"]


def test_a_filter_listed_once_is_answered_from_memory_until_the_catalog_changes(collection_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A web server lists a filter's works once (`Catalog.listings`); every change to what the filter's kind of column
    passes, by any process sharing the catalog, makes it list again (here a second handle on the same database
    writes); changes to other kinds leave it held."""
    with Collection.create(collection_dir) as col:
        server = col.catalog
        server.commit_batch([work(1, style="Baroque"), work(2, style="Rococo"), work(3, style="Baroque")], [], [])
        a, b, c = server.indexed_ids().tolist()
        listed: list[tuple] = []
        real = catalog.filter_ids
        monkeypatch.setattr(catalog, "filter_ids", lambda conn, where, *args: listed.append(where) or real(conn, where, *args))
        baroque = [("style", "=", "Baroque")]

        assert server.listed(baroque) is None
        assert ids(server, *baroque) == [a, c]
        assert ids(server, *baroque) == [a, c] and server.listed(baroque).tolist() == [a, c]
        assert server.filter_ids(baroque, among=[c, b]).tolist() == [c]  # checked in memory too
        assert len(listed) == 1

        other = Catalog.open(server.address)  # another process's handle
        oil, faces = [("pred.medium", "=", "oil")], [("faces", ">=", "0")]
        every = [baroque, oil, faces]
        try:
            for change, changed in ((lambda: other.merge_metadata({"/art/2.jpg": {"style": "Baroque"}}, skip=set()), [baroque]),
                                    (lambda: other.commit_batch([work(4, style="Baroque")], [], []), every),  # new works: any filter
                                    (lambda: other.write_predictions("medium", "v1", [(a, "oil", 0.9, [])]), [oil]),
                                    (lambda: other.write_detections("face", "m", [(a, np.zeros((0, 4), np.float32), np.zeros(0))]), [faces])):
                for where in every:
                    server.filter_ids(where)  # held
                before = len(listed)
                change()
                assert [server.listed(where) is None for where in every] == [where in changed for where in every]
                for where in changed:
                    assert ids(server, *where) == ids(other, *where)
                assert len(listed) == before + 2 * len(changed)  # each handle listed each changed filter once
        finally:
            other.close()
        assert ids(server, *baroque) == [a, b, c, c + 1]


def test_filter_columns_decide_filters_exactly_as_the_database_does(collection_dir: Path) -> None:
    """Every filterable column coded per work (`Catalog.filter_columns`) decides each filter it can as the database's
    query does: alternatives, several columns, `!=`, counts, duplicates left out; a value longer than the indexed
    prefix, or a column of too many values, is left to the database."""
    with Collection.create(collection_dir) as col:
        cat = col.catalog
        cat.commit_batch([work(1, style="Baroque", title=LONG + "1", era="old"), work(2, style="Rococo", title=LONG + "2"),
                          work(3, style="Baroque", era="new"), work(4, era="old"), work(5, style="Gothic", era="x" * META_VALUE_CHARS)], [], [])
        a, b, c, d, e = cat.indexed_ids().tolist()
        cat.commit_batch([replace(work(1, style="Baroque"), path="/art/copy.jpg")], [], [])  # an exact copy: never passes
        cat.write_predictions("medium", "v1", [(a, "oil", 0.9, []), (b, "ink", 0.8, []), (c, "oil", 0.7, [])])
        box = np.array([[0, 0, 5, 5]], np.float32)
        cat.write_detections("face", "m", [(a, box, np.array([0.9])), (b, np.zeros((0, 4), np.float32), np.zeros(0)),
                                           (c, np.repeat(box, 3, axis=0), np.ones(3))])
        coded = cat.filter_columns()
        assert coded is not None and coded.ids.tolist() == [a, b, c, d, e]
        assert sorted(coded.columns) == ["era", "faces", "pred.medium", "style", "title"]
        decided = [[("style", "=", "Baroque")], [("style", "=", "Baroque"), ("style", "=", "Rococo")], [("style", "!=", "Baroque")],
                   [("style", "=", "Cubism")], [("style", "!=", "Cubism")], [("era", "=", "old"), ("style", "=", "Baroque")],
                   [("era", "=", "x" * META_VALUE_CHARS)], [("title", "=", LONG[:META_VALUE_CHARS])],
                   [("pred.medium", "=", "oil")], [("pred.medium", "!=", "oil"), ("era", "!=", "new")],
                   [("faces", ">=", "1")], [("faces", "=", "0")], [("faces", "<", "3")], [("faces", "!=", "1")],
                   [("faces", ">=", "1"), ("faces", "<=", "1"), ("pred.medium", "=", "oil")]]
        for where in decided:
            assert coded.answers(where), where
            assert coded.listing(where).tolist() == ids(cat, *where), where
            for among in ([a, b], [e, c, 10**6], []):
                assert coded.among(where, np.array(among, dtype=np.int64)).tolist() == cat.filter_ids(where, among=among).tolist()
        for where in ([("title", "=", LONG + "2")], [("title", "!=", LONG + "2")], [("people", ">=", "1")], [("era", ">=", "old")],
                      [("faces", ">=", "many")], [("faces", ">=", "\u00b2")], [("faces", ">=", "40000")]):
            assert not coded.answers(where), where  # the database answers (or refuses) these
        with pytest.MonkeyPatch.context() as m:
            m.setattr(database, "MAX_VALUES", 2)  # style and era have three values (title one: its works share a prefix)
            assert sorted(cat.filter_columns().columns) == ["faces", "pred.medium", "title"]  # type: ignore[union-attr]


def test_filter_columns_spare_every_process_serving_the_collection_the_database(
        collection_dir: Path, demo_art: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a build, and after writes that change filters without one (merged metadata, labels, detections), the
    collection codes every filterable column into a file; a process serving the collection decides filters from it
    without a query of the database, each column while its kind is unchanged in the catalog."""
    paths = sorted(demo_art.iterdir())

    def labels(*styles: str) -> Path:
        return write_csv(tmp_path / "labels.csv", [{"image": str(p), "style": s} for p, s in zip(paths, styles)])

    with Collection.create(collection_dir) as col:
        col.add([demo_art], metadata=labels("Baroque", "Baroque", "Baroque", "Rococo", "Rococo", "Ukiyo-e"))
        coded = columns_file.read(col.directory / FILTER_COLUMNS_FILE)
        assert coded is not None and coded.listing([("style", "=", "Baroque")]).size == 3

    listed: list[tuple] = []
    real = catalog.filter_ids
    monkeypatch.setattr(catalog, "filter_ids", lambda conn, where, *args: listed.append(where) or real(conn, where, *args))
    with Collection.open(collection_dir) as server, Collection.open(collection_dir) as other:  # two processes
        def found(query: Path, where: str) -> int:
            listed.clear()
            return len(server.search(images=[query], where=[where], k=6))

        assert found(paths[5], "style=Baroque") == 3 and found(paths[5], "style!=Baroque") == 2 and listed == []
        other.catalog.write_predictions("medium", "v1", [(r.id, "oil", 0.9, []) for r in other.catalog.all_artworks()])
        assert found(paths[5], "style=Baroque") == 3 and listed == []  # labels written: styles stay as coded

        other.add([demo_art], metadata=labels("Baroque", "Baroque", "Baroque", "Rococo", "Baroque", "Ukiyo-e"))
        assert found(paths[3], "style=Baroque") == 4 and listed == []  # metadata merged, coded again by the writer

        other.catalog.merge_metadata({str(paths[3]): {"style": "Baroque"}}, skip=set())  # a write that codes nothing
        assert found(paths[5], "style=Baroque") == 5 and [list(w) for w in listed] == [[("style", "=", "Baroque")]]  # listed once


def test_filter_columns_go_to_disk_whole_and_a_damaged_file_only_costs_queries() -> None:
    import tempfile

    from artlens.store.filter_columns import Column, FilterColumns

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / FILTER_COLUMNS_FILE
        assert columns_file.read(path) is None  # none yet
        columns_file.write(path, FilterColumns(np.array([2, 5, 9]), {
            "style": Column("t1", np.array([0, -1, 1], np.int16), ("Baroque", "Rococo")), "faces": Column("t2", np.array([3, 0, -1], np.int16))}))
        first = columns_file.read(path)
        assert first is not None and first.ids.tolist() == [2, 5, 9]
        assert {name: (c.token, c.codes.tolist(), c.values) for name, c in first.columns.items()} == {
            "style": ("t1", [0, -1, 1], ("Baroque", "Rococo")), "faces": ("t2", [3, 0, -1], ())}
        assert first.listing([("style", "=", "Rococo"), ("faces", "<", "1")]).tolist() == []
        columns_file.write(path, FilterColumns(np.array([7]), {}))  # replaced whole
        assert columns_file.read(path).columns == {}  # type: ignore[union-attr]
        assert first.listing([("style", "!=", "Rococo")]).tolist() == [2, 5]  # a reader of the old file keeps it
        path.write_bytes(path.read_bytes()[:-4])  # truncated
        assert columns_file.read(path) is None
        path.write_bytes(b"not a file of columns")
        assert columns_file.read(path) is None


def test_a_catalog_from_before_the_filter_indexes_gets_them_when_opened(tmp_path: Path) -> None:
    from alembic import command

    with Collection.create(tmp_path / "col") as col:
        col.catalog.commit_batch([work(1, style="Baroque"), work(2, style="Rococo"), work(3)], [], [])
        engine = col.catalog.engine
        with engine.begin() as conn:  # back to revision 0002, as an earlier ArtLens left it
            command.downgrade(migrate.alembic_config(conn), "0002")
            assert not sa.inspect(conn).has_table("meta_values")
    with Collection.open(tmp_path / "col") as col, col.catalog.engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.HEAD
        assert col.catalog.unknown_columns(["style"]) == ([], ["faces", "people", "style"])
        assert ids(col.catalog, ("style", "=", "Rococo")) == [2]
        assert conn.execute(sa.select(sa.func.count()).select_from(catalog.meta_values)).scalar() == 2


def test_held_listings_stay_within_their_budget_and_go_when_their_token_changes() -> None:
    from artlens.store.listings import Listings

    held = Listings(budget=10)
    held.put("t1", "a", np.arange(4))
    held.put("t1", "b", np.arange(4))
    assert held.get("a", lambda: "t1").tolist() == [0, 1, 2, 3]  # "a" now the most recently used
    held.put("t1", "c", np.arange(4))  # 12 ids held: the least recently used ("b") goes
    assert held.get("b", lambda: "t1") is None and len(held) == 2
    held.put("t1", "huge", np.arange(11))  # more than the whole budget: not kept
    assert held.get("huge", lambda: "t1") is None
    assert held.get("a", lambda: "t2") is None and len(held) == 1  # "a"'s filters changed since it was listed: dropped
    held.put(None, "e", np.arange(2))  # a catalog without a token: nothing kept
    assert held.get("e", lambda: None) is None
    with pytest.raises(ValueError):
        held.get("c", lambda: "t1")[0] = 5  # callers share the array: read-only
