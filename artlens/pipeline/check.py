"""Checking a collection and repairing what can be repaired (`artlens check [--repair]`).

The catalog is verified (SQLite's integrity check, the schema, raw features for every searchable
artwork), the vectors against the catalog (every file read, row counts, the catalog version they
were built from; on PostgreSQL, the copy a large collection publishes in the database), the thumbnails
and the model files in models/. A repair rebuilds the vectors from the catalog (publishing them again),
makes thumbnails again from the image files that are still there, moves model files that do not load
aside, and says what it cannot repair (a damaged catalog) and how to recover.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from artlens.errors import CollectionError
from artlens.results import CheckReport
from artlens.store.database import Catalog
from artlens.store.layout import BROKEN_MODELS_DIR, MODELS_DIR, VECTORS_DIR
from artlens.store.lock import WriterLock

PARTS = ("catalog", "vectors", "thumbnails", "models")  # what `check` verifies
CATALOG_ADVICE = ("cannot be repaired from the collection: restore artlens.db from a backup, or add the image files "
                  "again into a new collection (`artlens add NEW-COLLECTION PATH... --metadata CSV`; the models/ folder can be copied over)")


def check_collection(store: Catalog, directory: Path, writer: WriterLock, repair: bool, rebuild: Callable[[], int]) -> CheckReport:
    """Check (and with `repair`, repair) the collection at `directory`; `rebuild` rebuilds its vectors
    and returns how many artworks they hold. Repairing holds `writer`."""
    parts = dict.fromkeys(PARTS, "ok")
    problems: list[str] = []
    repaired: list[str] = []
    remaining: list[str] = []

    def found(part: str, what: list[str]) -> None:
        if what:
            parts[part] = "damaged"
            problems.extend(f"{part}: {w}" for w in what)

    try:
        catalog = [*store.integrity_problems(), *store.schema_problems()]
        catalog += [f"{_count(len(ids), 'artwork')} {'has' if len(ids) == 1 else 'have'} no {name} features ({_ids(ids)})"
                    for name, ids in store.feature_gaps().items()]
        vectors, leftovers = _check_vectors(store, directory)
        thumbnails = store.thumbnail_gaps()
    except CollectionError as exc:  # pages too damaged to read: nothing else can be checked
        if not catalog_damage(exc):
            raise
        return unreadable_catalog(directory, exc)
    found("catalog", catalog)
    found("vectors", vectors + [f"{p.name} is left over from a build that did not finish" for p in leftovers])
    found("thumbnails", [f"{_count(len(thumbnails), 'artwork')} {'has' if len(thumbnails) == 1 else 'have'} no readable thumbnail "
                         f"({_ids(thumbnails)})"] if thumbnails else [])
    broken = {path: why for path in _model_files(directory) if (why := _model_problem(path)) is not None}
    found("models", [f"{path.name} does not load ({why})" for path, why in broken.items()])

    if catalog:
        remaining.append(f"catalog: {CATALOG_ADVICE}")
    if not repair:
        if leftovers and not vectors:
            remaining.append("vectors: `artlens check --repair` removes what the build left")
        if vectors and not catalog:
            remaining.append("vectors: `artlens check --repair` rebuilds them from the catalog")
        if vectors and catalog:
            remaining.append("vectors: cannot be rebuilt until the catalog is sound")
        if thumbnails:
            remaining.append("thumbnails: `artlens check --repair` makes them again from the image files that are still there")
        remaining += [f"models: {path.name}: `artlens check --repair` moves it to models/{BROKEN_MODELS_DIR}/" for path in broken]
        return CheckReport(str(directory), parts, tuple(problems), (), tuple(remaining))

    with writer.hold("check --repair"):
        for path in broken:
            _move_aside(path, path.parent / BROKEN_MODELS_DIR)
            repaired.append(f"models: {path.name} moved to models/{BROKEN_MODELS_DIR}/")
            parts["models"] = "repaired"
        if thumbnails:
            made, lost = _remake_thumbnails(store, thumbnails)
            if made:
                repaired.append(f"thumbnails: {made} made again from the image files")
            if lost:
                remaining.append(f"thumbnails: {_count(len(lost), 'artwork')} cannot get one: the image file is gone or changed "
                                 f"({_ids(lost)}); the pages show no picture for them")
            parts["thumbnails"] = "damaged" if lost else "repaired"
        if vectors and catalog:
            remaining.append("vectors: cannot be rebuilt until the catalog is sound")
        elif vectors:
            built = rebuild()  # which also removes what dead builds left
            repaired.append(f"vectors: rebuilt from the catalog ({_count(built, 'artwork')})")
            parts["vectors"] = "repaired"
        elif leftovers:
            from artlens.store import vectors as store_vectors

            gone = store_vectors.remove_leftovers(directory / VECTORS_DIR)
            repaired.append(f"vectors: removed {', '.join(gone)}, left by a build that did not finish")
            parts["vectors"] = "repaired"
    return CheckReport(str(directory), parts, tuple(problems), tuple(repaired), tuple(remaining))


def _check_vectors(store: Catalog, directory: Path) -> tuple[list[str], list[Path]]:
    """(problems of the vectors folder against the catalog, folders left by builds that died)."""
    from artlens.store import vectors

    folder = directory / VECTORS_DIR
    ids = store.indexed_ids()
    version = store.version()
    if vectors.exists(folder):
        found = vectors.verify(folder, ids, version)
    elif len(ids):
        found = [f"not built for the {_count(len(ids), 'artwork')} of the catalog"]
    else:
        found = [f"not built (the catalog is at version {version})"] if version else []
    return found + store.published_problems(), vectors.leftovers(folder)


def _model_files(directory: Path) -> list[Path]:
    folder = directory / MODELS_DIR
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def _remake_thumbnails(store: Catalog, ids: Sequence[int]) -> tuple[int, list[int]]:
    """Thumbnails made again from the image files, as `add` made them: (how many, ids whose file
    is gone, unreadable or no longer the file that was added)."""
    from artlens.errors import ImageError
    from artlens.features.embed import WORKING_SIDE
    from artlens.features.images import load_image, thumbnail
    from artlens.pipeline.ingest import THUMBNAIL_SIDE

    rows = store.artworks(ids)
    made, lost = 0, []
    for i in ids:
        try:
            img = load_image(Path(rows[i].path), max_side=WORKING_SIDE)
        except (ImageError, OSError):
            lost.append(i)
            continue
        if img.sha256 != rows[i].sha256:
            lost.append(i)
            continue
        store.set_thumbnail(i, thumbnail(img, THUMBNAIL_SIDE))
        made += 1
    return made, lost


def catalog_damage(exc: CollectionError) -> bool:
    """Is this the CollectionError of a catalog database too damaged to read?"""
    return isinstance(exc.detail, dict) and exc.detail.get("part") == "catalog" and exc.detail.get("kind") == "damaged"


def unreadable_catalog(directory: Path, exc: CollectionError) -> CheckReport:
    """The report on a collection whose catalog cannot even be read: nothing else can be checked."""
    problem = exc.detail.get("problem", str(exc)) if isinstance(exc.detail, dict) else str(exc)
    return CheckReport(str(directory), {"catalog": "damaged"}, (f"catalog: {problem}",), (), (f"catalog: {CATALOG_ADVICE}",))


def _model_problem(path: Path) -> str | None:
    """Why a model file in models/ does not load (None when it does, or when it is no model file at all)."""
    from artlens.learn import small_model
    from artlens.learn.heads import LabelHead
    from artlens.learn.style_space import StyleSpace
    from artlens.store.vectors import READ_ERRORS

    try:
        meta, _ = small_model.load(path, arrays=False)
        (LabelHead if meta["type"] == "label_head" else StyleSpace).load(path)
    except small_model.NotASmallModelError:
        return None  # an .npz of something else: the registry passes over it too
    except READ_ERRORS as exc:
        return type(exc).__name__
    return None


def _move_aside(path: Path, folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    target, n = folder / path.name, 1
    while target.exists():
        target, n = folder / f"{path.stem}.{n}{path.suffix}", n + 1
    return path.rename(target)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _ids(ids: Sequence[int], n: int = 10) -> str:
    shown = ", ".join(map(str, ids[:n])) + (", ..." if len(ids) > n else "")
    return f"id {shown}" if len(ids) == 1 else f"ids {shown}"
