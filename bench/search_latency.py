"""Search latency of the facet index chosen by `artlens.store.index.build_index`, on random unit vectors.

    .venv/bin/python bench/search_latency.py [--sizes 100000 1000000] [--dim 256 128] [--json out.json]

For each (dim, N): N Gaussian vectors normalised to unit length (seed 0), the index `build_index`
picks, then 1000 fresh random unit queries sent one at a time (as a user search does). Prints build
time, median / p99 latency, recall@10 against exact search (faiss IndexFlatIP) and index memory, as
a markdown table and as JSON. Random isotropic vectors are the hardest case for approximate indexes
(no cluster structure), so these are pessimistic numbers for recall at a given latency.

Optional rows: `--exact` times brute-force IndexFlatIP at each size; `--approx hnsw` benchmarks the
HNSW alternative instead (slow to build at 1M); `--real COLLECTION` indexes a real collection's
joint-facet vectors instead of random ones (some held out as queries), to see what structure buys;
`--filters` times filtered searches (1%, 2%, 5% and 50% of the collection allowed); `--pgvector URL` (a
PostgreSQL database with pgvector >= 0.8, e.g. the one `scripts/postgres start` prints) puts the same
vectors into PostgreSQL as a large collection's build does (`artlens.store.pgvectors.publish`: halfvec
column, HNSW, ef_search tuned) and times the same queries through the same SQL ArtLens sends, filters as
a join on a table of random buckets (in the same run, so the two backends are compared on one machine
state).

`--like COLLECTION` draws the vectors from a model fitted to that collection's own (bench/art_vectors.py:
a Gaussian mixture in its principal subspace plus isotropic noise), with held-out real works as queries,
and first prints how the model compares with the real vectors at the real size: what art collections
get, where random vectors give the worst case. The joint facet's dimension comes from the collection.

`--collection COLLECTION` times what a user's search costs instead of one index's search:
`artlens.retrieval.search.rank` (the index it picks, asked for as many results as it asks, then the exact
rescoring of every facet and the percentiles) on random unit vectors per facet at that collection's
dimensions and default mix: the default mix, another two-facet mix, one facet alone, and the default mix
with 50% and 1% of the works allowed (each after WARM_UP untimed queries).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time
from typing import TYPE_CHECKING

import faiss
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from artlens.store.index import EXACT_BELOW, VectorIndex, build_index  # noqa: E402

if TYPE_CHECKING:
    from artlens.store.vectors import FacetVectors

K = 10
# Shares of the collection a filter allows. At 1M, a collection answers 1% (10,000 works) on the serving machine
# (index.EXACT_FILTER_BELOW) and sends 2% and up to pgvector: the band where its scan has least to go on.
FILTER_SHARES = (0.01, 0.02, 0.05, 0.5)


def unit_vectors(n: int, d: int, seed: int) -> np.ndarray:
    """n Gaussian vectors normalised to unit length: uniform on the sphere."""
    x = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def rss_bytes() -> int:
    """Resident memory of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, t)) / len(t) for f, t in zip(found, truth)]))


