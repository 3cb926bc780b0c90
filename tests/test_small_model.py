"""The small-model module: numpy forward pass, signed power, weight digest, and the one versioned .npz
format of label heads and style spaces, which still reads the files written before it (format 1)."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pytest

from artlens.learn import LabelHead, load_default_model, small_model
from artlens.learn.registry import _is_label_head, default_model_path, defaults_dir
from artlens.learn.style_space import StyleSpace, default_style_space_path


def _raw() -> dict[str, np.ndarray]:
    """Three fixed rows of lite0-shaped raw features."""
    rng = np.random.default_rng(0)
    return {
        "content": np.abs(rng.normal(size=(3, 1280))).astype(np.float32),
        "style": rng.normal(size=(3, 736)).astype(np.float32),
        "logits": (3 * rng.normal(size=(3, 1000))).astype(np.float32),
    }


# Scores of the shipped format-1 files on _raw(), computed by the loaders before the small-model format existed.
BEFORE = {
    "style": [[0.00102616494, 1.61623908e-07, 9.61639429e-06, 4.74182382e-10, 0.000277497727, 0.998391657, 8.1940162e-12, 0.000285631699, 9.26766452e-06, 2.03251369e-09, 2.44417144e-11],
              [0.0050288914, 3.39494438e-07, 2.39317337e-05, 6.97416137e-09, 0.00184314264, 0.992458387, 1.34861236e-11, 0.000638012547, 7.26436705e-06, 2.35381436e-08, 2.47457381e-10],
              [0.0035928224, 1.94122073e-07, 2.53467946e-05, 3.82151522e-09, 0.00025322178, 0.995654675, 6.03622734e-11, 0.000469479025, 4.24641834e-06, 1.08340189e-08, 2.67604934e-12]],
    "medium": [[0.999999942, 5.80716248e-08], [0.999999994, 6.41227005e-09], [0.999999921, 7.87539247e-08]],
}
VERSIONS = {"style": "2026-11-22-4cbc1f07", "medium": "2026-11-22-fd19e83b"}
# First 6 dimensions of the shipped style space's vectors of _raw(), before the small-model format.
SPACE_BEFORE = [[0.442954034, 0.00235533412, 0.00742560951, -0.0484950282, 0.0866191089, 0.0452852249],
                [0.452264458, -0.00604014564, 0.011735837, -0.054082673, 0.10102196, 0.0511401072],
                [0.455287457, -0.00420364272, 0.0170267969, -0.043452628, 0.0852219909, 0.0357268266]]


def test_forward_pass_is_linear_relu_linear() -> None:
    w0 = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, -1.0]])
    b0 = np.array([0.5, 0.0, -3.0])
    w1 = np.array([[2.0], [1.0], [4.0]])
    b1 = np.array([-1.0])
    x = np.array([[1.0, 2.0], [-1.0, 0.5]])
    # row 1: x @ w0 + b0 = [1.5, 0, -4.5] -> ReLU [1.5, 0, 0] -> 3 - 1 = 2
    # row 2: [-0.5, 2.5, -4] -> [0, 2.5, 0] -> 2.5 - 1 = 1.5
    np.testing.assert_array_equal(small_model.mlp_forward([(w0, b0), (w1, b1)], x), [[2.0], [1.5]])
    # one layer: no ReLU at all (negative outputs stay)
    np.testing.assert_array_equal(small_model.mlp_forward([(w0, b0)], x), [[1.5, 0.0, -4.5], [-0.5, 2.5, -4.0]])
    assert small_model.mlp_forward([], x) is x


def test_signed_power() -> None:
    x = np.array([-4.0, -1.0, 0.0, 2.25, 9.0])
    np.testing.assert_array_equal(small_model.signed_power(x, 0.5), [-2.0, -1.0, 0.0, 1.5, 3.0])
    np.testing.assert_array_equal(small_model.signed_power(x, 2.0), [-16.0, -1.0, 0.0, 5.0625, 81.0])
    assert small_model.signed_power(x, 1.0) is x


def test_weight_digest_is_the_sha256_of_the_float32_weights() -> None:
    layers = [(np.ones((2, 3), np.float16), np.zeros(3, np.float64))]
    h = hashlib.sha256(np.ones((2, 3), np.float32).tobytes() + np.zeros(3, np.float32).tobytes())
    assert small_model.weight_digest(layers) == h.hexdigest()[:8]
    h.update(json.dumps(["x", 1]).encode())
    assert small_model.weight_digest(layers, ["x", 1]) == h.hexdigest()[:8]


def test_save_load_round_trip_with_the_type_field(tmp_path) -> None:
    arrays = {"w0": np.arange(6, dtype=np.float16).reshape(2, 3), "shift": np.array([1.5, np.inf], np.float32)}
    path = small_model.save(tmp_path / "sub" / "m.npz", "style_space", {"card": {"a": np.float32(0.5), "t": (1, 2)}, "th": -np.inf}, arrays)
    assert path.stat().st_mode & 0o777 == 0o644 and [p.name for p in path.parent.iterdir()] == ["m.npz"]
    meta, back = small_model.load(path)
    assert meta == {"type": "style_space", "format": small_model.FORMAT_VERSION, "card": {"a": 0.5, "t": [1, 2]}, "th": "-inf"}
    assert set(back) == set(arrays)
    for k, v in arrays.items():
        np.testing.assert_array_equal(back[k], v)
        assert back[k].dtype == v.dtype
    assert small_model.load(path, arrays=False) == (meta, {})
    with pytest.raises(ValueError, match="model type"):
        small_model.save(tmp_path / "x.npz", "tagger", {}, {})


def _write_meta(path, meta: dict) -> None:
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), w0=np.zeros(2))


def test_unknown_type_or_future_format_is_refused_clearly(tmp_path) -> None:
    _write_meta(tmp_path / "t.npz", {"type": "tagger", "format": small_model.FORMAT_VERSION})
    with pytest.raises(ValueError, match="unknown model type 'tagger'"):
        small_model.load(tmp_path / "t.npz")
    _write_meta(tmp_path / "f.npz", {"type": "label_head", "format": small_model.FORMAT_VERSION + 1})
    with pytest.raises(ValueError, match=f"unsupported small-model format {small_model.FORMAT_VERSION + 1}"):
        small_model.load(tmp_path / "f.npz")
    with pytest.raises(ValueError, match="unsupported"):
        LabelHead.load(tmp_path / "f.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(small_model.NotASmallModelError):
        small_model.load(tmp_path / "other.npz")
    assert not _is_label_head(tmp_path / "other.npz")  # a foreign .npz is passed over, as before


@pytest.mark.parametrize("name", ["style", "medium"])
def test_shipped_format_1_heads_load_with_the_same_scores(name, tmp_path) -> None:
    """The ImageNet Lite0's default heads, shipped in format 1 before the art backbone existed."""
    path = default_model_path(name, "lite0")
    with zipfile.ZipFile(path) as z:
        assert "header.npy" not in z.namelist()
    meta, _ = small_model.load(path, arrays=False)
    assert meta["type"] == "label_head" and meta["format"] == 1  # the shipped files are not rewritten
    head = load_default_model(name, "lite0")
    assert head.version == VERSIONS[name]
    np.testing.assert_allclose(head.scores(_raw()), BEFORE[name], rtol=2e-6, atol=1e-12)
    # saved again: the current format, same scores, same version
    again = LabelHead.load(head.save(tmp_path / f"{name}.npz"))
    meta2, _ = small_model.load(tmp_path / f"{name}.npz")
    assert meta2["type"] == "label_head" and meta2["format"] == small_model.FORMAT_VERSION
    np.testing.assert_array_equal(again.scores(_raw()), head.scores(_raw()))
    assert again.version == head.version and again.card == head.card and again.thresholds == head.thresholds


