"""Folders and a metadata CSV -> catalog rows with raw features, in resumable batches.

Each core gets whole batches: one worker thread decodes, hashes, thumbnails and embeds its own
batch with a single-threaded model session, while the calling thread commits finished batches in
order (one transaction each). Data-parallel workers beat one model spread over all cores here:
ORT's intra-op threads wait for each other at every layer, so any decoding beside them stalls the
whole model, while independent workers just share the cores. A batch is the unit of progress:
once committed it is never redone, so an interrupted run continues where it stopped, and
re-adding unchanged files does nothing.
"""

from __future__ import annotations

import contextlib
import csv
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from artlens.errors import ImageError, InputError
from artlens.features.backbone import Backbone
from artlens.features.embed import WORKING_SIDE, model_input, raw_features
from artlens.features.images import is_image_path, load_image, thumbnail
from artlens.machine import usable_cores
from artlens.results import AddReport
from artlens.store.database import Catalog, NewArtwork

THUMBNAIL_SIDE = 256
BATCH_SIZE = 32

ProgressFn = Callable[[int, int], None]


@dataclass
class Scan:
    """What walking the paths found: image files (sorted, absolute), how many other files were passed
    over, and the links that could not be followed (a loop, a broken link), each with a reason."""

    files: list[Path]
    ignored: int = 0
    passed_over: list[str] = field(default_factory=list)