def time_single_queries(search, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run queries one at a time: (result ids (Q, K), latencies in ms)."""
    ids = np.empty((len(queries), K), np.int64)
    lat = np.empty(len(queries))
    for i in range(len(queries)):
        q = queries[i:i + 1]
        t = time.perf_counter()
        ids[i] = search(q)
        lat[i] = (time.perf_counter() - t) * 1e3
    return ids, lat


def row(dim: int, n: int, kind: str, params: str, threads: int, build_s: float | None, lat: np.ndarray,
        recall: float, memory_mb: float | None, rss_mb: float | None = None, note: str = "") -> dict:
    """One result; memory_mb is the index file size (what it occupies once loaded), rss_mb the growth
    of resident memory over the build (includes FAISS's id hash map and allocator slack)."""
    return {"dim": dim, "n": n, "kind": kind, "params": params, "threads": threads,
            "build_s": None if build_s is None else round(build_s, 1),
            "median_ms": round(float(np.median(lat)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "recall_at_10": round(recall, 3), "memory_mb": None if memory_mb is None else round(memory_mb),
            "rss_mb": None if rss_mb is None else round(rss_mb), "note": note}


def real_vectors(directory: pathlib.Path, queries: int) -> tuple[np.ndarray, np.ndarray]:
    """A collection's joint-facet vectors, shuffled (seed 0): (indexed rows, held-out query rows)."""
    from artlens.store import vectors

    x = np.ascontiguousarray(vectors.load(directory / "vectors").matrices["joint"], dtype=np.float32)
    x = x[np.random.default_rng(0).permutation(len(x))]
    return x[queries:], x[:queries]


def like_vectors(directory: pathlib.Path, facets: list[str], n: int, queries: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], str]:
    """n vectors per facet drawn from a model of the collection's own (fitted without `queries` held-out works),
    those works' real vectors as queries, and a markdown table comparing model and real vectors at the real size."""
    from artlens.store import vectors
    from bench import art_vectors

    mats = vectors.load(directory / "vectors").matrices
    order = np.random.default_rng(0).permutation(len(mats[facets[0]]))
    real = {f: np.ascontiguousarray(mats[f][order], np.float32) for f in facets}
    model = art_vectors.fit({f: m[queries:] for f, m in real.items()})
    same_size = art_vectors.sample(model, len(order) - queries, seed=1)
    collection = art_vectors.concatenated({f: m[queries:] for f, m in real.items()})
    seen = art_vectors.compare(collection, art_vectors.concatenated(same_size), art_vectors.concatenated({f: m[:queries] for f, m in real.items()}))
    table = "\n".join([f"| vectors ({len(collection)}, {'+'.join(facets)}) | " + " | ".join(art_vectors.COMPARE_COLUMNS) + " |",
                       "|" + "---|" * (len(art_vectors.COMPARE_COLUMNS) + 1)]
                      + [f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for name, row in seen.items()])
    print(table, file=sys.stderr)
    return art_vectors.sample(model, n, seed=2), {f: m[:queries] for f, m in real.items()}, table


def bench_one(dim: int, n: int, args: argparse.Namespace) -> list[dict]:
    rows: list[dict] = []
    if args.real is not None:
        x, queries = real_vectors(args.real, args.queries)
    elif args.like is not None:
        drawn, real_queries, args.like_table = like_vectors(args.like, ["joint"], n, args.queries)
        x, queries = drawn["joint"], real_queries["joint"]
    else:
        x, queries = unit_vectors(n, dim, seed=0), unit_vectors(args.queries, dim, seed=1)
    ids = np.arange(n, dtype=np.int64) * 7 + 3  # catalog ids are not row numbers
    flat = faiss.IndexFlatIP(dim)
    flat.add(x)
    truth = ids[flat.search(queries, K)[1]]

    rss0 = rss_bytes()
    t = time.perf_counter()
    index = build_index(x, ids, approx=args.approx)
    build_s = time.perf_counter() - t
    rss_mb = (rss_bytes() - rss0) / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "bench.faiss"
        index.save(path)
        file_mb = path.stat().st_size / 2**20
        assert VectorIndex.load(path).params == index.params
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in index.params.items())
    print(f"  built {index!r} in {build_s:.1f}s, file {file_mb:.0f} MB, RSS +{rss_mb:.0f} MB", file=sys.stderr)
    for threads in args.threads:
        faiss.omp_set_num_threads(threads)
        found, lat = time_single_queries(lambda q: index.search(q, K)[1][0], queries)
        rows.append(row(dim, n, index.kind, params, threads, build_s, lat, recall_at_k(found, truth), file_mb, rss_mb))
        print(f"  {rows[-1]}", file=sys.stderr)

    faiss.omp_set_num_threads(args.threads[0])
    if args.filters:
        rng = np.random.default_rng(2)
        for share in FILTER_SHARES:
            allowed = np.sort(rng.choice(ids, int(share * n), replace=False))
            mask = np.isin(ids, allowed)
            sub = faiss.IndexFlatIP(dim)
            sub.add(x[mask])
            fq = queries  # all of them: a p99 of 200 queries is their second slowest
            sub_truth = ids[mask][sub.search(fq, K)[1]]
            found, lat = time_single_queries(lambda q, allowed=allowed: index.search(q, K, allowed_ids=allowed)[1][0], fq)
            rows.append(row(dim, n, index.kind, params, args.threads[0], None, lat, recall_at_k(found, sub_truth),
                            None, note=f"filter: {share:.0%} allowed"))
            print(f"  {rows[-1]}", file=sys.stderr)
    if args.pgvector:
        rows += bench_pgvector(dim, n, x, ids, queries, truth, args)
    if args.exact:
        fq = queries[:200]
        found, lat = time_single_queries(lambda q: ids[flat.search(q, K)[1][0]], fq)
        rows.append(row(dim, n, "flat", "IndexFlatIP", args.threads[0], None, lat, recall_at_k(found, truth[:200]),
                        x.nbytes / 2**20, note="brute force reference"))
        print(f"  {rows[-1]}", file=sys.stderr)
    return rows


WARM_UP = 20  # queries run before timing each kind of search (first-touch page faults, thread start)


def bench_searches(n: int, dims: dict[str, int], weights: dict[str, float], args: argparse.Namespace) -> list[dict]:
    """What a user's search costs: `search.rank` (candidates from the index it picks, then exact rescoring
    of every facet, percentiles) on n random unit vectors per facet at a real collection's dimensions and
    default mix, for the default mix, a two-facet mix of other weights, one facet alone, and filters."""
    from artlens.retrieval import search
    from artlens.store.vectors import joint_matrix

    if args.like is not None:
        mats, queries, args.like_table = like_vectors(args.like, list(dims), n, args.queries + WARM_UP)
    else:
        mats = {f: unit_vectors(n, d, seed=10 + i) for i, (f, d) in enumerate(dims.items())}
        queries = {f: unit_vectors(args.queries + WARM_UP, d, seed=100 + i) for i, (f, d) in enumerate(dims.items())}
    ids = np.arange(n, dtype=np.int64) * 7 + 3
    mixed = [f for f in weights if weights[f] > 0]
    mixes = {"default mix": weights,
             f"{mixed[0]} + {mixed[-1]} 1:1": {mixed[0]: 1.0, mixed[-1]: 1.0},
             f"{mixed[-1]} alone": {mixed[-1]: 1.0}}
    joint = joint_matrix(mats, weights)
    indexes = {}
    for facet, x in (("joint", joint), (mixed[-1], mats[mixed[-1]])):
        t = time.perf_counter()
        indexes[facet] = build_index(x, ids)
        print(f"  {facet}: built {indexes[facet]!r} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    del joint  # the index holds its own copy
    vectors = facet_vectors(mats, weights, ids, indexes)
    rng = np.random.default_rng(2)
    half = np.sort(rng.choice(ids, n // 2, replace=False))
    one = np.sort(rng.choice(ids, n // 100, replace=False))
    cases: list[tuple[str, dict[str, float], np.ndarray | None]] = [(name, mix, None) for name, mix in mixes.items()]
    cases += [("default mix", weights, half), ("default mix", weights, one)]
    rows = []
    for name, mix, allowed in cases:
        nq = args.queries
        query = [{f: queries[f][i] for f in dims} for i in range(nq + WARM_UP)]
        for q in query[:WARM_UP]:
            search.rank(vectors, q, mix, K, allowed)
        found = np.full((nq, K), -1, np.int64)
        lat = np.empty(nq)
        for i, q in enumerate(query[WARM_UP:]):
            t = time.perf_counter()
            hits = search.rank(vectors, q, mix, K, allowed)
            lat[i] = (time.perf_counter() - t) * 1e3
            found[i, :len(hits)] = [h.id for h in hits]
        truth = exact_top(mats, mix, query[WARM_UP:], ids, allowed)
        asked = search.candidate_facets(vectors, mix)
        note = f"search.rank, {name}: {'+'.join(asked)} index"
        if allowed is not None:
            note += f", filter: {len(allowed) / n:.0%} allowed"
        dim = sum(dims[f] for f in (weights if asked == ["joint"] else asked))
        rows.append(row(dim, n, "search", ", ".join(f"{f} {w:g}" for f, w in mix.items() if w > 0), 1, None, lat,
                        recall_at_k(found, truth), None, note=note))
        print(f"  {rows[-1]}", file=sys.stderr)
    return rows


def facet_vectors(mats: dict[str, np.ndarray], weights: dict[str, float], ids: np.ndarray, indexes: dict) -> FacetVectors:
    """A build's vectors in memory (what `search.rank` reads) from transformed facet matrices and their indexes."""
    from artlens.store.vectors import FacetVectors, score_quantiles

    fitted = ("content", "style", "color")
    rng = np.random.default_rng(3)
    # Learned facets are listed through `spaces`; ranking reads only their names, so no space is needed here.
    return FacetVectors(directory=pathlib.Path("."), ids=ids, matrices=mats, transforms={},
                        quantiles={f: score_quantiles(m, rng) for f, m in mats.items()}, weights=weights,
                        catalog_version=1, spaces={f: None for f in mats if f not in fitted},  # type: ignore[misc]
                        _indexes=indexes)


def exact_top(mats: dict[str, np.ndarray], mix: dict[str, float], queries: list[dict[str, np.ndarray]], ids: np.ndarray,
              allowed: np.ndarray | None) -> np.ndarray:
    """The true top K ids of each query under the weighted mean of facet cosines (in chunks of queries)."""
    total = sum(mix.values())
    keep = None if allowed is None else np.isin(ids, allowed)
    out = []
    for start in range(0, len(queries), 100):
        chunk = queries[start:start + 100]
        score = sum((w / total) * (np.stack([q[f] for q in chunk]) @ mats[f].T) for f, w in mix.items() if w > 0)
        if keep is not None:
            score[:, ~keep] = -np.inf
        top = np.argpartition(-score, K, axis=1)[:, :K]
        out.append(ids[top])
    return np.concatenate(out)


def first_k(found: np.ndarray) -> np.ndarray:
    """The first K ids, padded with -1 when a filtered search found fewer."""
    return np.concatenate([found[:K], np.full(max(0, K - len(found)), -1, np.int64)])


def bench_pgvector(dim: int, n: int, x: np.ndarray, ids: np.ndarray, queries: np.ndarray, truth: np.ndarray,
                   args: argparse.Namespace) -> list[dict]:
    """The same vectors and queries through PostgreSQL + pgvector, as a large collection's search sends them."""
    import sqlalchemy as sa

    from artlens.store import engines, pgvectors

    address = engines.parse_url(f"{args.pgvector}?collection=bench_search_latency")
    admin = sa.create_engine(address.url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {address.schema} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {address.schema}")
    admin.dispose()
    engine = engines.create_engine(address)
    rows: list[dict] = []
    try:
        assert pgvectors.usable(engine), "pgvector >= 0.8 is needed"
        t = time.perf_counter()
        info = pgvectors.publish(engine, 1, ids, {"joint": x})
        build_s = time.perf_counter() - t
        mb = pgvectors.size_bytes(engine, info["table"]) / 2**20
        ef = info["facets"]["joint"]["ef_search"]
        print(f"  pgvector: published {info} in {build_s:.1f}s, table + index {mb:.0f} MB", file=sys.stderr)
        params = f"halfvec, HNSW m={pgvectors.HNSW_M} ef_construction={pgvectors.HNSW_EF_CONSTRUCTION}, ef_search={ef}"
        found, lat = time_single_queries(lambda q: first_k(pgvectors.candidates(engine, info, "joint", q[0], K)), queries)
        rows.append(row(dim, n, "pgvector", params, 1, build_s, lat, recall_at_k(found, truth), mb))
        print(f"  {rows[-1]}", file=sys.stderr)
        if args.filters:
            # Metadata as a join, as a collection's filters are: a bucket 0-99 per artwork, indexed.
            rng = np.random.default_rng(2)
            bucket = rng.integers(0, 100, n)
            meta = sa.Table("bench_meta", sa.MetaData(), sa.Column("id", sa.BigInteger, primary_key=True),
                            sa.Column("bucket", sa.Integer, index=True))
            with engine.begin() as conn:
                meta.create(conn)
                for start in range(0, n, 50_000):
                    conn.execute(sa.insert(meta), [{"id": int(i), "bucket": int(b)} for i, b in
                                                   zip(ids[start:start + 50_000], bucket[start:start + 50_000])])
                conn.exec_driver_sql("ANALYZE bench_meta")
            for share in FILTER_SHARES:
                mask = bucket < int(share * 100)
                sub = faiss.IndexFlatIP(dim)
                sub.add(x[mask])
                fq = queries
                sub_truth = ids[mask][sub.search(fq, K)[1]]
                allowed = sa.select(meta.c.id).where(meta.c.bucket < int(share * 100))
                found, lat = time_single_queries(
                    lambda q, allowed=allowed: first_k(pgvectors.candidates(engine, info, "joint", q[0], K, lambda ids: [ids.in_(allowed)])), fq)
                rows.append(row(dim, n, "pgvector", params, 1, None, lat, recall_at_k(found, sub_truth), None,
                                note=f"filter: {share:.0%} allowed"))
                print(f"  {rows[-1]}", file=sys.stderr)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {address.schema} CASCADE")
        engine.dispose()
    return rows


def markdown(rows: list[dict]) -> str:
    head = ("| dim | N | kind | params | threads | build s | median ms | p99 ms | recall@10 | index MB | RSS MB "
            "| note |")
    lines = [head, "|" + "---|" * 12]
    for r in rows:
        lines.append("| " + " | ".join("" if r[c] is None else str(r[c]) for c in
                                       ("dim", "n", "kind", "params", "threads", "build_s", "median_ms", "p99_ms",
                                        "recall_at_10", "memory_mb", "rss_mb", "note")) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    # The facets' own dimensions: content and style are 128-d, joint is their weighted concatenation (320-d).
    parser.add_argument("--dim", type=int, nargs="+", default=[128, 320])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--threads", type=int, nargs="+", default=[faiss.omp_get_max_threads()],
                        help="FAISS OpenMP threads (global setting; default: what a server process has). VectorIndex.search "
                             "pins searches of fewer than SMALL_BATCH queries to one thread, so this only matters for batches.")
    parser.add_argument("--collection", type=pathlib.Path,
                        help="time whole searches (search.rank) on random facets of this collection's dimensions and default mix, instead of --dim")
    parser.add_argument("--real", type=pathlib.Path, metavar="COLLECTION",
                        help="instead of random vectors, this collection's joint-facet vectors (--queries of them held out as queries)")
    parser.add_argument("--like", type=pathlib.Path, metavar="COLLECTION",
                        help="instead of random vectors, vectors drawn from a model of this collection's (real works held out as queries)")
    parser.add_argument("--approx", choices=["pq", "hnsw"], default="pq")
    parser.add_argument("--exact", action="store_true", help="also time brute-force IndexFlatIP")
    parser.add_argument("--filters", action="store_true", help="also time filtered searches")
    parser.add_argument("--pgvector", metavar="URL", help="also time pgvector in this PostgreSQL database (postgresql://USER@HOST/DB)")
    parser.add_argument("--json", type=pathlib.Path, help="write the rows to this file too")
    parser.add_argument("--write", action="store_true", help="write the table to docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.like is not None and args.collection is None:
        from artlens.store import vectors

        args.dim = [vectors.load(args.like / "vectors").matrices["joint"].shape[1]]
    if args.real is not None:
        train, held = real_vectors(args.real, args.queries)
        args.dim, args.sizes = [train.shape[1]], [len(train)]
        print(f"{args.real}: {len(train)} joint vectors indexed, {len(held)} held out as queries", file=sys.stderr)
    print(f"faiss {faiss.__version__}, {os.cpu_count()} CPUs, EXACT_BELOW={EXACT_BELOW}", file=sys.stderr)
    rows: list[dict] = []
    if args.collection is not None:
        from artlens import Collection

        with Collection.open(args.collection) as col:
            dims = {f.name: f.dim for f in col.info().facets if f.name != "joint"}
            weights = {f: w for f, w in col.facet_weights().items() if w > 0}
        dims_text = ", ".join(f"{f} {d}" for f, d in dims.items()) + "; default mix " + ", ".join(f"{f} {w:g}" for f, w in weights.items())
        print(f"{args.collection}: {dims_text}", file=sys.stderr)
        for n in args.sizes:
            rows += bench_searches(n, dims, weights, args)
    for dim in args.dim if args.collection is None else []:
        for n in args.sizes:
            print(f"dim={dim} N={n}", file=sys.stderr)
            rows += bench_one(dim, n, args)
    print(markdown(rows))
    print(json.dumps(rows, indent=1))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.write and args.like is not None:
        from bench.report import machine, write_section

        what = ("`search.rank` (whole searches, default mix and others, as in the section above)" if args.collection is not None
                else "one index's search (`VectorIndex.search(q, 10)`)" + (" and pgvector's" if args.pgvector else ""))
        body = "\n".join([
            "## Search latency on art-like vectors" + (" (whole searches)" if args.collection is not None else ""),
            "",
            f"`bench/search_latency.py --like COLLECTION {'--collection COLLECTION ' if args.collection else ''}--sizes "
            f"{' '.join(map(str, args.sizes))}{' --filters' if args.filters else ''}{' --pgvector URL' if args.pgvector else ''}` "
            f"on {machine()}, faiss {faiss.__version__}: {what} on vectors drawn from a model of the collection's own",
            f"(bench/art_vectors.py, fitted to all of its works but {args.queries} held out), those {args.queries} real works as",
            "single queries one at a time, k=10, recall@10 against exact search. The model against the real vectors,",
            "at the real size and for the same held-out queries (median cosine of the 1st / 10th neighbour; recall@10",
            "of IVF-Flat with sqrt(N) k-means lists by lists probed; of 4-bit PQ re-ranking 40 / 160 candidates):",
            "",
            args.like_table,
            "",
            markdown(rows),
        ])
        section = "search-like-user" if args.collection is not None else "search-like"
        print(f"written to {write_section(section, body)}", file=sys.stderr)
    elif args.write and args.collection is not None:
        from bench.report import machine, write_section

        body = "\n".join([
            "## Search latency of whole searches",
            "",
            f"`bench/search_latency.py --collection COLLECTION --sizes {' '.join(map(str, args.sizes))}` on {machine()}, faiss {faiss.__version__}:",
            "`search.rank`, what `Collection.search` runs once the query's vectors are known, on random unit vectors per facet at",
            f"the dimensions and default mix of a real collection ({dims_text}); {args.queries} single queries one at a time",
            f"(filtered ones too), each kind after {WARM_UP} untimed ones, k=10, recall@10 against the exact weighted mean of facet",
            "cosines. Goal: p99 under 10 ms at 1M with recall@10 >= 0.95, filters included. Dim: of the index asked.",
            "",
            markdown(rows),
        ])
        print(f"written to {write_section('search-user', body)}", file=sys.stderr)
    elif args.write:
        from bench.report import machine, write_section

        body = "\n".join([
            "## Search latency",
            "",
            f"`bench/search_latency.py --dim {' '.join(map(str, args.dim))} --sizes {' '.join(map(str, args.sizes))}"
            f"{' --filters' if args.filters else ''}` on {machine()}, faiss {faiss.__version__} (one index's search,",
            "`VectorIndex.search(q, 10)`): random unit vectors (the hardest case for",
            f"approximate indexes: no cluster structure), {args.queries} single queries one at a time, k=10, recall@10",
            "against exact search. Goal: p99 under 10 ms at 1M with recall@10 >= 0.95. `build_index` picks the index",
            f"(exact below {EXACT_BELOW:,} vectors; above, 4-bit PQ fast-scan codes with exact re-ranking of the best",
            "k x k_factor; on these vectors no k-means lists are cheap enough, so every code is scanned, split into two",
            "equal inverted lists that a single query scans on two threads, merged in a fixed order; k_factor tuned at",
            "build time for recall 0.96). HNSW was measured too and is 8-14x slower at the same recall on this data",
            "(see the index module's notes).",
            "",
            markdown(rows),
        ])
        print(f"written to {write_section('search-latency', body)}", file=sys.stderr)
    return rows


if __name__ == "__main__":
    main()
