"""The collection's searchable vectors: transforms fitted on the catalog, one matrix and index per facet.

`build` reads the raw features of every indexed artwork, fits each facet's transform, and writes
the transformed matrices, a FAISS index per facet (plus `joint`, the default weighted mix), score
quantiles (so a result can say how unusual its similarity is) and the near-duplicate pairs.
Learned facets (a `StyleSpace`, e.g. `style_learned`) are projections trained elsewhere: their
matrices come from the space, not from a transform fitted here, and a copy of the space is kept
beside them so queries are projected exactly as the collection was. It
writes into a fresh folder and swaps it in at the end, so an interrupted build leaves the previous
vectors usable and the next run simply builds again.

Builds are atomic and may race: each writes into a folder of its own (`vectors.build-<pid>-<random>`)
and swaps it in with one atomic exchange of the two folders (Linux renameat2; elsewhere two renames),
so `vectors/` is always one complete build, never half of two. Folders left by a build that died
are removed by the next build. A reader (`load`) retries when a build is swapped in while it reads,
keeps the index files it opened, and says which file is damaged (CollectionError) instead of a
traceback when one is.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import math
import os
import secrets
import shutil
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import numpy as np
from threadpoolctl import threadpool_limits

from artlens.errors import CollectionError
from artlens.features.facets import DEFAULT_WEIGHTS, FACETS, TRANSFORM_SPECS, FacetTransform, fit_transform
from artlens.machine import usable_cores
from artlens.retrieval.duplicates import NearDuplicate, find_near_duplicates
from artlens.store.catalog import indexed_value
from artlens.store.database import Catalog
from artlens.vocabulary import COUNT_FILTERS, LEARNED_STYLE

if TYPE_CHECKING:
    from artlens.learn.style_space import StyleSpace
    from artlens.store.index import VectorIndex

QUANTILE_LEVELS = np.linspace(0.0, 1.0, 1001)
STATE_FILE = "state.json"
NEAR_FILE = "near_duplicates.json"
LOAD_ATTEMPTS = 5  # reads restarted because a build was swapped in meanwhile (each swap is one rename)
# What reading a damaged file raises: numpy (ValueError, EOFError, BadZipFile), JSON, FAISS (RuntimeError).
READ_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, RuntimeError, zipfile.BadZipFile)
T = TypeVar("T")
StateKey = tuple[int, int, int]  # (inode, mtime_ns, size) of state.json: a new value for every build
# A build counts the works holding each metadata value and predicted label held by more than this many (at most
# a hundredth of the works a filter may allow to be scored exactly): how many a filter allows, known in advance.
COUNTED_ABOVE = 100


@dataclass
class FacetVectors:
    """Transformed vectors of every indexed artwork, row-aligned with `ids` (sorted)."""

    directory: Path
    ids: np.ndarray
    matrices: dict[str, np.ndarray]
    transforms: dict[str, FacetTransform]
    quantiles: dict[str, np.ndarray]
    weights: dict[str, float]
    catalog_version: int
    index_kinds: dict[str, tuple[int, str]] = field(default_factory=dict)  # facet -> (dim, kind), from state.json
    spaces: dict[str, StyleSpace] = field(default_factory=dict)  # learned facets
    key: StateKey | None = None  # state.json's identity when loaded: `state_key` differs once another build is in place
    # How many works held each frequent metadata value and predicted label at build time (`catalog.value_counts`,
    # above COUNTED_ABOVE); None from builds before it was kept.
    value_counts: dict[str, dict[str, int]] | None = None
    _indexes: dict[str, VectorIndex] = field(default_factory=dict)
    # Index files opened with the rest of the build and read on first use: a build swapped in since
    # cannot mix its indexes with these matrices.
    _index_files: dict[str, BinaryIO] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def facets(self) -> tuple[str, ...]:
        """Every facet searchable on its own: the fitted ones, then the learned ones."""
        return (*(f for f in FACETS if f in self.matrices), *self.spaces)

    def project(self, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Raw features of images (from `embed`) -> their vector in every facet."""
        out = {f: self.transforms[f].apply(raw[f]) for f in FACETS}
        out.update({name: space.apply(raw) for name, space in self.spaces.items()})
        return out

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row numbers of catalog ids (which must be indexed)."""
        return np.searchsorted(self.ids, np.asarray(ids, np.int64))

    def has(self, artwork_id: int) -> bool:
        return bool(self.holds(np.array([artwork_id]))[0])

    def holds(self, ids: np.ndarray) -> np.ndarray:
        """Which of `ids` have vectors in this build (a binary search each: ids are sorted)."""
        ids = np.asarray(ids, np.int64)
        rows = np.minimum(np.searchsorted(self.ids, ids), max(len(self.ids) - 1, 0))
        return (self.ids[rows] == ids) if len(self.ids) else np.zeros(len(ids), bool)

    def index(self, facet: str) -> VectorIndex:
        """The FAISS index of a facet (or 'joint'), loaded on first use."""
        with self._lock:
            if facet not in self._indexes:
                from artlens.store.index import VectorIndex

                source = self._index_files.pop(facet, None)
                name = f"{facet}.faiss"
                try:
                    index = VectorIndex.load(source if source is not None else self.directory / name)
                except CollectionError:
                    raise damaged(self.directory, f"{name} is cut short or not an index") from None
                except FileNotFoundError:
                    raise damaged(self.directory, f"{name} is missing") from None
                finally:
                    if source is not None:
                        source.close()
                if len(index) != len(self.ids):
                    raise damaged(self.directory, f"{name} holds {len(index)} vectors for {len(self.ids)} artworks")
                self._indexes[facet] = index
            return self._indexes[facet]

    def index_facts(self, facet: str) -> tuple[int, str]:
        """(dimension, index kind) of a facet's index, without loading it when the build recorded them."""
        if facet not in self.index_kinds:
            index = self.index(facet)
            self.index_kinds[facet] = (index.dim, index.kind)
        return self.index_kinds[facet]

    def percentile(self, facet: str, scores: np.ndarray) -> np.ndarray:
        """Share of random artwork pairs whose `facet` similarity is below each score (0..1)."""
        q = self.quantiles[facet]
        return np.searchsorted(q, np.asarray(scores, np.float32), side="right") / len(q)

    def dims(self) -> dict[str, int]:
        return {f: int(m.shape[1]) for f, m in self.matrices.items()}


