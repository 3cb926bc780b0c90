"""Near-duplicate detection on WikiArt with synthetic copies: recall per kind of copy, false pairs.

    .venv/bin/python bench/near_duplicates.py [--sample 200] [--out docs/near_duplicates.md]
                                              [--workdir /tmp/artlens-near-dup] [--subset 300]

What it does:
1. Picks `--sample` paintings of ../shared/data/wikiart (seed 0) and writes, for each, one copy per
   kind in `VARIANTS` (JPEG re-encodes, downscales, border crops, colour shifts, a 2 degree rotation
   and combinations) into `--workdir`/variants-SAMPLE. The paintings themselves are never copied.
2. Builds one collection (`--workdir`/collection-SAMPLE) of every WikiArt painting plus all the copies,
   through `Collection.add`, exactly as a user would. Ingesting ~6k images takes a few minutes on
   2 cores; the collection is reused by later runs (delete `--workdir` to start over).
3. Runs `artlens.retrieval.duplicates.find_near_duplicates` (rule and thresholds of artlens/retrieval/duplicates.py) on
   the collection's own content vectors and perceptual hashes, and reports per kind of copy the
   recall of the (original, copy) pairs: by the hash-only branch, by the joint pHash + content
   branch, by the rule as shipped; also with the content transform fitted on the paintings alone
   (a collection with few copies) and, for comparison, by the first guess (pHash <= 10 or content
   >= 0.90).
4. Counts false pairs (two different paintings; pairs of copies with another painting apart) on the
   full collection, on the 2,848 paintings alone, and on three `--subset`-painting collections
   whose content transform is refitted on those paintings only, as `Collection.build` does
   (whitening by a smaller collection changes the cosine scale: the thresholds must hold there
   too). The refits reuse the raw features in the catalog through the same code path
   (`fit_transform(raw, TRANSFORM_SPECS["content"]).apply(raw)`), so no second ingest is needed.
   A dozen WikiArt files are the same painting twice (`SAME_PAINTING`, checked by eye): those are
   true pairs, counted apart.

Prints the markdown report and writes it to `--out` when given.
"""

from __future__ import annotations

import argparse
import csv
import os
import pathlib
import sys
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from artlens import Collection  # noqa: E402
from artlens.features.embed import raw_dims  # noqa: E402
from artlens.features.facets import TRANSFORM_SPECS, fit_transform  # noqa: E402
from artlens.retrieval import duplicates  # noqa: E402
from artlens.store.layout import DB_FILE  # noqa: E402

WIKIART = pathlib.Path(os.environ.get("ARTLENS_TEST_DATA", ROOT.parent / "shared" / "data")) / "wikiart"


# --- synthetic copies --------------------------------------------------------------------------------

def scale(im: Image.Image, factor: float) -> Image.Image:
    w, h = im.size
    return im.resize((max(1, round(w * factor)), max(1, round(h * factor))), Image.Resampling.LANCZOS)


def crop(im: Image.Image, frac: float, where: str = "centre") -> Image.Image:
    """Remove `frac` of the width and of the height: half from each border ('centre') or all from
    the top and left borders ('corner', the stronger shift for a perceptual hash)."""
    w, h = im.size
    dw, dh = round(w * frac), round(h * frac)
    if where == "centre":
        return im.crop((dw // 2, dh // 2, w - (dw - dw // 2), h - (dh - dh // 2)))
    return im.crop((dw, dh, w, h))


def colour_cast(im: Image.Image, gains: tuple[float, float, float]) -> Image.Image:
    a = np.asarray(im, np.float32) * np.asarray(gains, np.float32)
    return Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))


def hue_shift(im: Image.Image, degrees: float) -> Image.Image:
    hsv = np.asarray(im.convert("HSV")).copy()
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + round(degrees * 256 / 360)) % 256).astype(np.uint8)
    return Image.fromarray(hsv, "HSV").convert("RGB")


