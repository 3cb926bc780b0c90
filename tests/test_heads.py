"""Label heads: masked training, training from a collection's metadata, storage, shipped default models."""

from __future__ import annotations

import numpy as np
import pytest

from artlens.features.embed import raw_dims
from artlens.learn import DEFAULT_MODELS, KINDS, VOCABULARIES, Decision, HeadConfig, LabelHead, load_default_model, train_head
from artlens.learn.registry import DEFAULT_FEATURES, default_model_path
from artlens.learn.training import masked_bce
from artlens.store import catalog


@pytest.fixture(scope="module")
def small_raw(small_collection):
    """Raw features and metadata of the 242 WikiArt paintings of the session collection (read-only)."""
    col = small_collection
    dims = raw_dims(col.backbone, col.style_variant)
    raw = {}
    with col.catalog.engine.connect() as conn:
        for facet in ("content", "style", "color", "logits"):
            ids, raw[facet] = catalog.load_features(conn, facet, dims[facet])
        rows = catalog.artworks_by_id(conn, ids)
    metas = [rows[int(i)].meta for i in ids]
    return raw, metas


@pytest.fixture(scope="module")
def style_head(small_raw) -> LabelHead:
    raw, metas = small_raw
    return train_head(raw, [m.get("style") for m in metas], "one-of-many", [m.get("artist") for m in metas],
                      name="style", model="linear", linear_c=(0.003,))


def _sub(raw, idx):
    return {k: v[idx] for k, v in raw.items()}


def test_masked_loss_ignores_unknowns() -> None:
    logits = np.array([[0.3, -1.0, 2.0], [1.5, 0.2, -0.7]])
    targets = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    mask = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # 0 = unknown value
    loss, grad = masked_bce(logits, targets, mask)
    assert np.all(grad[mask == 0] == 0)
    assert np.all(grad[mask == 1] != 0)
    # the unknown entries' targets do not matter at all
    loss2, _ = masked_bce(logits, np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]), mask)
    assert loss2 == pytest.approx(loss)


def test_unknown_rows_do_not_change_training(small_raw) -> None:
    raw, metas = small_raw
    labels = [{"portrait": (m["genre"] == "portrait") if m.get("genre") else None,
               "baroque": m["style"] == "Baroque"} for m in metas]
    groups = [m["artist"] for m in metas]
    a = train_head(raw, labels, "many", groups, name="m", model="linear", seed=3)
    # 40 extra rows (copies of other paintings' features) whose every value is unknown
    extra = np.arange(40)
    raw2 = {k: np.concatenate([v, v[extra][::-1]]) for k, v in raw.items()}
    labels2 = labels + [{"portrait": None, "baroque": None} for _ in extra]
    b = train_head(raw2, labels2, "many", groups + ["x"] * len(extra), name="m", model="linear", seed=3)
    for (wa, ba), (wb, bb) in zip(a.layers, b.layers):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)
    assert a.thresholds == b.thresholds
    # one-of-many: unlabelled rows ("" or None) are left out the same way
    y = [m["style"] for m in metas]
    c = train_head(raw, y, "one-of-many", groups, name="s", model="linear", linear_c=(0.003,))
    d = train_head(raw2, y + [None, ""] * 20, "one-of-many", groups + ["x"] * 40, name="s", model="linear", linear_c=(0.003,))
    np.testing.assert_array_equal(c.layers[0][0], d.layers[0][0])
    assert c.card["data"]["unknown_left_out"] == 0 and d.card["data"]["unknown_left_out"] == 40


def test_train_from_a_metadata_column(small_raw, style_head) -> None:
    raw, metas = small_raw
    h = style_head
    assert h.kind == "one-of-many" and h.backbone == DEFAULT_FEATURES and h.inputs == ("content", "style")
    assert sorted(h.classes) == sorted({m["style"] for m in metas}) and len(h.classes) == 11
    card = h.card
    assert card["data"]["labelled"] == 242 and card["data"]["train"] + card["data"]["held_out"] == 242
    assert 15 <= card["data"]["held_out"] <= 40  # about 1/11, split by artist
    for key in ("top1_accuracy", "top3_accuracy", "macro_f1", "mcc", "per_class", "confident_precision", "confident_coverage"):
        assert key in card["held_out"]
    assert card["held_out"]["top3_accuracy"] >= card["held_out"]["top1_accuracy"]
    assert card["calibration"]["temperature"] > 0
    # calibrated on every labelled item, each scored by a model that never saw its artist: the held-out
    # part plus out-of-fold scores of the training part; the honest figure uses the training folds only
    assert card["data"]["calibration"] == 242 and "out-of-fold" in card["calibration_set"]
    assert "confident_precision_unseen" in card["held_out"] and 0 <= card["held_out"]["confident_coverage_unseen"] <= 1
    # split by artist: no held-out artist was trained on (checked through a re-split with the same seed)
    assert h.card["split"].startswith("held out 1/11 of the labelled items by group")
    decisions = h.decide(raw)
    assert np.mean([d.label == m["style"] for d, m in zip(decisions, metas) if d.label != "unsure"]) > 0.8  # mostly training data


