"""A whole filtered search at scale, as a collection answers it (`artlens.retrieval.filtered.rank`): the filter in a
real catalog of N works, the vectors from a model of a real collection's, on SQLite and on PostgreSQL.

    .venv/bin/python bench/filtered_search.py --like COLLECTION [--n 1000000] [--postgres URL [--pgvector]]

The vectors: N works per facet drawn from a model fitted to COLLECTION's own (bench/art_vectors.py, as
`bench/search_latency.py --like`), its held-out real works as queries, the joint index `build_index` makes.
The catalog: the real schema (`bench/filter_listing.py` writes its rows), with a metadata value `bucket`
(0-99 at random: a filter on it allows 1%, 5% or 50% of the works wherever the query is) and `style`, the
nearest of 40 k-means centres of each work's joint vector: filters that follow the vectors, as real ones do
("style=" the query's own centre, whose works crowd its neighbourhood; or a centre two places further from it,
or either of the centres two and three places further, whose works lie elsewhere). `--pgvector` also publishes the
joint vectors as a large PostgreSQL collection's build does (HNSW; minutes at 1M) so that filters the post-filter
cannot answer go to pgvector.

Per case: median / p99 ms over the queries (after WARM_UP untimed), recall@10 against the exact top 10 of the
allowed works, and how often each path answered (post-filter, listed and scored exactly, pgvector, every
allowed work listed, or "held": an earlier search's listing, or the works the collection's filter columns decide).
Each case three times: "cold", nothing held before every search, no filter columns either (a filter's first use
just after another process changed its kind of column, before this machine codes it again); "loaded", before every
search only the filter columns the collection writes (`store/filter_columns.py`, memory-mapped from its file as a
server reads it: each filter's first use); "again", with the columns, after the same searches once (what a server
that has seen its filters answers).
"""

from __future__ import annotations

import argparse
import itertools
import json
import pathlib
import sys
import tempfile
import time
from collections import Counter
from typing import Any

import faiss
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from artlens.retrieval import filtered  # noqa: E402
from artlens.store import catalog, columns_file, engines, pgvectors, vectors  # noqa: E402
from artlens.store.database import Catalog  # noqa: E402
from artlens.store.filter_columns import FilterColumns  # noqa: E402
from artlens.store.index import build_index  # noqa: E402
from artlens.store.layout import FILTER_COLUMNS_FILE  # noqa: E402
from bench.filter_listing import fill  # noqa: E402
from bench.search_latency import WARM_UP, K, exact_top, facet_vectors, like_vectors, recall_at_k  # noqa: E402

CENTRES = 40


def centres(joint: np.ndarray) -> faiss.Kmeans:
    """CENTRES k-means centres of the joint vectors (spherical, on a sample): each work's `style` is its nearest."""
    km = faiss.Kmeans(joint.shape[1], CENTRES, niter=10, seed=0, spherical=True)
    km.train(joint[np.random.default_rng(0).choice(len(joint), min(len(joint), 100_000), replace=False)])
    return km


class Paths:
    """Counts which path answered, by wrapping the store's calls."""

    def __init__(self, store: Catalog) -> None:
        self.store, self.seen = store, Counter[str]()
        self.calls: list[str] = []

    def filter_ids(self, where, limit=None, among=None):  # type: ignore[no-untyped-def]
        self.calls.append("checked" if among is not None else "listed" if limit is not None else "listed all")
        return self.store.filter_ids(where, limit, among)

    def nearest(self, published, facet, query, limit, where=()):  # type: ignore[no-untyped-def]
        self.calls.append("pgvector")
        return self.store.nearest(published, facet, query, limit, where)

    def published_vectors(self, fresh_within: float = 0.0) -> dict[str, Any] | None:
        return self.store.published_vectors(fresh_within)

    def decides(self, where):  # type: ignore[no-untyped-def]
        return self.store.decides(where)

    def allowed_mask(self, where, ids):  # type: ignore[no-untyped-def]
        mask = self.store.allowed_mask(where, ids)
        if mask is not None:
            self.calls.append("columns' mask")
        return mask

    def listed(self, where):  # type: ignore[no-untyped-def]
        held = self.store.listed(where)
        if held is not None:
            self.calls.append("held")
        return held

    def answered(self) -> None:
        calls = self.calls
        path = ("held" if "held" in calls else "columns' mask" if "columns' mask" in calls else "pgvector" if "pgvector" in calls
                else "listed all" if "listed all" in calls
                else "listed, exact" if "listed" in calls else "post-filter" if calls else "no filter")
        self.seen[path] += 1
        self.calls = []


def code_columns(cat: Catalog, folder: pathlib.Path) -> FilterColumns | None:
    """What a collection codes after a build (`Collection._code_filters`), read back as a server reads it."""
    t = time.perf_counter()
    coded = cat.filter_columns()
    if coded is not None:
        columns_file.write(folder / FILTER_COLUMNS_FILE, coded)
    coded = columns_file.read(folder / FILTER_COLUMNS_FILE)
    print(f"coded: {len(coded.columns) if coded else 0} columns of {len(coded.ids) if coded else 0} works in {time.perf_counter() - t:.1f} s",
          file=sys.stderr)
    return coded


