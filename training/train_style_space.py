"""Train the default learned style space (artlens/models/style_learned.npz) and measure it on unseen artists.

    .venv/bin/python training/train_style_space.py [--work /tmp/artlens-train] [--folds 5] [--loss contrastive]

Ingests ../shared/data/wikiart into a collection under --work (reused when present), reads its RAW
features, and:

1. held-out evaluation: the artists are split into --folds folds (seeded). For each fold a space is
   trained on the other artists' paintings and every held-out painting queries the other held-out
   paintings (never itself, never a training artist): artist P@1/P@5/P@10 (ALADIN group retrieval)
   and style-movement P@10. Baselines on the same galleries: the untrained style, content and colour
   facets and the default joint mix, each through the transform a collection fits on itself
   (`artlens.features.facets.fit_transform` on all its paintings; unsupervised, so that is what a user gets).
   Prints the fold means as a markdown table.
2. the shipped space: trained on every artist with the same settings, timed, saved with its card
   (which includes the held-out numbers).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # artlens and bench
sys.path.insert(0, str(HERE))

from collections_util import ensure_collection, load_all_wikiart, load_raw, validation_artists_of_backbone  # noqa: E402

from artlens import Collection  # noqa: E402
from artlens.evaluation import metrics  # noqa: E402
from artlens.evaluation.evaluate import ranked_neighbours  # noqa: E402
from artlens.features.backbone import BACKBONES  # noqa: E402
from artlens.features.facets import DEFAULT_WEIGHTS, FACETS, TRANSFORM_SPECS, fit_transform  # noqa: E402
from artlens.learn.registry import DEFAULT_FEATURES  # noqa: E402
from artlens.learn.style_space import LOSSES, STYLE_SPACE_INPUTS, default_style_space_path, evaluate_groups, train_style_space  # noqa: E402
from artlens.store.vectors import joint_matrix  # noqa: E402

SEED = 0
COLUMNS = ("artist P@1", "artist P@5", "artist P@10", "style P@10")


def artist_folds(artists: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold number of every painting: artists shuffled (seeded) and dealt round-robin into k folds."""
    names = np.random.default_rng(seed).permutation(np.unique(artists))
    fold_of = {a: i % k for i, a in enumerate(names)}
    return np.array([fold_of[a] for a in artists])


def gallery_scores(vectors: np.ndarray, artists: np.ndarray, styles: np.ndarray) -> dict[str, float]:
    """Artist P@1/5/10 and style P@10 when each painting queries the rest of `vectors`."""
    group = evaluate_groups(vectors, artists, ks=(1, 5, 10))
    codes = np.unique(styles, return_inverse=True)[1]
    ranked = ranked_neighbours(vectors, np.arange(len(codes)), 10)
    style = metrics.retrieval_scores(codes, codes[ranked], metrics.other_members(codes), ks=(10,))
    return {"artist P@1": group["P@1"], "artist P@5": group["P@5"], "artist P@10": group["P@10"], "style P@10": style["P@10"]}