def scan(paths: Sequence[Path]) -> Scan:
    """Image files under `paths`, recursively. Symbolic links to folders are followed once: a link that
    leads back into a folder already walked (a loop) and a link to nothing are reported, not followed.

    Hidden files and folders (.DS_Store, ._copies, .git) are passed over silently. A file named
    explicitly is always tried, whatever its suffix, so that a wrong file gets a clear reason.
    """
    if not paths:
        raise InputError("no paths given: name at least one image file or folder to add")
    missing = [str(Path(p).expanduser()) for p in paths if not Path(p).expanduser().exists()]
    if missing:
        raise InputError(f"{missing[0]}: no such file or folder" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    out = Scan(files=[])
    for p in paths:
        p = Path(p).expanduser()
        if p.is_file():
            out.files.append(p.resolve())
        else:
            _walk(p, out)
    out.files = sorted(dict.fromkeys(out.files))
    return out


def _walk(top: Path, out: Scan) -> None:
    seen: set[tuple[int, int]] = set()  # (device, inode) of every folder walked: a link back to one is a loop
    for folder, dirs, names in os.walk(top, followlinks=True, onerror=lambda exc: out.passed_over.append(f"{exc.filename}: cannot be read ({exc.strerror})")):
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:
            out.passed_over.append(f"{folder}: a symbolic link back into a folder already walked (a loop); not followed")
            dirs.clear()
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            f = Path(folder) / name
            if not f.exists():
                out.passed_over.append(f"{f}: a symbolic link to nothing ({os.readlink(f)}); passed over")
            elif not f.is_file():
                continue
            elif is_image_path(f):
                out.files.append(f.resolve())
            else:
                out.ignored += 1


# A cell can hold a whole essay, but not the rest of the file: csv's default limit (131,072
# characters) turned one long description into an aborted add.
MAX_CELL = 16 * 2**20


def read_metadata(csv_path: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Metadata CSV -> ({absolute image path: {column: value}}, problems).

    The `image` column holds paths relative to the CSV's folder (absolute paths also work). Every
    other column is metadata; empty cells are left out. Nothing is lost silently: every non-empty
    line is applied or named in the problems. A bad row is reported and skipped, never fatal; a row
    naming a file that does not exist (a typo) is reported. A quoted cell may span lines, but a
    quote left open by mistake would swallow the rows after it: when the lines a cell spans read as
    rows of their own, the lines are read one by one instead (the stray quote taken literally).
    """
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: metadata CSV not found")
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{csv_path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.splitlines(keepends=True)  # a quoted cell may hold a line break: keep them for the reader
    header_cells = _parse_line(lines[0]) if lines else None
    if not header_cells or "image" not in [h.strip() for h in header_cells]:
        raise InputError(f"{csv_path}: the first row must be a header with an 'image' column")
    header = [h.strip() for h in header_cells]
    dupes = [h for h, n in Counter(header).items() if n > 1]
    if dupes:
        raise InputError(f"{csv_path}: column names appear twice: {', '.join(dupes)}")
    base = csv_path.resolve().parent
    rows: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    name = csv_path.name
    for line_no, cells, note in _records(lines, 1, len(header)):
        if note:
            problems.append(f"{name} line {line_no}: {note}")
        if cells is None or not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(f"{name} line {line_no}: {len(cells)} fields where the header has {len(header)}; row skipped")
            continue
        record = dict(zip(header, (c.strip() for c in cells)))
        image = record.pop("image")
        if not image:
            problems.append(f"{name} line {line_no}: empty 'image' cell; row skipped")
            continue
        path = base / image
        if not path.exists():
            problems.append(f"{name} line {line_no}: {image} not found (looked for {path}); row skipped")
            continue
        key = str(path.resolve())
        if key in rows:
            problems.append(f"{name} line {line_no}: {image} already described on an earlier line; the later line wins")
        rows[key] = {k: v for k, v in record.items() if v != ""}
    return rows, problems


def _parse_line(line: str) -> list[str] | None:
    """One physical line as CSV cells; a quote it leaves open is taken literally. None if unreadable."""
    try:
        cells = next(csv.reader([line], strict=True), [])
    except csv.Error:
        try:
            cells = next(csv.reader([line], quoting=csv.QUOTE_NONE), [])
        except csv.Error:
            return None
    return cells


def _records(lines: list[str], start: int, width: int) -> Iterator[tuple[int, list[str] | None, str]]:
    """(line number, cells or None, note) for every record from line index `start`, lines numbered from 1.

    One reader walks the lines; when a record looks wrong (unreadable, or an open quote ran over
    the line end into what reads as rows), its lines are read one by one and a fresh reader goes on
    from the next line.
    """
    it = iter(lines[start:])
    reader, base = csv.reader(it, strict=True), start  # base: index of the first line this reader sees
    while True:
        before = reader.line_num
        i = base + before
        try:
            with _cell_limit():
                cells: list[str] | None = next(reader)
            note = ""
        except StopIteration:
            return
        except csv.Error as exc:
            cells, note = None, f"misplaced quote ({exc}); read literally"
        used = max(1, reader.line_num - before)
        if cells is None or (used > 1 and (len(cells) != width or _look_like_rows(lines[i + 1:i + used], width))):
            for j in range(i, i + used):
                first = note or "a quote opened here runs into the lines after it; the lines read one by one, the quote literally"
                yield j + 1, _parse_line(lines[j]), first if j == i else ""
            reader, base = csv.reader(it, strict=True), i + used  # a fresh reader: the failed one may hold a half record
            continue
        yield i + 1, cells, note


def _look_like_rows(lines: list[str], width: int) -> bool:
    """Do these continuation lines of a multi-line cell each parse as a full row of `width` cells?"""
    return any(len(_parse_line(line) or []) == width for line in lines)


@contextlib.contextmanager
def _cell_limit() -> Iterator[None]:
    old = csv.field_size_limit()
    csv.field_size_limit(max(old, MAX_CELL))
    try:
        yield
    finally:
        csv.field_size_limit(old)


@dataclass
class Prepared:
    path: Path
    size: int | None = None
    mtime_ns: int | None = None
    art: NewArtwork | None = None
    model_input: np.ndarray | None = None
    reason: str = ""
    message: str = ""


def _prepare(path: Path, backbone: Backbone) -> Prepared:
    """Everything about one file that does not need the batch. Never raises for bad input."""
    out = Prepared(path)
    try:
        st = path.stat()
        out.size, out.mtime_ns = st.st_size, st.st_mtime_ns
        img = load_image(path, max_side=WORKING_SIDE)
    except ImageError as exc:
        out.reason, out.message = exc.reason, str(exc)
        return out
    except OSError as exc:
        out.reason, out.message = "unreadable", f"{path}: cannot be read ({exc.strerror or exc})"
        return out
    out.art = NewArtwork(
        path=str(path), file_size=st.st_size, mtime_ns=st.st_mtime_ns, sha256=img.sha256,
        pixel_hash=img.pixel_hash, phash=img.phash, width=img.width, height=img.height,
        format=img.format, thumbnail=thumbnail(img, THUMBNAIL_SIDE),
    )
    out.model_input = model_input(img.rgb, backbone)
    return out


def _batches(items: Sequence[Path], n: int, workers: int = 1) -> list[Sequence[Path]]:
    """Batches of at most `n`, as even as possible and a multiple of `workers` in number, so
    every worker finishes at about the same time instead of one doing a short last batch alone."""
    if not items:
        return []
    count = -(-len(items) // n)
    count = -(-count // workers) * workers
    size, extra = divmod(len(items), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (i < extra)
        if end > start:
            out.append(items[start:end])
        start = end
    return out


def _embed_batch(paths: Sequence[Path], backbone: Backbone, style_variant: str) -> list[Prepared]:
    """Prepare every file of a batch, then run the backbone once on the good ones."""
    prepared = [_prepare(p, backbone) for p in paths]
    good = [(p, p.art, p.model_input) for p in prepared if p.art is not None and p.model_input is not None]
    if good:
        feats = raw_features(backbone, np.stack([pixels for _, _, pixels in good]), style_variant)
        # The catalog stores float16: convert here, per batch, on the worker, not row by row at commit.
        feats = {name: mat.astype(np.float16) for name, mat in feats.items()}
        for i, (p, art, _) in enumerate(good):
            art.features = {name: mat[i] for name, mat in feats.items()}
            p.model_input = None  # 150 kB an image: drop it before the batch waits for its commit
    return prepared


def _in_order(pool: ThreadPoolExecutor, batches: Iterable[Sequence[Path]], backbone: Backbone, style_variant: str, ahead: int) -> Iterator[list[Prepared]]:
    """Embedded batches in submission order, keeping `ahead` batches in flight on the workers."""
    queue: deque[Future[list[Prepared]]] = deque()
    for batch in batches:
        queue.append(pool.submit(_embed_batch, batch, backbone, style_variant))
        if len(queue) > ahead:
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


def embedded_batches(pool: ThreadPoolExecutor, files: Sequence[Path], backbone: Backbone, style_variant: str,
                     batch_size: int, workers: int) -> Iterator[list[Prepared]]:
    """`files` decoded and embedded batch by batch on the pool's workers, yielded in order (for `add`
    and `reembed`); a file that cannot be used comes back with its reason instead of an artwork."""
    return _in_order(pool, _batches(files, batch_size, workers), backbone, style_variant, ahead=workers + 1)


# Embeds files batch by batch, yielding them in order: local threads (`local_batches`) or a Ray
# cluster (pipeline/distributed.py). Given the files to do and the batch size.
Embedder = Callable[[Sequence[Path], int], Iterator[list[Prepared]]]


def local_batches(backbone: Backbone, style_variant: str) -> Embedder:
    """One worker thread per usable core on this machine, each with its own batches."""

    def run(files: Sequence[Path], batch_size: int) -> Iterator[list[Prepared]]:
        workers = usable_cores()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="artlens-ingest") as pool:
            yield from embedded_batches(pool, files, backbone, style_variant, batch_size, workers)

    return run


def add_files(
    store: Catalog,
    backbone: Backbone,
    style_variant: str,
    files: Sequence[Path],
    metadata: dict[str, dict[str, str]] | None = None,
    batch_size: int = BATCH_SIZE,
    progress: ProgressFn | None = None,
    report: AddReport | None = None,
    embedder: Embedder | None = None,
) -> AddReport:
    """Add `files` to the catalog: decode, hash, thumbnail, embed and commit batch by batch.

    Files already catalogued with the same size and modification time are skipped, so running
    the same add again, or after an interruption, only does the missing work. `embedder`: where the
    decoding and embedding run (default: threads here); the commits are always this process's, in order.
    """
    report = report or AddReport()
    metadata = metadata or {}
    start = time.perf_counter()
    seen = store.file_states()
    bad_before = {f["path"]: f for f in store.failures()}
    todo: list[Path] = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            todo.append(f)  # _prepare records why it cannot be read
            continue
        if seen.get(str(f)) != (st.st_size, st.st_mtime_ns):
            todo.append(f)
        elif str(f) in bad_before:  # unchanged and still bad: a failure again, not "unchanged"
            report.failed.append(dict(bad_before[str(f)]))
        else:
            report.unchanged += 1
    done = 0
    if progress:
        progress(done, len(todo))
    inserted: set[str] = set()  # got their metadata with their row
    batches = (embedder or local_batches(backbone, style_variant))(todo, batch_size)
    try:
        for prepared in batches:
            failed = [(str(p.path), p.size, p.mtime_ns, p.reason, p.message) for p in prepared if p.art is None]
            arts = [p.art for p in prepared if p.art is not None]
            for art in arts:
                art.meta = metadata.get(art.path, {})
            originals = store.commit_batch(arts, failed, replace={a.path for a in arts if a.path in seen})
            report.failed.extend({"path": path, "reason": reason, "message": message} for path, _, _, reason, message in failed)
            inserted.update(a.path for a in arts)
            report.added += sum(o is None for o in originals)
            report.duplicates += sum(o is not None for o in originals)
            done += len(prepared)
            if progress:
                progress(done, len(todo))
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # stop the workers now (an interrupt), not when the generator is collected
    # Metadata for files that were already in the catalog (or that a CSV describes later).
    applied = store.merge_metadata(metadata, skip=inserted)
    report.metadata_rows += applied
    if applied < len(metadata):
        # Rows naming files that exist but are neither in this add nor in the collection.
        catalogued = store.ids_by_path(metadata)
        stray = sorted(p for p in metadata if p not in inserted and p not in catalogued)
        report.metadata_problems.append(
            f"{len(stray)} metadata rows name files that are neither among the files added nor in the collection, e.g. {stray[0]}"
            if stray else f"{len(metadata) - applied} metadata rows were not applied")
    report.seconds += time.perf_counter() - start
    return report
