"""Near-duplicates: re-encoded, resized, slightly cropped or colour-shifted copies of one artwork.

Two independent signals, each strong where the other is weak:
- the 64-bit perceptual hash (DCT of the grey image) survives re-encoding, resizing and colour
  shifts, but a crop of a few percent moves many bits;
- the content embedding survives crops and colour shifts, but similar compositions by one artist
  can also come close.
A pair is reported when either signal is past its threshold; both values are kept as evidence.
Thresholds are calibrated on WikiArt with synthetic copies (see docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import faiss
import numpy as np

from artlens.index import build_index

PHASH_MAX_DISTANCE = 10      # of 64 bits
CONTENT_MIN_SIMILARITY = 0.90
_CONTENT_NEIGHBOURS = 8


@dataclass(frozen=True)
class NearDuplicate:
    a: int                       # catalog ids, a < b
    b: int
    phash_distance: int
    content_similarity: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _hash_bytes(phashes: Sequence[str]) -> np.ndarray:
    return np.frombuffer(b"".join(bytes.fromhex(h) for h in phashes), dtype=np.uint8).reshape(len(phashes), 8)


def hamming(a: str, b: str) -> int:
    return int(bin(int(a, 16) ^ int(b, 16)).count("1"))


def find_near_duplicates(
    ids: np.ndarray,
    phashes: Sequence[str],
    content: np.ndarray | None,
    phash_max: int = PHASH_MAX_DISTANCE,
    content_min: float = CONTENT_MIN_SIMILARITY,
) -> list[NearDuplicate]:
    """Pairs of distinct artworks that look like copies of each other.

    ids: (N,) catalog ids; phashes: hex perceptual hash of each; content: (N, d) L2-normalised
    content vectors row-aligned with ids (None to use the hash alone).
    """
    n = len(ids)
    if n < 2:
        return []
    pairs: set[tuple[int, int]] = set()
    codes = _hash_bytes(phashes)
    binary = faiss.IndexBinaryFlat(64)
    binary.add(codes)
    lims, _, found = binary.range_search(codes, phash_max + 1)  # radius is exclusive
    for i in range(n):
        for j in found[lims[i] : lims[i + 1]]:
            if i < j:
                pairs.add((i, int(j)))
    if content is not None:
        content = np.ascontiguousarray(content, dtype=np.float32)
        # The collection's own index kind (exact when small, HNSW when large) keeps this O(N log N).
        sims, nbrs = build_index(content, np.arange(n, dtype=np.int64)).search(content, min(n, _CONTENT_NEIGHBOURS))
        for i in range(n):
            for s, j in zip(sims[i], nbrs[i]):
                if j >= 0 and j != i and s >= content_min:
                    pairs.add((min(i, int(j)), max(i, int(j))))
    out = []
    for i, j in sorted(pairs):
        sim = float(content[i] @ content[j]) if content is not None else float("nan")
        out.append(NearDuplicate(a=int(ids[i]), b=int(ids[j]), phash_distance=hamming(phashes[i], phashes[j]), content_similarity=round(sim, 4)))
    return out
