"""BAM's labelling loop, simulated: how many yes/no answers a label needs before its model ranks the rest well.

    .venv/bin/python bench/active_learning.py [--labels style=Cubism,genre=portrait] [--seeds 3] [--write]

On every WikiArt painting (wikiart + wikiart_more, 10,605, embedded with the default backbone in the --wikiart
collections, copied first: the bench only reads them; facet transforms fitted on all as one collection would),
a simulated labeller answers yes/no from the true metadata for one label at a time: each of the 11 movements
(`style=X`) and four genres (`genre=X`; works without a genre are left out of those labels' runs). Rounds of
BATCH works: a strategy picks the works to ask about, the labeller answers, a yes/no model is trained on the
answers so far, and its average precision is measured on every work of the run not answered yet. Recorded:
the number of answers at which that AP first reaches TARGET (capped at CAP answers: "not reached" past it).

The model is the product's label head (`learn.training.train_head`, kind "binary") on its linear path: its
inputs (content and style raw features, signed square root), standardised on the answers, a balanced
logistic regression with the middle C of its candidates. The full `train_label` (C and linear-vs-MLP chosen on
an inner split, out-of-fold calibration: seconds per call) is not called in every round; its calibration is
monotone and leaves AP as it is. No model (AP: the share of yes, as for a random order) before MIN_EACH answers
of each kind, as in `learn.labelling`.

Strategies:
- artlens: `learn.labelling.suggest` exactly as `Collection.label_suggestions` calls it (the joint facet's vectors,
  all answers so far): with no answers yet, a random spread of the collection; with yes answers only, half like
  the yes examples; then the works its model is least sure about. "artlens (before)" in the docs is the rule
  before this bench changed it (half its model's most likely yes, half least sure), run with --store-as.
- random: BATCH works at random.
- map: a curator on the joint t-SNE map (the layout `artlens map` makes, its k-means clusters): until a yes is
  found, one random work from each of BATCH clusters not yet visited (every cluster in turn); then 3/4 of each
  batch the unanswered works nearest on the map to a yes work, 1/4 a random work from the least-visited clusters.
- map+unsure: the map's nearest-to-yes for half a batch, the model's least sure works for the other half.
With --write: a section of docs/map.md and a line in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

from artlens.evaluation.metrics import binary_average_precision  # noqa: E402
from artlens.learn import labelling  # noqa: E402
from artlens.learn.small_model import signed_power  # noqa: E402
from artlens.learn.training import LINEAR_C  # noqa: E402
from bench.report import DOC, machine, write_section  # noqa: E402

WIKIART = Path("/tmp/al-bench")  # copies of /tmp/artlens-train/lite0-art/{wikiart,wikiart_more}
MAP_DOC = DOC.parent / "map.md"
CACHE = Path(tempfile.gettempdir()) / "artlens-al-map.npz"
RESULTS = Path(tempfile.gettempdir()) / "artlens-al-bench.json"
BATCH = 12  # a page of the /label screen
CAP = 600
TARGET = 0.90
C = LINEAR_C[len(LINEAR_C) // 2]  # train_head's C when it does not choose
GENRES = ("portrait", "landscape", "still_life", "abstract_painting")
STRATEGIES = ("artlens", "random", "map", "map+unsure")
SHOWN = ("artlens (before)", *STRATEGIES)  # "artlens (before)": the suggestions before the change of 30 Nov 2026 (--store-as)
OURS = ("artlens (before)", "artlens")  # in docs/benchmarks.md
RELATIVE = 0.90  # second target: this share of the label's ceiling AP (0.90 itself is past the ceiling of most labels)


@dataclass
class Works:
    """Every work of the run, row-aligned: the head's inputs, the joint vectors, the map and the metadata."""

    head_x: np.ndarray   # (N, D) signed square root of raw content + style
    joint: np.ndarray    # (N, d) unit vectors: what the suggestions use
    xy: np.ndarray       # (N, 2) the joint t-SNE map
    cluster: np.ndarray  # (N,) the map's k-means cluster
    meta: dict[str, np.ndarray] = field(default_factory=dict)  # style, genre