def rotate(im: Image.Image, degrees: float) -> Image.Image:
    """Rotate, then crop the largest centred box free of the blank corners and resize back (a
    straightened scan)."""
    w, h = im.size
    r = im.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)
    t = abs(np.tan(np.radians(degrees)))
    m = int(np.ceil(t * max(w, h) / 2)) + 1
    return r.crop((m, m, w - m, h - m)).resize((w, h), Image.Resampling.BICUBIC)


def _enh(kind, factor: float) -> Callable[[Image.Image], Image.Image]:
    return lambda im: kind(im).enhance(factor)


# Each copy is saved as JPEG quality 92 (a typical "high quality" copy) unless it is a re-encode
# itself, in which case the stated quality is the file's quality.
VARIANTS: dict[str, tuple[str, Callable[[Image.Image], Image.Image], int]] = {
    "jpeg70": ("JPEG re-encode, quality 70", lambda im: im, 70),
    "jpeg50": ("JPEG re-encode, quality 50", lambda im: im, 50),
    "half": ("downscaled to 50% (112 px)", lambda im: scale(im, 0.5), 92),
    "half_up": ("downscaled to 50% and back up", lambda im: scale(scale(im, 0.5), 2.0), 92),
    "crop5": ("5% cropped (2.5% per border)", lambda im: crop(im, 0.05), 92),
    "crop10": ("10% cropped (5% per border)", lambda im: crop(im, 0.10), 92),
    "crop10_corner": ("10% cropped from top and left", lambda im: crop(im, 0.10, "corner"), 92),
    "brightness": ("brightness +20%", _enh(ImageEnhance.Brightness, 1.2), 92),
    "contrast": ("contrast -20%", _enh(ImageEnhance.Contrast, 0.8), 92),
    "saturation": ("saturation +40%", _enh(ImageEnhance.Color, 1.4), 92),
    "hue": ("hue rotated 10 degrees", lambda im: hue_shift(im, 10), 92),
    "cast": ("warm colour cast (R x1.08, B x0.90)", lambda im: colour_cast(im, (1.08, 1.0, 0.90)), 92),
    "rotate2": ("rotated 2 degrees, borders cropped", lambda im: rotate(im, 2.0), 92),
    "combo": ("crop 5% + 75% size + brightness/saturation +10% + JPEG 60",
              lambda im: _enh(ImageEnhance.Color, 1.1)(_enh(ImageEnhance.Brightness, 1.1)(scale(crop(im, 0.05), 0.75))), 60),
    "combo_hard": ("crop 10% corner + 50% size + warm cast + contrast -15% + JPEG 50",
                   lambda im: _enh(ImageEnhance.Contrast, 0.85)(colour_cast(scale(crop(im, 0.10, "corner"), 0.5), (1.08, 1.0, 0.9))), 50),
}


def read_labels() -> list[dict[str, str]]:
    with open(WIKIART / "labels.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def make_variants(originals: list[pathlib.Path], sample: int, out_dir: pathlib.Path, seed: int = 0) -> dict[str, tuple[str, str]]:
    """Write one copy of each kind for `sample` paintings: {copy path: (original path, kind)}."""
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(originals), size=min(sample, len(originals)), replace=False))
    out: dict[str, tuple[str, str]] = {}
    for i in chosen:
        src = originals[i]
        with Image.open(src) as im:
            im = im.convert("RGB")
            for kind, (_, fn, quality) in VARIANTS.items():
                dst = out_dir / kind / f"{i:04d}_{src.stem}.jpg"
                if not dst.exists():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    fn(im).save(dst, "JPEG", quality=quality)
                out[str(dst)] = (str(src), kind)
    return out


# --- measurement -------------------------------------------------------------------------------------

