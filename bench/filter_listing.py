"""What a filtered search pays before it ranks anything: checking the filter's columns and listing the works it
allows, on a catalog of N artworks (SQLite, and PostgreSQL with --postgres URL), in one run.

    .venv/bin/python bench/filter_listing.py [--n 1000000] [--postgres postgresql://USER@HOST/DB] [--json out.json]

The catalog is the real schema (`artlens.store.catalog`), its rows written straight to its tables (no images):
per work a metadata value `bucket` (0-99, so `bucket=0` allows 1%, five buckets 5%, fifty 50%) and `style` (one of
40), and a `pred.medium` decision (one of 20). Each case is timed over REPEATS calls after one untimed call:
`unknown_columns` (asked before every filtered search), `filter_ids` with the limit a search asks first
(`EXACT_FILTER_BELOW + 1`: a filter allowing fewer works is scored exactly on the serving machine) and
without one (what the local index is given), each as a filter's first use (a catalog keeps what it listed in
memory for the next use, `Catalog.listings`: emptied before every call here). The row "JSON scan" is the same 1% listing read from every
artwork's metadata JSON, as filters were answered before `meta_values` (catalog revision 0003).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pathlib
import sys
import tempfile
import time

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from artlens.store import catalog, engines  # noqa: E402
from artlens.store.database import Catalog  # noqa: E402
from artlens.store.index import EXACT_FILTER_BELOW  # noqa: E402

REPEATS = 20
CHUNK = 20_000


def fill(cat: Catalog, n: int, style: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """n artworks (ids 1..n) with metadata and a prediction each, written to the catalog's tables; returns the
    seconds it took and each work's bucket. style: each work's (else one of 40 at random)."""
    rng = np.random.default_rng(0)
    bucket, medium = rng.integers(0, 100, n), rng.integers(0, 20, n)
    style = rng.integers(0, 40, n) if style is None else style
    now = dt.datetime.now()
    t = time.perf_counter()
    with cat.engine.begin() as conn:
        for start in range(0, n, CHUNK):
            ids = range(start + 1, min(n, start + CHUNK) + 1)
            metas = [{"bucket": str(bucket[i - 1]), "style": f"style {style[i - 1]}"} for i in ids]
            conn.execute(sa.insert(catalog.artworks), [
                {"id": i, "path": f"/art/{i}.jpg", "file_size": 1, "mtime_ns": 1, "sha256": f"{i:064x}", "pixel_hash": f"{i:064x}",
                 "phash": "0" * 16, "width": 1, "height": 1, "format": "JPEG", "duplicate_of": None, "meta": m, "added_at": now}
                for i, m in zip(ids, metas)])
            conn.execute(sa.insert(catalog.meta_values), catalog.meta_value_rows(zip(ids, metas)))
            conn.execute(sa.insert(catalog.predictions), [
                {"artwork_id": i, "model": "medium", "version": "v1", "label": f"medium {medium[i - 1]}", "confidence": 0.9,
                 "top3": [], "at": now} for i in ids])
            print(f"  {min(n, start + CHUNK)} / {n}", end="\r", file=sys.stderr)
        catalog.filters_changed(conn)  # as every writer of the catalog does
    if cat.backend == "postgresql":
        with cat.engine.connect() as conn:  # what autovacuum does soon after a large write: statistics and visibility
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("artworks", "meta_values", "predictions"):
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - t, bucket


def timed(fn) -> tuple[float, float, int]:
    """(median ms, p99 ms, rows) of REPEATS calls after one untimed one."""
    fn()
    lat, rows = [], 0
    for _ in range(REPEATS):
        t = time.perf_counter()
        rows = len(fn())
        lat.append((time.perf_counter() - t) * 1e3)
    return round(float(np.median(lat)), 2), round(float(np.percentile(lat, 99)), 2), rows


def json_scan(cat: Catalog, limit: int) -> list[int]:
    field = catalog.artworks.c.meta["bucket"].as_string()
    q = sa.select(catalog.artworks.c.id).where(catalog.artworks.c.duplicate_of.is_(None), field == "0")
    with cat.engine.connect() as conn:
        return conn.execute(q.order_by(catalog.artworks.c.id).limit(limit)).scalars().all()


def listed(cat: Catalog, where: list[tuple[str, str, str]], limit: int | None = None) -> np.ndarray:
    """`filter_ids` as at a filter's first use: the catalog's SQL, nothing kept from an earlier call (`Catalog.listings`)."""
    cat.listings.clear()
    return cat.filter_ids(where, limit)


def bench(cat: Catalog, n: int) -> list[dict]:
    fill_s = fill(cat, n)[0]
    print(f"{cat.backend}: {n} works written in {fill_s:.0f} s", file=sys.stderr)
    first = EXACT_FILTER_BELOW + 1
    cases = {
        "columns checked (unknown_columns)": lambda: cat.unknown_columns(["bucket", "style", "pred.medium"], predictions=True)[1],
        "bucket=0 (1%), first 10,001": lambda: listed(cat, [("bucket", "=", "0")], first),
        "bucket=0 (1%), JSON scan (before rev. 0003), first 10,001": lambda: json_scan(cat, first),
        "bucket=0 (1%), all": lambda: listed(cat, [("bucket", "=", "0")]),
        "5 buckets (5%), first 10,001": lambda: listed(cat, [("bucket", "=", str(b)) for b in range(5)], first),
        "5 buckets (5%), all": lambda: listed(cat, [("bucket", "=", str(b)) for b in range(5)]),
        "style (2.5%) and pred.medium (5%), all": lambda: listed(cat, [("style", "=", "style 3"), ("pred.medium", "=", "medium 1")]),
        "50 buckets (50%), first 10,001": lambda: listed(cat, [("bucket", "=", str(b)) for b in range(50)], first),
        "50 buckets (50%), all": lambda: listed(cat, [("bucket", "=", str(b)) for b in range(50)]),
        "bucket!=0 (99%), first 10,001": lambda: listed(cat, [("bucket", "!=", "0")], first),
    }
    rows = []
    for name, fn in cases.items():
        median, p99, found = timed(fn)
        rows.append({"backend": cat.backend, "n": n, "case": name, "rows": found, "median_ms": median, "p99_ms": p99})
        print(f"  {rows[-1]}", file=sys.stderr)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| backend | N | case | rows | median ms | p99 ms |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['backend']} | {r['n']} | {r['case']} | {r['rows']} | {r['median_ms']} | {r['p99_ms']} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--postgres", metavar="URL", help="also a catalog in this PostgreSQL database (a schema of its own, dropped after)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    rows: list[dict] = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            cat = Catalog.open(engines.folder_address(pathlib.Path(tmp)))
            try:
                rows += bench(cat, args.n)
            finally:
                cat.close()
    if args.postgres:
        address = engines.parse_url(f"{args.postgres}?collection=bench_filter_listing")
        cat = Catalog.open(address)
        try:
            rows += bench(cat, args.n)
        finally:
            cat.destroy()
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
