"""Where a catalog lives, and the SQLAlchemy engine that reaches it: a SQLite file (the default) or a
schema in a PostgreSQL database.

A PostgreSQL catalog is named by a URL, ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE?collection=NAME``:
each collection is a schema (``NAME``) of its own, so one database holds many collections, and every
connection's ``search_path`` is that schema first, then ``public`` (where pgvector's types live). The
tables and queries are the same SQLAlchemy Core code on both (catalog.py); only the few things a backend
does its own way are decided here.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from artlens.errors import CollectionError, InputError

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # a collection name: a PostgreSQL identifier that needs no quoting


@dataclass(frozen=True)
class Address:
    """A catalog's location: `path` for SQLite, or `url` (SQLAlchemy form, password included) + `schema`."""

    path: Path | None = None
    url: str | None = None
    schema: str | None = None

    @property
    def backend(self) -> str:
        return "sqlite" if self.path is not None else "postgresql"

    def __str__(self) -> str:
        """For messages: the file, or the URL without its password."""
        if self.path is not None:
            return str(self.path)
        return shown_url(str(self.url), self.schema)


def is_database_url(text: str) -> bool:
    return urlsplit(str(text)).scheme.lower() in POSTGRES_SCHEMES


def parse_url(text: str) -> Address:
    """The Address of ``postgresql://USER@HOST[:PORT]/DB?collection=NAME``. InputError when it is not one
    ArtLens can use (the message says what is missing)."""
    parts = urlsplit(text.strip())
    if parts.scheme.lower() not in POSTGRES_SCHEMES:
        raise InputError(f"{shown_url(text)} is not a PostgreSQL URL (postgresql://USER@HOST/DATABASE?collection=NAME)")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    name = query.pop("collection", "")
    if not NAME.match(name):
        raise InputError(
            f"{shown_url(text)}: name the collection with ?collection=NAME (lower-case letters, digits and _, "
            f"starting with a letter): each collection is a schema of the database")
    if not parts.hostname or not parts.path.strip("/"):
        raise InputError(f"{shown_url(text)}: give the server and the database, as in postgresql://USER@HOST:5432/DATABASE?collection={name}")
    url = urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, urlencode(query), ""))
    return Address(url=url, schema=name)


def folder_address(directory: Path) -> Address:
    """The catalog a collection folder records: the database its `database.url` names, else its SQLite file."""
    from artlens.store.layout import DATABASE_FILE, DB_FILE

    recorded = directory / DATABASE_FILE
    if recorded.is_file():
        return parse_url(recorded.read_text(encoding="utf-8"))
    return Address(path=directory / DB_FILE)


