"""The `artlens` command. Each command opens a Collection, calls one method and prints its typed result.

It imports the facade (`artlens`) and the vocabulary only, so `artlens --help` starts fast. Errors:
one handler (`_Group.invoke`) turns ArtLens errors into a one-line message and their exit code (1);
usage errors are Typer's (2); anything else is a bug: a short "internal error" line and exit 70,
with the traceback in the log, or on screen with `artlens --debug` (or ARTLENS_DEBUG=1).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import typer
from rich.console import Console
from typer.core import TyperGroup
from typer.exceptions import TyperException

from artlens import ArtLensError, Collection, InputError, evaluate_boxes, parse_box, parse_weights
from artlens.errors import EXIT_INTERNAL
from artlens.results import plain
from artlens.vocabulary import BACKBONES, DEFAULT_BACKBONE, LABEL_KINDS, STYLE_LOSSES, STYLE_VARIANTS, facet_word

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _choices(name: str, values: tuple[str, ...]) -> Any:
    """A str Enum of the vocabulary's words, so Typer shows and checks them as choices."""
    return Enum(name, {v: v for v in values}, type=str)


if TYPE_CHECKING:  # str Enums built at run time from the vocabulary, which a type checker cannot follow
    Backbones: TypeAlias = Any
    StyleVariants: TypeAlias = Any
    Losses: TypeAlias = Any
    Kinds: TypeAlias = Any
    ExportFormats: TypeAlias = Any
else:
    Backbones = _choices("Backbones", BACKBONES)
    StyleVariants = _choices("StyleVariants", STYLE_VARIANTS)
    Losses = _choices("Losses", STYLE_LOSSES)
    Kinds = _choices("Kinds", LABEL_KINDS)
    ExportFormats = _choices("ExportFormats", ("csv", "json"))


