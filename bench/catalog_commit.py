"""The ingest driver's ceiling: how many works a second one `add` process can commit to the catalog.

    .venv/bin/python bench/catalog_commit.py --collection DIR [--database URL] [--works 20000] [--write]

`add` (plain or `--ray`) decodes and embeds anywhere, but one process commits every batch of 32 works
(`Catalog.commit_batch`: rows, metadata, raw features, thumbnail, one transaction each). This times only
that, with real payloads: the thumbnails, raw features and metadata of works of a built collection
(`--collection`), repeated under new paths and hashes, committed batch by batch into a new SQLite catalog
and, with `--database`, a new schema of that PostgreSQL database. The works/s it prints bound any cluster's
ingest into one collection (docs/deploying.md's 10M plan).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from artlens import Collection  # noqa: E402
from artlens.pipeline.ingest import BATCH_SIZE  # noqa: E402
from artlens.store import engines  # noqa: E402
from artlens.store.catalog import NewArtwork  # noqa: E402
from artlens.store.database import Catalog  # noqa: E402
from bench.report import machine, write_section  # noqa: E402

SAMPLE = 500  # distinct real works, cycled


def real_works(directory: Path) -> tuple[list[NewArtwork], dict[str, str]]:
    """SAMPLE works of a built collection as ingest hands them to the catalog, and its settings."""
    from artlens.features.embed import raw_dims

    with Collection.open(directory) as col:
        dims = raw_dims(col.backbone, col.style_variant)
        store = col.catalog
        features = {name: store.features(name, dim) for name, dim in dims.items()}
        rows = store.all_artworks()[:SAMPLE]
        where = {name: {int(i): n for n, i in enumerate(ids)} for name, (ids, _) in features.items()}
        # file size and mtime: any value does (they only decide whether a file changed)
        works = [NewArtwork(path=r.path, file_size=1, mtime_ns=1, sha256=r.sha256,
                            pixel_hash=r.pixel_hash, phash=r.phash, width=r.width, height=r.height, format=r.format,
                            thumbnail=store.thumbnail(r.id) or b"",
                            features={name: features[name][1][where[name][r.id]] for name in dims}, meta=dict(r.meta))
                 for r in rows]
        settings = {key: store.setting(key) for key in ("backbone", "backbone_version", "style_variant")}
    return works, settings


def commit_rate(store: Catalog, works: list[NewArtwork], n: int) -> float:
    """Works committed per second, `n` of them in batches of BATCH_SIZE, each a copy under a new path and hashes."""
    start = time.perf_counter()
    for first in range(0, n, BATCH_SIZE):
        batch = []
        for i in range(first, min(n, first + BATCH_SIZE)):
            w = works[i % len(works)]
            digest = hashlib.sha256(f"{i}".encode()).hexdigest()
            batch.append(NewArtwork(path=f"/bench/{i}.jpg", file_size=w.file_size, mtime_ns=w.mtime_ns, sha256=digest,
                                    pixel_hash=digest, phash=w.phash, width=w.width, height=w.height, format=w.format,
                                    thumbnail=w.thumbnail, features=w.features, meta=w.meta))
        store.commit_batch(batch, [], [])
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--collection", type=Path, required=True, help="a built collection to take real payloads from")
    ap.add_argument("--database", help="also a new schema of this PostgreSQL database (postgresql://USER@HOST/DB)")
    ap.add_argument("--works", type=int, default=20_000)
    ap.add_argument("--write", action="store_true", help="write the result to docs/benchmarks.md")
    args = ap.parse_args()
    works, settings = real_works(args.collection)
    kb = sum(len(w.thumbnail) + sum(v.nbytes for v in w.features.values()) for w in works) / len(works) / 1000
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite (WAL, local disk)", engines.Address(path=Path(tmp) / "artlens.db"))]
        if args.database:
            targets.append(("PostgreSQL (127.0.0.1)", engines.parse_url(f"{args.database}?collection=bench_commit")))
        for name, address in targets:
            store = Catalog.open(address)
            try:
                store.set_settings(settings)
                rate = commit_rate(store, works, args.works)
            finally:
                store.destroy()
                store.close()
            rows.append((name, rate))
            print(f"{name}: {rate:.0f} works/s ({args.works} works, batches of {BATCH_SIZE}, {kb:.1f} kB of thumbnail and raw features each)")
    if args.write:
        table = "\n".join(["| catalog | works committed / s |", "|---|---|", *(f"| {n} | {r:.0f} |" for n, r in rows)])
        body = "\n".join([
            "## The ingest driver's commit ceiling",
            "",
            f"`bench/catalog_commit.py --works {args.works}` on {machine()}: real payloads (thumbnails, raw features, metadata",
            f"of {SAMPLE} WikiArt works, {kb:.1f} kB a work, repeated under new paths) committed the way `add` commits them, batches",
            f"of {BATCH_SIZE} in one transaction each, by one process: the rate no cluster can push one collection's ingest past.",
            "",
            table,
        ])
        print(f"written to {write_section('catalog-commit', body)}", file=sys.stderr)


if __name__ == "__main__":
    main()
