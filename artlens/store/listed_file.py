"""A collection's listings of frequent filters on disk: what a serving process would otherwise list at each filter's
first use, written by the process that changed the catalog (`Collection` after a build, `annotate` or merged
metadata) and read by every process that serves the collection (`Catalog.hold`).

One file, replaced whole (`os.replace`), so a reader sees one writer's listings or another's, never half of each:
an 8-byte length, a JSON index ([column, op, value, count, token] per filter), padding to 8 bytes, then every
filter's sorted int64 ids one after another, memory-mapped by readers (only the listings searches use are read).
Each listing answers only while its filter's token in the catalog is the one read before it was made
(`store/listings.py`), so a file older than the catalog is harmless.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import numpy as np

Where = tuple[tuple[str, str, str], ...]


def write(path: Path, listed: Sequence[tuple[Sequence[tuple[str, str, str]], str, np.ndarray]]) -> None:
    """Replace the file at `path` with these listings: (a one-condition filter, its token when listed, sorted ids)."""
    index = json.dumps([[*where[0], int(len(ids)), token] for where, token, ids in listed]).encode()
    head = len(index).to_bytes(8, "little") + index
    head += b"\0" * (-len(head) % 8)  # the ids start 8-byte aligned
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            f.write(head)
            for where, _, ids in listed:
                if len(where) != 1:
                    raise ValueError(f"a listing on disk is of one condition, not {where}")
                f.write(np.ascontiguousarray(ids, dtype="<i8").tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read(path: Path) -> dict[Where, tuple[str, np.ndarray]]:
    """filter -> (token, read-only sorted ids) from the file at `path`; empty when there is none or it does not read
    (listings only spare work: a damaged file costs first uses, never a wrong answer)."""
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if size > os.fstat(f.fileno()).st_size - 8:
                raise ValueError("not a file of listings")  # (garbage would ask to read exabytes)
            index = json.loads(f.read(size))
        counts = [int(n) for *_, n, _ in index]
        flat = np.memmap(path, dtype="<i8", mode="r", offset=8 + size + (-(8 + size) % 8), shape=(sum(counts),)) if sum(counts) else None
        out: dict[Where, tuple[str, np.ndarray]] = {}
        end = 0
        for (column, op, value, _, token), n in zip(index, counts):
            ids = flat[end:end + n] if flat is not None else np.zeros(0, np.int64)
            out[((str(column), str(op), str(value)),)] = (str(token), ids)
            end += n
        return out
    except (OSError, ValueError, TypeError):
        return {}
