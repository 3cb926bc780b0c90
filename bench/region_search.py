"""Search by region on paintings: does a face's own vector find the same artist and movement?

    .venv/bin/python bench/region_search.py [--work /tmp/artlens-regions] [--write]

Data: the WikiArt paintings (../shared/data wikiart + wikiart_more) of the 86 artists the art-tuned
backbone never saw (training/train_backbone.py's fixed validation split), added to one collection and
run through `detect`. Every detected face queries the collection with `Collection.search_regions`
(its own artwork left out) and, for comparison, its whole artwork queries it with `Collection.search`
restricted to works with faces (`faces>=1`, the same candidates). A result is relevant when it shares
the query's artist (or movement). Both rankings read the same backbone and transforms: the difference
is what the vector is of, the face or the whole painting.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))

from artlens import Collection  # noqa: E402
from bench.report import machine, write_section  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DOC = ROOT / "docs" / "regions.md"
K = 10


def validation_works(work: Path) -> Path:
    """A folder of links to the validation artists' paintings and a metadata CSV for them."""
    from collections_util import validation_artists_of_backbone

    artists = validation_artists_of_backbone()
    folder = work / "files"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rows = []
    for dataset in ("wikiart", "wikiart_more"):
        with open(DATA / dataset / "labels.csv", newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                if r["artist"] in artists:
                    name = f"{dataset}-{r['image'].replace('/', '--')}"
                    if (folder / name).exists():
                        continue  # listed twice
                    (folder / name).symlink_to(DATA / dataset / r["image"])
                    rows.append({"image": name, "artist": r["artist"], "style": r["style"], "genre": r["genre"]})
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["image", "artist", "style", "genre"])
        w.writeheader()
        w.writerows(rows)
    return folder


def precision(results: list, meta: dict, column: str, k: int) -> float:
    top = results[:k]
    return sum(r.metadata.get(column) == meta[column] for r in top) / k if top else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/artlens-regions"))
    ap.add_argument("--write", action="store_true", help="write the result to docs/regions.md")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    folder = validation_works(args.work)
    col = Collection.create(args.work / "collection")
    t = time.time()
    added = col.add([folder], metadata=folder / "labels.csv")
    print(f"added {added.added} new works in {time.time() - t:.0f} s ({col.count()} in all)", flush=True)
    t = time.time()
    found = col.detect()
    print(f"detect: {found.looked_at} works looked at, {found.faces} faces, {found.embedded} embedded, {time.time() - t:.0f} s", flush=True)
    rv = col.region_vectors()
    faces = [i for i in range(len(rv)) if rv.table.kinds[i] == "face"]
    with_faces = {int(a) for a in rv.table.artwork_ids}
    metas = {a: col.artwork(a, predictions=False).metadata for a in with_faces}
    scores: dict[str, dict[str, list[float]]] = {"region": {}, "whole": {}}
    t = time.time()
    for n, i in enumerate(faces):
        art = int(rv.table.artwork_ids[i])
        by_region = col.search_regions(region_id=int(rv.table.ids[i]), k=K)
        whole = col.search(ids=[art], where=["faces>=1"], k=K)
        for name, results in (("region", by_region), ("whole", whole)):
            for column in ("artist", "style"):
                for k in (1, K):
                    scores[name].setdefault(f"{column} P@{k}", []).append(precision(results, metas[art], column, k))
        if (n + 1) % 200 == 0:
            print(f"{n + 1}/{len(faces)} queries, {time.time() - t:.0f} s", flush=True)
    table = ["| query vector | " + " | ".join(scores["region"]) + " |", "|---|" + "---|" * len(scores["region"])]
    for name, label in (("region", "the face (search by region)"), ("whole", "its whole painting (search, faces>=1)")):
        table.append(f"| {label} | " + " | ".join(f"{np.mean(v):.3f}" for v in scores[name].values()) + " |")
    body = (
        f"Measured by `bench/region_search.py` ({machine()}): {col.count()} WikiArt paintings of the 86 artists the "
        f"backbone never saw; `detect` found {len(faces)} faces in {len(with_faces)} of them. Each face queries the "
        f"collection (its own painting left out); a result is relevant when it shares the query's artist or "
        f"movement (`style`). Same candidates for both rows: the works with at least one face.\n\n" + "\n".join(table)
    )
    print(body)
    if args.write:
        write_section("region-search", body, DOC, header="# Search by region\n")


if __name__ == "__main__":
    main()
