"""The EfficientNet-Lite backbone: one ONNX Runtime pass per image gives content, style, Gram and logits."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artlens.features import backbone as bb_mod
from artlens.features.backbone import BACKBONES, Backbone, build_torch_wrapper, cache_dir, onnx_path

from conftest import DATA, WIKIART

PACS = DATA / "pacs"

# ImageNet class indices that count as a correct recognition of a PACS object.
IMAGENET = {
    "elephant": {101, 385, 386},  # tusker, Indian elephant, African elephant
    "guitar": {402, 546},  # acoustic guitar, electric guitar
}


def pacs_photos(obj: str, n: int) -> list[Path]:
    with open(PACS / "labels.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["domain"] == "photo" and r["object"] == obj]
    return [PACS / r["image"] for r in rows[:n]]


def load(paths: list[Path], size: int) -> np.ndarray:
    """What callers do: decode, squash to the backbone's square input, stack as uint8 NHWC."""
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR)) for p in paths])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory):
    """A private model cache for this module: exports happen once here, never in the user's cache."""
    path = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ARTLENS_MODEL_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def lite0(model_dir: Path) -> Backbone:
    return Backbone("lite0", threads=2)


@pytest.fixture(scope="module")
def mixed_batch() -> np.ndarray:
    """Six real images: photos, a painting-domain image and WikiArt paintings."""
    paths = pacs_photos("elephant", 2) + pacs_photos("guitar", 2)
    with open(WIKIART / "labels.csv", newline="", encoding="utf-8") as f:
        paths += [WIKIART / r["image"] for r in list(csv.DictReader(f))[:2]]
    return load(paths, 224)


@pytest.mark.data
def test_lite0_outputs_and_layout(lite0: Backbone, mixed_batch: np.ndarray) -> None:
    assert (lite0.name, lite0.input_size) == ("lite0", 224)
    # Style: [mean, std] of the last stage at strides 4, 8, 16, 32 (the 320-channel stage feeds "content").
    assert lite0.tap_layout() == [("stage3", 24), ("stage4", 40), ("stage6", 112), ("stage7", 192)]
    assert lite0.gram_layout() == [("stage4", 40), ("stage5", 80)]
    assert lite0.output_dims == {"content": 1280, "style": 2 * (24 + 40 + 112 + 192),
                                 "gram": 40 * 41 // 2 + 80 * 81 // 2, "logits": 1000}
    out = lite0.run(mixed_batch)
    assert set(out) == set(lite0.output_dims)
    for key, dim in lite0.output_dims.items():
        assert out[key].shape == (len(mixed_batch), dim) and out[key].dtype == np.float32
        assert np.isfinite(out[key]).all()
    # The std halves of the style vector are positive; Gram diagonals (mean squares) too.
    offset = 0
    for _, c in lite0.tap_layout():
        assert (out["style"][:, offset + c: offset + 2 * c] > 0).all()
        offset += 2 * c
    # "content" is post-ReLU6, so it is within [0, 6].
    assert out["content"].min() >= 0 and out["content"].max() <= 6


@pytest.mark.data
def test_onnx_matches_pytorch(lite0: Backbone, mixed_batch: np.ndarray) -> None:
    import torch

    wrapper = build_torch_wrapper("lite0")
    with torch.inference_mode():
        ref = dict(zip(bb_mod.OUTPUT_NAMES, (t.numpy() for t in wrapper(torch.from_numpy(mixed_batch)))))
        # The wrapper's logits are the library's own forward pass on the usual (x - 127.5) / 128 input.
        x = (torch.from_numpy(mixed_batch).permute(0, 3, 1, 2).float() - 127.5) / 128
        np.testing.assert_allclose(wrapper.net(x).numpy(), ref["logits"], rtol=0, atol=1e-5)
    out = lite0.run(mixed_batch)
    for key, expected in ref.items():
        err = np.abs(out[key] - expected).max() / np.abs(expected).max()
        assert err < 1e-3, f"{key}: relative error {err:.2e}"


@pytest.mark.data
def test_imagenet_sanity(lite0: Backbone) -> None:
    """Photos of elephants and guitars get a matching ImageNet class in their top 5."""
    hits = []
    for obj, classes in IMAGENET.items():
        logits = lite0.run(load(pacs_photos(obj, 8), lite0.input_size))["logits"]
        top5 = np.argsort(-logits, axis=1)[:, :5]
        hits += [bool(set(row) & classes) for row in top5.tolist()]
    assert np.mean(hits) >= 0.85, hits


@pytest.mark.data
def test_batch_equals_single_runs(lite0: Backbone, mixed_batch: np.ndarray) -> None:
    together = lite0.run(mixed_batch)
    for i in range(len(mixed_batch)):
        alone = lite0.run(mixed_batch[i: i + 1])
        for key in together:
            np.testing.assert_allclose(alone[key][0], together[key][i], rtol=1e-4, atol=1e-4 * np.abs(together[key]).max())


@pytest.mark.data
def test_empty_batch_and_bad_input(lite0: Backbone, mixed_batch: np.ndarray) -> None:
    empty = lite0.run(np.zeros((0, 224, 224, 3), np.uint8))
    assert {k: v.shape for k, v in empty.items()} == {k: (0, d) for k, d in lite0.output_dims.items()}
    with pytest.raises(TypeError):
        lite0.run(mixed_batch.astype(np.float32) / 255)  # 0..1 floats would silently be black
    with pytest.raises(ValueError):
        lite0.run(mixed_batch[:, :200])
    with pytest.raises(ValueError):
        Backbone("lite9")


def test_export_cache(model_dir: Path, lite0: Backbone) -> None:
    path = onnx_path("lite0")
    assert path.parent == model_dir and path.is_file()  # ARTLENS_MODEL_DIR is respected
    assert bb_mod.WRAPPER_VERSION in path.name  # a wrapper change invalidates old caches
    assert not list(model_dir.glob("*.tmp"))  # the export went through a temp file + os.replace
    mtime = path.stat().st_mtime_ns

    def no_export(spec):
        raise AssertionError("re-exported although the cached file exists")

    assert onnx_path("lite0", exporter=no_export) == path and path.stat().st_mtime_ns == mtime


def test_cache_dir_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ARTLENS_MODEL_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "artlens" / "models"


@pytest.mark.data
def test_lite2_shapes(model_dir: Path) -> None:
    """Same wrapper, taps derived from Lite2's wider stages; one small batch keeps this cheap."""
    assert BACKBONES["lite2"].input_size == 260
    lite2 = Backbone("lite2", threads=2)
    assert lite2.input_size == 260
    assert lite2.tap_layout() == [("stage3", 24), ("stage4", 48), ("stage6", 120), ("stage7", 208)]
    assert lite2.gram_layout() == [("stage4", 48), ("stage5", 88)]
    assert lite2.output_dims == {"content": 1280, "style": 800, "gram": 48 * 49 // 2 + 88 * 89 // 2, "logits": 1000}
    out = lite2.run(load(pacs_photos("elephant", 2), 260))
    assert {k: v.shape for k, v in out.items()} == {k: (2, d) for k, d in lite2.output_dims.items()}
    assert all(set(np.argsort(-row)[:5]) & IMAGENET["elephant"] for row in out["logits"])