def default_weights(facets: Sequence[str]) -> dict[str, float]:
    """The default joint mix over the facets a collection has. A learned style space takes the style
    share: on WikiArt artists it never saw, that mix finds the query's movement more often (P@10 0.513
    against 0.493) and its artist too (P@1 0.586 against 0.556); see docs/evaluation.md."""
    weights = {f: w for f, w in DEFAULT_WEIGHTS.items() if f in facets}
    if LEARNED_STYLE in facets and "style" in weights:
        weights[LEARNED_STYLE] = weights.pop("style")
    return weights


def joint_matrix(matrices: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Concatenate facets scaled by sqrt(weight / total): inner product = weighted mean of facet cosines."""
    total = sum(weights.values())
    parts = [np.sqrt(w / total) * matrices[f] for f, w in weights.items() if w > 0]
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


def score_quantiles(mat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Distribution of similarities between random pairs of distinct artworks."""
    n = len(mat)
    if n < 2:
        return np.quantile(np.zeros(1, np.float32), QUANTILE_LEVELS).astype(np.float32)
    q_rows = rng.choice(n, min(n, 400), replace=False)
    d_rows = rng.choice(n, min(n, 5000), replace=False)
    sims = mat[q_rows] @ mat[d_rows].T
    not_self = q_rows[:, None] != d_rows[None, :]
    # One sort then a lookup: np.quantile partitions once per level, 10x slower for 1,001 levels.
    ranked = np.sort(sims[not_self])
    return ranked[np.round(QUANTILE_LEVELS * (len(ranked) - 1)).astype(np.int64)].astype(np.float32)


def build(store: Catalog, directory: Path, raw_dims: dict[str, int], spaces: dict[str, StyleSpace] | None = None) -> FacetVectors:
    """Fit transforms and write vectors, indexes, quantiles and near-duplicates to `directory`.

    spaces: learned facets to add, by name (each must `fit` the collection's raw features).
    Written into a folder of this build's own, then swapped in whole (see the module docstring).
    """
    spaces = dict(spaces or {})
    weights = default_weights((*FACETS, *spaces))
    for name, space in spaces.items():
        if name in (*FACETS, "joint") or not space.fits(raw_dims):
            raise ValueError(f"learned facet {name!r} does not fit this collection's features")
    needed = sorted({*FACETS, *(f for space in spaces.values() for f in space.inputs)})
    version, raw, arts, counts = store.snapshot(needed, raw_dims, COUNTED_ABOVE)
    ids = raw["content"][0]
    for f in needed:
        if not np.array_equal(raw[f][0], ids):
            lacking = [int(i) for i in np.setxor1d(ids, raw[f][0])]  # in one raw feature but not the other
            raise CollectionError(f"the catalog of {directory.parent} is inconsistent: {len(lacking)} artworks lack some raw features "
                                  f"(ids {_some(lacking)}); run `artlens check {directory.parent}` for what to do",
                                  {"kind": "damaged", "part": "catalog", "ids": lacking[:100]})
    remove_leftovers(directory)
    tmp = directory.with_name(f"{directory.name}.build-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir(parents=True)
    try:
        _write(tmp, ids, raw, arts, spaces, weights, version, counts)
        _swap(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone after a swap; after a failure, nothing to keep
    return load(directory)


def most_allowed(counts: Mapping[str, Mapping[str, int]] | None, where: Sequence[tuple[str, str, str]]) -> int | None:
    """At most how many works `where` allows, by a build's value counts (`catalog.value_counts`): the fewest any
    one column's `=` values hold together, a value not counted holding at most `COUNTED_ABOVE`. None when
    the counts say nothing: a build without them, or no `=` on a metadata column or label. Works added since the
    build can make it low: filtered search uses it to choose its way, never which works pass."""
    return None if counts is None else min(_held(counts, where).values(), default=None)


def most_selective_first(counts: Mapping[str, Mapping[str, int]] | None, where: Sequence[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """`where` with its `=` columns ordered by the works they hold by the counts, fewest first, and every other
    condition after them in its own order (unchanged without counts): the catalog lists a filter by its first
    column, looking each work up in the others (`catalog._filter_query`)."""
    if counts is None:
        return list(where)
    held = _held(counts, where)
    return sorted(where, key=lambda c: held[c[0]] if c[1] == "=" and c[0] in held else math.inf)


def _held(counts: Mapping[str, Mapping[str, int]], where: Sequence[tuple[str, str, str]]) -> dict[str, int]:
    """Column -> how many works its `=` values in `where` hold together, by the counts."""
    wanted: dict[str, set[str]] = {}
    for column, op, value in where:
        if op == "=" and column not in COUNT_FILTERS:
            wanted.setdefault(column, set()).add(indexed_value(column, value))
    return {column: sum(counts.get(column, {}).get(v, COUNTED_ABOVE) for v in values) for column, values in wanted.items()}


def _write(tmp: Path, ids: np.ndarray, raw: dict[str, tuple[np.ndarray, np.ndarray]], arts: Sequence[Any],
           spaces: dict[str, StyleSpace], weights: dict[str, float], version: int, counts: dict[str, dict[str, int]]) -> None:
    from artlens.store.index import build_index

    transforms: dict[str, FacetTransform] = {}
    matrices: dict[str, np.ndarray] = {}
    quantiles: dict[str, np.ndarray] = {}
    index_kinds: dict[str, tuple[int, str]] = {}
    if len(ids):
        # Facets are independent and numpy/FAISS release the GIL: one thread per core, each with a
        # single-threaded BLAS (OpenBLAS threads on top of these made the build 3x slower).
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(usable_cores()) as pool:
            transforms = dict(zip(FACETS, pool.map(lambda f: fit_transform(raw[f][1], TRANSFORM_SPECS[f]), FACETS)))
            matrices = dict(zip(FACETS, pool.map(lambda f: transforms[f].apply(raw[f][1]), FACETS)))
            for name, space in spaces.items():
                matrices[name] = space.apply({f: raw[f][1] for f in space.inputs})
            matrices["joint"] = joint_matrix(matrices, weights)

            def write(f: str) -> tuple[np.ndarray, tuple[int, str]]:
                np.save(tmp / f"{f}.npy", matrices[f])
                index = build_index(matrices[f], ids)
                index.save(tmp / f"{f}.faiss")
                return score_quantiles(matrices[f], np.random.default_rng(0)), (index.dim, index.kind)

            written = dict(zip(matrices, pool.map(write, list(matrices))))
            quantiles = {f: q for f, (q, _) in written.items()}
            index_kinds = {f: facts for f, (_, facts) in written.items()}
        for f, t in transforms.items():
            t.save(tmp / f"{f}.transform.npz")
        for name, space in spaces.items():
            space.save(tmp / f"{name}.space.npz")
        np.savez(tmp / "quantiles.npz", **quantiles)  # type: ignore[arg-type]  # numpy stubs: keyword arrays
    np.save(tmp / "ids.npy", ids)
    phash = {a.id: a.phash for a in arts}
    near = find_near_duplicates(ids, [phash[int(i)] for i in ids], matrices.get("content"))
    (tmp / NEAR_FILE).write_text(json.dumps([n.as_dict() for n in near]))
    # Every file with its size: a cheap completeness test for readers (`problems`), written last.
    files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}
    (tmp / STATE_FILE).write_text(json.dumps({
        "catalog_version": version, "weights": weights, "artworks": int(len(ids)),
        "learned": {name: space.meta for name, space in spaces.items()},
        "indexes": {f: {"dim": dim, "kind": kind} for f, (dim, kind) in index_kinds.items()},
        "value_counts": counts, "build": secrets.token_hex(8), "files": files,
    }))
    _sync(tmp)


def _sync(folder: Path) -> None:
    """Flush every file of `folder` and the folder itself to disk, so that after a power cut the
    swapped-in build is whole, not a set of empty files."""
    for path in folder.iterdir():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    _sync_dir(folder)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap(new: Path, current: Path) -> None:
    """Put the complete build `new` where `current` is, so that `current` is always one complete build.

    One atomic exchange of the two folders where the system has it (the old build is then under the
    name `new`, for the caller to remove); elsewhere, or when there is no `current` yet, renames: the
    old folder aside, then the new one in (a reader meeting the moment between them retries).
    """
    aside: list[Path] = []
    for _ in range(LOAD_ATTEMPTS):
        swapped = _exchange(new, current)
        if swapped:
            break
        if swapped is None and current.exists():
            aside.append(current.with_name(f"{current.name}.old-{os.getpid()}-{secrets.token_hex(4)}"))
            with contextlib.suppress(FileNotFoundError):  # another build moved it first
                current.rename(aside[-1])
        if _rename(new, current):
            break
        # Another build took the place in between: go again (last one in wins; each is complete).
    else:
        raise OSError(f"could not put the new build in place of {current}: other builds keep replacing it")
    for folder in aside:
        shutil.rmtree(folder, ignore_errors=True)
    _sync_dir(current.parent)


def _rename(src: Path, dst: Path) -> bool:
    """Rename `src` to `dst` unless `dst` exists (a racing build got there first): False then."""
    try:
        src.rename(dst)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            return False
        raise
    return True


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool | None:
    """Atomically exchange folders `a` and `b` (Linux renameat2 RENAME_EXCHANGE): True when done,
    False when `b` does not exist, None where the system or the file system cannot."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without it (glibc < 2.28, musl < 1.2.5)
        return None
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.ENOENT:
        return False
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return None
    raise OSError(err, os.strerror(err), str(b))


def leftovers(directory: Path) -> list[Path]:
    """Folders beside `directory` that builds which died left behind: `<name>.build-<pid>-*` and
    `<name>.old-<pid>-*` of processes that no longer run, and the fixed `.new` / `.old` folders of
    earlier versions."""
    found = []
    for path in sorted(directory.parent.glob(f"{directory.name}.*")):
        _, _, rest = path.name.partition(".")
        kind, _, owner = rest.partition("-")
        pid = owner.partition("-")[0]
        if rest in ("new", "old") or (kind in ("build", "old") and pid.isdigit() and not _running(int(pid))):
            found.append(path)
    return found


def remove_leftovers(directory: Path) -> list[str]:
    """Remove `leftovers(directory)`; returns their names."""
    gone = leftovers(directory)
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in gone]


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be building
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def damaged(directory: Path, problem: str) -> CollectionError:
    """The error for a vectors folder that cannot be read: names the problem and the repair."""
    collection = directory.parent
    return CollectionError(f"the search vectors of {collection} are damaged ({problem}); "
                           f"run `artlens check --repair {collection}` to rebuild them from the catalog",
                           {"kind": "damaged", "part": "vectors", "problem": problem})


def state_key(directory: Path) -> StateKey | None:
    """Identity of the build in place (a stat, nothing read); None when there is none."""
    return file_key(directory / STATE_FILE)


def file_key(path: Path) -> StateKey | None:
    """(inode, mtime_ns, size) of the file at `path`: new for every file replaced there; None when there is none."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def exists(directory: Path) -> bool:
    """True when there is a vectors folder with anything in it (complete or not)."""
    try:
        return any(directory.iterdir())
    except OSError:
        return False


def built_version(directory: Path) -> int | None:
    """The catalog version the vectors were built from, or None when there are none (or state.json is unreadable)."""
    try:
        return int(json.loads((directory / STATE_FILE).read_text())["catalog_version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE_FILE
    try:
        state = json.loads(path.read_text())
        int(state["catalog_version"])
        dict(state["weights"])
    except FileNotFoundError:
        raise _Damage(f"{STATE_FILE} is missing") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise _Damage(f"{STATE_FILE} is unreadable") from None
    if not isinstance(state, dict):
        raise _Damage(f"{STATE_FILE} is unreadable")
    return state


def _expected_files(state: dict[str, Any]) -> dict[str, int | None]:
    """name -> size of every file a build wrote (None: size unknown, from builds before the list was kept)."""
    if isinstance(state.get("files"), dict):
        return {str(k): int(v) for k, v in state["files"].items()}
    names = ["ids.npy", NEAR_FILE]
    if int(state.get("artworks", 0)):
        facets = [*FACETS, *state.get("learned", {}), "joint"]
        names += [f"{f}.npy" for f in facets] + [f"{f}.faiss" for f in facets]
        names += [f"{f}.transform.npz" for f in FACETS] + [f"{n}.space.npz" for n in state.get("learned", {})] + ["quantiles.npz"]
    return dict.fromkeys(names)


def _missing(directory: Path, state: dict[str, Any]) -> list[str]:
    found = []
    for name, size in _expected_files(state).items():
        try:
            have = (directory / name).stat().st_size
        except OSError:
            found.append(f"{name} is missing")
            continue
        if size is not None and have != size:
            found.append(f"{name} has {have} bytes, the build wrote {size}")
    return found


class _Damage(Exception):
    """A problem found while reading a vectors folder (becomes a CollectionError)."""


def problems(directory: Path) -> list[str]:
    """What makes the vectors folder incomplete, found cheaply (state.json and file sizes; nothing
    else is read); [] for a complete build or no folder at all."""
    if not exists(directory):
        return []
    try:
        return _missing(directory, _read_state(directory))
    except _Damage as exc:
        return [str(exc)]


def load(directory: Path) -> FacetVectors:
    """The vectors of the build in place. CollectionError (see `damaged`) when they are damaged."""
    problem = f"{STATE_FILE} is missing"
    for attempt in range(LOAD_ATTEMPTS):
        key = state_key(directory)
        try:
            state = _read_state(directory)
            missing = _missing(directory, state)
            if missing:
                raise _Damage(missing[0])
            vecs = _load(directory, state, key)
        except _Damage as exc:
            problem = str(exc)
        except READ_ERRORS as exc:
            problem = f"a file does not read ({type(exc).__name__})"
        else:
            if state_key(directory) == key:
                return vecs
            problem = "it kept changing while it was read"
        if state_key(directory) == key and key is not None:
            break  # nothing was swapped in meanwhile: the damage is real
        time.sleep(0.01 * (attempt + 1))  # a build is being swapped in: read the new one
    raise damaged(directory, problem)


def _load(directory: Path, state: dict[str, Any], key: StateKey | None) -> FacetVectors:
    ids = _read(directory / "ids.npy", np.load)
    if ids.ndim != 1 or len(ids) != int(state.get("artworks", len(ids))):
        raise _Damage(f"ids.npy holds {len(ids)} ids, the build wrote {state.get('artworks')}")
    matrices: dict[str, np.ndarray] = {}
    transforms: dict[str, FacetTransform] = {}
    quantiles: dict[str, np.ndarray] = {}
    spaces: dict[str, StyleSpace] = {}
    files: dict[str, BinaryIO] = {}
    if len(ids):
        from artlens.learn.style_space import StyleSpace

        spaces = {name: _read(directory / f"{name}.space.npz", StyleSpace.load) for name in state.get("learned", {})}
        # Memory-mapped: a search touches only the rows it scores.
        matrices = {f: _read(directory / f"{f}.npy", lambda p: np.load(p, mmap_mode="r")) for f in (*FACETS, *spaces, "joint")}
        for f, m in matrices.items():
            if m.ndim != 2 or len(m) != len(ids):
                raise _Damage(f"{f}.npy holds {len(m)} rows for {len(ids)} artworks")
        transforms = {f: _read(directory / f"{f}.transform.npz", FacetTransform.load) for f in FACETS}
        quantiles = _read(directory / "quantiles.npz", _read_npz)
        files = {f: _read(directory / f"{f}.faiss", lambda p: open(p, "rb")) for f in matrices}  # closed once read (FacetVectors.index)
    return FacetVectors(directory=directory, ids=ids, matrices=matrices, transforms=transforms, quantiles=quantiles,
                        weights=dict(state["weights"]), catalog_version=int(state["catalog_version"]), spaces=spaces,
                        index_kinds={f: (int(d["dim"]), str(d["kind"])) for f, d in state.get("indexes", {}).items()},
                        key=key, value_counts=state.get("value_counts"), _index_files=files)


def _read(path: Path, reader: Callable[[Path], T]) -> T:
    """reader(path), with what went wrong said as a problem of that file."""
    try:
        return reader(path)
    except FileNotFoundError:
        raise _Damage(f"{path.name} is missing") from None
    except READ_ERRORS as exc:
        raise _Damage(f"{path.name} does not read ({type(exc).__name__})") from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {f: z[f] for f in z.files}


def verify(directory: Path, catalog_ids: np.ndarray, catalog_version: int) -> list[str]:
    """Everything wrong with the vectors folder against the catalog, reading every file (for `check`):
    [] when it is one complete build of the catalog as it is now."""
    try:
        vecs = load(directory)
        for f in vecs.matrices:
            index = vecs.index(f)
            if index.dim != vecs.matrices[f].shape[1]:
                raise damaged(directory, f"{f}.faiss has {index.dim} dimensions, {f}.npy {vecs.matrices[f].shape[1]}")
        load_near_duplicates(directory)
    except CollectionError as exc:
        return [str((exc.detail or {}).get("problem", exc))]
    if vecs.catalog_version != catalog_version:
        return [f"built from catalog version {vecs.catalog_version}; the catalog is at version {catalog_version} (an add did not finish)"]
    if not np.array_equal(vecs.ids, catalog_ids):
        return [f"holds {len(vecs.ids)} artworks; the catalog has {len(catalog_ids)}"]
    return []


def load_near_duplicates(directory: Path) -> list[NearDuplicate]:
    path = directory / NEAR_FILE
    if not path.exists():
        return []
    try:
        return [NearDuplicate(**d) for d in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        raise damaged(directory, f"{NEAR_FILE} is unreadable") from None


def _some(ids: Sequence[int], n: int = 10) -> str:
    return ", ".join(map(str, ids[:n])) + (", ..." if len(ids) > n else "")
