"""Search quality on all of WikiArt (2,848 paintings, 11 movements, 282 artists).

The measure: for every painting, the share of its 10 nearest neighbours (joint facet, itself left
out) that belong to the same movement. Plain frozen EfficientNet-Lite0 features reach about 0.45
on paintings by unseen artists; the collection's fitted facets must not fall below that.

The collection runs the ImageNet `lite0` backbone: the art-tuned default was trained on most of these
artists, so its figures here would flatter it (its own, on artists it never saw, are in
docs/backbone.md). The default learned style space was trained on these very artists too, so the joint
here is the mix of the frozen facets; each learned space's figures on artists it never saw are in its
card and in docs/evaluation.md (checked by the last test).
"""

from __future__ import annotations

import numpy as np
import pytest

from artlens import Collection
from artlens.features.facets import DEFAULT_WEIGHTS
from artlens.learn.style_space import default_style_space
from artlens.store import catalog
from artlens.store.vectors import joint_matrix

from conftest import WIKIART


def style_precision_at_10(col: Collection, facet: str, other_artists_only: bool = False) -> float:
    vecs = col.vectors
    with col.catalog.engine.connect() as conn:
        rows = catalog.artworks_by_id(conn, vecs.ids)
    style = np.array([rows[int(i)].meta["style"] for i in vecs.ids])
    artist = np.array([rows[int(i)].meta["artist"] for i in vecs.ids])
    if facet == "frozen joint":
        mat = joint_matrix({f: np.asarray(vecs.matrices[f]) for f in DEFAULT_WEIGHTS}, DEFAULT_WEIGHTS)
    else:
        mat = np.asarray(vecs.matrices[facet])
    sims = mat @ mat.T
    np.fill_diagonal(sims, -np.inf)
    if other_artists_only:
        # The harder reading: neighbours by the query's own artist do not count as found.
        sims[artist[:, None] == artist[None, :]] = -np.inf
    top = np.argsort(-sims, axis=1)[:, :10]
    return float((style[top] == style[:, None]).mean())


@pytest.fixture(scope="module")
def wikiart(tmp_path_factory: pytest.TempPathFactory):
    col = Collection.create(tmp_path_factory.mktemp("wikiart") / "col", backbone="lite0")
    report = col.add([WIKIART / "images"], metadata=WIKIART / "labels.csv")
    assert report.failed == [] and report.added == 2848
    yield col
    col.close()


def test_joint_neighbours_share_the_movement(wikiart: Collection) -> None:
    figures = {facet: style_precision_at_10(wikiart, facet) for facet in ("frozen joint", "content", "style", "color")}
    unseen = style_precision_at_10(wikiart, "frozen joint", other_artists_only=True)
    print(f"\nWikiArt style P@10: {figures}; joint, other artists only: {unseen:.3f}")
    assert figures["frozen joint"] >= 0.45
    # Not counting the query's own artist is much harder (measured 0.37); guard against regressions.
    assert unseen >= 0.33
    assert figures["color"] < figures["style"]  # colour alone is the weak baseline


def test_the_matrix_measure_is_what_search_returns(wikiart: Collection) -> None:
    vecs = wikiart.vectors
    with wikiart.catalog.engine.connect() as conn:
        art = catalog.artworks_by_id(conn, [int(vecs.ids[7])])[int(vecs.ids[7])]
    mat = np.asarray(vecs.matrices["joint"])
    sims = mat @ mat[7]
    sims[7] = -np.inf
    expected = [int(vecs.ids[i]) for i in np.argsort(-sims)[:10]]
    assert [r.id for r in wikiart.search(images=[art.path], k=10)] == expected


@pytest.mark.parametrize("backbone", ["lite0-art", "lite0"])
def test_the_default_learned_style_space_helps_on_artists_it_never_saw(backbone: str) -> None:
    space = default_style_space(backbone, "adain")
    assert space is not None
    held_out = space.meta["held_out"]["scores"]
    learned, untrained = held_out["style_learned"], held_out["style (untrained)"]
    assert learned["artist P@1"] > untrained["artist P@1"]
    assert learned["style P@10"] > untrained["style P@10"]  # finer, without losing the movement
