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

import csv
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
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


def scan(paths: Sequence[Path]) -> tuple[list[Path], int]:
    """Image files under `paths` (recursive, sorted, absolute) and how many other files were passed over.

    Hidden files and folders (.DS_Store, ._copies, .git) are passed over silently. A file named
    explicitly is always tried, whatever its suffix, so that a wrong file gets a clear reason.
    """
    if not paths:
        raise InputError("no paths given: name at least one image file or folder to add")
    found: list[Path] = []
    ignored = 0
    for p in paths:
        p = Path(p).expanduser()
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
        if p.is_file():
            found.append(p.resolve())
            continue
        for f in sorted(p.rglob("*")):
            rel = f.relative_to(p)
            if any(part.startswith(".") for part in rel.parts) or not f.is_file():
                continue
            if is_image_path(f):
                found.append(f.resolve())
            else:
                ignored += 1
    return sorted(dict.fromkeys(found)), ignored


def read_metadata(csv_path: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Metadata CSV -> ({absolute image path: {column: value}}, problems).

    The `image` column holds paths relative to the CSV's folder (absolute paths also work). Every
    other column is metadata; empty cells are left out. A bad row is reported and skipped, never fatal.
    """
    csv_path = Path(csv_path).expanduser()
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: metadata CSV not found")
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{csv_path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header or "image" not in [h.strip() for h in header]:
        raise InputError(f"{csv_path}: the first row must be a header with an 'image' column")
    header = [h.strip() for h in header]
    dupes = [h for h, n in Counter(header).items() if n > 1]
    if dupes:
        raise InputError(f"{csv_path}: column names appear twice: {', '.join(dupes)}")
    base = csv_path.resolve().parent
    rows: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for line_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(f"{csv_path.name} line {line_no}: {len(cells)} fields where the header has {len(header)}; row skipped")
            continue
        record = dict(zip(header, (c.strip() for c in cells)))
        image = record.pop("image")
        if not image:
            problems.append(f"{csv_path.name} line {line_no}: empty 'image' cell; row skipped")
            continue
        path = str((base / image).resolve())
        if path in rows:
            problems.append(f"{csv_path.name} line {line_no}: {image} already described on an earlier line; the later line wins")
        rows[path] = {k: v for k, v in record.items() if v != ""}
    return rows, problems


@dataclass
class _Prepared:
    path: Path
    size: int | None = None
    mtime_ns: int | None = None
    art: NewArtwork | None = None
    model_input: np.ndarray | None = None
    reason: str = ""
    message: str = ""


def _prepare(path: Path, backbone: Backbone) -> _Prepared:
    """Everything about one file that does not need the batch. Never raises for bad input."""
    out = _Prepared(path)
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


def _embed_batch(paths: Sequence[Path], backbone: Backbone, style_variant: str) -> list[_Prepared]:
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


def _in_order(pool: ThreadPoolExecutor, batches: Iterable[Sequence[Path]], backbone: Backbone, style_variant: str, ahead: int) -> Iterator[list[_Prepared]]:
    """Embedded batches in submission order, keeping `ahead` batches in flight on the workers."""
    queue: deque[Future[list[_Prepared]]] = deque()
    for batch in batches:
        queue.append(pool.submit(_embed_batch, batch, backbone, style_variant))
        if len(queue) > ahead:
            yield queue.popleft().result()
    while queue:
        yield queue.popleft().result()


def add_files(
    store: Catalog,
    backbone: Backbone,
    style_variant: str,
    files: Sequence[Path],
    metadata: dict[str, dict[str, str]] | None = None,
    batch_size: int = BATCH_SIZE,
    progress: ProgressFn | None = None,
    report: AddReport | None = None,
) -> AddReport:
    """Add `files` to the catalog: decode, hash, thumbnail, embed and commit batch by batch.

    Files already catalogued with the same size and modification time are skipped, so running
    the same add again, or after an interruption, only does the missing work.
    """
    report = report or AddReport()
    metadata = metadata or {}
    start = time.perf_counter()
    seen = store.file_states()
    todo: list[Path] = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            todo.append(f)  # _prepare records why it cannot be read
            continue
        if seen.get(str(f)) == (st.st_size, st.st_mtime_ns):
            report.unchanged += 1
        else:
            todo.append(f)
    done = 0
    if progress:
        progress(done, len(todo))
    workers = usable_cores()
    inserted: set[str] = set()  # got their metadata with their row
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="artlens-ingest") as pool:
        for prepared in _in_order(pool, _batches(todo, batch_size, workers), backbone, style_variant, ahead=workers + 1):
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
    # Metadata for files that were already in the catalog (or that a CSV describes later).
    report.metadata_rows += store.merge_metadata(metadata, skip=inserted)
    report.seconds += time.perf_counter() - start
    return report
