"""The learned style space: training on groups, the numpy runtime, and its .npz file.

Synthetic "style features" stand in for the backbone's: a few directions carry the group (the
artist's hand), many stronger ones are nuisance shared by every group (subject, lighting, scan),
plus noise. Whitening alone cannot tell them apart; learning from groups can.
"""

from __future__ import annotations

import numpy as np
import pytest

from artlens import InputError
from artlens.learn import style_space
from artlens.learn.style_space import StyleSpace, evaluate_groups, split_groups, train_style_space

DIM = 736
_WORLD = np.random.default_rng(0)
SIGNAL = _WORLD.normal(size=(8, DIM))
NUISANCE = _WORLD.normal(size=(32, DIM))


def synthetic(n_groups: int, per_group: int, seed: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Raw {"style": (n_groups * per_group, 736)} and the group of each row (names unique to `seed`)."""
    rng = np.random.default_rng(seed)
    n = n_groups * per_group
    centres = rng.normal(size=(n_groups, 8)) @ SIGNAL
    x = np.repeat(centres, per_group, axis=0) + 2.0 * rng.normal(size=(n, 32)) @ NUISANCE + rng.normal(size=(n, DIM))
    groups = [f"artist-{seed}-{i}" for i in np.repeat(np.arange(n_groups), per_group)]
    return {"style": x.astype(np.float32)}, groups


@pytest.fixture(scope="module")
def trained() -> tuple[StyleSpace, dict]:
    raw, groups = synthetic(40, 6, seed=1)
    return train_style_space(raw, groups, epochs=60, seed=0)


def untrained_like(space: StyleSpace) -> StyleSpace:
    """The same input transform without the learned head: the whitened style statistics."""
    return StyleSpace(space.inputs, space.input_dims, space.shift, space.basis, layers=[])


def test_learned_space_finds_unseen_groups_better_than_whitening(trained):
    space, report = trained
    raw, groups = synthetic(20, 6, seed=2)  # other artists than in training
    learned = evaluate_groups(space.apply(raw), groups)
    baseline = evaluate_groups(untrained_like(space).apply(raw), groups)
    assert learned["P@1"] > baseline["P@1"] + 0.3
    assert report["train_groups"] + report["val_groups"] == 40
    assert report["val_p1"] == pytest.approx(max(report["val_p1_by_epoch"]), abs=1e-4)
    assert space.meta["best_epoch"] == report["best_epoch"] and space.meta["loss"] == "contrastive"


def test_outputs_are_unit_float32_rows(trained):
    space, _ = trained
    raw, _ = synthetic(5, 3, seed=3)
    y = space.apply(raw)
    assert y.shape == (15, space.dim) and y.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)


def test_float16_inputs_are_accepted(trained):
    space, _ = trained
    raw, _ = synthetic(5, 3, seed=3)
    half = raw["style"].astype(np.float16)
    np.testing.assert_array_equal(space.apply({"style": half}), space.apply({"style": half.astype(np.float32)}))


def test_save_load_round_trip_gives_identical_outputs(trained, tmp_path):
    space, _ = trained
    path = space.save(tmp_path / "style_learned.npz")
    loaded = StyleSpace.load(path)
    raw, _ = synthetic(5, 3, seed=3)
    np.testing.assert_array_equal(loaded.apply(raw), space.apply(raw))
    assert loaded.inputs == ("style",) and loaded.dim == space.dim and loaded.meta == space.meta


def test_fits_checks_the_raw_feature_shapes(trained):
    space, _ = trained
    assert space.fits({"style": DIM, "content": 1280})
    assert not space.fits({"style": 1536})  # another backbone or the Gram variant
    assert not space.fits({"content": 1280})
    with pytest.raises(ValueError, match="must be"):
        space.apply({"style": np.zeros((2, 1536), np.float32)})


def test_groups_are_never_on_both_sides_of_the_split():
    groups = [f"g{i // 4}" for i in range(200)] + ["alone", None, ""]
    train, val = split_groups(groups, val_fraction=0.2, seed=7)
    names = np.array([str(g) for g in groups])
    assert not set(names[train]) & set(names[val])
    assert len(train) + len(val) == len(groups)
    assert {200, 201, 202} <= set(train.tolist())  # no partner: negatives in training only
    assert len(set(names[val])) == 10


def test_early_stopping_keeps_the_best_epoch(monkeypatch):
    monkeypatch.setattr(style_space, "PATIENCE", 3)
    raw, groups = synthetic(40, 6, seed=1)
    seen: list[dict] = []
    space, report = train_style_space(raw, groups, epochs=60, progress=seen.append)
    history = [e["val_p1"] for e in seen]
    best = int(np.argmax(history)) + 1
    assert report["best_epoch"] == best and report["epochs_run"] == len(seen) == best + 3 < 60
    _, val = split_groups(groups, 0.15, seed=0)
    p1 = evaluate_groups(space.apply({"style": raw["style"][val]}), [groups[i] for i in val], ks=(1,))["P@1"]
    assert p1 == pytest.approx(history[best - 1])  # the returned weights are the best epoch's, not the last


def test_training_is_deterministic_given_the_seed():
    raw, groups = synthetic(20, 5, seed=4)
    a, _ = train_style_space(raw, groups, epochs=5, seed=3)
    b, _ = train_style_space(raw, groups, epochs=5, seed=3)
    for (wa, ba), (wb, bb) in zip(a.layers, b.layers):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)


def test_triplet_loss_with_shared_labels_runs():
    raw, groups = synthetic(20, 5, seed=5)
    movements = [f"movement-{int(g.rsplit('-', 1)[1]) % 3}" for g in groups]
    space, report = train_style_space(raw, groups, loss="triplet", labels=[movements], epochs=3)
    assert report["loss"] == "triplet" and report["epochs_run"] == 3
    np.testing.assert_allclose(np.linalg.norm(space.apply(raw), axis=1), 1.0, atol=1e-5)


def test_bad_training_requests_are_refused():
    raw, groups = synthetic(20, 5, seed=5)
    with pytest.raises(ValueError, match="triplet"):
        train_style_space(raw, groups, labels=[groups])  # labels are for the triplet loss
    with pytest.raises(InputError, match="groups with 2 or more"):
        train_style_space(raw, [f"solo-{i}" for i in range(len(groups))])


def test_default_space_matches_the_default_backbone():
    space = style_space.default_style_space("lite0", "adain")
    if space is None:
        pytest.skip("no shipped style space (run training/train_style_space.py)")
    assert space.fits({"style": DIM}) and space.inputs == style_space.STYLE_SPACE_INPUTS
    assert space.meta["group"] == "artist" and space.meta["held_out"]["scores"]
    assert style_space.default_style_space("lite2", "adain") is None
