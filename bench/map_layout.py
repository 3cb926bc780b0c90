"""The collection map: layout quality on all of WikiArt, placing new works, and the time and memory at 100k works.

    .venv/bin/python bench/map_layout.py [--parts quality,place,scale,figure] [--write]

quality: every WikiArt painting (../shared/data wikiart + wikiart_more, 10,605, embedded with the default
  backbone in --wikiart collections), facet transforms fitted on all of them as one collection would; per
  facet and method: trustworthiness (k=10, 3,000-work sample), k-NN preservation (k=10) against the facet's
  own neighbours, and the share of each work's 10 map neighbours from its movement and its genre (beside
  the same share among its 10 facet neighbours: what a perfect map would keep).
place: fit on a random 90, 80, 50 or 20%, place the rest, and measure the whole map as above: the placement
  rule of `artlens.maps.layout.place` against the similarity-weighted mean of the 10 most similar and
  against openTSNE's and UMAP's own `transform`.
scale: 100,000 synthetic unit vectors (320-d, 200 clusters) laid out by each method in a fresh process:
  seconds and peak memory (resource.getrusage), then the catalog round trip of that layout.
figure: docs/map-wikiart.png, the joint map of all WikiArt coloured by movement (as `artlens map --png` draws it).
With --write: docs/map.md (figures and the choice) and a line in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

from artlens.evaluation import map_quality as mq  # noqa: E402
from artlens.maps import layout  # noqa: E402
from bench.report import DOC, machine, write_section  # noqa: E402

WIKIART = Path("/tmp/artlens-train/lite0-art")
MAP_DOC = DOC.parent / "map.md"
FIGURE = DOC.parent / "map-wikiart.png"
K = 10
FACETS = ("joint", "style", "content")
METHODS = ("pca", "tsne", "umap", "sklearn-tsne")
RESULTS = Path(tempfile.gettempdir()) / "artlens-map-bench.json"


def wikiart_raw(root: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Raw features (the fitted facets') of all WikiArt paintings, wikiart then wikiart_more, and their
    style and genre labels ("" where unknown)."""
    from artlens import Collection
    from artlens.features.facets import FACETS as FITTED

    raw: dict[str, list[np.ndarray]] = {f: [] for f in FITTED}
    labels: dict[str, list[str]] = {"style": [], "genre": []}
    for name in ("wikiart", "wikiart_more"):
        col = Collection.open(root / name)
        ids, feats = col._raw(FITTED)
        rows = col.catalog.artworks(ids)
        for f in FITTED:
            raw[f].append(feats[f])
        for lab in labels:
            labels[lab] += [rows[int(i)].meta.get(lab) or "" for i in ids]
        col.close()
    return {f: np.concatenate(v) for f, v in raw.items()}, {k: np.asarray(v, dtype=object) for k, v in labels.items()}


