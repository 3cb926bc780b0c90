"""A collection's filter columns on disk (`store/filter_columns.py`): written by the process that changed the catalog
(`Collection` after a build, `annotate`, `detect`, merged metadata or `migrate`) and read by every process that serves the
collection (`Catalog.hold`).

One file, replaced whole (`os.replace`), so a reader sees one writer's columns or another's, never half of each:
an 8-byte length, a JSON index ({"works": N, "columns": [[name, token, values], ...]}), padding to 8 bytes, the
works' sorted int64 ids, then each column's N int16 codes, memory-mapped by readers. Each column answers only while
its token in the catalog is the one read before it was made, so a file older than the catalog is harmless.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import numpy as np

from artlens.store.filter_columns import Column, FilterColumns


def write(path: Path, columns: FilterColumns) -> None:
    """Replace the file at `path` with these columns."""
    index = json.dumps({"works": len(columns.ids),
                        "columns": [[name, col.token, list(col.values)] for name, col in columns.columns.items()]}).encode()
    head = len(index).to_bytes(8, "little") + index
    head += b"\0" * (-len(head) % 8)  # the ids start 8-byte aligned
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            f.write(head)
            f.write(np.ascontiguousarray(columns.ids, dtype="<i8").tobytes())
            for col in columns.columns.values():
                if len(col.codes) != len(columns.ids):
                    raise ValueError(f"a column of {len(col.codes)} codes for {len(columns.ids)} works")
                f.write(np.ascontiguousarray(col.codes, dtype="<i2").tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read(path: Path) -> FilterColumns | None:
    """The columns in the file at `path` (read-only, memory-mapped); None when there is none or it does not read
    (the columns only spare work: a damaged file costs queries, never a wrong answer)."""
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if size > os.fstat(f.fileno()).st_size - 8:
                raise ValueError("not a file of filter columns")  # (garbage would ask to read exabytes)
            index = json.loads(f.read(size))
        n, listed = int(index["works"]), index["columns"]
        start = 8 + size + (-(8 + size) % 8)
        ids = np.memmap(path, dtype="<i8", mode="r", offset=start, shape=(n,)) if n else np.zeros(0, np.int64)
        codes = np.memmap(path, dtype="<i2", mode="r", offset=start + 8 * n, shape=(len(listed), n)) if n and listed else None
        return FilterColumns(ids, {str(name): Column(str(token), codes[i] if codes is not None else np.zeros(0, np.int16),
                                                     tuple(map(str, values)))
                                   for i, (name, token, values) in enumerate(listed)})
    except (OSError, ValueError, TypeError, KeyError):
        return None
