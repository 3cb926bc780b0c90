"""Several processes on one collection: one writer at a time (a second one is told who is busy, or
waits), readers never wait, the vectors folder is always one complete build, and a long-lived
process (the web server) sees what another process added.

Real processes, a few of each, on works of the bundled demo: no research data needed.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from artlens import Collection, CollectionBusyError
from artlens.store import vectors
from artlens.web import create_app

from conftest import DEMO_IMAGES, copy_collection, new_collection_dir

TIMEOUT = 120  # seconds any one process may take; each takes 2-4 s here

# A writer that holds the collection's lock until its stdin closes (or it is killed).
HOLD = """
import sys
from pathlib import Path
from artlens.store.lock import WriterLock
with WriterLock(Path(sys.argv[1])).hold(sys.argv[2]):
    print("holding", flush=True)
    sys.stdin.read()
"""

# Index builds straight through the store, without the writer lock: what two racing builders do.
BUILD = """
import sys
from pathlib import Path
from artlens import Collection
from artlens.features.embed import raw_dims
from artlens.store import vectors
with Collection.open(sys.argv[1]) as col:
    space = col.style_space()
    for _ in range(int(sys.argv[2])):
        vectors.build(col.catalog, col.directory / "vectors", raw_dims(col.backbone, col.style_variant), {"style_learned": space})
"""

# A build that dies (SIGKILL) after writing most of its files.
CRASHING_BUILD = """
import os, signal, sys
from artlens import Collection
from artlens.store import vectors
vectors.find_near_duplicates = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
Collection.open(sys.argv[1]).build()
"""


def copy_images(dest: Path, start: int, n: int) -> Path:
    dest.mkdir(parents=True)
    for path in DEMO_IMAGES[start:start + n]:
        shutil.copy(path, dest / path.name)
    return dest


def artlens(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "artlens.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def python(script: str, *args: str | Path | int, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], text=True, **popen)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out or "", err or ""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A collection of six demo works, built once; tests get a copy each."""
    directory = tmp_path_factory.mktemp("collections") / "demo"
    with Collection.create(directory) as col:
        col.add([copy_images(tmp_path_factory.mktemp("art") / "first", 0, 6)])
    return directory


