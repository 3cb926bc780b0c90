"""Ingest and test-time annotation spread over a Ray cluster: the same catalog as a local run, and nothing lost
or done twice when a worker or the driver is killed.

The cluster is real: `ray start --head` on 127.0.0.1 with two worker CPUs, started by the test session and
stopped at its end. Works of the bundled demo: no research data needed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from artlens import Collection

from conftest import DEMO_IMAGES, count_artworks

pytest.importorskip("ray", reason="needs the ray extra (scripts/setup test,ray)")
RAY = Path(sys.executable).parent / "ray"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The address of a local Ray cluster: a head node on 127.0.0.1 with two CPUs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = tmp_path_factory.mktemp("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    started = subprocess.run([str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                              "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
                             capture_output=True, text=True, env=env, timeout=180)
    assert started.returncode == 0, started.stderr
    yield f"127.0.0.1:{port}"
    import ray

    ray.shutdown()  # this process joined it (the in-process adds): leave before it stops
    subprocess.run([str(RAY), "stop", "--force"], capture_output=True, env=env, timeout=120)


def copy_images(dest: Path, n: int, start: int = 0) -> Path:
    dest.mkdir(parents=True)
    for path in DEMO_IMAGES[start:start + n]:
        shutil.copy(path, dest / path.name)
    return dest


def _features(directory: Path) -> dict[str, np.ndarray]:
    """path -> stored raw content feature of every artwork of the collection at `directory`."""
    from artlens.features.embed import raw_dims

    with Collection.open(directory) as col:
        paths = {row["id"]: row["path"] for row in col.export()}
        ids, mat = col.catalog.features("content", raw_dims(col.backbone, col.style_variant)["content"])
    return {paths[int(i)]: mat[n] for n, i in enumerate(ids)}


def test_add_on_a_ray_cluster_stores_what_a_local_add_stores(cluster: str, tmp_path: Path) -> None:
    art = copy_images(tmp_path / "art", 24)
    with Collection.create(tmp_path / "local") as col:
        col.add([art])
    done = subprocess.run([sys.executable, "-m", "artlens.cli", "add", str(tmp_path / "on-ray"), str(art), "--ray", cluster, "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 24
    local, on_ray = _features(tmp_path / "local"), _features(tmp_path / "on-ray")
    assert local.keys() == on_ray.keys()
    for path, vector in local.items():
        np.testing.assert_allclose(on_ray[path], vector, atol=2e-3)  # float16 rows, one model, same inputs
    with Collection.open(tmp_path / "on-ray") as col:
        assert col.check().ok and col.count() == 24


def test_a_killed_worker_is_replaced_and_nothing_is_lost_or_added_twice(cluster: str, tmp_path: Path) -> None:
    art = copy_images(tmp_path / "art", 40)
    killed: list[int] = []

    def kill_a_worker_after_the_first_batch(done: int, total: int) -> None:
        if done and not killed:
            found = subprocess.run(["pgrep", "-f", "ray::_Worker"], capture_output=True, text=True).stdout.split()
            assert found, "no Ray worker process to kill"
            os.kill(int(found[0]), signal.SIGKILL)
            killed.append(int(found[0]))

    with Collection.create(tmp_path / "col") as col:
        report = col.add([art], batch_size=4, ray=cluster, progress=kill_a_worker_after_the_first_batch)
        assert killed and report.added == 40 and report.failed == []
        assert col.count() == 40 and count_artworks(tmp_path / "col") == 40 and col.check().ok


# An add on Ray in small batches, so that a kill can land between commits: prints its report as JSON.
ADD = """
import json, sys
from artlens import Collection
with Collection.create(sys.argv[1]) as col:
    print(json.dumps(col.add([sys.argv[2]], batch_size=4, ray=sys.argv[3]).as_dict()))
"""


def test_a_killed_driver_continues_where_it_stopped(cluster: str, tmp_path: Path) -> None:
    art = copy_images(tmp_path / "art", 64)
    cmd = [sys.executable, "-c", ADD, str(tmp_path / "col"), str(art), cluster]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and count_artworks(tmp_path / "col") < 16:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = count_artworks(tmp_path / "col")
    assert 16 <= partial < 64, "the kill should land mid-run"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["unchanged"] == partial and report["added"] == 64 - partial
    assert count_artworks(tmp_path / "col") == 64


def test_annotate_with_test_time_views_on_ray_decides_as_locally(cluster: str, tmp_path: Path) -> None:
    with Collection.create(tmp_path / "col") as col:
        col.add([copy_images(tmp_path / "art", 12)])
        col.annotate(models=["depiction"], tta=True)
        local = {row["id"]: (row["pred.depiction"], round(float(row["conf.depiction"]), 3)) for row in col.export()}
        col.annotate(models=["depiction"], tta=True, ray=cluster)
        on_ray = {row["id"]: (row["pred.depiction"], round(float(row["conf.depiction"]), 3)) for row in col.export()}
    assert on_ray == local


def test_an_address_where_no_cluster_listens_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    """Ray itself would retry such an address for minutes; ArtLens asks once and says what to do."""
    with socket.socket() as s:  # a port on 127.0.0.1 where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    art = copy_images(tmp_path / "art", 2)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "artlens.cli", "add", str(tmp_path / "col"), str(art), "--ray", f"127.0.0.1:{port}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in done.stderr
    assert time.monotonic() - started < 60
    assert not (tmp_path / "col").exists()  # a mistyped address leaves no empty collection behind