# Pairs of WikiArt files that are one painting (checked by eye): the same image filed under two
# styles, or two photographs of one painting. They are true near-duplicates, not false pairs.
SAME_PAINTING: list[tuple[str, str]] = [
    ("Cubism/joan-miro_still-life-with-rose.jpg", "Fauvism/joan-miro_still-life-with-rose.jpg"),
    ("Abstract_Expressionism/aki-kuroda_cosmogarden-2011.jpg", "Pop_Art/aki-kuroda_cosmogarden-2011.jpg"),
    ("Cubism/joan-miro_the-waggon-tracks.jpg", "Naive_Art_Primitivism/joan-miro_the-waggon-tracks.jpg"),
    ("Cubism/tarsila-do-amaral_e-f-c-b-estrada-de-ferro-central-do-brasil-1924.jpg",
     "Naive_Art_Primitivism/tarsila-do-amaral_e-f-c-b-estrada-de-ferro-central-do-brasil-1924.jpg"),
    ("Cubism/joan-miro_north-south.jpg", "Fauvism/joan-miro_north-south.jpg"),
    ("Fauvism/charles-lapicque_personnages-color-s.jpg", "Pop_Art/charles-lapicque_personnages-color-s.jpg"),
    ("Cubism/joan-miro_prades-the-village.jpg", "Fauvism/joan-miro_prades-the-village.jpg"),
    ("Rococo/jean-marc-nattier_jeanne-antoinette-poisson-marquise-de-pompadour-as-diana-1746.jpg",
     "Rococo/jean-marc-nattier_marquise-de-pompadour-as-diana-1746.jpg"),
    ("Baroque/diego-velazquez_don-gaspde-guzman-count-of-oliveres-and-duke-of-san-lucla-mayor-1624.jpg",
     "Baroque/diego-velazquez_portrait-of-the-count-duke-of-olivares-1624.jpg"),
    ("Rococo/dmitry-levitzky_baron-alexander-stroganov.jpg", "Rococo/dmitry-levitzky_portrait-of-baron-a-n-stroganoff.jpg"),
    ("Baroque/osias-beert_oysters-and-glasses.jpg", "Baroque/osias-beert_still-life-1.jpg"),
    ("Baroque/adriaen-brouwer_dune-landscape-by-moonlight.jpg", "Baroque/adriaen-brouwer_moonlit-landscape.jpg"),
]
OLD_RULE = (10, 0.90)  # the uncalibrated first guess: pHash <= 10 or content >= 0.90


def collection_data(col: Collection) -> tuple[np.ndarray, list[str], list[str], np.ndarray, np.ndarray]:
    """ids, paths, pHashes, transformed content vectors (as built) and raw content features."""
    vecs = col.vectors
    ids = np.asarray(vecs.ids)
    rows = {a.id: a for a in col.catalog.all_artworks()}
    _, raw = col.catalog.features("content", raw_dims(col.backbone, col.style_variant)["content"])
    paths = [rows[int(i)].path for i in ids]
    phashes = [rows[int(i)].phash for i in ids]
    return ids, paths, phashes, np.asarray(vecs.matrices["content"], np.float32), raw


def hamming_matrix(phashes: list[str], rows_a: np.ndarray, rows_b: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(b"".join(bytes.fromhex(h) for h in phashes), np.uint8).reshape(-1, 8), axis=1).astype(np.float32)
    a, b = bits[rows_a], bits[rows_b]
    return (a @ (1 - b).T + (1 - a) @ b.T).round().astype(np.int32)


def refit_content(raw: np.ndarray) -> np.ndarray:
    """Content vectors of a collection holding exactly these raw rows (what Collection.build does)."""
    return fit_transform(raw, TRANSFORM_SPECS["content"]).apply(raw)


def rule_holds(dist: np.ndarray, cos: np.ndarray) -> np.ndarray:
    """The shipped rule on given (pHash distance, content cosine) values."""
    return cos >= duplicates.content_bar(dist)