@pytest.fixture
def collection(built: Path, tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Path:
    """A private copy of `built`, on each catalog backend."""
    return copy_collection(built, tmp_path / "col", backend, request)


@pytest.fixture
def writer(collection: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the collection's writer lock as an "add"."""
    proc = python(HOLD, collection, "add", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == "holding\n"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(TIMEOUT)
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def test_two_adds_at_once_never_break_the_collection(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    """As reported: two `artlens add` on one new collection at once gave IntegrityError or
    "table already exists" tracebacks. Now the second one either finds nothing left to do or says
    the collection is busy, and with --wait both finish."""
    art = copy_images(tmp_path / "art", 0, 8)
    for trial, options in enumerate([(), ("--wait",)]):
        directory = new_collection_dir(tmp_path / f"col{trial}", backend, request)
        results = [finish(p) for p in [artlens("add", directory, art, *options) for _ in range(2)]]
        for code, _, err in results:
            assert "Traceback" not in err and "Internal error" not in err
            # Busy while the other one creates the collection or adds to it.
            assert code == 0 or (code == 75 and re.search(r"busy: another (create|add) is running \(pid \d+\)", err) and not options), err
        assert Collection.exists(directory), "the collection was removed while another add was writing to it"
        with Collection.open(directory) as col:
            assert col.count() == 8 and not col.is_stale() and len(col.vectors) == 8
            assert col.check().ok


def test_a_second_writer_is_told_who_is_busy_and_readers_do_not_wait(collection: Path, tmp_path: Path,
                                                                      writer: subprocess.Popen[str]) -> None:
    more = copy_images(tmp_path / "more", 6, 2)
    code, _, err = finish(artlens("add", collection, more))
    assert code == 75
    assert f"busy: another add is running (pid {writer.pid})" in err
    # Readers go on: info and search answer while the writer holds the lock.
    code, out, err = finish(artlens("info", collection, "--json"))
    assert code == 0 and json.loads(out)["artworks"] == 6, err
    code, out, err = finish(artlens("search", collection, "--image", DEMO_IMAGES[0], "-k", "2", "--json"))
    assert code == 0 and len(json.loads(out)["results"]) == 2, err
    # The kernel drops the lock of a killed writer: nothing stale to clean by hand.
    writer.send_signal(signal.SIGKILL)
    writer.wait(TIMEOUT)
    code, out, err = finish(artlens("add", collection, more))
    assert code == 0 and out.startswith("Added 2 artworks"), err


@pytest.mark.parametrize("write", ["add", "build", "annotate", "train_label", "learn_style"])
def test_every_writer_takes_the_lock(collection: Path, writer: subprocess.Popen[str], write: str) -> None:
    actions = {
        "add": lambda col: col.add([DEMO_IMAGES[10]], wait=0.2),
        "build": lambda col: col.build(),
        "annotate": lambda col: col.annotate(models=["depiction"]),
        "train_label": lambda col: col.train_label("depiction"),
        "learn_style": lambda col: col.learn_style("artist"),
    }
    with Collection.open(collection) as col, pytest.raises(CollectionBusyError) as busy:
        actions[write](col)
    assert busy.value.detail == {"pid": writer.pid, "command": "add"}
    assert (busy.value.exit_code, busy.value.http_status) == (75, 423)


def test_add_waits_for_the_writer_with_wait(collection: Path, tmp_path: Path, writer: subprocess.Popen[str]) -> None:
    waiting = artlens("add", collection, copy_images(tmp_path / "more", 6, 2), "--wait")
    time.sleep(3)
    assert waiting.poll() is None  # still waiting for the lock
    assert writer.stdin is not None
    writer.stdin.close()  # the writer finishes
    code, out, err = finish(waiting)
    assert code == 0 and out.startswith("Added 2 artworks"), err


def test_the_api_answers_423_while_another_process_writes(collection: Path, writer: subprocess.Popen[str]) -> None:
    client = TestClient(create_app(collection, token="secret"))
    with open(DEMO_IMAGES[20], "rb") as f:
        response = client.post("/api/artworks", files={"image": (DEMO_IMAGES[20].name, f, "image/jpeg")},
                               headers={"Authorization": "Bearer secret"})
    assert response.status_code == 423
    assert f"busy: another add is running (pid {writer.pid})" in response.json()["error"]


def test_racing_builds_always_leave_one_complete_build(collection: Path) -> None:
    """As reported: two processes building the index at once left vectors/ with only state.json and
    near_duplicates.json. Builds now go to a folder of their own and are swapped in whole, so even
    builders that skip the lock leave a complete set, and a reader never sees half of one."""
    builders = [python(BUILD, collection, 3, stderr=subprocess.PIPE) for _ in range(2)]
    loads = 0
    while any(p.poll() is None for p in builders):
        v = vectors.load(collection / "vectors")
        assert len(v) == 6 and v.index("joint").search(v.matrices["joint"][:1], 3)[1].shape == (1, 3)
        loads += 1
    assert [finish(p)[0] for p in builders] == [0, 0]
    assert loads > 0
    assert vectors.problems(collection / "vectors") == []
    assert sorted(p.name for p in collection.iterdir() if p.name.startswith("vectors")) == ["vectors"]
    with Collection.open(collection) as col:
        assert len(col.search(images=[DEMO_IMAGES[0]], k=3)) == 3 and col.check().ok


def test_a_build_killed_midway_leaves_the_old_vectors_usable(collection: Path) -> None:
    code, _, _ = finish(python(CRASHING_BUILD, collection))
    assert code == -signal.SIGKILL
    assert [p.name for p in collection.glob("vectors.build-*")] != []  # the dead build's folder
    with Collection.open(collection) as col:
        assert len(col.search(images=[DEMO_IMAGES[0]], k=3)) == 3  # the previous build, untouched
        assert not col.is_stale()
        assert "is left over from a build that did not finish" in col.check().problems[0]
        col.build()  # the lock died with the process; the next build clears what it left
        assert col.check().ok
    assert [p.name for p in collection.iterdir() if p.name.startswith("vectors")] == ["vectors"]


def test_a_long_lived_collection_sees_what_another_process_added(collection: Path, tmp_path: Path) -> None:
    """As reported: a running server kept serving old vectors, and /api/info said stale: false."""
    server = Collection.open(collection)  # as the web app holds it, for its lifetime
    new = copy_images(tmp_path / "new", 30, 3)
    query = next(new.iterdir())
    assert str(query) not in {r.path for r in server.search(images=[query], k=6)}

    other = Collection.open(collection)

    def stop_after_the_first_batch(done: int, total: int) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # committed a batch, did not rebuild the index
        other.add([new], batch_size=1, progress=stop_after_the_first_batch)
    assert server.info().stale  # what the server searches is older than the catalog
    assert len(server.search(images=[query], k=10)) == 6

    other.add([new])
    assert not server.info().stale and server.info().artworks == 9
    assert server.search(images=[query], k=1, include_self=True)[0].path == str(query)
    other.close()
    server.close()
