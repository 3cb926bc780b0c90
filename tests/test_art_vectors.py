"""The benchmarks' model of a collection's vectors (bench/art_vectors.py): drawn works look like the collection's
to an index, far more than random vectors do."""

from __future__ import annotations

import numpy as np

from bench import art_vectors


def unit(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def test_drawn_works_have_the_collections_facets_and_its_structure() -> None:
    # A stand-in for a collection's facets: works around 60 styles, each facet of a work from its style.
    rng = np.random.default_rng(0)
    style = rng.integers(60, size=2_000)
    real = {f: unit(rng.standard_normal((60, d))[style] + 0.6 * rng.standard_normal((2_000, d))) for f, d in (("content", 96), ("color", 32))}
    model = art_vectors.fit({f: m[300:] for f, m in real.items()})
    drawn = art_vectors.sample(model, 1_700, seed=1)
    assert {f: m.shape for f, m in drawn.items()} == {"content": (1_700, 96), "color": (1_700, 32)}
    assert all(np.allclose(np.linalg.norm(m, axis=1), 1, atol=1e-5) for m in drawn.values())
    assert np.array_equal(art_vectors.sample(model, 10, seed=3)["color"], art_vectors.sample(model, 10, seed=3)["color"])

    # Held-out works as queries see drawn works about as the collection's own, and random vectors far away.
    queries = art_vectors.concatenated({f: m[:300] for f, m in real.items()})
    collection = art_vectors.concatenated({f: m[300:] for f, m in real.items()})
    seen = art_vectors.compare(collection, art_vectors.concatenated(drawn), queries)
    noise = art_vectors.compare(collection, unit(rng.standard_normal(collection.shape)), queries)["model"]
    nearest, probe_2 = art_vectors.COMPARE_COLUMNS.index("nn1 cos"), art_vectors.COMPARE_COLUMNS.index("probe 2")
    assert abs(seen["model"][nearest] - seen["real"][nearest]) < 0.1 < seen["model"][nearest] - noise[nearest]
    assert abs(seen["model"][probe_2] - seen["real"][probe_2]) < 0.1 < seen["model"][probe_2] - noise[probe_2]
