"""Collections whose catalog lives in PostgreSQL: naming one, moving a collection between backends, schema
migrations, and what a user is told when the server is not there.

The catalog tests themselves (ingest, labels, predictions, annotate, concurrency) run on both backends
through the `backend` fixture of conftest.py; these are the parts only a server database has. The server is
a real PostgreSQL with pgvector, started by scripts/postgres_server.py on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from artlens import Collection, CollectionBusyError, CollectionError, InputError
from artlens.cli import app
from artlens.store import catalog, migrate
from artlens.web import create_app

from conftest import DEMO_IMAGES, database_url, write_csv


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$ARTLENS_HOME: where collections named by a URL keep their local folder."""
    monkeypatch.setenv("ARTLENS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_a_collection_named_by_its_url(postgres_url: str, demo_art: Path, home: Path) -> None:
    url = database_url(postgres_url)
    with Collection.create(url) as col:
        assert col.add([demo_art]).added == 6
        assert col.catalog.backend == "postgresql"
        assert col.directory.parent == home / "collections" and not (col.directory / "artlens.db").exists()
        assert col.info().catalog == url
    # The same collection by its URL or by its local folder; from the command line too.
    with Collection.open(url) as again:
        assert again.count() == 6
    result = CliRunner().invoke(app, ["search", url, "--image", str(DEMO_IMAGES[0]), "-k", "3", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["results"]) == 3
    info = CliRunner().invoke(app, ["info", url])
    assert f"catalog:    {url}" in info.output


def test_a_collection_folder_whose_catalog_is_in_postgresql(postgres_url: str, demo_art: Path, tmp_path: Path) -> None:
    url = database_url(postgres_url)
    directory = tmp_path / "prints"
    result = CliRunner().invoke(app, ["add", str(directory), str(demo_art), "--database", url])
    assert result.exit_code == 0, result.output
    recorded = directory / "database.url"
    assert recorded.read_text().strip() == url and stat.S_IMODE(recorded.stat().st_mode) == 0o600  # it may hold a password
    assert not (directory / "artlens.db").exists()
    with Collection.open(directory) as col:
        assert col.count() == 6 and col.info().catalog == url
    with pytest.raises(CollectionError, match="is the collection at"):
        Collection.create(directory, database=database_url(postgres_url))  # a folder names one catalog


def test_urls_that_name_no_collection_and_a_server_that_is_not_there(postgres_url: str, home: Path) -> None:
    with pytest.raises(InputError, match=r"\?collection=NAME"):
        Collection.create(postgres_url)
    with pytest.raises(InputError, match="lower-case letters"):
        Collection.create(postgres_url + "?collection=My-Prints")
    with pytest.raises(CollectionError, match="holds no ArtLens collection"):
        Collection.open(database_url(postgres_url))
    with socket.socket() as s:  # a port on 127.0.0.1 where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(CollectionError, match="Is the server running"):
        Collection.create(f"postgresql://artlens@127.0.0.1:{port}/artlens?collection=prints")
    result = CliRunner().invoke(app, ["info", f"postgresql://artlens@127.0.0.1:{port}/artlens?collection=prints"])
    assert result.exit_code != 0 and "Traceback" not in result.output and "Is the server running" in result.output


def test_a_failed_first_add_leaves_no_collection_behind(postgres_url: str, home: Path, tmp_path: Path) -> None:
    url = database_url(postgres_url)
    result = CliRunner().invoke(app, ["add", url, str(tmp_path / "no-such-folder")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert not Collection.exists(url)


def test_migrate_to_postgresql_and_back_keeps_everything(demo_collection: Path, postgres_url: str, tmp_path: Path) -> None:
    with Collection.open(demo_collection) as source:
        first = source.export()[0]["id"]
        answers = {r.path: r.score for r in source.search(images=[DEMO_IMAGES[0]], k=5)}
    source_copy = tmp_path / "source"
    import shutil

    shutil.copytree(demo_collection, source_copy)
    with Collection.open(source_copy) as source:
        source.set_label(first, "mood", "calm")
        url = database_url(postgres_url)
        report = source.migrate(tmp_path / "on-postgres", database=url)
        assert report.artworks == 6 and report.dest == url
        expected = source.export()
    with Collection.open(tmp_path / "on-postgres") as moved:
        assert moved.catalog.backend == "postgresql"
        assert moved.export() == expected  # ids, metadata, labels, predictions
        assert {r.path: r.score for r in moved.search(images=[DEMO_IMAGES[0]], k=5)} == pytest.approx(answers)
        assert moved.check().ok
        with pytest.raises(CollectionError, match="already holds artworks"):
            Collection.open(source_copy).migrate(tmp_path / "on-postgres")
        moved.add([DEMO_IMAGES[10]])  # ids go on after the copied ones
        assert moved.count() == 7
    result = CliRunner().invoke(app, ["migrate", str(tmp_path / "on-postgres"), str(tmp_path / "back"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows"]["artworks"] == 7
    with Collection.open(tmp_path / "back") as back:
        assert back.catalog.backend == "sqlite" and back.count() == 7
        assert back.export()[: len(expected)] == expected


def test_the_web_app_serves_a_collection_named_by_its_url(postgres_url: str, demo_art: Path, home: Path) -> None:
    url = database_url(postgres_url)
    Collection.create(url).add([demo_art])
    client = TestClient(create_app(url))
    assert client.get("/api/info").json()["artworks"] == 6
    found = client.post("/api/search", data={"id": ["1"], "k": "3"})
    assert found.status_code == 200 and len(found.json()["results"]) == 3


# A writer holding a PostgreSQL collection's locks (the folder's file lock and the server's advisory lock)
# until its stdin closes or it is killed.
HOLD = """
import sys
from pathlib import Path
from artlens.store.database import Catalog
from artlens.store.engines import folder_address
from artlens.store.lock import WriterLock
catalog = Catalog.open(folder_address(Path(sys.argv[1])))
with WriterLock(Path(sys.argv[1]), catalog.shared_lock()).hold(sys.argv[2]):
    print("holding", flush=True)
    sys.stdin.read()
"""


def test_writers_on_two_machines_take_the_servers_lock(postgres_url: str, demo_art: Path, tmp_path: Path) -> None:
    """Two folders of one collection share no file lock (as on two machines): the server's lock keeps
    them from writing at once, and the server drops a killed writer's lock."""
    url = database_url(postgres_url)
    Collection.create(tmp_path / "machine-a", database=url).add([demo_art])
    Collection.create(tmp_path / "machine-b", database=url).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "machine-a"), "add"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        with Collection.open(tmp_path / "machine-b") as col:
            with pytest.raises(CollectionBusyError, match=rf"busy: another add is running \(pid {holder.pid}\)"):
                col.add([DEMO_IMAGES[10]])
            assert len(col.search(images=[DEMO_IMAGES[0]], k=2)) == 2  # readers never wait
            holder.kill()
            holder.wait(30)
            assert col.add([DEMO_IMAGES[10]], wait=10).added == 1
            for artwork in col.export():
                col.set_label(artwork["id"], "calm", "yes" if artwork["id"] % 2 else "no")
            col.train_label("calm", kind="binary")
        # Machine A follows what B did: B's work is found, B's label model applies.
        with Collection.open(tmp_path / "machine-a") as col:
            assert len(col.search(images=[DEMO_IMAGES[10]], k=7, include_self=True)) == 7
            assert "calm" in col.label_models()
    finally:
        holder.kill()
        holder.communicate(timeout=30)


def test_a_machine_codes_again_the_filter_columns_another_machines_metadata_outdated(postgres_url: str, demo_art: Path, tmp_path: Path,
                                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Metadata or labels written on one machine without a build (no works added) outdate the other machines'
    filter columns of that kind: each codes them again at its next search, so a filter's first use there asks the
    database nothing either."""
    from artlens import collection

    monkeypatch.setattr(collection, "FOLLOW_SECONDS", 0.0)
    url, paths = database_url(postgres_url), sorted(demo_art.iterdir())

    def labels(*styles: str) -> Path:
        return write_csv(tmp_path / "labels.csv", [{"image": str(p), "style": s} for p, s in zip(paths, styles)])

    with Collection.create(tmp_path / "machine-a", database=url) as a:
        a.add([demo_art], metadata=labels("Baroque", "Baroque", "Baroque", "Rococo", "Rococo", "Ukiyo-e"))
    with Collection.create(tmp_path / "machine-b", database=url) as b, Collection.open(tmp_path / "machine-a") as a:
        listed: list[object] = []
        real = catalog.filter_ids
        monkeypatch.setattr(catalog, "filter_ids", lambda conn, where, *args: listed.append(where) or real(conn, where, *args))

        def baroque() -> int:
            listed.clear()
            return len(b.search(images=[paths[5]], where=["style=Baroque"], k=6))

        assert baroque() == 3 and listed == []  # B's own build coded its columns
        a.add([demo_art], metadata=labels("Baroque", "Baroque", "Baroque", "Rococo", "Baroque", "Ukiyo-e"))  # metadata alone
        assert baroque() == 4 and listed == []  # coded again on B, not listed at the search


# -- schema migrations (Alembic), on both backends ----------------------------------------------


def test_the_migrations_make_exactly_the_tables_the_code_uses(backend: str, collection_dir: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(migrate.alembic_config()).get_current_head() == migrate.HEAD
    with Collection.create(collection_dir) as col, col.catalog.engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.HEAD
        assert compare_metadata(MigrationContext.configure(conn), catalog.metadata_obj) == []


def test_a_catalog_from_before_migrations_is_adopted_and_a_newer_one_refused(tmp_path: Path) -> None:
    directory = tmp_path / "old"
    directory.mkdir()
    # What ArtLens made before it used Alembic: the first revision's tables (then made by create_all), no
    # alembic_version, and its settings.
    from alembic import command

    engine = sa.create_engine(f"sqlite:///{directory / 'artlens.db'}")
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), migrate.FIRST)
        conn.exec_driver_sql("DROP TABLE alembic_version")
    with engine.begin() as conn:
        for key, value in {"schema_version": 1, "backbone": "lite0-art", "style_variant": "adain",
                           "backbone_version": "art-v1/taps-v1"}.items():
            catalog.set_setting(conn, key, value)
    engine.dispose()
    with Collection.open(directory) as col, col.catalog.engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.HEAD and col.count() == 0  # stamped, then upgraded
        assert sa.inspect(conn).has_table("shared_files")
    # Older still: made before regions and maps existed, and stamped by an ArtLens that assumed every table
    # of the first revision was there (a collection from session 5 on this machine was): opening mends it.
    with sqlite3.connect(directory / "artlens.db") as conn:
        for table in ("region_features", "regions", "detections", "layout_points", "layouts"):
            conn.execute(f"DROP TABLE {table}")
    with Collection.open(directory) as col:
        assert col.info().artworks == 0 and col.info().regions == {}
        with col.catalog.engine.connect() as conn:
            assert migrate.missing_first_tables(conn) == []
    with sqlite3.connect(directory / "artlens.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff'")
    with pytest.raises(CollectionError, match="newer than this ArtLens reads: upgrade ArtLens"):
        Collection.open(directory)