LITE0_SPACE = default_style_space_path("lite0")


def test_shipped_format_1_style_space_loads_with_the_same_vectors(tmp_path) -> None:
    meta, _ = small_model.load(LITE0_SPACE, arrays=False)
    assert meta["type"] == "style_space" and meta["format"] == 1 and meta["card"]["version"] == "2026-11-22-b9e74990"
    space = StyleSpace.load(LITE0_SPACE)
    assert space.meta["version"] == "2026-11-22-b9e74990" and space.dim == 256
    y = space.apply(_raw())
    np.testing.assert_allclose(y[:, :6], SPACE_BEFORE, rtol=1e-6, atol=1e-8)
    again = StyleSpace.load(space.save(tmp_path / "space.npz"))
    assert small_model.load(tmp_path / "space.npz", arrays=False)[0]["type"] == "style_space"
    np.testing.assert_array_equal(again.apply(_raw()), y)
    assert again.meta == space.meta


def test_each_loader_refuses_the_other_type(tmp_path) -> None:
    with pytest.raises(ValueError, match="not a label head"):
        LabelHead.load(LITE0_SPACE)
    with pytest.raises(ValueError, match="not a style space"):
        StyleSpace.load(default_model_path("style"))


@pytest.mark.parametrize("backbone", ["lite0-art", "lite0"])
def test_registry_tells_heads_from_the_style_space_by_type(backbone: str) -> None:
    kinds = {p.name: _is_label_head(p) for p in defaults_dir(backbone).glob("*.npz")}
    assert kinds["style_learned.npz"] is False
    # The only content attribute, `people`, is calibrated on artists a fine-tuned backbone never saw (issue 17):
    # the ImageNet Lite0 has none, and its old closed-world `content` head is no longer shipped.
    content = {"people.npz"} if backbone == "lite0-art" else set()
    assert {n for n, is_head in kinds.items() if is_head} == {"style.npz", "genre.npz", "depiction.npz", "medium.npz"} | content
    assert {LabelHead.load(defaults_dir(backbone) / n).backbone for n, is_head in kinds.items() if is_head} == {backbone}