def load(root: Path) -> Works:
    """All WikiArt as one collection (as bench/map_layout.py does), with its joint map (cached: a minute of t-SNE)."""
    from artlens.maps import clusters, layout
    from bench.map_layout import facet_matrices, wikiart_raw

    full, meta = wikiart_raw(root)
    joint = facet_matrices(full)["joint"]
    if CACHE.exists() and len(np.load(CACHE)["xy"]) == len(joint):
        xy = np.load(CACHE)["xy"]
    else:
        xy = layout.fit(joint, "tsne")[0]
        np.savez(CACHE, xy=xy)
    cluster = clusters.assign(xy, clusters.fit_centres(xy))
    head_x = signed_power(np.concatenate([full["content"], full["style"]], axis=1).astype(np.float32), 0.5)
    return Works(head_x, joint, xy, cluster, meta)


# ----------------------------------------------------------------------------- the model


def head_scores(x: np.ndarray, rows: np.ndarray, yes: np.ndarray) -> np.ndarray | None:
    """train_head's linear model fitted on the answered `rows` -> its logit for every row (None: too few answers)."""
    from sklearn.linear_model import LogisticRegression

    if yes.sum() < labelling.MIN_EACH or (~yes).sum() < labelling.MIN_EACH:
        return None
    mean, scale = x[rows].mean(0), x[rows].std(0) + 1e-6
    lr = LogisticRegression(C=C, max_iter=500, class_weight="balanced").fit((x[rows] - mean) / scale, yes)
    w = lr.coef_[0] / scale  # standardising folded into the weights: one product over all rows
    return x @ w.astype(np.float32) + float(lr.intercept_[0] - mean @ w)


# ----------------------------------------------------------------------------- strategies

Pick = Callable[["Run"], list[int]]


@dataclass
class Run:
    """One label, one strategy, one seed: the rows in play, the answers so far, the latest scores."""

    works: Works
    pool: np.ndarray                # rows of the works in this label's run
    truth: np.ndarray               # (N,) bool: the labeller's answer for each row
    rng: np.random.Generator
    seed: int
    answered: dict[int, bool] = field(default_factory=dict)
    scores: np.ndarray | None = None
    cluster_order: list[int] = field(default_factory=list)

    def open_rows(self) -> np.ndarray:
        mask = np.zeros(len(self.truth), bool)
        mask[self.pool] = True
        mask[list(self.answered)] = False
        return np.flatnonzero(mask)


def pick_artlens(run: Run) -> list[int]:
    """What `Collection.label_suggestions` returns (ids are rows here; the pool's joint vectors as the collection)."""
    found = labelling.suggest(run.works.joint[run.pool], run.pool, run.answered, BATCH, seed=run.seed)
    return [s.id for s in found]


def pick_random(run: Run) -> list[int]:
    return [int(r) for r in run.rng.permutation(run.open_rows())[:BATCH]]


def _explore(run: Run, n: int, open_rows: np.ndarray, taken: set[int]) -> list[int]:
    """One random unanswered work from each of `n` clusters, the least visited first (ties: a fixed random order)."""
    if not run.cluster_order:
        run.cluster_order = [int(c) for c in run.rng.permutation(np.unique(run.works.cluster[run.pool]))]
    visits = dict.fromkeys(run.cluster_order, 0)
    for r in run.answered:
        visits[int(run.works.cluster[r])] = visits.get(int(run.works.cluster[r]), 0) + 1
    free = np.array([r for r in open_rows if int(r) not in taken], np.int64)
    out: list[int] = []
    while len(out) < min(n, len(free)):  # more passes when there are fewer clusters than works wanted
        for c in sorted(run.cluster_order, key=lambda c: visits[c]):  # stable: the random order breaks ties
            members = np.setdiff1d(free[run.works.cluster[free] == c], out)
            if len(members) and len(out) < n:
                out.append(int(run.rng.choice(members)))
                visits[c] += 1
    return out