def facet_matrices(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The fitted facets' vectors of `raw` (transforms fitted on all of it) and the default joint mix."""
    from artlens.features.facets import FACETS as FITTED
    from artlens.features.facets import TRANSFORM_SPECS, fit_transform
    from artlens.store.vectors import default_weights, joint_matrix

    mats = {f: fit_transform(raw[f], TRANSFORM_SPECS[f]).apply(raw[f]) for f in FITTED}
    mats["joint"] = joint_matrix(mats, default_weights(FITTED))
    return mats


def wikiart(root: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Facet matrices of all WikiArt paintings as one collection (transforms fitted on all), and their labels."""
    raw, labels = wikiart_raw(root)
    return facet_matrices(raw), labels


def fit_any(x: np.ndarray, method: str) -> np.ndarray:
    if method == "sklearn-tsne":
        from sklearn.manifold import TSNE

        return layout.normalise(TSNE(n_components=2, perplexity=30, metric="cosine", init="pca", random_state=0, n_jobs=2).fit_transform(x))
    return layout.fit(x, method)[0]


def quality(x: np.ndarray, xy: np.ndarray, labels: dict[str, np.ndarray], high: np.ndarray) -> dict[str, float]:
    low = mq.map_neighbours(xy, K)
    out = {"trust": mq.trustworthiness(x, xy, K), "knn": mq.knn_preservation(high, low)}
    out.update({f"agree_{lab}": mq.label_agreement(low, v) for lab, v in labels.items()})
    return out


def part_quality(mats: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict:
    out: dict = {}
    for facet in FACETS:
        x = mats[facet]
        high = mq.facet_neighbours(x, K)
        out[facet] = {"facet": {f"agree_{lab}": mq.label_agreement(high, v) for lab, v in labels.items()}}
        for method in METHODS:
            start = time.perf_counter()
            xy = fit_any(x, method)
            seconds = time.perf_counter() - start
            out[facet][method] = {"seconds": seconds, **quality(x, xy, labels, high)}
            print(facet, method, json.dumps(out[facet][method]), flush=True)
    return out


def part_place(mats: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict:
    """Fit on a share, place the rest, measure the whole map: the rule `add` uses at every share; at 80% also
    the mean of the 10 most similar (the first rule tried) and the library's own transform."""
    x = mats["joint"]
    high = mq.facet_neighbours(x, K)
    rng = np.random.default_rng(1)
    out: dict = {}
    for share in (0.9, 0.8, 0.5, 0.2):
        fitted = np.sort(rng.choice(len(x), int(share * len(x)), replace=False))
        rest = np.setdiff1d(np.arange(len(x)), fitted)
        for method in ("tsne", "umap") if share == 0.8 else ("tsne",):
            start = time.perf_counter()
            xy_fit, model = _fit_model(x[fitted], method)
            fit_s = time.perf_counter() - start
            for way in ("rule", "mean of 10", "transform") if share == 0.8 else ("rule",):
                start = time.perf_counter()
                if way == "rule":
                    xy_rest = layout.place(x[rest], x[fitted], xy_fit)
                elif way == "mean of 10":
                    xy_rest = mean_of_10(x[rest], x[fitted], xy_fit)
                else:
                    xy_rest = model(x[rest])
                place_s = time.perf_counter() - start
                xy = np.zeros((len(x), 2), np.float32)
                xy[fitted], xy[rest] = xy_fit, xy_rest
                key = f"{NAMES[method]} of {share:.0%}, {1 - share:.0%} placed by {way}"
                out[key] = {"fit_seconds": fit_s, "place_seconds": place_s, **quality(x, xy, labels, high)}
                print(key, json.dumps(out[key]), flush=True)
    return out


def mean_of_10(new: np.ndarray, placed: np.ndarray, placed_xy: np.ndarray) -> np.ndarray:
    """The first placement rule tried: the mean position of the 10 most similar, weighted by similarity above the 10th."""
    sims, rows = layout._top_k(np.ascontiguousarray(new), np.ascontiguousarray(placed), 10)
    weights = sims - sims[:, -1:] + 1e-3
    weights /= weights.sum(1, keepdims=True)
    return (placed_xy[rows] * weights[:, :, None]).sum(1).astype(np.float32)


def _fit_model(x: np.ndarray, method: str):
    """Fit with the library itself so its transform can be compared; coordinates normalised as `fit` does."""
    if method == "tsne":
        from openTSNE import TSNE

        emb = TSNE(perplexity=30, metric="cosine", initialization="pca", n_jobs=layout.usable_cores(), random_state=0).fit(x)
        raw = np.asarray(emb)
        return _scaled(raw, raw), lambda q: _scaled(raw, np.asarray(emb.transform(q)))
    from umap import UMAP

    model = UMAP(n_neighbors=15, min_dist=0.1, metric="cosine", random_state=0).fit(x)
    raw = np.asarray(model.embedding_)
    return _scaled(raw, raw), lambda q: _scaled(raw, np.asarray(model.transform(q)))


def _scaled(ref: np.ndarray, xy: np.ndarray) -> np.ndarray:
    centred = ref - ref.mean(0)
    return ((xy - ref.mean(0)) / np.sqrt((centred**2).sum(1)).max()).astype(np.float32)


def synthetic(n: int, dim: int = 320, clusters: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + rng.normal(scale=0.8, size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def scale_child(method: str, n: int) -> None:
    """Run in a fresh process: one layout of n synthetic works; prints seconds and peak memory as JSON.

    method: tsne, umap or pca over all n; "tsne-sample:S": t-SNE of a sample of S then the rest placed
    (what `map` does past layout.FIT_SAMPLE); "place": n works placed on a 100,000-work map (the 1M
    recipe's second half, per 100,000 works)."""
    x = synthetic(n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if method == "place":
        ref = synthetic(100_000, seed=1)
        layout.place(x, ref, np.random.default_rng(0).normal(size=(len(ref), 2)).astype(np.float32))
    elif method.startswith("tsne-sample:"):
        size = int(method.split(":")[1])
        rows = np.random.default_rng(0).choice(n, size, replace=False)
        rest = np.setdiff1d(np.arange(n), rows)
        xy, _ = layout.fit(x[rows], "tsne")
        layout.place(x[rest], x[rows], xy)
    else:
        layout.fit(x, method)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024, "before_mb": base / 1024}))


def part_scale(n: int, methods: list[str]) -> dict:
    out: dict = {}
    for method in methods:
        try:
            proc = subprocess.run([sys.executable, __file__, "--child", method, "--n", str(n)], capture_output=True, text=True, check=True,
                                  timeout=600)
            out[method] = json.loads(proc.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            out[method] = {"seconds": None, "timeout": 600}
        print("scale", method, out[method], flush=True)
    out["store"] = store_round_trip(n)
    print("scale store", out["store"], flush=True)
    return out


def store_round_trip(n: int) -> dict:
    """Seconds to write a layout of n works into a catalog, read it back and pack the REST payload."""
    import sqlite3

    from artlens.store.database import Catalog

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "artlens.db"
        store = Catalog.open(db)
        with sqlite3.connect(db) as conn:  # n bare artworks for the points to belong to
            conn.executemany("INSERT INTO artworks (id, path, file_size, mtime_ns, sha256, pixel_hash, phash, width, height, format, meta, "
                             "added_at) VALUES (?, ?, 0, 0, '', '', '', 1, 1, 'JPEG', '{}', '2026-01-01')",
                             [(i, f"/x/{i}.jpg") for i in range(1, n + 1)])
        ids = np.arange(1, n + 1, dtype=np.int64)
        xy = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
        start = time.perf_counter()
        store.write_layout("joint", "tsne", {}, ids, xy, np.zeros(n, bool), np.zeros(n, np.int32))
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        got = store.layout("joint")
        read_s = time.perf_counter() - start
        assert got is not None and len(got.ids) == n
        from artlens.results import MapInfo, MapLayout

        start = time.perf_counter()
        payload = MapLayout(MapInfo("joint", "tsne", n, 0, "", 0.0), got.ids, got.xy[:, 0], got.xy[:, 1], got.placed, got.clusters).payload()
        pack_s = time.perf_counter() - start
        store.close()
    return {"write_seconds": write_s, "read_seconds": read_s, "pack_seconds": pack_s, "payload_mb": len(payload) / 1e6}


def part_figure(mats: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
    """docs/map-wikiart.png: the joint map of every WikiArt painting, coloured and its clusters named by movement."""
    from artlens.maps import clusters, render

    xy, method = layout.fit(mats["joint"])
    movement = [v or None for v in labels["style"]]
    centres = clusters.fit_centres(xy)
    member = clusters.assign(xy, centres)
    names = [clusters.name(clusters.common_values([movement[i] for i in np.flatnonzero(member == c)])) for c in range(len(centres))]
    picture = render.MapPicture(title=f"WikiArt ({len(xy):,} paintings): joint map ({method})", facet="joint", ids=np.arange(len(xy)), xy=xy,
                                colour_by="movement", values=movement, paths=[""] * len(xy),
                                clusters=[(float(x), float(y), n) for (x, y), n in zip(centres, names) if n])
    render.write_png(picture, FIGURE)
    print(f"wrote {FIGURE}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="quality,place,scale,figure")
    ap.add_argument("--wikiart", type=Path, default=WIKIART, help="folder with the embedded wikiart and wikiart_more collections")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--methods", default="pca,tsne-sample:25000,umap,tsne,place", help="layouts timed by the scale part")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--write", action="store_true", help="write docs/map.md and a line in docs/benchmarks.md from the saved results")
    args = ap.parse_args()
    if args.child:
        scale_child(args.child, args.n)
        return
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    parts = [p for p in args.parts.split(",") if p]
    if {"quality", "place", "figure"} & set(parts):
        mats, labels = wikiart(args.wikiart)
        print(f"WikiArt: {len(mats['joint'])} paintings", flush=True)
        results["n_wikiart"] = len(mats["joint"])
        if "quality" in parts:
            results["quality"] = part_quality(mats, labels)
            RESULTS.write_text(json.dumps(results))
        if "place" in parts:
            results["place"] = part_place(mats, labels)
            RESULTS.write_text(json.dumps(results))
        if "figure" in parts:
            part_figure(mats, labels)
    if "scale" in parts:
        results["scale"] = part_scale(args.n, args.methods.split(","))
        results["n_scale"] = args.n
        RESULTS.write_text(json.dumps(results))
    results["machine"] = machine()
    RESULTS.write_text(json.dumps(results))
    if args.write:
        write_docs(results)


NAMES = {"pca": "PCA-2D", "tsne": "t-SNE (openTSNE, the default)", "umap": "UMAP (umap-learn)", "sklearn-tsne": "t-SNE (scikit-learn)",
         "tsne-sample:10000": "t-SNE of 10,000 + the rest placed", "tsne-sample:20000": "t-SNE of 20,000 + the rest placed (what `map` does)"}


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def write_docs(results: dict) -> None:
    lines = [f"Measured by `bench/map_layout.py` on {results.get('machine', machine())} (2 cores shared with a training job: "
             "compare times within a table, not across runs)."]
    if "quality" in results:
        lines += ["", f"### Layout quality on all of WikiArt ({results['n_wikiart']:,} paintings), k = 10", "",
                  "Trustworthiness on a 3,000-work sample; k-NN kept: share of a work's 10 facet neighbours among its 10 map "
                  "neighbours; movement / genre: share of its 10 map neighbours with its movement / genre (the facet row: the "
                  "same share among its 10 facet neighbours, what a perfect map keeps).", "",
                  "| facet | layout | trustworthiness | k-NN kept | movement | genre | seconds |", "|---|---|---|---|---|---|---|"]
        for facet, rows in results["quality"].items():
            own = rows["facet"]
            lines.append(f"| {facet} | the facet itself | - | 1 | {_f(own['agree_style'])} | {_f(own['agree_genre'])} | - |")
            for method in METHODS:
                if method in rows:
                    r = rows[method]
                    lines.append(f"| {facet} | {NAMES[method]} | {_f(r['trust'])} | {_f(r['knn'])} | {_f(r['agree_style'])} | "
                                 f"{_f(r['agree_genre'])} | {r['seconds']:.0f} |")
    if "place" in results:
        lines += ["", "### Placing new works (joint facet): fit on a share, place the rest, measure the whole map", "",
                  "| map | trustworthiness | k-NN kept | movement | genre | fit s | place s |", "|---|---|---|---|---|---|---|"]
        for key, r in results["place"].items():
            lines.append(f"| {key} | {_f(r['trust'])} | {_f(r['knn'])} | {_f(r['agree_style'])} | {_f(r['agree_genre'])} | "
                         f"{r['fit_seconds']:.0f} | {r['place_seconds']:.1f} |")
    if "scale" in results:
        sc = results["scale"]
        lines += ["", f"### {results['n_scale']:,} synthetic works (320-d unit vectors, 200 clusters), one fresh process each", "",
                  "| layout | seconds | peak memory (MB) | memory before (data, MB) |", "|---|---|---|---|"]
        for method, r in sc.items():
            if method == "store":
                continue
            name = "100,000 placed on a 100,000-work map" if method == "place" else NAMES.get(method, method)
            if r.get("seconds") is None:
                lines.append(f"| {name} | over {r.get('timeout')} (stopped) | - | - |")
            else:
                lines.append(f"| {name} | {r['seconds']:.0f} | {r['peak_mb']:.0f} | {r['before_mb']:.0f} |")
        st = sc["store"]
        lines += ["", f"Catalog: writing the {results['n_scale']:,} points takes {st['write_seconds']:.1f} s, reading them back "
                  f"{st['read_seconds']:.2f} s, packing the binary payload of `/api/maps/{{facet}}/points` {st['pack_seconds'] * 1000:.0f} ms "
                  f"({st['payload_mb']:.1f} MB)."]
    write_section("map-layout", "\n".join(lines), doc=MAP_DOC, header=MAP_HEADER)
    if "scale" in results:
        sc = results["scale"]
        parts = [f"{NAMES.get(m, m)} {r['seconds']:.0f} s ({r['peak_mb']:.0f} MB peak)" for m, r in sc.items()
                 if m not in ("store", "place") and r.get("seconds")]
        write_section("map-layout", f"## Collection map\n\n`bench/map_layout.py` on {results.get('machine', machine())}, layout of "
                      f"{results['n_scale']:,} synthetic works: " + "; ".join(parts) + ". Quality on WikiArt, placement and the "
                      "choices in `docs/map.md`.")


MAP_HEADER = "# The collection map\n\nThe figures below are written by `bench/map_layout.py --write`; the text around them by hand.\n"


if __name__ == "__main__":
    main()