def untrained(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The collection's own facets: each transform fitted on every painting, as `artlens build` does."""
    mats = {f: fit_transform(raw[f], TRANSFORM_SPECS[f], seed=SEED).apply(raw[f]) for f in FACETS}
    return {"style (untrained)": mats["style"], "content": mats["content"], "color": mats["color"],
            "joint (default mix)": joint_matrix(mats, {f: DEFAULT_WEIGHTS[f] for f in FACETS})}


def held_out(raw, artists, styles, folds: int, loss: str) -> tuple[dict[str, dict[str, float]], list[dict]]:
    """Fold means of every method, and the training report of each fold's space."""
    fold = artist_folds(artists, folds, SEED)
    baselines = untrained(raw)
    per_method: dict[str, list[dict[str, float]]] = {}
    reports = []
    for k in range(folds):
        train, test = fold != k, fold == k
        space, report = train_style_space({f: x[train] for f, x in raw.items()}, list(artists[train]), loss=loss, seed=SEED)
        reports.append(report)
        learned = space.apply({f: x[test] for f, x in raw.items()})
        methods = {"style_learned": learned}
        methods.update({name: m[test] for name, m in baselines.items()})
        # The default mix with the learned space in the style slot: a hint for the joint weights.
        methods["joint, style_learned as style"] = joint_matrix(
            {"style": learned, "content": baselines["content"][test], "color": baselines["color"][test]},
            {f: DEFAULT_WEIGHTS[f] for f in FACETS})
        for name, vectors in methods.items():
            per_method.setdefault(name, []).append(gallery_scores(vectors, artists[test], styles[test]))
        scores = per_method["style_learned"][-1]
        print(f"fold {k}: {test.sum()} paintings, {len(np.unique(artists[test]))} artists; learned artist P@1 "
              f"{scores['artist P@1']:.3f} (untrained style {per_method['style (untrained)'][-1]['artist P@1']:.3f}), "
              f"best epoch {report['best_epoch']}, {report['seconds']:.0f}s", flush=True)
    means = {name: {c: float(np.mean([s[c] for s in scores])) for c in COLUMNS} for name, scores in per_method.items()}
    return means, reports


def wikiart(work: Path, backbone: str) -> tuple:
    """Raw features, artists and movements of ../shared/data/wikiart on `backbone`."""
    col = ensure_collection(work, "wikiart", backbone)
    names = (col.backbone_name, col.style_variant)
    _, raw, metas, _ = load_raw(col, facets=tuple(sorted({*FACETS, *STYLE_SPACE_INPUTS})))
    col.close()
    return (raw, np.array([m["artist"] for m in metas]), np.array([m["style"] for m in metas]), *names,
            "WikiArt subset (../shared/data/wikiart)")


def backbone_split(work: Path, backbone: str) -> tuple:
    """wikiart + wikiart_more on a fine-tuned backbone, split as training/train_backbone.py split them:
    the training artists' (raw, artists, styles, ...) and the validation artists' (raw, artists, styles)."""
    raw, metas, _ = load_all_wikiart(work, backbone, facets=tuple(sorted({*FACETS, *STYLE_SPACE_INPUTS})))
    artists, styles = np.array([m["artist"] for m in metas]), np.array([m["style"] for m in metas])
    val = np.isin(artists, list(validation_artists_of_backbone()))
    source = "WikiArt (../shared/data/wikiart + wikiart_more), the backbone's training artists"
    with Collection.open(work / backbone / "wikiart") as col:
        style_variant = col.style_variant
    return ({f: x[~val] for f, x in raw.items()}, artists[~val], styles[~val], backbone, style_variant, source,
            ({f: x[val] for f, x in raw.items()}, artists[val], styles[val]))


def unseen(raw, artists, vraw, vartists, vstyles, loss: str) -> tuple[dict[str, dict[str, float]], list[dict]]:
    """Every method on the validation artists' gallery, the space trained on the training artists."""
    space, report = train_style_space(raw, list(artists), loss=loss, seed=SEED)
    learned = space.apply(vraw)
    baselines = untrained(vraw)
    facets = {"style": learned, "content": baselines["content"], "color": baselines["color"]}
    methods = {"style_learned": learned, **baselines,
               "joint, style_learned as style": joint_matrix(facets, {f: DEFAULT_WEIGHTS[f] for f in FACETS})}
    # The default joint weights re-checked on this backbone: more style weight serves these two
    # style measures; content's share is what lets the joint also match what a work shows.
    for weights in JOINT_CHECKS:
        name = "joint " + ", ".join(f"{f} {w}" for f, w in weights.items())
        methods[name] = joint_matrix(facets, weights)
    return {name: gallery_scores(v, vartists, vstyles) for name, v in methods.items()}, [report]


JOINT_CHECKS = ({"content": 0.25, "style": 0.65, "color": 0.1}, {"content": 0.15, "style": 0.8, "color": 0.05},
                {"content": 0.45, "style": 0.45, "color": 0.1})


def markdown(means: dict[str, dict[str, float]]) -> str:
    lines = ["| method | " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    lines += [f"| {name} | " + " | ".join(f"{scores[c]:.3f}" for c in COLUMNS) + " |" for name, scores in means.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/artlens-train"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--loss", choices=LOSSES, default="contrastive")
    parser.add_argument("--backbone", choices=[b for b, spec in BACKBONES.items() if spec.features == b], default=DEFAULT_FEATURES)
    parser.add_argument("--output", type=Path, help="default: the shipped space for the backbone, artlens/models/<backbone>/style_learned.npz")
    parser.add_argument("--write", action="store_true", help="write the figures to docs/evaluation.md and the training time to docs/benchmarks.md")
    args = parser.parse_args()

    args.output = args.output or default_style_space_path(args.backbone)
    if BACKBONES[args.backbone].weights == "imagenet":
        raw, artists, styles, backbone, style_variant, source = wikiart(args.work, args.backbone)
        print(f"WikiArt: {len(artists)} paintings, {len(np.unique(artists))} artists, {len(np.unique(styles))} movements", flush=True)
        means, reports = held_out(raw, artists, styles, args.folds, args.loss)
        protocol = f"{args.folds} folds by artist; each held-out painting queries the fold's other paintings"
    else:
        # The backbone saw every artist but its validation ones: folds over seen artists would flatter the
        # space. Train on the backbone's training artists, measure on its validation artists.
        raw, artists, styles, backbone, style_variant, source, (vraw, vartists, vstyles) = backbone_split(args.work, args.backbone)
        print(f"{source}; {len(vartists)} paintings by {len(np.unique(vartists))} validation artists held out", flush=True)
        means, reports = unseen(raw, artists, vraw, vartists, vstyles, args.loss)
        protocol = (f"trained on the backbone's training artists, measured on its {len(np.unique(vartists))} validation artists "
                    f"({len(vartists)} paintings, the gallery), which neither the backbone nor the space saw")
    table = markdown(means)
    print(f"\nHeld-out artists ({protocol}):\n")
    print(table, flush=True)

    started = time.time()
    space, report = train_style_space(raw, list(artists), loss=args.loss, seed=SEED)
    seconds = time.time() - started
    space.meta.update({
        "group": "artist",
        "backbone": backbone,
        "style_variant": style_variant,
        "trained_on": f"{source}: {len(artists)} paintings, {len(np.unique(artists))} artists",
        "held_out": {"protocol": protocol,
                     "fold_best_epochs": [r["best_epoch"] for r in reports], "scores": means},
    })
    space.save(args.output)
    print(f"\nfinal space: best epoch {report['best_epoch']} (val P@1 {report['val_p1']:.3f}), "
          f"trained in {seconds:.1f}s; {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)")
    print(json.dumps({k: v for k, v in report.items() if k != "val_p1_by_epoch"}))
    if args.write:
        write_docs(table, args, report, seconds, len(artists), len(np.unique(artists)), protocol, source)


def write_docs(table: str, args: argparse.Namespace, report: dict, seconds: float, paintings: int, artists: int, protocol: str, source: str) -> None:
    from bench.report import machine, write_section

    section = "\n".join([
        "## Learned style space (facet `style_learned`) on artists it never saw",
        "",
        f"`training/train_style_space.py --backbone {args.backbone} --loss {args.loss} --write` ({args.backbone}: "
        f"{BACKBONES[args.backbone].summary}). Training data: {source}, {paintings} paintings by {artists} artists. Held out: {protocol}.",
        "A space is a residual projection head on the whitened AdaIN style statistics, trained with a supervised",
        "contrastive loss over batches of artist groups, early stopping on validation artists' P@1. Artist P@k is",
        "ALADIN's group retrieval; style P@10 is the share of the 10 neighbours from the query's movement. The",
        "untrained facets go through the transform a collection fits on itself.",
        "",
        table,
        "",
        f"The shipped space (`artlens/models/{args.backbone}/style_learned.npz`) is trained the same way on the training data; new",
        "collections on this backbone use it, and the joint mix then takes it in the style slot (the last row).",
        *([] if BACKBONES[args.backbone].weights == "imagenet" else [
            "The default joint weights (content 0.35, style 0.55, colour 0.1) are kept: more style weight gains at most",
            "0.02 on these two style measures, and content's share is what lets the joint also match what a work shows."]),
    ])
    evaluation = Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"
    write_section("learned-style" if args.backbone == "lite0" else f"learned-style-{args.backbone}", section, evaluation, header="# Evaluation\n")
    timing = "\n".join([
        "## Training the default learned style space",
        "",
        f"`training/train_style_space.py` on {machine()}: the shipped space, from stored features of "
        f"{paintings} WikiArt paintings ({args.backbone}), {report['epochs_run']} epochs (early stop, best {report['best_epoch']}): "
        f"**{seconds:.0f} s** (goal: under 15 minutes).",
    ])
    write_section("style-space-training" if args.backbone == "lite0" else f"style-space-training-{args.backbone}", timing)
    print(f"written to {evaluation} and docs/benchmarks.md")


if __name__ == "__main__":
    main()