def old_rule_pairs(rows: np.ndarray, phashes: list[str], content: np.ndarray) -> set[tuple[int, int]]:
    """Row pairs (i < j) among `rows` reported by the old rule, by brute force."""
    ham = hamming_matrix(phashes, rows, rows)
    cos = content[rows] @ content[rows].T
    i, j = np.nonzero(np.triu((ham <= OLD_RULE[0]) | (cos >= OLD_RULE[1]), 1))
    return {(int(rows[a]), int(rows[b])) for a, b in zip(i, j)}


def run(sample: int, workdir: pathlib.Path, subset: int, out: pathlib.Path | None) -> str:
    labels = read_labels()
    originals = [WIKIART / r["image"] for r in labels]
    t0 = time.time()
    copies_dir, col_dir = workdir / f"variants-{sample}", workdir / f"collection-{sample}"
    variants = make_variants(originals, sample, copies_dir)
    if col_dir.exists() and not (col_dir / DB_FILE).exists():
        sys.exit(f"{col_dir} exists but is not a collection: remove it")
    col = Collection.create(col_dir)
    if col.is_stale() or len(col.vectors) != len(originals) + len(variants):
        print(f"ingesting {len(originals)} paintings + {len(variants)} copies into {col_dir} "
              "(a few minutes) ...", file=sys.stderr)
        col.add([*map(str, originals), str(copies_dir)])
    ids, paths, phashes, content, raw = collection_data(col)
    print(f"collection ready in {time.time() - t0:.0f} s: {len(ids)} images", file=sys.stderr)

    row_of = {p: r for r, p in enumerate(paths)}
    orig_set = {str(p) for p in originals}
    fam = np.array([row_of[variants[p][0]] if p in variants else r for r, p in enumerate(paths)])
    for a, b in SAME_PAINTING:  # one family per painting, however many files it has
        ra, rb = row_of.get(str(WIKIART / "images" / a)), row_of.get(str(WIKIART / "images" / b))
        if ra is not None and rb is not None:
            fam[fam == fam[rb]] = fam[ra]
    is_orig = np.array([p in orig_set for p in paths])
    row_of_id = {int(i): r for r, i in enumerate(ids)}
    name = [p.split("/images/")[-1] if "/images/" in p else "copy:" + pathlib.Path(p).parent.name + "/" + pathlib.Path(p).name
            for p in paths]

    def classify(pairs: set[tuple[int, int]]) -> tuple[list, list, int]:
        """(false pairs of two paintings, false pairs copy vs other painting, true pairs of one painting's files)."""
        oo, other, same = [], [], 0
        for i, j in pairs:
            if fam[i] == fam[j]:
                same += is_orig[i] and is_orig[j]
            elif is_orig[i] and is_orig[j]:
                oo.append((i, j))
            else:
                other.append((i, j))
        return oo, other, same

    found = duplicates.find_near_duplicates(ids, phashes, content)
    reported = {(min(row_of_id[n.a], row_of_id[n.b]), max(row_of_id[n.a], row_of_id[n.b])) for n in found}
    all_rows = np.arange(len(ids))
    old = old_rule_pairs(all_rows, phashes, content)
    orig_content = refit_content(raw[is_orig])
    content_o = np.zeros_like(content)
    content_o[is_orig] = orig_content
    content_o[~is_orig] = fit_transform(raw[is_orig], TRANSFORM_SPECS["content"]).apply(raw[~is_orig])

    lines = [
        f"# Near-duplicates on WikiArt: {sample} paintings x {len(VARIANTS)} kinds of copy",
        "",
        f"Collection: {int(is_orig.sum())} WikiArt paintings + {len(variants)} synthetic copies ({len(ids)} images), "
        f"backbone {col.backbone_name}, built with `Collection.add`.",
        "",
        f"Rule (artlens/retrieval/duplicates.py): {duplicates.describe_rule()}.",
        "",
        "Recall = share of the (painting, copy) pairs found. pHash alone: the hash-only branch "
        f"(distance <= {duplicates.PHASH_MAX_DISTANCE}); added by content: pairs only the joint branch finds "
        f"(distance {duplicates.PHASH_MAX_DISTANCE + 1}-{duplicates.JOINT_PHASH_MAX_DISTANCE} and cosine above "
        "the bar); rule: pairs `find_near_duplicates` "
        "reports on the collection (either branch, content candidates from its neighbour search); "
        "paintings-only fit: the rule with the content transform fitted on the 2,848 paintings alone, as in a "
        f"collection with few copies; old: pHash <= {OLD_RULE[0]} or content >= {OLD_RULE[1]:.2f}.",
        "",
        "| copy | pHash dist. median (max) | content cos. median (min) | pHash alone | added by content | **rule** | rule, paintings-only fit | old rule |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_kind: dict[str, list[tuple[int, int]]] = {}
    for p, (src, kind) in variants.items():
        by_kind.setdefault(kind, []).append((row_of[src], row_of[p]))
    tot = np.zeros(6)
    for kind, (desc, _, _) in VARIANTS.items():
        pr = np.array(by_kind[kind])
        ham = np.array([duplicates.hamming(phashes[a], phashes[b]) for a, b in pr])
        cos = np.einsum("ij,ij->i", content[pr[:, 0]], content[pr[:, 1]])
        cos_o = np.einsum("ij,ij->i", content_o[pr[:, 0]], content_o[pr[:, 1]])
        h_ok = ham <= duplicates.PHASH_MAX_DISTANCE
        c_ok = ~h_ok & (cos >= duplicates.content_bar(ham))
        r_ok = np.array([(min(a, b), max(a, b)) in reported for a, b in pr])
        o_ok = rule_holds(ham, cos_o)
        old_ok = np.array([(min(a, b), max(a, b)) in old for a, b in pr])
        tot += [len(pr), h_ok.sum(), c_ok.sum(), r_ok.sum(), o_ok.sum(), old_ok.sum()]
        lines.append(f"| {kind}: {desc} | {np.median(ham):.0f} ({ham.max()}) | {np.median(cos):.3f} ({cos.min():.3f}) | "
                     f"{h_ok.mean():.1%} | {c_ok.mean():.1%} | **{r_ok.mean():.1%}** | {o_ok.mean():.1%} | {old_ok.mean():.1%} |")
    r = tot[1:] / tot[0]
    lines.append(f"| **all {int(tot[0])} copies** | | | {r[0]:.1%} | {r[1]:.1%} | **{r[2]:.1%}** | {r[3]:.1%} | {r[4]:.1%} |")

    n_orig = int(is_orig.sum())
    lines += [
        "",
        "## False pairs",
        "",
        "A false pair joins two different paintings. Target: at most 0.5% of the paintings in one. Pairs of "
        f"files that are one painting (WikiArt holds {len(SAME_PAINTING)} such pairs, listed in the script) "
        "are true pairs, counted apart.",
        "",
        ("| collection | rule | reported pairs | false pairs (2 paintings) | paintings involved "
         "| false pairs copy vs other painting | same-painting pairs found |"),
        "|---|---|---|---|---|---|---|",
    ]
    listing: dict[tuple[int, int], str] = {}

    def fp_row(label: str, rule: str, pairs: set[tuple[int, int]], n: int, with_copies: bool = False) -> None:
        oo, other, same = classify(pairs)
        inv = {i for p in oo for i in p}
        lines.append(f"| {label} | {rule} | {len(pairs)} | {len(oo)} | {len(inv)} ({len(inv) / n:.2%}) | "
                     f"{len(other) if with_copies else '-'} | {same} |")
        if rule == "new":
            for i, j in oo:
                listing[(i, j)] = (f"{name[i]} ~ {name[j]} (pHash {duplicates.hamming(phashes[i], phashes[j])}, "
                                   f"content {float(content[i] @ content[j]):.3f} in the full collection)")

    fp_row(f"full: {n_orig} paintings + {len(variants)} copies", "new", reported, n_orig, True)
    fp_row(f"full: {n_orig} paintings + {len(variants)} copies", "old", old, n_orig, True)
    orig_rows = np.nonzero(is_orig)[0]

    def pairs_of(rows: np.ndarray, vecs: np.ndarray) -> set[tuple[int, int]]:
        got = duplicates.find_near_duplicates(ids[rows], [phashes[r] for r in rows], vecs)
        return {(min(row_of_id[n.a], row_of_id[n.b]), max(row_of_id[n.a], row_of_id[n.b])) for n in got}

    fp_row(f"{n_orig} paintings only (transform refitted)", "new", pairs_of(orig_rows, orig_content), n_orig)
    fp_row(f"{n_orig} paintings only (transform refitted)", "old", old_rule_pairs(orig_rows, phashes, content_o), n_orig)
    sub_recall, sub_scale = [], []
    base_fp = len(classify(pairs_of(orig_rows, orig_content))[0])
    for seed in range(3):
        rows = np.sort(np.random.default_rng(100 + seed).choice(orig_rows, size=min(subset, len(orig_rows)), replace=False))
        transform = fit_transform(raw[rows], TRANSFORM_SPECS["content"])
        vecs = transform.apply(raw[rows])
        fp_row(f"subset {seed + 1}: {len(rows)} paintings (transform refitted)", "new", pairs_of(rows, vecs), len(rows))
        sub_content = np.zeros_like(content)
        sub_content[rows] = vecs
        fp_row(f"subset {seed + 1}: {len(rows)} paintings (transform refitted)", "old", old_rule_pairs(rows, phashes, sub_content), len(rows))
        # Recall with this small collection's transform applied to every (painting, copy) pair.
        allv = transform.apply(raw)
        pr = np.array([pair for prs in by_kind.values() for pair in prs])
        ham = np.array([duplicates.hamming(phashes[a], phashes[b]) for a, b in pr])
        sub_recall.append(rule_holds(ham, np.einsum("ij,ij->i", allv[pr[:, 0]], allv[pr[:, 1]])).mean())
        oo, _, _ = classify(pairs_of(orig_rows, allv[orig_rows]))
        sub_scale.append((len(oo), len({i for q in oo for i in q})))
    lines += ["", f"Recall of all copies with the content transform of each {subset}-painting subset: "
              + ", ".join(f"{x:.1%}" for x in sub_recall) + ".",
              "", f"Cosine scale of a small collection: each subset's transform applied to all {n_orig} paintings "
              f"({n_orig * (n_orig - 1) // 2:,} pairs, so that rare false pairs show): "
              + ", ".join(f"{a} false pairs, {b} paintings ({b / n_orig:.2%})" for a, b in sub_scale)
              + f", against {base_fp} false pairs with the transform fitted on all of them."]
    if listing:
        lines += ["", "False pairs of the rule (every collection above):", ""]
        lines += [f"- {v}" for _, v in sorted(listing.items(), key=lambda kv: kv[1])]
    report = "\n".join(lines) + "\n"
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
    col.close()
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample", type=int, default=200, help="paintings to make copies of (default 200)")
    ap.add_argument("--subset", type=int, default=300, help="size of the small collections for the false-pair check")
    ap.add_argument("--workdir", type=pathlib.Path, default=pathlib.Path("/tmp/artlens-near-dup"),
                    help="where copies and the collection are written (reused by later runs)")
    ap.add_argument("--out", type=pathlib.Path, default=None, help="also write the markdown report here")
    args = ap.parse_args()
    if not (WIKIART / "labels.csv").is_file():
        sys.exit(f"WikiArt not found at {WIKIART} (set ARTLENS_TEST_DATA)")
    print(run(args.sample, args.workdir, args.subset, args.out))


if __name__ == "__main__":
    main()
