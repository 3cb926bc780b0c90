"""Decoding and embedding on a Ray cluster: `artlens add --ray ADDRESS` and `artlens annotate --tta --ray ADDRESS`.

The work is the same as on one machine (ingest._embed_batch, annotate.views_of); only where it runs changes.
Each Ray worker is an actor holding one single-threaded model session (loaded once), given whole batches
of file paths; the calling process (the driver) receives the embedded batches in order and commits each
in its own transaction, exactly as a local `add` does. So an interrupted run continues where it stopped:
a killed worker is restarted by Ray and its batch run again (nothing is committed twice: only the driver
commits, once per batch), and a killed driver leaves every committed batch, which the next run skips.

Workers read the image files by their paths: on a cluster of several machines the files must be at the
same paths on every machine (a shared file system), and ArtLens installed in the workers' Python.

ADDRESS: "auto" (the cluster RAY_ADDRESS names, or the one running on this machine), "local" (a Ray
instance started for this run only), or HOST:PORT of a cluster's head node.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from artlens.errors import InputError
from artlens.pipeline import ingest
from artlens.pipeline.annotate import Viewer
from artlens.pipeline.ingest import Embedder, Prepared

CONNECT_SECONDS = 5.0  # how long a HOST:PORT may take to answer before --ray gives up on it


class _Worker:
    """One Ray actor: a model session, and the two jobs it runs on batches of paths."""

    def __init__(self, backbone_name: str, style_variant: str) -> None:
        from artlens.features.backbone import Backbone

        self.backbone = Backbone(backbone_name, threads=1)
        self.style_variant = style_variant

    def embed(self, paths: Sequence[str]) -> list[Prepared]:
        return ingest._embed_batch([Path(p) for p in paths], self.backbone, self.style_variant)

    def views(self, paths: Sequence[str]) -> tuple[list[int], dict[str, np.ndarray]]:
        from artlens.pipeline.annotate import views_of

        return views_of(paths, self.backbone, self.style_variant)

    def pid(self) -> int:
        return os.getpid()


def connect(address: str) -> None:
    """Join (or for "local", start) the Ray cluster at `address`, once per process."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'artlens[ray]'") from None
    if ray.is_initialized():
        return
    if not address:
        raise InputError("--ray needs an address: auto, local, or HOST:PORT of the cluster's head")
    if address not in ("auto", "local"):
        _reachable(address)
    try:
        ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    except ConnectionError as exc:
        raise InputError(f"cannot join the Ray cluster at {address}: {exc}") from None


def _reachable(address: str) -> None:
    """InputError unless something listens at HOST:PORT: Ray itself retries an address that answers
    nothing for minutes before it gives up."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--ray {address}: give auto, local, or HOST:PORT of the cluster's head node")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS):
            pass
    except OSError as exc:
        raise InputError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); is `ray start --head` running there?") from None


def workers(address: str, backbone_name: str, style_variant: str, count: int | None = None) -> list[Any]:
    """One actor per CPU of the cluster (or `count`), each with its model loaded. Ray restarts an actor
    whose process dies, and runs its unfinished calls again."""
    import ray

    connect(address)
    n = count or max(1, int(ray.cluster_resources().get("CPU", 1)))
    actor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=-1)(_Worker)
    return [actor.remote(backbone_name, style_variant) for _ in range(n)]


def _in_order(address: str, backbone_name: str, style_variant: str, count: int | None, method: str,
              jobs: Callable[[int], Sequence[Sequence[str]]]) -> Iterator[Any]:
    """Results of the workers' `method` over the jobs `jobs(number of workers)` makes, in job order,
    keeping every worker busy; the workers are started for this run and stopped after it."""
    import ray
    from ray.util import ActorPool

    actors = workers(address, backbone_name, style_variant, count)
    try:
        pool = ActorPool(actors)
        yield from pool.map(lambda actor, job: getattr(actor, method).remote(list(job)), list(jobs(len(actors))))
    finally:
        for a in actors:
            ray.kill(a)


def ray_batches(address: str, backbone_name: str, style_variant: str, count: int | None = None) -> Embedder:
    """An ingest.Embedder that runs on the Ray cluster at `address`."""

    def run(files: Sequence[Path], batch_size: int) -> Iterator[list[Prepared]]:
        if files:
            yield from _in_order(address, backbone_name, style_variant, count, "embed",
                                 lambda n: [[str(p) for p in batch] for batch in ingest._batches(files, batch_size, n)])

    return run


def ray_views(address: str, backbone_name: str, style_variant: str, count: int | None = None) -> Viewer:
    """An annotate.Viewer that embeds test-time views on the Ray cluster at `address`."""

    def run(chunks: Sequence[Sequence[str]]) -> Iterator[tuple[list[int], dict[str, np.ndarray]]]:
        if chunks:
            yield from _in_order(address, backbone_name, style_variant, count, "views", lambda _n: chunks)

    return run