class _Group(TyperGroup):
    """The one error handler of the CLI, around every command (subcommands included)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except ArtLensError as exc:
            err.print(f"Error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            if ctx.meta.get("artlens_debug") or os.environ.get("ARTLENS_DEBUG"):
                raise
            where = _log_internal_error(exc)
            err.print(f"Internal error ({type(exc).__name__}): this is a bug in ArtLens, not something you did. "
                      f"The traceback is in {where}; run with --debug to see it here.")
            raise typer.Exit(EXIT_INTERNAL) from None


def _log_internal_error(exc: BaseException) -> Path | str:
    text = "".join(traceback.format_exception(exc))
    log = Path(os.environ.get("ARTLENS_LOG", Path.home() / ".cache" / "artlens" / "errors.log"))
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')} artlens {' '.join(sys.argv[1:])}\n{text}")
        return log
    except OSError:
        return f"(the log could not be written: {log})"


app = typer.Typer(
    cls=_Group,
    help="Search and describe art collections by content, style and colour.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

CollectionArg = Annotated[str, typer.Argument(
    help="The collection: its directory, or the URL of its PostgreSQL catalog (postgresql://USER@HOST/DB?collection=NAME).",
    show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
RayOpt = Annotated[str | None, typer.Option(
    "--ray", metavar="ADDRESS",
    help="Decode and embed on a Ray cluster: auto (RAY_ADDRESS, or the cluster running here), local (one started for "
         "this run), or HOST:PORT of its head. Needs the ray extra; the files must be at the same paths on every machine.",
    show_default=False)]
WaitOpt = Annotated[bool, typer.Option("--wait", help="If another writer holds the collection, wait for it instead of failing (exit 75).")]


def _wait(wait: bool) -> float | None:
    """--wait as the facade takes it: as long as it takes, or fail at once."""
    return float("inf") if wait else None


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an internal error (also ARTLENS_DEBUG=1).")] = False,
) -> None:
    """Search and describe art collections by content, style and colour."""
    ctx.meta["artlens_debug"] = debug


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(plain(data), indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def _batch_progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar for a job that commits batch by batch (add, reembed), fed by the callback it
    yields; Ctrl-C ends the command with exit code 130 and says that finished batches are kept."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=quiet) as bar:
        task = bar.add_task(label, total=None)
        try:
            yield lambda done, total: bar.update(task, completed=done, total=total)
        except KeyboardInterrupt:
            bar.stop()
            err.print("Interrupted. Every finished batch is saved: run the same command again to continue.")
            raise typer.Exit(130) from None


@app.command()
def add(
    collection: CollectionArg,
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders (searched recursively).", show_default=False)],
    metadata: Annotated[Path | None, typer.Option(
        "--metadata", "-m",
        help="CSV with an 'image' column (paths relative to the CSV) and any other columns as metadata.",
    )] = None,
    backbone: Annotated[Backbones | None, typer.Option(
        help="Backbone for a new collection: lite0-art-int8 (EfficientNet-Lite0 fine-tuned on art, in INT8: the default), lite0-art "
             "(the same in float, about 1.8x slower, every figure within 0.005), lite0 or lite2 (ImageNet weights; 224 and 260 px). "
             "An existing collection keeps its own (see `artlens reembed`).",
        show_default=False)] = None,
    style: Annotated[StyleVariants | None, typer.Option(
        help="Style statistics for a new collection: adain (channel mean/std, ALADIN; the default) or gram (DeepArt).",
        show_default=False)] = None,
    detect: Annotated[bool, typer.Option("--detect", help="Then find the faces and people in the works not looked at yet (as `artlens detect`).")] = False,
    database: Annotated[str | None, typer.Option(
        help="For a new collection: keep its catalog in this PostgreSQL database (postgresql://USER@HOST/DB?collection=NAME) "
             "instead of a SQLite file in the directory. Naming the URL as the collection does the same.",
        show_default=False)] = None,
    ray: RayOpt = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add images to a collection (created if needed) and rebuild its search index.

    Interrupted runs continue where they stopped; unchanged files are skipped.

    Example: artlens add my-collection scans/ --metadata scans/labels.csv
    Example: artlens add postgresql://me@db.example.org/art?collection=prints scans/
    """
    existed = Collection.exists(collection)
    col = Collection.create(collection, backbone=backbone.value if backbone else None, style=style.value if style else None,
                            database=database)
    with _batch_progress("embedding", quiet=as_json) as progress:
        try:
            report = col.add(paths, metadata=metadata, progress=progress, wait=_wait(wait), ray=ray)
        except ArtLensError:
            if not existed:  # a mistyped path or CSV must not leave an empty collection behind
                col.discard_if_empty()
            raise
    found = None
    if detect and not report.nothing_usable:
        with _batch_progress("detecting faces and people", quiet=as_json) as progress:
            found = col.detect(progress=progress, wait=_wait(wait))
    if as_json:
        _print_json(report.as_dict() | ({"detect": found.as_dict()} if found else {}))
        if report.nothing_usable:
            raise typer.Exit(1)
        return
    out.print(f"Added {report.added} artworks to {collection} in {report.seconds:.1f} s "
              f"({report.duplicates} exact duplicates, {report.unchanged} unchanged, {len(report.failed)} failed, "
              f"{report.ignored} non-image files ignored).")
    if report.metadata_rows or metadata:
        out.print(f"Metadata: {report.metadata_rows} rows applied.")
    for problem in report.metadata_problems:
        out.print(f"  metadata: {problem}")
    if report.failed:
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(report.failure_reasons().items()))
        out.print(f"Failed ({reasons}):")
        for f in report.failed:
            out.print(f"  {f['reason']:<13} {f['message']}")
    for note in report.passed_over:
        out.print(f"  passed over: {note}")
    if found:
        out.print(f"Regions: looked at {found.looked_at} artworks, {found.faces} faces, {found.people} people.")
    if report.nothing_usable:
        err.print("Error: no file could be added (see the reasons above).")
        raise typer.Exit(1)