def _near_yes(run: Run, n: int, open_rows: np.ndarray, taken: set[int]) -> list[int]:
    """The unanswered works nearest on the map to any yes work."""
    yes = [r for r, a in run.answered.items() if a]
    if not yes:
        return []
    xy = run.works.xy
    d = np.full(len(open_rows), np.inf)
    for start in range(0, len(yes), 256):
        block = xy[yes[start:start + 256]]
        d = np.minimum(d, ((xy[open_rows][:, None, :] - block[None]) ** 2).sum(2).min(1))
    return [int(open_rows[j]) for j in np.argsort(d, kind="stable") if int(open_rows[j]) not in taken][:n]


def pick_map(run: Run) -> list[int]:
    open_rows = run.open_rows()
    near = _near_yes(run, BATCH * 3 // 4, open_rows, set())
    return near + _explore(run, BATCH - len(near), open_rows, set(near))


def pick_map_unsure(run: Run) -> list[int]:
    open_rows = run.open_rows()
    if run.scores is None:
        return pick_map(run)
    near = _near_yes(run, BATCH // 2, open_rows, set())
    doubt = [int(open_rows[j]) for j in np.argsort(np.abs(run.scores[open_rows]), kind="stable") if int(open_rows[j]) not in near]
    return near + doubt[: BATCH - len(near)]


PICKS: dict[str, Pick] = {"artlens": pick_artlens, "random": pick_random, "map": pick_map, "map+unsure": pick_map_unsure}


# ----------------------------------------------------------------------------- the loop


def simulate(works: Works, pool: np.ndarray, truth: np.ndarray, strategy: str, seed: int, cap: int = CAP,
             held: np.ndarray | None = None) -> list[tuple[int, float]]:
    """(answers so far, AP on the pool's unanswered works) after each round, up to `cap` answers. With `held`
    rows: those are never asked about and AP is measured on them (the same works for every strategy)."""
    asked = np.setdiff1d(pool, held) if held is not None else np.asarray(pool, np.int64)
    run = Run(works, asked, truth, np.random.default_rng(seed), seed)
    curve: list[tuple[int, float]] = []
    while len(run.answered) < cap:
        picked = PICKS[strategy](run)
        if not picked:
            break
        run.answered.update({r: bool(truth[r]) for r in picked})
        rows = np.fromiter(run.answered, np.int64)
        run.scores = head_scores(works.head_x, rows, truth[rows])
        rest = held if held is not None else run.open_rows()
        if not truth[rest].any():  # every yes answered: nothing left to rank
            curve.append((len(run.answered), 1.0))
            break
        ap = binary_average_precision(truth[rest].astype(int), run.scores[rest]) if run.scores is not None else float(truth[rest].mean())
        curve.append((len(run.answered), ap))
    return curve


def answers_to(curve: list[tuple[int, float]], target: float) -> int | None:
    """The answers at which AP first reaches `target` (None: not within the curve)."""
    return next((n for n, ap in curve if ap >= target), None)


def label_runs(works: Works) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """label name -> (pool rows, truth): every movement on all works; the genres on the works that have one."""
    out = {}
    everyone = np.arange(len(works.joint))
    for style in sorted(set(works.meta["style"]) - {""}):
        out[f"style={style}"] = (everyone, works.meta["style"] == style)
    has_genre = np.flatnonzero(works.meta["genre"] != "")
    for genre in GENRES:
        out[f"genre={genre}"] = (has_genre, works.meta["genre"] == genre)
    return out


def ceiling(works: Works, pool: np.ndarray, truth: np.ndarray) -> float:
    """AP of the same model trained on a random half of the pool, on the other half: what many answers give."""
    rows = np.random.default_rng(0).permutation(pool)
    half, other = rows[: len(rows) // 2], rows[len(rows) // 2:]
    scores = head_scores(works.head_x, half, truth[half])
    return binary_average_precision(truth[other].astype(int), scores[other]) if scores is not None else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wikiart", type=Path, default=WIKIART, help="folder with (copies of) the embedded wikiart and wikiart_more")
    ap.add_argument("--labels", default="", help="comma-separated label names (default: all movements and the genres)")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--cap", type=int, default=CAP)
    ap.add_argument("--held-out", type=float, default=0.0,
                    help="measure AP on this random share of each label's works, never asked about (stored apart: held_out)")
    ap.add_argument("--store-as", default="", help="store the (one) strategy's runs under this name, e.g. 'artlens (before)'")
    ap.add_argument("--write", action="store_true", help="write docs/map.md and a line in docs/benchmarks.md from the saved results")
    args = ap.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.write and not args.labels and results.get("labels"):
        write_docs(results)
        return
    start = time.perf_counter()
    works = load(args.wikiart)
    print(f"WikiArt: {len(works.joint)} paintings, {len(np.unique(works.cluster))} map clusters ({time.perf_counter() - start:.0f} s)", flush=True)
    runs = label_runs(works)
    wanted = [x for x in args.labels.split(",") if x] or list(runs)
    part = "held_out" if args.held_out else "labels"
    results.setdefault(part, {})
    for name in wanted:
        pool, truth = runs[name]
        held = np.random.default_rng(0).permutation(pool)[: int(args.held_out * len(pool))] if args.held_out else None
        entry = results[part].get(name) or {"pool": int(len(pool)), "yes": int(truth[pool].sum()), "ceiling": ceiling(works, pool, truth), "curves": {}}
        for strategy in args.strategies.split(","):
            key, began = args.store_as or strategy, time.perf_counter()
            entry["curves"][key] = [simulate(works, pool, truth, strategy, seed, args.cap, held) for seed in range(args.seeds)]
            entry.setdefault("seconds", {})[key] = time.perf_counter() - began
            needed = [answers_to(c, TARGET) for c in entry["curves"][key]]
            print(f"{name} ({entry['yes']}/{entry['pool']} yes, ceiling AP {entry['ceiling']:.3f}) {strategy}: answers to AP {TARGET}: {needed}, "
                  f"AP at the cap {[round(c[-1][1], 3) for c in entry['curves'][key]]} ({time.perf_counter() - start:.0f} s)", flush=True)
        results[part][name] = entry
        RESULTS.write_text(json.dumps(results))
    results.update(machine=machine(), seconds=time.perf_counter() - start, n=len(works.joint), seeds=args.seeds, cap=args.cap)
    RESULTS.write_text(json.dumps(results))
    if args.write:
        write_docs(results)


# ----------------------------------------------------------------------------- the docs


def _median(values: list[int | None], cap: int) -> float | None:
    """Median of answers needed, a run that did not reach the target counting as past the cap (None if most did not)."""
    m = float(np.median([cap + 1 if x is None else x for x in values]))
    return None if m > cap else m


def summary(results: dict, part: str = "labels") -> dict[str, dict[str, dict]]:
    """Per label and strategy: answers to AP TARGET and to RELATIVE x ceiling per seed with their medians, median AP at 120 and at the cap."""
    cap = results.get("cap", CAP)
    out: dict[str, dict[str, dict]] = {}
    for name, entry in results[part].items():
        out[name] = {}
        for strategy, curves in entry["curves"].items():
            curves = [[(int(n), float(a)) for n, a in c] for c in curves]
            row: dict = {}
            for key, target in (("abs", TARGET), ("rel", RELATIVE * entry["ceiling"])):
                row[key] = [answers_to(c, target) for c in curves]
                row[key + "_median"] = _median(row[key], cap)
            for k in (120, cap):
                row[f"ap_{k}"] = float(np.median([next((a for n, a in c if n >= k), c[-1][1]) for c in curves]))
            out[name][strategy] = row
    return out


def _needed(row: dict, key: str) -> str:
    seeds = ", ".join("-" if x is None else str(x) for x in row[key])
    return ("-" if row[key + "_median"] is None else f"{row[key + '_median']:.0f}") + f" ({seeds})"


def write_docs(results: dict) -> None:
    cap = results.get("cap", CAP)
    table = summary(results)
    shown = [s for s in SHOWN if any(s in row for row in table.values())]
    head = ["| label | yes / works | ceiling | " + " | ".join(shown) + " |", "|---|---|---|" + "---|" * len(shown)]

    def rows(cell) -> list[str]:
        return [f"| {name} | {results['labels'][name]['yes']:,} / {results['labels'][name]['pool']:,} | {results['labels'][name]['ceiling']:.2f} | "
                + " | ".join(cell(row[s]) if s in row else "" for s in shown) + " |" for name, row in table.items()]

    lines = [f"Measured by `bench/active_learning.py` on {results.get('machine', machine())}: {results.get('n', 0):,} WikiArt paintings, "
             f"batches of {BATCH}, at most {cap} answers, seeds 0-{results.get('seeds', 3) - 1}{_minutes(results)}. "
             "Ceiling: AP of the same model trained on a random half of the label's works, on the other half.", "",
             f"### Answers until AP on the works not yet answered first reaches {TARGET}", "",
             f"Median over the seeds, each seed's figure in brackets; '-': not within {cap} answers.", "", *head,
             *rows(lambda r: _needed(r, "abs")), "", ratio_lines(table, "abs", cap), "",
             f"### Answers until AP reaches {RELATIVE:.0%} of the label's ceiling", "", *head,
             *rows(lambda r: _needed(r, "rel")), "", ratio_lines(table, "rel", cap), "",
             f"### AP on the works not yet answered after 120 and {cap} answers (medians)", "", *head,
             *rows(lambda r: f"{r['ap_120']:.2f} / {r[f'ap_{cap}']:.2f}")]
    if results.get("held_out"):
        held = summary(results, "held_out")
        shown_h = [s for s in SHOWN if any(s in row for row in held.values())]
        lines += ["", "### The same on a fixed held-out fifth, never asked about", "",
                  "AP on the works not yet answered leaves out the works a strategy asked about, and so the hard cases "
                  "uncertainty asks about or the easy yes a likely-yes rule asks about. Here a random 20% of each label's "
                  "works is set aside, never offered, and AP is measured on it. Answers until AP reaches "
                  f"{RELATIVE:.0%} of the ceiling (median and seeds), then median AP after 120 and {cap} answers.", "",
                  "| label | " + " | ".join(shown_h) + " |", "|---|" + "---|" * len(shown_h)]
        lines += [f"| {name} | " + " | ".join(f"{_needed(row[s], 'rel')}; {row[s]['ap_120']:.2f} / {row[s][f'ap_{cap}']:.2f}"
                                               if s in row else "" for s in shown_h) + " |" for name, row in held.items()]
        lines += ["", ratio_lines(held, "rel", cap)]
    write_section("map-active-learning", "\n".join(lines), doc=MAP_DOC)
    write_section("map-active-learning", "## Labelling loop (simulated)\n\n`bench/active_learning.py`, answers needed against random "
                  f"choice. To AP {TARGET}: " + ratio_lines(table, "abs", cap, OURS) + f" To {RELATIVE:.0%} of the ceiling AP: "
                  + ratio_lines(table, "rel", cap, OURS) + " Tables and what they mean in `docs/map.md`.")


def _minutes(results: dict) -> str:
    """', the runs took N minutes' when every run's time was kept (runs stored before that kept none)."""
    times = [e.get("seconds", {}).get(s) for e in results["labels"].values() for s in e["curves"]]
    return "" if None in times else f"; the runs (without the held-out ones) took {sum(times) / 60:.0f} minutes"


def ratio_lines(table: dict[str, dict[str, dict]], key: str, cap: int, strategies: tuple[str, ...] = SHOWN) -> str:
    """One sentence per strategy: its median answers over random choice's, over the labels both reached."""
    parts = []
    for strategy in [s for s in strategies if s != "random"]:
        ratios, counts = [], {"it": 0, "random": 0, "neither": 0}
        for row in table.values():
            if strategy not in row or "random" not in row:
                continue
            mine, rand = row[strategy][key + "_median"], row["random"][key + "_median"]
            if mine is not None and rand is not None:
                ratios.append(mine / rand)
            else:
                counts["it" if mine is not None else "random" if rand is not None else "neither"] += 1
        if not ratios and not any(counts.values()):
            continue
        med = f"median ratio {np.median(ratios):.2f} over the {len(ratios)} labels both reached" if ratios else "no label reached by both"
        parts.append(f"{strategy} / random: {med} (reached by {strategy} only: {counts['it']}, by random only: {counts['random']}, "
                     f"by neither within {cap}: {counts['neither']}).")
    return " ".join(parts)


if __name__ == "__main__":
    main()
