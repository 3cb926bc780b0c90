"""The collection's writer lock: one writer at a time, any number of readers.

Writers (add, every index build, `learn style`, `labels train`, `annotate`, `check --repair`) hold an
exclusive `flock` on `<collection>/writer.lock` while they write. The kernel drops it when the
process ends, however it ends, so a killed add never leaves the collection locked; no stale-lock
guessing is needed. The file holds the writer's pid and command so that a second writer can say
who it is waiting for. Readers never take the lock: SQLite's WAL and the atomic swap of the vectors
folder let them read during a write.

    lock = WriterLock(directory)
    with lock.hold("add", wait=None):   # CollectionBusyError at once if another writer holds it
        ...

A collection whose catalog is in PostgreSQL may have writers on several machines, which share no file
lock: there a writer also takes the catalog's advisory lock on the server (`shared`, engines.AdvisoryLock),
which the server drops when the writer's connection ends, again however the writer ends.

A lock is re-entrant within one thread (an add builds the index while it holds the lock) and
exclusive between threads and processes: every holder opens the file anew, and flock treats two
open files as two holders even inside one process.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from artlens.errors import CollectionBusyError, CollectionError

LOCK_FILE = "writer.lock"
POLL_SECONDS = 0.05  # how often a waiting writer tries again


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the lock, as the lock file says."""

    pid: int | None
    command: str
    host: str = ""  # the machine, when it is another one (a PostgreSQL catalog's writers)


class SharedLock(Protocol):
    """A second lock that writers on other machines also take: a PostgreSQL catalog's advisory lock
    (engines.AdvisoryLock). Like the file lock, the server drops it when the holder's connection ends."""

    def acquire(self, command: str) -> Holder | None:
        """Take it for `command`; None when taken, else who holds it (nothing is taken then)."""

    def release(self) -> None: ...


class WriterLock:
    """The writer lock of the collection directory `directory`, and, for a catalog on a database server,
    `shared`: the lock writers on other machines take too (taken after the file lock, released before it)."""

    def __init__(self, directory: Path, shared: SharedLock | None = None) -> None:
        self.path = Path(directory) / LOCK_FILE
        self.shared = shared
        self._owner: int | None = None  # thread ident of the holder in this process
        self._depth = 0

    @contextmanager
    def hold(self, command: str, wait: float | None = None) -> Iterator[None]:
        """Hold the lock for `command` (a word for the message: "add", "build", ...).

        wait: None or 0 to fail at once with CollectionBusyError when another writer holds it;
        seconds to wait for it first (float("inf"): as long as it takes).
        """
        me = threading.get_ident()
        if self._owner == me:  # only this thread can have set it to its own ident
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        deadline = time.monotonic() + (wait or 0.0)
        while True:
            fd = _acquire(self.path, command, max(0.0, deadline - time.monotonic()))
            other = self.shared.acquire(command) if self.shared is not None else None
            if other is None:
                break
            _release(fd)  # another machine writes: let go here too, and wait or give up
            if time.monotonic() >= deadline:
                raise _busy(self.path, other)
            time.sleep(POLL_SECONDS)
        self._owner, self._depth = me, 1
        try:
            yield
        finally:
            self._owner, self._depth = None, 0
            try:
                if self.shared is not None:
                    self.shared.release()
            finally:
                _release(fd)


def _acquire(path: Path, command: str, wait: float | None) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise CollectionError(f"cannot open the writer lock {path}: {exc.strerror or exc}") from None
    deadline = time.monotonic() + (wait or 0.0)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy(path, _read_holder(fd)) from None
                time.sleep(POLL_SECONDS)
        # Ours now: say who we are, for the message another writer shows.
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command}).encode(), 0)
    except BaseException:
        os.close(fd)  # closing drops the flock too, if it was taken
        raise
    return fd


def _release(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)  # nobody holds it: an old pid in the file would mislead
    finally:
        os.close(fd)  # drops the flock


def _read_holder(fd: int) -> Holder:
    # The holder writes its pid just after taking the lock: an empty file means "a moment later".
    for _ in range(20):
        try:
            data = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
            return Holder(int(data["pid"]), str(data.get("command") or "write"))
        except (ValueError, KeyError, TypeError, OSError):
            time.sleep(0.01)
    return Holder(None, "write")


def _busy(path: Path, who: Holder) -> CollectionBusyError:
    pid = f"pid {who.pid}" if who.pid is not None else "pid unknown"
    if who.host:
        pid += f" on {who.host}"
    return CollectionBusyError(
        f"{path.parent} is busy: another {who.command} is running ({pid}); try again when it has finished, "
        f"or wait for it (`artlens add --wait`, or wait= in Python)",
        {"pid": who.pid, "command": who.command},
    )