def working_directory(address: Address) -> Path:
    """The local folder of a collection named by its URL (vectors, models, the writer lock):
    $ARTLENS_HOME/collections/HOST-PORT-DATABASE-NAME, $ARTLENS_HOME defaulting to ~/.artlens."""
    parts = urlsplit(str(address.url))
    name = f"{parts.hostname}-{parts.port or 5432}-{parts.path.strip('/')}-{address.schema}"
    home = Path(os.environ.get("ARTLENS_HOME") or Path.home() / ".artlens").expanduser()
    return home / "collections" / re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def shown_url(url: str, schema: str | None = None) -> str:
    """`url` with its password hidden (and the collection named), for messages and listings."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if schema:
        query["collection"] = schema
    scheme = "postgresql" if parts.scheme.lower() in POSTGRES_SCHEMES else parts.scheme
    return urlunsplit((scheme, netloc, parts.path, urlencode(query), ""))


def create_engine(address: Address) -> Engine:
    """An engine for `address`. Errors that mean "this catalog cannot be used" (a damaged SQLite file, a
    server that does not answer, a missing driver) become CollectionError with what to do."""
    if address.path is not None:
        engine = sa.create_engine(f"sqlite:///{address.path}")
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "handle_error", lambda ctx: _sqlite_damaged(address, ctx.original_exception))
        return engine
    try:
        import psycopg  # noqa: F401  (SQLAlchemy's postgresql+psycopg driver)
    except ImportError:
        raise CollectionError(f"{address} is a PostgreSQL catalog: install the driver with pip install 'artlens[postgres]'") from None
    # pool_pre_ping: a web server outlives server restarts and idle-connection timeouts.
    engine = sa.create_engine(str(address.url), pool_pre_ping=True, pool_size=4, max_overflow=8)
    schema = str(address.schema)
    sa.event.listen(engine, "connect", lambda dbapi_conn, _record: _search_path(dbapi_conn, schema))
    sa.event.listen(engine, "handle_error", lambda ctx: _server_unreachable(address, ctx.original_exception))
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets searches read while an ingest writes; foreign keys keep features tied to rows.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _search_path(dbapi_conn: Any, schema: str) -> None:
    # The schema may not exist yet (a new collection): search_path accepts that; creating it is the
    # catalog's first migration step (catalog.open_engine).
    autocommit = dbapi_conn.autocommit
    dbapi_conn.autocommit = True
    with dbapi_conn.cursor() as cur:
        cur.execute(f'SET search_path TO "{schema}", public')
    dbapi_conn.autocommit = autocommit


def _sqlite_damaged(address: Address, exc: BaseException) -> None:
    # SQLITE_NOTADB and SQLITE_CORRUPT are plain DatabaseError; locks, constraints and SQL mistakes are subclasses.
    if type(exc) is sqlite3.DatabaseError:
        raise damaged_error(address, str(exc))


def _server_unreachable(address: Address, exc: BaseException) -> None:
    import psycopg

    if isinstance(exc, psycopg.OperationalError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CollectionError(
            f"cannot use the catalog at {address}: {first}. Is the server running and the URL right? "
            "(scripts/postgres start runs a local one)",
            {"kind": "unreachable", "part": "catalog", "problem": first},
        )


def damaged_error(address: Address | Path, reason: str) -> CollectionError:
    return CollectionError(
        f"{address} is damaged ({reason}). The catalog cannot be repaired from the collection: restore it from a "
        "backup, or add the image files again into a new collection (`artlens add NEW-COLLECTION PATH... --metadata CSV`); "
        "the models/ folder can be copied over",
        {"kind": "damaged", "part": "catalog", "problem": reason},
    )


def initialised(address: Address) -> bool:
    """True when the catalog at `address` exists and its creation finished (its settings name the
    backbone). Creates nothing. SQLite is read as any reader does: a read-only connection ("mode=ro")
    met a creator switching the file to WAL with "disk I/O error"."""
    if address.path is not None:
        if not address.path.is_file():
            return False
        try:
            with contextlib.closing(sqlite3.connect(f"file:{address.path}?mode=rw", uri=True, timeout=10)) as conn:
                return conn.execute("SELECT 1 FROM settings WHERE key = 'backbone'").fetchone() is not None
        except sqlite3.Error:
            return False
    engine = create_engine(address)
    try:
        with engine.connect() as conn:
            found = conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": f'"{address.schema}".settings'}).scalar()
            if found is None:
                return False
            return conn.execute(sa.text(f"SELECT 1 FROM \"{address.schema}\".settings WHERE key = 'backbone'")).first() is not None
    finally:
        engine.dispose()


class AdvisoryLock:
    """The writer lock of a PostgreSQL catalog, for writers on any machine (lock.SharedLock): a session
    advisory lock keyed by the collection's schema, held on a connection of its own for as long as the
    write lasts. The server releases it when that connection ends (the writer finished, crashed or was
    killed). The connection's application_name says who holds it, for the "busy" message."""

    CLASS = 0x41724C  # first key of the lock pair: "ArL"; the second is hashtext(schema)

    def __init__(self, engine: Engine, schema: str) -> None:
        self.engine = engine
        self.schema = schema
        self._conn: sa.Connection | None = None

    def acquire(self, command: str) -> Any:
        from artlens.store.lock import Holder

        conn = self.engine.connect()
        try:
            me = f"artlens {command} pid {os.getpid()} on {socket.gethostname()}"[:63]
            conn.execute(sa.text("SELECT set_config('application_name', :n, false)"), {"n": me})
            taken = conn.execute(sa.text("SELECT pg_try_advisory_lock(:c, hashtext(:s))"), {"c": self.CLASS, "s": self.schema}).scalar()
            if taken:
                conn.commit()  # end the implicit transaction: the lock is the session's, the connection stays idle
                self._conn = conn
                return None
            holder = conn.execute(sa.text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :c AND l.objid = hashtext(:s)::oid"),
                {"c": self.CLASS, "s": self.schema}).scalar()
        except BaseException:
            conn.close()
            raise
        conn.close()
        match = re.match(r"artlens (\S+) pid (\d+) on (.+)$", holder or "")
        if match is None:
            return Holder(None, "write")
        host = match.group(3)
        return Holder(int(match.group(2)), match.group(1), "" if host == socket.gethostname() else host)

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:c, hashtext(:s))"), {"c": self.CLASS, "s": self.schema})
            conn.commit()
        finally:
            conn.close()
