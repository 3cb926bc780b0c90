"""The shipped EfficientNet-Lite backbones: one ONNX Runtime pass per image gives content, style, Gram and logits."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artlens.features import backbone as bb_mod
from artlens.features.backbone import BACKBONES, MODEL_DIR, Backbone, model_file
from artlens.features.people import MODEL_PATH as PERSON_MODEL
from artlens.vocabulary import BACKBONES as BACKBONE_NAMES
from artlens.vocabulary import DEFAULT_BACKBONE

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
def lite0() -> Backbone:
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
    """The shipped file is the PyTorch network, its weights rounded to float16 (2^-11 relative): every
    output row points the same way (cosine > 0.9999) and no value moves by more than 1% of the largest."""
    torch = pytest.importorskip("torch", reason="the `train` extra is not installed")
    from artlens.features.backbone_export import build_torch_wrapper

    wrapper = build_torch_wrapper("lite0")
    with torch.inference_mode():
        ref = dict(zip(bb_mod.OUTPUT_NAMES, (t.numpy() for t in wrapper(torch.from_numpy(mixed_batch)))))
        # The wrapper's logits are the library's own forward pass on the usual (x - 127.5) / 128 input.
        x = (torch.from_numpy(mixed_batch).permute(0, 3, 1, 2).float() - 127.5) / 128
        np.testing.assert_allclose(wrapper.net(x).numpy(), ref["logits"], rtol=0, atol=1e-5)
    out = lite0.run(mixed_batch)
    for key, expected in ref.items():
        cosine = (out[key] * expected).sum(1) / np.linalg.norm(out[key], axis=1) / np.linalg.norm(expected, axis=1)
        err = np.abs(out[key] - expected).max() / np.abs(expected).max()
        assert cosine.min() > 0.9999 and err < 1e-2, f"{key}: cosine {cosine.min():.6f}, relative error {err:.2e}"


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


def test_every_backbone_is_shipped_and_small() -> None:
    """The package carries its backbones as ONNX files (no export, no PyTorch at run time), under 40 MB together."""
    assert set(BACKBONES) == set(BACKBONE_NAMES) and DEFAULT_BACKBONE in BACKBONES
    files = [model_file(name) for name in BACKBONES]
    assert all(f.parent == MODEL_DIR for f in files)
    assert sum(f.stat().st_size for f in files) < 40e6
    assert BACKBONES["lite0-art"].version == "art-v1/taps-v1"  # what a collection records
    assert BACKBONES["lite0-art-int8"].version == "art-v1/taps-v1/int8-v2"  # the second recipe (the first: ".../int8")


def test_art_backbone_has_the_imagenet_layout(lite0: Backbone) -> None:
    """Fine-tuning changed the weights, not the graph: same taps and dimensions, other features."""
    art = Backbone("lite0-art", threads=2)
    assert (art.input_size, art.output_dims, art.tap_layout()) == (lite0.input_size, lite0.output_dims, lite0.tap_layout())
    pixels = np.random.default_rng(0).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    a, b = art.run(pixels)["content"], lite0.run(pixels)["content"]
    assert not np.allclose(a, b, atol=1e-3)


@pytest.mark.parametrize("path, quantised", [(model_file("lite0-art-int8"), 40), (PERSON_MODEL, 55)], ids=["backbone", "person detector"])
def test_int8_models_have_7_bit_weights_so_every_cpu_computes_them_alike(path: Path, quantised: int) -> None:
    """Without VNNI, x86 int8 kernels sum pairs of uint8 x int8 products in int16: weights within
    [-64, 64] keep 2 x 255 x 64 under 32,767, so no CPU saturates what this one computes exactly."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = {t.name: t for t in graph.initializer}
    int8 = [numpy_helper.to_array(weights[n.input[0]]) for n in graph.node
            if n.op_type == "DequantizeLinear" and n.input[0] in weights]
    int8 = [w for w in int8 if w.dtype == np.int8]
    assert len(int8) >= quantised  # every convolution but the few kept float
    assert all(w.min() >= -64 and w.max() <= 64 for w in int8)


@pytest.mark.data
def test_the_int8_backbone_stays_close_to_the_float_one(lite0: Backbone) -> None:
    """Same layout; on real paintings its features point the same way (the figures are in docs/backbone.md)."""
    art, int8 = Backbone("lite0-art", threads=2), Backbone("lite0-art-int8", threads=2)
    assert (int8.output_dims, int8.tap_layout(), int8.gram_layout()) == (art.output_dims, art.tap_layout(), art.gram_layout())
    pixels = load(sorted((WIKIART / "images").glob("*/*.jpg"))[:8], 224)
    a, b = art.run(pixels), int8.run(pixels)
    for key in ("content", "style"):
        cosine = (a[key] * b[key]).sum(1) / np.linalg.norm(a[key], axis=1) / np.linalg.norm(b[key], axis=1)
        assert cosine.mean() > 0.98, (key, cosine)


def test_a_stale_model_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose weights are not the ones this ArtLens expects would embed incomparably: refused, with a fix."""
    import shutil

    shutil.copy(model_file("lite0"), tmp_path / BACKBONES["lite0-art"].file)  # ImageNet weights under the art name
    monkeypatch.setattr(bb_mod, "MODEL_DIR", tmp_path)
    with pytest.raises(ValueError, match="expects art-v1"):
        Backbone("lite0-art")
    with pytest.raises(FileNotFoundError, match="export_backbone"):
        model_file("lite2")


@pytest.mark.data
def test_lite2_shapes() -> None:
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