@app.command()
def reembed(
    collection: CollectionArg,
    backbone: Annotated[Backbones, typer.Option(help="The backbone to move the collection to.")] = DEFAULT_BACKBONE,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Embed every artwork again with another backbone (or a new version of its own) and switch to it.

    Reads each artwork's file again. Interrupted runs continue where they stopped; the collection
    stays on its old backbone until every artwork is done, so it never mixes two. Labels are kept;
    the collection's own trained models are listed to retrain.

    Example: artlens reembed my-collection --backbone lite0-art
    """
    col = Collection.open(collection)
    with _batch_progress("re-embedding", quiet=as_json) as progress:
        report = col.reembed(backbone.value, progress=progress, wait=_wait(wait))
    if as_json:
        _print_json(report.as_dict())
        return
    out.print(f"{collection} is on backbone {report.backbone} {report.version}: {report.embedded} artworks embedded now, "
              f"{report.kept} by an earlier run.")
    if report.retrain:
        out.print("Trained on the old features, retrain them: " + ", ".join(report.retrain)
                  + " (`artlens labels train`, `artlens learn style`).")


@app.command()
def migrate(
    collection: CollectionArg,
    dest: Annotated[str, typer.Argument(
        help="The new collection: a directory (SQLite, unless --database) or a PostgreSQL URL.", show_default=False)],
    database: Annotated[str | None, typer.Option(
        help="Keep the new collection's catalog in this PostgreSQL database (postgresql://USER@HOST/DB?collection=NAME).",
        show_default=False)] = None,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Copy a collection to a new one on another catalog backend (SQLite <-> PostgreSQL), ready to search.

    Every artwork, label, prediction, region and map keeps its id; vectors and the collection's own models
    are copied. The source is left as it was. An interrupted copy leaves the new collection empty: run it again.

    Example: artlens migrate my-collection postgresql://me@db.example.org/art?collection=prints
    """
    with Collection.open(collection) as col:
        report = col.migrate(dest, database=database, wait=_wait(wait))
    if as_json:
        _print_json(report.as_dict())
        return
    out.print(f"Copied {report.artworks} artworks ({sum(report.rows.values())} rows) from {report.source} to {report.dest}; "
              f"its local folder is {report.directory}.", markup=False)


@app.command()
def detect(
    collection: CollectionArg,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Find the faces and people in every artwork not looked at yet; store their boxes and vectors.

    Then filter by their counts (artlens search COLLECTION --image IMG --where people>=3, faces=0) and
    search by region (artlens search COLLECTION --image IMG --region x0,y0,x1,y1).
    Interrupted runs continue where they stopped.

    Example: artlens detect my-collection
    """
    col = Collection.open(collection)
    with _batch_progress("detecting faces and people", quiet=as_json) as progress:
        report = col.detect(progress=progress, wait=_wait(wait))
    if as_json:
        _print_json(report.as_dict())
        return
    out.print(f"Looked at {report.looked_at} artworks in {collection}: {report.faces} faces, {report.people} people.")
    for path, why in report.unreadable:
        out.print(f"  unreadable: {path}: {why}")


@app.command()
def search(
    collection: CollectionArg,
    image: Annotated[list[Path] | None, typer.Option("--image", "-i", help="Query image; repeat for a moodboard (vectors averaged).",
                                                   show_default=False)] = None,
    not_image: Annotated[list[Path] | None, typer.Option("--not", help="Image whose look to move away from; repeatable.", show_default=False)] = None,
    facet: Annotated[str, typer.Option(
        help="What 'similar' means: joint (the mix), content, style, color, or style_learned (the learned style space).",
    )] = "joint",
    weights: Annotated[str | None, typer.Option(help="Joint mix, e.g. style=0.6,content=0.3,color=0.1.", show_default=False)] = None,
    where: Annotated[list[str] | None, typer.Option(
        "--where", "-w",
        help="Metadata filter COLUMN=VALUE or COLUMN!=VALUE, or a count such as faces>=1; repeatable (same column: any of).",
        show_default=False,
    )] = None,
    region: Annotated[str | None, typer.Option(
        help="Search by region: a box x0,y0,x1,y1 in the query image's pixels; finds works with a similar detected "
             "face or person (run `artlens detect` first) and names the region that matched.",
        show_default=False,
    )] = None,
    region_id: Annotated[int | None, typer.Option(help="Search by a detected region, by its id (see `artlens export`).", show_default=False)] = None,
    kind: Annotated[list[str] | None, typer.Option(help="Region kinds to search: face, person; repeatable (default: all).", show_default=False)] = None,
    k: Annotated[int, typer.Option("-k", help="Number of results.", min=1)] = 10,
    include_self: Annotated[bool, typer.Option("--include-self", help="Let a query image that is in the collection appear in its own results.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Find artworks like the query images, or like a region of one (--region, --region-id).

    Example: artlens search my-collection --image query.jpg --facet style -k 5

    Example: artlens search my-collection --image portrait.jpg --region 120,40,260,200 --kind face
    """
    parsed = parse_weights(weights)
    with Collection.open(collection) as col:
        if region is not None or region_id is not None:
            # Usage errors (exit 2), as a missing required option is.
            if not_image or (image and len(image) > 1) or (region_id is not None and (image or region is not None)):
                raise typer.BadParameter("a region search takes one --image with --region, or --region-id alone (no --not)")
            if region is not None and not image:
                raise typer.BadParameter("--region is a box on the query image: give the image with --image")
            results = col.search_regions(image=image[0] if image else None, box=parse_box(region) if region else None,
                                         region_id=region_id, facet=facet, weights=parsed, kinds=kind or [],
                                         where=where or [], k=k, include_self=include_self)
        else:
            if not image:
                raise typer.BadParameter("give a query image with --image (or a region with --region-id)")
            results = col.search(images=image, not_images=not_image or [], facet=facet, weights=parsed,
                                 where=where or [], k=k, include_self=include_self)
    if as_json:
        _print_json({"results": [r.as_dict() for r in results]})
        return
    if not results:
        out.print("No results.")
        return
    # A block per result: scores and why, the path, the metadata. Readable at any terminal width.
    for n, r in enumerate(results, 1):
        scores = "  ".join(f"{facet_word(f)} {v:.2f}" for f, v in r.scores.items())
        out.print(f"{n:>2}. {r.score:.3f}  {scores}  ({r.why})")
        out.print(f"    {_short(r.path)}")
        if r.region is not None:
            x0, y0, x1, y1 = (round(v) for v in r.region["box"])
            out.print(f"    matched {r.region['kind']} {r.region['id']} at {x0},{y0},{x1},{y1}")
        if r.metadata:
            out.print("    " + ", ".join(f"{key}={value}" for key, value in r.metadata.items()))


@app.command()
def info(collection: CollectionArg, as_json: JsonOpt = False) -> None:
    """Counts, facets, model and metadata columns of a collection.

    Example: artlens info my-collection --json
    """
    with Collection.open(collection) as col:
        info = col.info()
    if as_json:
        _print_json(info)
        return
    model = info.model
    out.print(f"Collection {info.directory}")
    if info.catalog and not info.catalog.startswith(info.directory):
        out.print(f"  catalog:    {info.catalog}", markup=False)
    out.print(f"  artworks:   {info.artworks}")
    out.print(f"  duplicates: {info.exact_duplicates} exact, {info.near_duplicates} near")
    out.print(f"  failed:     {len(info.failed)}")
    out.print(f"  model:      backbone {model.backbone} {model.version} ({model.input_size} px), style statistics: {model.style}")
    facets = ", ".join(f"{f.name} ({f.dim}-d, {f.index})" for f in info.facets) or "none yet"
    out.print(f"  facets:     {facets}")
    out.print("  weights:    " + ", ".join(f"{k}={v}" for k, v in info.weights.items()))
    out.print(f"  columns:    {', '.join(info.columns) or 'none'}")
    for name, (looked_at, found) in info.regions.items():
        out.print(f"  {name + ':':<11} {found} in the {looked_at} artworks looked at (`artlens detect`)")
    for m in info.maps:
        advice = f"; a re-layout would help: {m.relayout}" if m.relayout else ""
        out.print(f"  map:        {m.facet} ({m.method}, {m.works} works, {m.placed} placed since the layout{advice})", markup=False)
    if info.stale:
        out.print("  The index is older than the catalog (an add was interrupted): run `artlens add` again.")
    for f in info.failed:
        out.print(f"  failed: {f.reason:<13} {f.path}")


@app.command("map")
def map_(
    collection: CollectionArg,
    facet: Annotated[list[str] | None, typer.Option(
        "--facet", "-f", help="Facet to lay out: joint (default), content, style, color or style_learned; repeatable.", show_default=False)] = None,
    method: Annotated[str, typer.Option(help="Layout: tsne (openTSNE), umap (needs artlens[umap]) or pca.")] = "tsne",
    reuse: Annotated[bool, typer.Option("--reuse", help="Keep the stored maps (lay out only facets without one): to draw them again.")] = False,
    png: Annotated[Path | None, typer.Option("--png", help="Write a PNG of the (first) facet's map.", show_default=False)] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML page of the (first) facet's map.",
                                              show_default=False)] = None,
    colour_by: Annotated[str | None, typer.Option(
        "--colour-by", "--color-by", help="Metadata column or pred.MODEL that colours the points (default: style, genre or artist).",
        show_default=False)] = None,
    thumbnails: Annotated[bool, typer.Option("--thumbnails", help="Put each work's thumbnail in the HTML page (shown on hover).")] = False,
    wait: WaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Lay out the collection in 2-D per facet (the collection map) and store it; draw it as PNG or HTML.

    Later adds place new works on the stored map without moving the others; `artlens info` says when
    a full re-layout would help.

    Example: artlens map my-collection --facet joint --facet style --png map.png --colour-by style
    """
    facets = list(dict.fromkeys(facet or ["joint"]))
    with Collection.open(collection) as col:
        have = {m.facet for m in col.maps()} if reuse else set()
        todo = [f for f in facets if f not in have]
        if todo:
            col.map(todo, method=method, wait=_wait(wait))
        files = [str(col.draw_map(path, facets[0], colour_by=colour_by, thumbnails=thumbnails)) for path in (png, html) if path is not None]
        made = [m for m in col.maps() if m.facet in facets]
    if as_json:
        _print_json({"maps": [m.as_dict() for m in made], "laid_out": todo, "files": files})
        return
    for m in made:
        state = "laid out now" if m.facet in todo else "kept"
        out.print(f"{m.facet}: {m.works} works, {m.method} ({state}; {m.seconds:.1f} s), {m.placed} placed since", markup=False)
        if m.relayout:
            out.print(f"  a re-layout would help: {m.relayout} (artlens map {collection} --facet {m.facet})", markup=False)
    for path in files:
        out.print(f"wrote {path}", markup=False)


@app.command()
def duplicates(collection: CollectionArg, as_json: JsonOpt = False) -> None:
    """List exact duplicates (same bytes or pixels) and near-duplicates (perceptual hash or content).

    Example: artlens duplicates my-collection --json
    """
    with Collection.open(collection) as col:
        found = col.duplicates()
    if as_json:
        _print_json(found)
        return
    out.print(f"{len(found.exact)} exact duplicates, {len(found.near)} near-duplicate pairs.")
    for c in found.exact:
        out.print(f"  exact ({c.same}): {_short(c.path)} = {_short(c.duplicate_of)}")
    for pair in found.near:
        out.print(f"  near (phash distance {pair.phash_distance}, content {pair.content_similarity:.2f}): "
                  f"{_short(pair.a.path)} ~ {_short(pair.b.path)}")


@app.command()
def check(
    collection: CollectionArg,
    repair: Annotated[bool, typer.Option(
        "--repair", help="Rebuild the vectors and thumbnails; move model files that do not load to models/broken/.",
    )] = False,
    as_json: JsonOpt = False,
) -> None:
    """Verify a collection: catalog, vectors, thumbnails and model files. Exit code 1 while problems remain.

    Example: artlens check my-collection --repair
    """
    report = Collection.check_directory(collection, repair=repair)
    if as_json:
        _print_json(report)
    else:
        out.print(f"Checked {report.directory}: " + ", ".join(f"{part} {state}" for part, state in report.parts.items()) + ".", markup=False)
        for title, lines in (("Problems found", report.problems), ("Repaired", report.repaired), ("Still to do", report.remaining)):
            if lines:
                out.print(f"{title}:")
                for line in lines:
                    out.print(f"  {line}", markup=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def annotate(
    collection: CollectionArg,
    model: Annotated[list[str] | None, typer.Option(
        "--model",
        help="Label model to run; repeatable (default: every model that applies).",
        show_default=False,
    )] = None,
    tta: Annotated[bool, typer.Option(
        "--tta",
        help="Test-time augmentation: average over the whole image and five crops (reads the images again; about 6x slower).",
    )] = False,
    ray: RayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Describe every artwork with each label model: decision (label, yes/no or unsure) and confidence.

    Example: artlens annotate my-collection --model style --model medium
    """
    with Collection.open(collection) as col:
        summary = col.annotate(models=model or None, progress=None if as_json else (lambda msg: err.print(f"annotating {msg}")), tta=tta,
                              ray=ray)
    if as_json:
        _print_json(summary)
        return
    for name, a in summary.items():
        top = ", ".join(f"{label or '(none)'} {n}" for label, n in list(a.counts.items())[:6])
        warn = ": unsure on most works" if a.mostly_unsure else ""
        out.print(f"{name}: {a.total} artworks, {a.decided} decided, {a.unsure} unsure{warn} ({top})", markup=False)


labels_app = typer.Typer(help="Give labels, get the next works to label, train label models.", no_args_is_help=True)
app.add_typer(labels_app, name="labels")


@labels_app.command("train")
def labels_train(
    collection: CollectionArg,
    label: Annotated[str, typer.Option(
        "--label", "-l",
        help="Label name (given with `labels set`) or metadata column to learn (';'-separated for --kind many).",
        show_default=False,
    )],
    kind: Annotated[Kinds, typer.Option(help="binary (yes/no), one-of-many (one class per artwork) or many (several per artwork).")] = "one-of-many",
    group: Annotated[str | None, typer.Option(
        help="Column to split held-out data by (artist, series), so figures are for unseen groups.",
        show_default=False,
    )] = None,
    name: Annotated[str | None, typer.Option(help="Model name (default: the label column).", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a label head on the stored features: 1/11 held out to measure it, thresholds calibrated on unseen groups.

    Example: artlens labels train my-collection --label medium --group artist
    """
    with Collection.open(collection) as col:
        card = col.train_label(label, kind=kind.value, group=group, name=name)
    if as_json:
        _print_json(card)
        return
    out.print(json.dumps(card.as_dict(), indent=2, ensure_ascii=False))


@labels_app.command("set")
def labels_set(
    collection: CollectionArg,
    name: Annotated[str, typer.Option("--name", "-n", help="Label name, e.g. watercolour.", show_default=False)],
    value: Annotated[str, typer.Option(help="The label: yes, no, or a class; 'none' removes it.", show_default=False)],
    ids: Annotated[list[int], typer.Argument(help="Artwork ids (from search, export or the web app).", show_default=False)],
) -> None:
    """Give artworks a label, as a person would in the web app's /label page.

    Example: artlens labels set my-collection --name watercolour --value yes 12 40 41
    """
    with Collection.open(collection) as col:
        for artwork_id in ids:
            col.set_label(artwork_id, name, None if value.strip().lower() == "none" else value)
        counts = col.label_counts().get(name, {})
    out.print(f"{name}: " + (", ".join(f"{v} {c}" for v, c in counts.items()) or "no labels"))


@labels_app.command("suggest")
def labels_suggest(
    collection: CollectionArg,
    name: Annotated[str, typer.Option("--name", "-n", help="Yes/no label name.", show_default=False)],
    n: Annotated[int, typer.Option("-k", help="How many artworks to suggest.", min=1)] = 12,
    as_json: JsonOpt = False,
) -> None:
    """The artworks to label next for a yes/no label (active learning: the works its quick model is least sure about).

    Example: artlens labels suggest my-collection --name watercolour -k 20
    """
    with Collection.open(collection) as col:
        found = col.label_suggestions(name, n)
    if as_json:
        _print_json({"name": name, "suggestions": found})
        return
    for s in found:
        out.print(f"{s.id:>7}  {s.reason:<26} {s.score:.2f}  {s.path}")


learn_app = typer.Typer(help="Learn finer similarity spaces from the collection's own groups.", no_args_is_help=True)
app.add_typer(learn_app, name="learn")


@learn_app.command("style")
def learn_style(
    collection: CollectionArg,
    group: Annotated[str, typer.Option(
        "--group", "-g",
        help="Column naming each work's group (artist, series, project): works of one group should look alike.",
        show_default=False,
    )],
    loss: Annotated[Losses, typer.Option(
        help="contrastive (ALADIN: many groups per batch) or triplet (DeepArt: shared labels, then hard negatives).",
    )] = "contrastive",
    epochs: Annotated[int | None, typer.Option(
        help="Most epochs to train (default: the trainer's; it stops early on validation P@1).",
        min=1,
        show_default=False,
    )] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the collection's own learned style space (facet style_learned) from a group column.

    Groups are split into training and validation groups; the run stops when validation P@1
    stops improving, then rebuilds the vectors so search, evaluation and the web app use it.

    Example: artlens learn style my-collection --group artist
    """
    with Collection.open(collection) as col:
        def show(epoch: dict[str, Any]) -> None:
            if not as_json:
                parts = [f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in epoch.items()]
                err.print("  " + ", ".join(parts))
        report = col.learn_style(group, loss=loss.value, epochs=epochs, progress=show)
    if as_json:
        _print_json(report)
        return
    out.print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))


@app.command()
def export(
    collection: CollectionArg,
    format: Annotated[ExportFormats, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: standard output).", show_default=False)] = None,
) -> None:
    """One row per artwork: id, path, metadata, labels people gave, and per label model its decision
    (pred.<model>), the decision's confidence (conf.<model>), and its best class and probability even
    when it abstains (top.<model>, p.<model>).

    In CSV, a cell that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
    carriage return, and not a number) is written with a leading apostrophe.

    Example: artlens export my-collection --format csv -o artworks.csv
    """
    import csv
    import io

    if output is not None and not output.expanduser().parent.is_dir():
        raise InputError(f"cannot write {output}: the folder {output.expanduser().parent} does not exist")
    with Collection.open(collection) as col:
        rows = col.export()
    if format.value == "json":
        text = json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    else:
        buf = io.StringIO()
        fields = list(rows[0]) if rows else ["id", "path"]
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        # Lists (face boxes) as JSON in their cell, so a reader gets them back with json.loads.
        writer.writerows({k: _spreadsheet_safe(json.dumps(v) if isinstance(v, list) else v) for k, v in row.items()} for row in rows)
        text = buf.getvalue()
    if output:
        try:
            output.expanduser().write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {output}: {exc.strerror}") from None
        err.print(f"wrote {len(rows)} artworks to {output}")
    else:
        sys.stdout.write(text)


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value: Any) -> Any:
    """A text cell that Excel or LibreOffice would evaluate (=HYPERLINK(...), +cmd, @SUM) gets a leading
    apostrophe (OWASP's advice against CSV injection); numbers, negative ones included, stay as they are."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_STARTS):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


@app.command()
def serve(
    collection: CollectionArg,
    host: Annotated[str, typer.Option(help="Address to listen on; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    token: Annotated[str | None, typer.Option(
        envvar="ARTLENS_TOKEN",
        help="Bearer token for write endpoints (adding images, labels); without one they are disabled. "
             "Prefer the ARTLENS_TOKEN variable or --token-file: a --token on the command line shows in `ps`.",
        show_default=False,
    )] = None,
    token_file: Annotated[Path | None, typer.Option(
        help="Read the bearer token from this file (its first line), e.g. one only you can read.", show_default=False,
    )] = None,
    allowed_host: Annotated[list[str] | None, typer.Option(
        "--allowed-host",
        help="Another Host header to answer to (NAME or NAME:PORT; repeatable), e.g. the name a reverse proxy "
             "passes. 127.0.0.1, localhost, [::1] and --host are always answered; others get 400.",
        show_default=False,
    )] = None,
    max_upload_mb: Annotated[int, typer.Option(help="Largest accepted upload, in MB.", min=1)] = 25,
    max_query_pixels: Annotated[int, typer.Option(
        help="Most pixels a query image's decoder may hold at once (a PNG, TIFF, WebP, BMP, GIF or progressive "
             "JPEG counts all its pixels; a baseline JPEG is decoded at 1/8 scale).", min=1)] = 16_000_000,
    decode_workers: Annotated[int, typer.Option(help="Uploads decoded at the same time.", min=1, max=64)] = 2,
) -> None:
    """Serve the web app and REST API of a collection (OpenAPI schema at /openapi.json, docs at /docs).

    Example: ARTLENS_TOKEN=... artlens serve my-collection --port 8000
    """
    import uvicorn

    from artlens.web import create_app
    from artlens.web.security import allowed_hosts
    from artlens.web.state import Limits

    if token_file is not None:
        if token:
            raise InputError("give the token one way: --token-file, or --token / ARTLENS_TOKEN, not both")
        token = _read_token(token_file)
    elif any(a == "--token" or a.startswith("--token=") for a in sys.argv):
        err.print("Warning: a --token on the command line is visible to other users (ps); "
                  "use ARTLENS_TOKEN or --token-file instead.")
    directory = Collection.locate(collection)  # uploads are recorded by absolute path
    limits = Limits(upload_bytes=max_upload_mb * 2**20, query_pixels=max_query_pixels, decode_workers=decode_workers)
    api = create_app(directory, token=token, hosts=allowed_hosts(host, allowed_host or []), limits=limits)
    err.print(f"Serving {directory} at http://{host}:{port} (API docs: http://{host}:{port}/docs; "
              f"writes {'need the token' if token else 'disabled: no token'})")
    uvicorn.run(api, host=host, port=port, log_level="warning", server_header=False)


def _read_token(path: Path) -> str:
    """The first line of a token file (InputError if it cannot be read or is empty); warns when others can read it."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
        mode = path.expanduser().stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the token file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    token = text.splitlines()[0].strip() if text.strip() else ""
    if not token:
        raise InputError(f"the token file {path} is empty")
    if mode & 0o077:
        err.print(f"Warning: {path} can be read by other users; `chmod 600 {path}` keeps the token yours.")
    return token


eval_app = typer.Typer(help="Measure how good search and labels are.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
def eval_retrieval(
    collection: CollectionArg,
    label: Annotated[list[str] | None, typer.Option(
        "--label", "-l",
        help="Metadata column; a result is relevant when it shares the value. Repeat for the DeepArt graded protocol.",
        show_default=False,
    )] = None,
    group: Annotated[str | None, typer.Option(help="Group column (artist, series): ALADIN group retrieval P@1/5/10.", show_default=False)] = None,
    facet: Annotated[list[str] | None, typer.Option("--facet", help="Facets to evaluate (default: all the collection has).", show_default=False)] = None,
    k: Annotated[int, typer.Option("-k", help="Depth of the DeepArt scores and the extra P@k.", min=1)] = 60,
    min_shared: Annotated[int | None, typer.Option(
        help="Labels a result must share to be relevant with several --label (default: a majority).",
        show_default=False,
    )] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every artwork with the label queries the rest of the collection: P@k and mAP for each facet.

    Example: artlens eval retrieval my-collection --label style --label genre --group artist
    """
    with Collection.open(collection) as col:
        result = col.evaluate_retrieval(labels=label or [], group=group, facets=facet or None,
                                        k=k, min_shared=min_shared)
    if as_json:
        _print_json(result)
        return
    out.print(f"{result['queries']} queries against {result['artworks']} artworks "
              f"({'full ranking' if result['full_ranking'] else 'top ' + str(result['depth'])}).")
    facets = result["facets"]
    tasks = sorted({t for f in facets.values() for t in f}, key=lambda t: (t == "graded", t.startswith("group:"), t))
    for task in tasks:
        keys = [key for key in next(f[task] for f in facets.values() if task in f) if key not in ("queries", "min_shared")]
        title = task
        if task == "graded":
            title = f"all labels, graded (DeepArt, relevant when sharing >= {int(next(iter(facets.values()))['graded']['min_shared'])})"
        out.print()
        out.print(f"{title}:")
        out.print("  " + f"{'facet':<14}" + "".join(f"{key:>9}" for key in keys))
        for name, scores in facets.items():
            if task in scores:
                out.print("  " + f"{name:<14}" + "".join(f"{scores[task][key]:>9.3f}" for key in keys))
    out.print()
    for task, (name, best, margin) in result.winners().items():
        out.print(f"best for {task}: {name} ({best:.3f}, +{margin:.3f} over the next facet)")


@eval_app.command("labels")
def eval_labels(
    collection: CollectionArg,
    label: Annotated[str, typer.Option("--label", "-l", help="Column with the true labels.", show_default=False)],
    predicted: Annotated[str, typer.Option("--predicted", "-p", help="Column with the predicted labels.", show_default=False)],
    scores: Annotated[str | None, typer.Option(
        help='Column with JSON class scores, e.g. {"oil": 0.8}: top-3 accuracy, and AP for binary labels.',
        show_default=False,
    )] = None,
    positive: Annotated[str | None, typer.Option(
        help="Positive class of a binary label (default 1/true/yes, else the second class).",
        show_default=False,
    )] = None,
    curve: Annotated[Path | None, typer.Option(help="Where to save the precision-recall curve PNG (binary labels with --scores).", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Predicted labels against true ones: accuracy, per-class precision/recall/F1, MCC, confusion matrix.

    Example: artlens eval labels my-collection --label medium --predicted medium_predicted
    """
    with Collection.open(collection) as col:
        r = col.evaluate_labels(label, predicted, scores=scores, positive=positive, curve=curve)
    if as_json:
        _print_json(r)
        return
    top3 = "n/a (needs --scores)" if r["top3_accuracy"] is None else f"{r['top3_accuracy']:.3f}"
    out.print(f"{r['items']} artworks with both labels. top-1 accuracy {r['top1_accuracy']:.3f}, top-3 {top3}, "
              f"micro F1 {r['micro_f1']:.3f}, macro F1 {r['macro_f1']:.3f}, MCC {r['mcc']:.3f}")
    if "average_precision" in r:
        out.print(f"average precision (positive: {r['positive']}): {r['average_precision']:.3f}")
    if "curve_png" in r:
        out.print(f"precision-recall curve: {r['curve_png']}")
    width = max(len(str(c)) for c in r["labels"]) + 2
    out.print()
    out.print(f"{'class':<{width}}{'precision':>10}{'recall':>8}{'F1':>7}{'support':>9}")
    for c in r["labels"]:
        m = r["per_class"][c]
        out.print(f"{str(c):<{width}}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}{m['support']:>9}")
    out.print()
    out.print("confusion matrix (rows: true, columns: predicted, in the order above):")
    for c, row in zip(r["labels"], r["confusion_matrix"]):
        out.print(f"{str(c):<{width}}" + "".join(f"{v:>6}" for v in row))


@eval_app.command("boxes")
def eval_boxes(
    truth: Annotated[Path, typer.Option(help="CSV: image, boxes_json = [[class, xmin, ymin, xmax, ymax, difficult], ...].", show_default=False)],
    predictions: Annotated[Path, typer.Option(help="CSV: image, class, score, xmin, ymin, xmax, ymax.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Detection AP at IoU 0.5 and 0.75 (PASCAL VOC rules, difficult boxes ignored), per class and mean.

    Example: artlens eval boxes --truth truth.csv --predictions detections.csv
    """
    r = evaluate_boxes(truth, predictions)
    if as_json:
        _print_json(r)
        return
    out.print(f"{r['images']} images, {r['predictions']} predicted boxes.")
    for problem in r["problems"]:
        out.print(f"  {problem}")
    for key in ("AP@0.5", "AP@0.75"):
        res = r[key]
        mean = "n/a" if res["mean"] is None else f"{res['mean']:.3f}"
        per = ", ".join(f"{c} {v:.3f}" for c, v in sorted(res["per_class"].items()))
        out.print(f"{key}: mean {mean}" + (f" ({per})" if per else ""))



def _short(path: str) -> str:
    """A path relative to the working directory when it is below it, for readable tables."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


if __name__ == "__main__":
    app()