def run(cat: Catalog, vecs: vectors.FacetVectors, queries: dict[str, np.ndarray], km: faiss.Kmeans, bucket: np.ndarray,
        style: np.ndarray, published: dict[str, Any] | None, nq: int, coded: FilterColumns | None) -> list[dict]:
    weights = vecs.weights
    joint_q = vectors.joint_matrix(queries, weights)
    near = km.index.search(joint_q, 8)[1]  # each query's nearest centres
    cases: list[tuple[str, Any]] = [
        ("no filter", lambda i: []),
        ("bucket=0 (1%)", lambda i: [("bucket", "=", "0")]),
        ("5 buckets (5%)", lambda i: [("bucket", "=", str(b)) for b in range(5)]),
        ("50 buckets (50%)", lambda i: [("bucket", "=", str(b)) for b in range(50)]),
        ("style = the query's centre", lambda i: [("style", "=", f"style {near[i, 0]}")]),
        ("style = its 3rd nearest centre", lambda i: [("style", "=", f"style {near[i, 2]}")]),
        ("style = its 3rd or 4th nearest centre", lambda i: [("style", "=", f"style {near[i, c]}") for c in (2, 3)]),
        ("style = its 3rd to 8th nearest centre", lambda i: [("style", "=", f"style {near[i, c]}") for c in range(2, 8)]),
    ]
    rows = []
    for (name, where_of), use in itertools.product(cases, ("cold", "loaded", "again")):
        if use != "cold" and not where_of(0):
            continue  # nothing to hold
        paths = Paths(cat)
        cat.listings.clear()
        cat.hold(None if use == "cold" else coded)
        if use == "again":  # the same searches once, untimed
            for i in range(nq + WARM_UP):
                filtered.rank(cat, vecs, {f: queries[f][i] for f in queries}, weights, K, where_of(i), published=published)
        lat, found, truth, shares = [], [], [], []
        for i in range(nq + WARM_UP):
            q = {f: queries[f][i] for f in queries}
            where = where_of(i)
            if use != "again":
                cat.listings.clear()
            t = time.perf_counter()
            hits = filtered.rank(paths, vecs, q, weights, K, where, published=published)  # type: ignore[arg-type]
            ms = (time.perf_counter() - t) * 1e3
            paths.answered()
            if i < WARM_UP:
                paths.seen.clear()
                continue
            lat.append(ms)
            found.append([h.id for h in hits] + [-1] * (K - len(hits)))
            allowed = _allowed(where, vecs.ids, bucket, style)
            shares.append(1.0 if allowed is None else len(allowed) / len(vecs.ids))
            truth.append(exact_top(vecs.matrices, weights, [q], vecs.ids, allowed)[0])
        rows.append({"backend": cat.backend + (" + pgvector" if published else ""), "n": len(vecs.ids), "case": name, "use": use,
                     "allowed": round(float(np.mean(shares)), 4), "median_ms": round(float(np.median(lat)), 2),
                     "p99_ms": round(float(np.percentile(lat, 99)), 2), "recall@10": round(recall_at_k(np.array(found), np.array(truth)), 3),
                     "paths": dict(paths.seen)})
        print(f"  {rows[-1]}", file=sys.stderr)
    return rows


def value_counts(cat: Catalog) -> dict[str, dict[str, int]]:
    """What a collection's vector build keeps of its catalog to bound what a filter allows (`vectors.most_allowed`)."""
    with cat.engine.connect() as conn:
        return catalog.value_counts(conn, vectors.COUNTED_ABOVE)


def _allowed(where: list[tuple[str, str, str]], ids: np.ndarray, bucket: np.ndarray, style: np.ndarray) -> np.ndarray | None:
    if not where:
        return None
    column = where[0][0]
    values = {int(v.split()[-1]) for _, _, v in where}
    return ids[np.isin(bucket if column == "bucket" else style, list(values))]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--like", type=pathlib.Path, required=True, metavar="COLLECTION")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--pgvector", action="store_true", help="with --postgres: publish the joint vectors to pgvector")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)
    real = vectors.load(args.like / "vectors")
    weights = dict(real.weights)
    facets = [f for f in real.facets if weights.get(f, 0) > 0]
    mats, queries, _ = like_vectors(args.like, facets, args.n, args.queries + WARM_UP)
    weights = {f: weights[f] for f in facets}
    ids = np.arange(1, args.n + 1, dtype=np.int64)
    joint = vectors.joint_matrix(mats, weights)
    t = time.perf_counter()
    index = build_index(joint, ids)
    print(f"joint index {index!r} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    vecs = facet_vectors(mats, weights, ids, {"joint": index})
    km = centres(joint)
    style = km.index.search(joint, 1)[1][:, 0]
    rows: list[dict] = []
    backends: list[tuple[str, Any]] = []
    tmp = tempfile.TemporaryDirectory()
    if not args.no_sqlite:
        backends.append(("sqlite", engines.folder_address(pathlib.Path(tmp.name))))
    if args.postgres:
        backends.append(("postgresql", engines.parse_url(f"{args.postgres}?collection=bench_filtered_search")))
    try:
        for _, address in backends:
            cat = Catalog.open(address)
            try:
                bucket = fill(cat, args.n, style)[1]
                vecs.value_counts = value_counts(cat)
                coded = code_columns(cat, pathlib.Path(tmp.name))
                rows += run(cat, vecs, queries, km, bucket, style, None, args.queries, coded)
                if cat.backend == "postgresql" and args.pgvector:
                    t = time.perf_counter()
                    info = pgvectors.publish(cat.engine, 1, ids, {"joint": joint})
                    print(f"published {info} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
                    rows += run(cat, vecs, queries, km, bucket, style, info, args.queries, coded)
            finally:
                if cat.backend == "postgresql":
                    cat.destroy()
                cat.close()
    finally:
        tmp.cleanup()
    lines = ["| backend | N | filter | use | allowed | median ms | p99 ms | recall@10 | answered by |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['backend']} | {r['n']} | {r['case']} | {r['use']} | {r['allowed']:.1%} | {r['median_ms']} | {r['p99_ms']} | {r['recall@10']} | "
              + ", ".join(f"{k} {v}" for k, v in sorted(r["paths"].items())) + " |" for r in rows]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
