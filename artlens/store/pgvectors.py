"""Facet vectors in PostgreSQL: pgvector `halfvec` columns with HNSW indexes, searched in SQL with filters.

When a collection's catalog lives in PostgreSQL and has more artworks than exact search handles
(`index.EXACT_BELOW`), every build also publishes transformed facet vectors (the collection publishes
its joint facet: `collection.PUBLISHED_FACETS`) into a table of its own
(``facet_vectors_<catalog version>_<random>``: the artwork id and one ``halfvec`` column per facet, each
with an HNSW index on inner product), tunes each column's ``hnsw.ef_search`` for the same recall target
as the FAISS indexes, and records the table in the catalog's settings (`PUBLISHED`). When every facet reaches
recall 0.95 that way (`searchable`), search asks PostgreSQL for each facet's candidates and rescores them
exactly as before: every web server of the collection asks the same index. A filtered search comes here
when cheaper ways fail (`artlens.retrieval.filtered`), with the metadata, prediction and region-count
filters in the same query (pgvector 0.8's iterative index scan keeps it from running out of rows). Each
machine still builds its local vectors and FAISS indexes (the exact rescoring reads the local matrices;
FAISS answers when the database's index does not).

halfvec: 2 bytes a dimension halves the table and the index against ``vector``, and the cosine of two
unit vectors stored as float16 differs from float32 by ~1e-4, far below what changes a ranking after
the exact rescoring.

The previous build's table is dropped once the new one is recorded; a search that loses that race
gets `Stale` and its caller answers from the local FAISS index instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

PUBLISHED = "pgvector"  # settings key: {"table", "catalog_version", "facets": {facet: {"dim", "ef_search", "recall"}}}
TABLE_PREFIX = "facet_vectors_"
# pgvector's default. m=32 builds in twice the time and, at equal recall, searches 1.4-2x slower (200k
# art-model vectors, docs/benchmarks.md): more neighbours to score at every hop.
HNSW_M = 16
# Twice pgvector's default: on 1M art-model vectors recall@10 of real paintings at ef_search 160 went 0.947 ->
# 0.958 (p99 9.8 -> 9.5 ms) for a build of 455 s instead of 283 on 2 cores (docs/benchmarks.md).
HNSW_EF_CONSTRUCTION = 128
EF_SEARCH: tuple[int, ...] = (40, 64, 100, 160, 256, 400, 640, 1000)  # 1000: pgvector's ceiling
TARGET_RECALL = 0.96  # as index.build_index: 0.95 plus a margin for the tuning sample's noise
MIN_RECALL = 0.95  # below this at the deepest search, search does not use the published vectors
TUNE_QUERIES = 100
# Works of the collection understate the depth a query from outside it needs (an uploaded image): on 1M
# art-model vectors the tuned ef_search 64 gave real paintings recall@10 0.86, 100 0.92, 160 0.95. Search
# goes this many EF_SEARCH steps deeper than tuning needed (index.CLUSTER_PROBE_MARGIN is FAISS's).
EF_MARGIN_STEPS = 2
K = 10
MIN_VERSION = (0, 8)  # iterative index scans (filters without losing rows) came in pgvector 0.8
COPY_ROWS = 20_000  # rows per COPY chunk: a few MB each
# A search's filters: conditions on a column of artwork ids (`catalog.filter_conditions`).
Where = Callable[[sa.ColumnElement], Sequence[sa.ColumnElement]]


class Stale(Exception):
    """The published table went away (a newer build replaced it) while a search was using it."""


def version(conn: Connection) -> tuple[int, ...] | None:
    """pgvector's version in this database, creating the extension if it is missing and we may; None when
    the server has no pgvector (or we may not create it)."""
    if conn.dialect.name != "postgresql":
        return None
    found = conn.exec_driver_sql("SELECT extversion FROM pg_extension WHERE extname = 'vector'").scalar()
    if found is None:
        try:
            with conn.begin_nested():
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
        except sa.exc.DBAPIError:
            return None
        found = conn.exec_driver_sql("SELECT extversion FROM pg_extension WHERE extname = 'vector'").scalar()
    return tuple(int(p) for p in str(found).split(".")[:2] if p.isdigit())


def usable(engine: Engine) -> bool:
    """True when this database can hold published vectors (pgvector >= 0.8)."""
    with engine.begin() as conn:
        found = version(conn)
    return found is not None and found >= MIN_VERSION


def publish(engine: Engine, catalog_version: int, ids: np.ndarray, matrices: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Write one build's facet vectors to a new table with an HNSW index per facet; returns what to record
    under `PUBLISHED` (the caller records it and then calls `drop_others`)."""
    facets = {f: int(m.shape[1]) for f, m in matrices.items()}
    table = f"{TABLE_PREFIX}{int(catalog_version)}_{secrets.token_hex(3)}"
    columns = ", ".join(f'"{f}" halfvec({d}) NOT NULL' for f, d in facets.items())
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE TABLE "{table}" (id bigint PRIMARY KEY, {columns})')
    # Depths are tuned on works the graph does not hold yet, added afterwards: a query already in the graph
    # is linked to its own neighbours and overstates recall (1M art-model vectors at ef_search 40: 0.97 for
    # works in it, while real paintings as queries got 0.79).
    held = np.sort(np.random.default_rng(0).choice(len(ids), min(TUNE_QUERIES, len(ids) // 10), replace=False))
    keep = np.setdiff1d(np.arange(len(ids)), held)
    try:
        _copy(engine, table, ids[keep], {f: m[keep] for f, m in matrices.items()})
        with engine.begin() as conn:
            # An index build that fits in memory is several times faster than one that spills.
            conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '2GB'")
            for f in facets:
                conn.exec_driver_sql(
                    f'CREATE INDEX "{table}_{f}_hnsw" ON "{table}" USING hnsw ("{f}" halfvec_ip_ops) '
                    f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})")
            conn.exec_driver_sql(f'ANALYZE "{table}"')
        info: dict[str, Any] = {"table": table, "catalog_version": int(catalog_version), "facets": {}}
        for f, d in facets.items():
            ef, recall = tune_ef_search(engine, table, f, ids, matrices[f], held)
            info["facets"][f] = {"dim": d, "ef_search": ef, "recall": recall}
        _copy(engine, table, ids[held], {f: m[held] for f, m in matrices.items()})
        return info
    except BaseException:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')
        raise


def drop_others(engine: Engine, keep: str | None) -> list[str]:
    """Drop every published table of this collection but `keep` (older builds, or ones a crash left)."""
    with engine.begin() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        names = [r[0] for r in conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = %(s)s AND tablename LIKE %(p)s",
            {"s": schema, "p": TABLE_PREFIX + "%"})]
        gone = [n for n in names if n != keep]
        for name in gone:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')
    return gone


def candidates(engine: Engine, info: Mapping[str, Any], facet: str, query: np.ndarray, limit: int,
               where: Where | None = None) -> np.ndarray:
    """Ids of the `limit` artworks nearest `query` on `facet`, among those that pass `where` (conditions on
    the table's column of artwork ids, `catalog.filter_conditions`), from a graph search of the facet's tuned depth.

    Only `limit` rows, not the whole depth: a filtered scan that has its rows in the first pass over the
    graph stops there, while asking for ef_search allowed rows made pgvector's iterative scan search the
    graph again and again (200k art-model vectors, 5% allowed: median 32.6 -> 6.3 ms, the same recall).
    """
    limit = int(limit)
    ef = min(max(int(info["facets"][facet]["ef_search"]), limit), 1000)
    try:
        with engine.begin() as conn:
            return _nearest(conn, info["table"], facet, query, limit, ef, where)
    except sa.exc.ProgrammingError as exc:
        if "does not exist" in str(exc.orig):
            raise Stale(str(info["table"])) from None
        raise


def _nearest(conn: Connection, table: str, facet: str, query: np.ndarray, limit: int, ef: int, where: Where | None) -> np.ndarray:
    from pgvector.sqlalchemy import HALFVEC

    conn.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {int(ef)}")
    # relaxed_order: a filtered scan goes on until it has `limit` rows (ordering exactness is restored by
    # the exact rescoring afterwards); unfiltered it returns what a plain scan does.
    conn.exec_driver_sql("SET LOCAL hnsw.iterative_scan = relaxed_order")
    t = sa.table(table, sa.column("id", sa.BigInteger), sa.column(facet, HALFVEC(int(query.shape[0]))))
    q = sa.select(t.c.id)
    if where is not None:
        q = q.where(*where(t.c.id))
    q = q.order_by(t.c[facet].max_inner_product(np.asarray(query, np.float32))).limit(limit)
    return np.asarray([r[0] for r in conn.execute(q)], dtype=np.int64)


def tune_ef_search(engine: Engine, table: str, facet: str, ids: np.ndarray, matrix: np.ndarray, held: np.ndarray,
                   target: float = TARGET_RECALL) -> tuple[int, float]:
    """`EF_MARGIN_STEPS` past the smallest `EF_SEARCH` whose recall@10 against exact search reaches `target`,
    with the `held` rows of `matrix` as queries (the table holds the others, not them), and the recall measured
    there (the deepest one's when none reaches it)."""
    truth = []
    for i in held:
        sims = matrix @ matrix[i]
        sims[held] = -np.inf
        truth.append(set(ids[np.argpartition(-sims, K)[:K]].tolist()))
    reached: int | None = None
    for step, ef in enumerate(EF_SEARCH):
        with engine.begin() as conn:
            found = [set(_nearest(conn, table, facet, matrix[i], K, ef, None).tolist()) for i in held]
        recall = float(np.mean([len(f & t) / K for f, t in zip(found, truth)]))
        if reached is None and recall >= target:
            reached = step
        if reached is not None and step >= reached + EF_MARGIN_STEPS:
            break
    return ef, recall


def searchable(info: Mapping[str, Any]) -> bool:
    """True when every published facet reached `MIN_RECALL` at its tuned depth. Graph indexes need
    structure: real art vectors reach 0.99 at the smallest depth, while 1M random 384-d vectors reach
    0.14 at pgvector's deepest (docs/benchmarks.md); then the local FAISS index answers instead."""
    return all(f["recall"] >= MIN_RECALL for f in info["facets"].values())


def table_exists(engine: Engine, table: str) -> bool:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT to_regclass(%(t)s)", {"t": f'"{table}"'}).scalar() is not None


def size_bytes(engine: Engine, table: str) -> int:
    """The table with its indexes, on disk (what the server caches to answer fast)."""
    with engine.begin() as conn:
        found = conn.exec_driver_sql("SELECT pg_total_relation_size(%(t)s::regclass)", {"t": f'"{table}"'}).scalar()
    return int(found or 0)


def _copy(engine: Engine, table: str, ids: np.ndarray, matrices: Mapping[str, np.ndarray]) -> None:
    """COPY ... FROM STDIN in PostgreSQL's binary format, built with numpy (per-row Python objects
    made 1M rows take minutes)."""
    facets = list(matrices)
    fields: list[tuple[Any, ...]] = [("n", ">i2"), ("id_len", ">i4"), ("id", ">i8")]
    for j, f in enumerate(facets):
        d = int(matrices[f].shape[1])
        fields += [(f"len{j}", ">i4"), (f"dim{j}", ">u2"), (f"unused{j}", ">u2"), (f"v{j}", ">f2", (d,))]
    row = np.dtype(fields)
    cols = ", ".join(["id", *(f'"{f}"' for f in facets)])
    raw = engine.raw_connection()
    driver: Any = raw.driver_connection  # psycopg's own connection: COPY is not part of the DB-API
    try:
        with driver.cursor() as cur:
            with cur.copy(f'COPY "{table}" ({cols}) FROM STDIN WITH (FORMAT BINARY)') as cp:
                cp.write(b"PGCOPY\n\xff\r\n\x00" + np.array([0, 0], ">i4").tobytes())
                for start in range(0, len(ids), COPY_ROWS):
                    end = min(start + COPY_ROWS, len(ids))
                    rec = np.zeros(end - start, row)
                    rec["n"], rec["id_len"], rec["id"] = 1 + len(facets), 8, ids[start:end]
                    for j, f in enumerate(facets):
                        d = int(matrices[f].shape[1])
                        rec[f"len{j}"], rec[f"dim{j}"] = 4 + 2 * d, d
                        rec[f"v{j}"] = matrices[f][start:end]
                    cp.write(rec.tobytes())
                cp.write(np.array([-1], ">i2").tobytes())
        raw.commit()
    finally:
        raw.close()

