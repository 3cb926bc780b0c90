"""Near-duplicates: re-encoded, resized, slightly cropped or colour-shifted copies of one artwork.

Two signals, each strong where the other is weak:
- the 64-bit perceptual hash (DCT of the grey image) survives re-encoding, resizing and colour
  shifts (distance 0-4 of 64 bits), but a crop or a small rotation moves many bits (a 10% crop:
  median 12, from one corner 20; unrelated paintings: median 32);
- the content embedding survives crops, rotation and colour shifts, but not reliably a downscale
  (a half-size copy: median cosine 0.80), and distinct works of one series by one artist come as
  close as copies do (two Ronnie Landfield "Series Painting"s of 1966: cosine 0.995).
Neither is safe alone at the distances a crop needs, so the rule is:

    pHash distance <= 4, or
    pHash distance <= 22 and content cosine >= a bar rising linearly from 0.75 (at distance 4) to
    0.92 (at distance 22): the further apart the hashes, the closer the content must be.

Calibrated on WikiArt (2,848 paintings, 200 of them with 15 kinds of synthetic copy; measured by
bench/near_duplicates.py, report in docs/near_duplicates.md). Recall of the 3,000 (painting, copy)
pairs: 89.4% overall; 97.5-100% for JPEG quality 50/70, 50% downscales, 5% crops, 2 degree
rotations and brightness / contrast / saturation / hue / colour-cast shifts; 92.5% for crop 5% +
75% size + colour + JPEG 60; 88.5% for a centred 10% crop, 63% for a 10% crop from one corner; 2.5%
for the "everything at once" copy (corner crop + half size + cast + contrast + JPEG 50), which
neither signal recognises. False pairs: 8 pairs of distinct WikiArt paintings involving 13 of them
(0.46%; target <= 0.5%), all near-identical works of one series (Ronnie Landfield, Jo Baer, Anne
Truitt, two Malevich landscapes, two Allan Ramsay portraits); 0 in 300-painting collections (3
subsets, transform refitted), and 9-11 when a 300-painting transform scores all 2,848 paintings,
so the smaller fit barely moves the cosine scale. The 12 pairs of WikiArt files that are one
painting (filed under two styles, or photographed twice) are all found. The first guess, pHash <= 10
or content >= 0.90, had recall 89.9% for 28 false pairs involving 44 paintings (1.5%).

Limits: false pairs grow with the number of pairs (N^2), so expect proportionally more in much
larger collections, mostly between works of one series. In very small collections (tens of images)
that include copies, the refitted content transform spreads copies apart (cosine of a 5% crop ~0.87
instead of ~0.95), so crops are found less often there; hash-detected copies are unaffected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

# Chosen on the measurements above: the best recall at <= 0.5% of paintings in a false pair, on a
# plateau (22 -> 24 bits or 0.75 -> 0.80 moves recall by < 1 point and false pairs by <= 2).
# imagehash's pHash sets exactly 32 of 64 bits unless DCT values tie, so distances are nearly always even.
PHASH_MAX_DISTANCE = 4               # of 64 bits: the hash alone suffices up to here
JOINT_PHASH_MAX_DISTANCE = 22        # beyond this the hashes say "different", whatever the content
CONTENT_MIN_SIMILARITY = 0.75        # content bar just past PHASH_MAX_DISTANCE ...
CONTENT_MIN_SIMILARITY_FAR = 0.92    # ... rising linearly to this at JOINT_PHASH_MAX_DISTANCE
# Content neighbours of each artwork examined as candidates. A pair is only found by the joint rule
# when one is among the other's nearest neighbours; 16 leaves room for a dozen copies of one image.
_CONTENT_NEIGHBOURS = 16


@dataclass(frozen=True)
class NearDuplicate:
    a: int                       # catalog ids, a < b
    b: int
    phash_distance: int
    content_similarity: float    # NaN when no content vectors were given

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def describe_rule(
    phash_max: int = PHASH_MAX_DISTANCE,
    joint_phash_max: int = JOINT_PHASH_MAX_DISTANCE,
    content_min: float = CONTENT_MIN_SIMILARITY,
    content_min_far: float = CONTENT_MIN_SIMILARITY_FAR,
) -> str:
    return (f"pHash distance <= {phash_max}, or pHash distance <= {joint_phash_max} and content cosine >= "
            f"{content_min:.2f} (at distance {phash_max}) rising linearly to {content_min_far:.2f} (at {joint_phash_max})")


def content_bar(
    distance: int | np.ndarray,
    phash_max: int = PHASH_MAX_DISTANCE,
    joint_phash_max: int = JOINT_PHASH_MAX_DISTANCE,
    content_min: float = CONTENT_MIN_SIMILARITY,
    content_min_far: float = CONTENT_MIN_SIMILARITY_FAR,
) -> np.ndarray:
    """Content cosine a pair needs at this pHash distance (inf beyond `joint_phash_max`, 0 up to `phash_max`)."""
    d = np.asarray(distance, np.float64)
    span = max(joint_phash_max - phash_max, 1)
    bar = content_min + (content_min_far - content_min) * (d - phash_max) / span
    return np.where(d <= phash_max, 0.0, np.where(d <= joint_phash_max, bar, np.inf))


def _hash_bytes(phashes: Sequence[str]) -> np.ndarray:
    return np.frombuffer(b"".join(bytes.fromhex(h) for h in phashes), dtype=np.uint8).reshape(len(phashes), 8)


def _hamming_rows(codes: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return np.unpackbits(codes[i] ^ codes[j], axis=1).sum(axis=1).astype(np.int64)


def hamming(a: str, b: str) -> int:
    return int(bin(int(a, 16) ^ int(b, 16)).count("1"))


def find_near_duplicates(
    ids: np.ndarray,
    phashes: Sequence[str],
    content: np.ndarray | None,
    phash_max: int = PHASH_MAX_DISTANCE,
    content_min: float = CONTENT_MIN_SIMILARITY,
    joint_phash_max: int = JOINT_PHASH_MAX_DISTANCE,
    content_min_far: float = CONTENT_MIN_SIMILARITY_FAR,
) -> list[NearDuplicate]:
    """Pairs of distinct artworks that look like copies of each other, sorted by (a, b).

    ids: (N,) catalog ids; phashes: hex perceptual hash of each; content: (N, d) L2-normalised
    content vectors row-aligned with ids (None: the hash alone, pairs within `phash_max`).
    A pair is reported when its pHash distance is <= `phash_max`, or when it is <= `joint_phash_max`
    and the content cosine reaches `content_bar(distance)` (see the module docstring).
    """
    import faiss  # deferred: reading the pairs of a built collection needs no FAISS

    from artlens.store.index import build_index

    ids = np.asarray(ids, np.int64)
    n = len(ids)
    if n < 2:
        return []
    if len(phashes) != n or (content is not None and len(content) != n):
        raise ValueError(f"ids, phashes and content must be row-aligned: {n}, {len(phashes)}, {None if content is None else len(content)}")
    pairs: set[tuple[int, int]] = set()
    codes = _hash_bytes(phashes)
    if phash_max >= 0:
        binary = faiss.IndexBinaryFlat(64)
        binary.add(codes)
        lims, _, found = binary.range_search(codes, phash_max + 1)  # radius is exclusive
        for i in range(n):
            for j in found[lims[i] : lims[i + 1]]:
                if i != j:
                    pairs.add((min(i, int(j)), max(i, int(j))))
    if content is not None:
        content = np.ascontiguousarray(content, dtype=np.float32)
        if joint_phash_max > phash_max:
            # Candidates: each artwork's nearest content neighbours, from an index of the kind the
            # collection itself uses (exact when small, approximate when large): O(N log N) pairs
            # rather than all N^2 (a pHash radius of 22 bits holds ~2% of all pairs).
            k = min(n, _CONTENT_NEIGHBOURS + 1)
            _, nbrs = build_index(content, np.arange(n, dtype=np.int64)).search(content, k)
            rows = np.repeat(np.arange(n), k)
            cols = nbrs.reshape(-1).astype(np.int64)
            ok = (cols >= 0) & (cols != rows)
            lo, hi = np.minimum(rows[ok], cols[ok]), np.maximum(rows[ok], cols[ok])
            cand = np.unique(np.stack([lo, hi], axis=1), axis=0)
            if len(cand):
                dist = _hamming_rows(codes, cand[:, 0], cand[:, 1])
                sims = np.einsum("ij,ij->i", content[cand[:, 0]], content[cand[:, 1]])
                keep = sims >= content_bar(dist, phash_max, joint_phash_max, content_min, content_min_far)
                pairs.update((int(i), int(j)) for i, j in cand[keep])
    out = []
    for i, j in pairs:
        sim = float(content[i] @ content[j]) if content is not None else float("nan")
        a, b = (i, j) if ids[i] < ids[j] else (j, i)
        out.append(NearDuplicate(a=int(ids[a]), b=int(ids[b]), phash_distance=hamming(phashes[i], phashes[j]),
                                 content_similarity=round(sim, 4)))
    out.sort(key=lambda d: (d.a, d.b))
    return out