def test_decisions_have_the_documented_shapes(small_raw, style_head) -> None:
    raw, metas = small_raw
    idx = np.arange(0, 242, 20)
    r = _sub(raw, idx)
    for d in style_head.decide(r):
        assert isinstance(d, Decision) and (d.label in style_head.classes or d.label == "unsure")
        assert len(d.top3) == 3 and d.top3[0][1] >= d.top3[1][1] >= d.top3[2][1]
        assert d.confidence == pytest.approx(d.top3[0][1])
    s = style_head.scores(r)
    assert s.shape == (idx.size, 11) and np.allclose(s.sum(1), 1)

    groups = [m["artist"] for m in metas]
    binary = train_head(raw, ["yes" if m["style"] == "Baroque" else "no" for m in metas], "binary", groups, name="baroque", model="linear")
    assert binary.classes == ["yes"] and binary.scores(r).shape == (idx.size, 1)
    assert binary.thresholds["no"] <= binary.thresholds["yes"]
    for d, p in zip(binary.decide(r), binary.scores(r)[:, 0]):
        assert d.label in ("yes", "no", "unsure") and d.top3 == [("yes", pytest.approx(p))]

    many = train_head(raw, [{"baroque": m["style"] == "Baroque", "portrait": m.get("genre") == "portrait" if m.get("genre") else None} for m in metas],
                      "many", groups, name="many", model="linear")
    assert many.scores(r).shape == (idx.size, 2)
    for d in many.decide(r):
        assert d.label in ("", "unsure") or set(d.label.split(";")) <= {"baroque", "portrait"}
        assert len(d.top3) == 2
    assert KINDS == ("binary", "one-of-many", "many")


def test_vocabulary_as_class_list(small_raw) -> None:
    raw, metas = small_raw
    # a collection owner's own column in the BAM "media" vocabulary; values outside it are unknown
    media = ["oil paint" if m["style"] in ("Baroque", "Impressionism") else "watercolour" if m["style"] == "Cubism" else "fresco" for m in metas]
    h = train_head(raw, media, "one-of-many", [m["artist"] for m in metas], name="media", classes=VOCABULARIES["media"], model="linear", linear_c=(0.003,))
    assert h.classes == VOCABULARIES["media"]
    assert any("outside the vocabulary" in n for n in h.card["notes"])


def test_a_config_and_keywords_train_the_same_head(small_raw) -> None:
    raw, metas = small_raw
    y = ["yes" if m["style"] == "Baroque" else "no" for m in metas]
    groups = [m["artist"] for m in metas]
    a = train_head(raw, y, "binary", groups, name="b", model="linear", linear_c=(0.003,), seed=1)
    b = train_head(raw, y, "binary", groups, name="b", config=HeadConfig(model="linear", linear_c=[0.003], seed=5), seed=1)  # keywords win
    for (wa, ba), (wb, bb) in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)
    assert a.card == b.card and a.thresholds == b.thresholds
    with pytest.raises(TypeError, match="unknown options: epochs"):
        train_head(raw, y, "binary", groups, epochs=3)
    with pytest.raises(ValueError, match="model must be"):
        HeadConfig(model="tree")
    with pytest.raises(ValueError, match="mapped classes need kind 'many'"):
        train_head(raw, y, "binary", groups, mapped={"bird": [7]})


def test_heads_module_does_not_import_training() -> None:
    import ast
    from pathlib import Path

    import artlens.learn.heads as heads

    tree = ast.parse(Path(heads.__file__).read_text())
    modules = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [m for m in modules if "training" in m]


def test_save_load_round_trip(tmp_path, small_raw, style_head) -> None:
    raw, _ = small_raw
    path = style_head.save(tmp_path / "style.npz")
    assert path.stat().st_size < 3_000_000 and not list(tmp_path.glob("*.tmp"))
    back = LabelHead.load(path)
    assert back.decide(raw) == style_head.decide(raw)
    assert back.version == style_head.version and back.card == style_head.card and back.classes == style_head.classes


def test_wrong_feature_dims_raise(small_raw, style_head) -> None:
    raw, _ = small_raw
    lite2_like = dict(raw, content=np.zeros((3, 1408), np.float32), style=np.zeros((3, 736), np.float32))
    with pytest.raises(ValueError, match="lite0"):
        style_head.decide(lite2_like)
    with pytest.raises(ValueError, match="style"):
        style_head.scores({"content": raw["content"][:3]})


@pytest.mark.parametrize("name", DEFAULT_MODELS)
def test_default_models_load_and_decide(name, small_raw) -> None:
    raw, _ = small_raw
    assert default_model_path(name).stat().st_size < 3_000_000
    head = load_default_model(name)
    assert head.name == name and head.backbone == DEFAULT_FEATURES
    r = _sub(raw, np.arange(5))
    decisions = head.decide(r)
    assert len(decisions) == 5 and all(isinstance(d, Decision) for d in decisions)
    s = head.scores(r)
    assert s.shape == (5, len(head.classes)) and np.all((s >= 0) & (s <= 1))
    for key in ("data", "held_out", "split", "trained_on"):
        assert key in head.card
