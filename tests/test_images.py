"""artlens.features.images: safe decoding of real artworks, and every way a file can be bad.

Real artworks are read in place from ../shared/data (never copied into the repo); the broken,
odd and exotic files are made in tmp_path. Tests that read a real artwork are marked `data`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
import pickle
import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile, JpegImagePlugin

from artlens.features.embed import WORKING_SIDE
from artlens.features.images import (
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    REASONS,
    DecodedImage,
    ImageError,
    is_image_path,
    load_image,
    phash_distance,
    square,
    thumbnail,
)

from conftest import DATA, HAVE_DATA, WIKIART

PEOPLEART = DATA / "peopleart"


def _labels(folder: Path) -> list[dict[str, str]]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _one_per_style(folder: Path) -> list[Path]:
    first: dict[str, Path] = {}
    for row in _labels(folder):
        first.setdefault(row["style"], folder / row["image"])
    return [first[s] for s in sorted(first)]


if HAVE_DATA:
    WIKIART_PICKS = _one_per_style(WIKIART)  # 11 paintings, one per style, 224x224 JPEG
    PEOPLE_ROWS = [r for r in _labels(PEOPLEART) if r["width"] != r["height"]][:6]  # up to 500 px, not square
    PORTRAIT = PEOPLEART / next(r["image"] for r in _labels(PEOPLEART) if int(r["width"]) < int(r["height"]))
    LANDSCAPE = PEOPLEART / next(r["image"] for r in _labels(PEOPLEART) if int(r["width"]) > int(r["height"]))
else:  # placeholders, so that the data tests are still collected (and skipped)
    WIKIART_PICKS = [WIKIART / "images" / "no-data" / "missing.jpg"]
    PEOPLE_ROWS = [{"image": "no-data", "width": "0", "height": "0"}]
    PORTRAIT = LANDSCAPE = PEOPLEART / "missing.jpg"
PAINTING = WIKIART_PICKS[0]


def pixels(path: Path) -> np.ndarray:
    """Reference decode with plain PIL, for comparisons."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def save(im: Image.Image, path: Path, fmt: str | None = None, **params: object) -> Path:
    im.save(path, fmt, **params)
    return path


def reason_of(path: Path, **kwargs: int) -> str:
    with pytest.raises(ImageError) as info:
        load_image(path, **kwargs)
    assert path.name in str(info.value)  # the message names the file
    return info.value.reason


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# --- hand-made PNG and ICC bytes -------------------------------------------------------------------


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header claims width x height RGB pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"")) + png_chunk(b"IEND", b"")


def tiff_bytes(pixels: np.ndarray, photometric: int, sample_format: int = 1) -> bytes:
    """A minimal little-endian, uncompressed, single-strip TIFF of an (H, W, S) array (PIL cannot
    write 16-bit RGB or float RGB, which scanners and scientific tools do)."""
    h, w, s = pixels.shape
    data = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    per_sample = {258: pixels.dtype.itemsize * 8, 339: sample_format}
    tags = {256: w, 257: h, 258: None, 259: 1, 262: photometric, 273: 0, 277: s, 278: h, 279: len(data), 284: 1, 339: None}
    ifd_end = 8 + 2 + 12 * len(tags) + 4
    extra = b"".join(struct.pack("<" + "H" * s, *[per_sample[t]] * s) for t in (258, 339))
    entries = b""
    for tag, value in sorted(tags.items()):
        if tag in per_sample:  # one SHORT per sample, stored after the IFD
            offset = ifd_end + (0 if tag == 258 else 2 * s)
            entries += struct.pack("<HHII", tag, 3, s, offset)
        else:
            entries += struct.pack("<HHII", tag, 4, 1, ifd_end + len(extra) if tag == 273 else value)
    return b"II*\0" + struct.pack("<IH", 8, len(tags)) + entries + b"\0" * 4 + extra + data


def _s15(x: float) -> bytes:
    return struct.pack(">i", round(x * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def icc_profile(device_class: bytes, space: bytes, pcs: bytes, tags: dict[bytes, bytes]) -> bytes:
    """A minimal ICC v2 profile: 128-byte header, tag table, 4-byte aligned tag data."""
    text = b"artlens test profile\0"
    # textDescriptionType: ASCII part, then empty Unicode (8 bytes) and ScriptCode (3 + 67) parts.
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * (8 + 3 + 67)
    tags = {b"desc": desc, b"wtpt": _xyz(0.9642, 1.0, 0.8249), **tags}
    offset = 128 + 4 + 12 * len(tags)
    table, blob = b"", b""
    for sig, data in tags.items():
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(blob), len(data))
        blob += data
    header = (
        struct.pack(">I", offset + len(blob)) + b"\0" * 4 + struct.pack(">I", 0x02100000)
        + device_class + space + pcs + b"\0" * 12 + b"acsp" + b"\0" * 28
        + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\0" * 48
    )
    return header + struct.pack(">I", len(tags)) + table + blob


# sRGB's primaries (D50) in the order red, green, blue.
SRGB_PRIMARIES = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def rgb_profile(primaries: tuple[tuple[float, float, float], ...], gamma: float = 2.2) -> bytes:
    """A matrix/TRC RGB profile."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    r, g, b = primaries
    return icc_profile(b"mntr", b"RGB ", b"XYZ ", {
        b"rXYZ": _xyz(*r), b"gXYZ": _xyz(*g), b"bXYZ": _xyz(*b), b"rTRC": curve, b"gTRC": curve, b"bTRC": curve,
    })


def cmyk_profile() -> bytes:
    """A CMYK -> Lab lut16 profile (2 grid points per ink) of a warm, slightly weak press."""
    clut = b""
    for c, m, y, k in itertools.product((0, 1), repeat=4):
        lab = (92 - 35 * c - 40 * m - 8 * y) * (1 - 0.85 * k), -25 * c + 55 * m + 6, -35 * c - 5 * m + 65 * y + 12
        clut += struct.pack(">HHH", round(lab[0] * 652.8), round((lab[1] + 128) * 256), round((lab[2] + 128) * 256))
    ident = struct.pack(">HH", 0, 65535)
    matrix = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut = b"mft2\0\0\0\0" + bytes([4, 3, 2, 0]) + matrix + struct.pack(">HH", 2, 2) + ident * 4 + clut + ident * 3
    return icc_profile(b"prtr", b"CMYK", b"Lab ", {b"A2B0": lut})


def to_srgb(im: Image.Image, icc: bytes) -> np.ndarray:
    """Reference colour conversion with ImageCms directly."""
    src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    t = ImageCms.buildTransform(src, ImageCms.createProfile("sRGB"), im.mode, "RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL)
    return np.asarray(ImageCms.applyTransform(im, t))


# --- the normal path: real artworks ------------------------------------------------------------------


def test_suffixes() -> None:
    assert {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"} == IMAGE_SUFFIXES
    assert is_image_path(Path("scans/Monet.JPG")) and is_image_path(Path("a/b.tiff"))
    assert not is_image_path(Path("labels.csv")) and not is_image_path(Path("notes.jpg.txt"))
    assert not is_image_path(Path("scans/._Monet.jpg"))  # macOS AppleDouble metadata, not a picture


@pytest.mark.data
@pytest.mark.parametrize("path", WIKIART_PICKS, ids=lambda p: p.parent.name)
def test_loads_wikiart(path: Path) -> None:
    img = load_image(path)
    assert isinstance(img, DecodedImage)
    assert (img.width, img.height, img.format) == (224, 224, "JPEG")
    assert img.rgb.shape == (224, 224, 3) and img.rgb.dtype == np.uint8  # small images are not upscaled
    assert np.array_equal(img.rgb, pixels(path))
    assert img.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(img.pixel_hash) == 64 and len(img.phash) == 16 and int(img.phash, 16) >= 0
    assert not img.rgb.flags.writeable  # the hashes describe these pixels: they cannot be changed


@pytest.mark.data
@pytest.mark.parametrize("row", PEOPLE_ROWS, ids=lambda r: r["image"].split("/")[-1][:40])
def test_loads_peopleart_at_working_size(row: dict[str, str], tmp_path: Path) -> None:
    path = PEOPLEART / row["image"]
    w, h = int(row["width"]), int(row["height"])
    img = load_image(path, max_side=256)
    assert (img.width, img.height) == (w, h)  # the original size, not the working one
    # A JPEG comes back at libjpeg's own half scale (500 px -> 250): within (max_side / 2, max_side].
    assert max(img.rgb.shape[:2]) == -(-max(w, h) // 2)
    assert abs(img.rgb.shape[1] / img.rgb.shape[0] - w / h) < 0.02  # aspect kept
    # Half scale in libjpeg is close to averaging each 2x2 block of the full decode.
    assert diff(img.rgb, np.asarray(Image.fromarray(pixels(path)).reduce(2))) < 2
    # Any other format is resampled to exactly max_side.
    png = load_image(save(Image.open(path), tmp_path / "same.png"), max_side=256)
    assert max(png.rgb.shape[:2]) == 256


@pytest.mark.data
def test_square_is_what_the_cnn_gets() -> None:
    img = load_image(PORTRAIT)
    x = square(img.rgb, 224)
    assert x.shape == (224, 224, 3) and x.dtype == np.uint8
    assert diff(x.mean(axis=(0, 1)), img.rgb.mean(axis=(0, 1))) < 3  # the whole work, squashed, no crop
    assert square(img.rgb, 260).shape == (260, 260, 3)


def test_square_antialiases() -> None:
    # A 1-pixel checkerboard must shrink to flat grey, not to a moire of black and white.
    checker = (np.indices((512, 512)).sum(axis=0) % 2 * 255).astype(np.uint8)
    small = square(np.repeat(checker[:, :, None], 3, axis=2), 64)
    assert abs(float(small.mean()) - 127.5) < 2 and float(small.std()) < 3


@pytest.mark.data
def test_thumbnail() -> None:
    img = load_image(LANDSCAPE)
    data = thumbnail(img, 256)
    with Image.open(io.BytesIO(data)) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) == 256
        assert abs(thumb.size[0] / thumb.size[1] - img.width / img.height) < 0.02
    small = load_image(PAINTING)  # 224 px: never enlarged; a small plain JPEG is its own thumbnail
    assert thumbnail(small, 256) == PAINTING.read_bytes()
    with Image.open(io.BytesIO(thumbnail(small, 64))) as thumb:
        assert thumb.size == (64, 64)


@pytest.mark.data
def test_only_a_plain_upright_jpeg_is_kept_as_its_own_thumbnail(tmp_path: Path) -> None:
    art = Image.open(PAINTING).convert("RGB")
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: rotate 90 degrees to show
    art.save(rotated, exif=exif)
    cmyk = tmp_path / "cmyk.jpg"
    art.convert("CMYK").save(cmyk)
    png = tmp_path / "art.png"
    art.save(png)
    for path in (rotated, cmyk, png):
        data = thumbnail(load_image(path), 256)
        assert data != path.read_bytes()
        with Image.open(io.BytesIO(data)) as thumb:
            assert thumb.format == "JPEG" and thumb.mode == "RGB"


# --- hashes -----------------------------------------------------------------------------------------


@pytest.mark.data
def test_same_pixels_same_pixel_hash(tmp_path: Path) -> None:
    art = Image.open(PAINTING)
    a = save(art, tmp_path / "a.png", compress_level=1)
    b = save(art, tmp_path / "b.png", compress_level=9, optimize=True, dpi=(300, 300))
    ia, ib = load_image(a), load_image(b)
    assert ia.sha256 != ib.sha256
    assert ia.pixel_hash == ib.pixel_hash and ia.phash == ib.phash
    assert ia != ib and ia == load_image(a)  # compared by hashes and facts, never by array identity
    c = save(art.transpose(Image.Transpose.FLIP_LEFT_RIGHT), tmp_path / "c.png")
    assert load_image(c).pixel_hash != ia.pixel_hash


@pytest.mark.data
def test_phash_survives_reencoding_but_tells_artworks_apart(tmp_path: Path) -> None:
    originals = [load_image(p) for p in WIKIART_PICKS]
    for p, original in zip(WIKIART_PICKS, originals):
        again = save(Image.open(p), tmp_path / f"{p.stem}.jpg", quality=70)
        copy = load_image(again)
        assert copy.pixel_hash != original.pixel_hash
        assert phash_distance(copy.phash, original.phash) <= 8
    distances = [phash_distance(a.phash, b.phash) for a, b in itertools.combinations(originals, 2)]
    assert min(distances) > 12
    assert sum(d > 20 for d in distances) >= 0.9 * len(distances)


def test_phash_distance() -> None:
    assert phash_distance("0000000000000000", "000000000000000f") == 4
    assert phash_distance("ffffffffffffffff", "0000000000000000") == 64
    with pytest.raises(ValueError):
        phash_distance("00", "0000")


# --- bad files ----------------------------------------------------------------------------------------


@pytest.mark.data
def test_bad_files_raise_one_typed_error(tmp_path: Path) -> None:
    real = PORTRAIT.read_bytes()
    png = io.BytesIO()
    Image.open(PORTRAIT).save(png, "PNG")
    png = png.getvalue()
    rng = np.random.default_rng(0)
    cases = {
        "empty.jpg": (b"", "empty"),
        "notes.jpg": (b"Monet, Water Lilies, 1906. Oil on canvas.\n" * 20, "not-an-image"),
        "noise.png": (rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(), "not-an-image"),
        "half.jpg": (real[: len(real) // 2], "truncated"),
        "header-only.jpg": (real[:300], "truncated"),
        "half.png": (png[: len(png) // 2], "truncated"),
        "signature-only.png": (png[:20], "truncated"),
        "huge.png": (png_claiming(100_000, 100_000), "too-large"),
    }
    for name, (data, expected) in cases.items():
        (tmp_path / name).write_bytes(data)
        assert reason_of(tmp_path / name) == expected, name


@pytest.mark.data
def test_corrupt_png(tmp_path: Path) -> None:
    png = io.BytesIO()
    Image.open(PORTRAIT).save(png, "PNG")
    data = bytearray(png.getvalue())
    start = data.index(b"IDAT") + 4
    data[start + 100 : start + 400] = bytes(300)  # complete file, damaged compressed stream
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(data))
    assert reason_of(path) == "corrupt"


@pytest.mark.data
def test_unreadable_and_unsupported(tmp_path: Path) -> None:
    assert reason_of(tmp_path / "missing.jpg") == "unreadable"
    (tmp_path / "folder.jpg").mkdir()
    assert reason_of(tmp_path / "folder.jpg") == "unreadable"
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.jpg")  # reading it would block the batch forever
        assert reason_of(tmp_path / "pipe.jpg") == "unreadable"
    with open(tmp_path / "giant.tif", "wb") as f:
        f.truncate(200 << 20)  # sparse: 200 MB claimed, nothing written, and never read
    assert reason_of(tmp_path / "giant.tif", max_pixels=1_000_000) == "too-large"
    ppm = save(Image.open(PAINTING), tmp_path / "painting.ppm")  # an image, but not a format we accept
    with pytest.raises(ImageError) as info:
        load_image(ppm)
    assert info.value.reason == "unsupported" and "PPM" in str(info.value)


@pytest.mark.data
def test_decompression_bombs(tmp_path: Path, recwarn: pytest.WarningsRecorder) -> None:
    state = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_claiming(100_000, 100_000))  # 10^10 pixels in 60 bytes
    assert reason_of(huge) == "too-large"
    big = tmp_path / "big.png"
    big.write_bytes(png_claiming(12_000, 12_000))  # past PIL's soft limit: its warning stays inside
    assert reason_of(big, max_pixels=100_000_000) == "too-large"
    assert reason_of(big, max_pixels=50_000_000) == "too-large"
    assert reason_of(PAINTING, max_pixels=224 * 223) == "too-large"  # the limit is per call
    assert load_image(PAINTING, max_pixels=224 * 224).width == 224
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters)) == state
    assert MAX_PIXELS == 2 * Image.MAX_IMAGE_PIXELS


def test_error_is_picklable_and_typed(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError) as info:
        load_image(path)
    err = pickle.loads(pickle.dumps(info.value))  # crosses process-pool boundaries intact
    assert (err.reason, str(err), err.path) == ("empty", str(info.value), path)
    assert err.reason in REASONS and "empty.png" in str(err)


# --- colour modes --------------------------------------------------------------------------------------


@pytest.mark.data
def test_cmyk_jpeg_without_profile(tmp_path: Path) -> None:
    art = Image.open(PAINTING)
    path = save(art.convert("CMYK"), tmp_path / "press.jpg", quality=95)
    img = load_image(path)
    assert img.format == "JPEG" and img.rgb.shape == (224, 224, 3)
    assert diff(img.rgb, np.asarray(art)) < 4


@pytest.mark.data
def test_cmyk_jpeg_with_profile(tmp_path: Path) -> None:
    icc = cmyk_profile()
    cmyk = Image.open(PAINTING).convert("CMYK")
    path = save(cmyk, tmp_path / "press-icc.jpg", quality=95, icc_profile=icc)
    img = load_image(path)
    with Image.open(path) as decoded:
        decoded_cmyk = decoded.copy()
    assert diff(img.rgb, to_srgb(decoded_cmyk, icc)) < 1  # colour-managed ...
    assert diff(img.rgb, np.asarray(decoded_cmyk.convert("RGB"))) > 10  # ... not the naive formula


@pytest.mark.data
def test_rgb_profile_is_converted_to_srgb(tmp_path: Path) -> None:
    # A profile whose "red" is sRGB's blue (and vice versa): a red-heavy painting must turn blue.
    swapped = rgb_profile(SRGB_PRIMARIES[::-1])
    art = Image.open(PAINTING)
    img = load_image(save(art, tmp_path / "swapped.png", icc_profile=swapped))
    original = np.asarray(art)
    assert diff(img.rgb[..., 2], original[..., 0]) < 12 and diff(img.rgb[..., 0], original[..., 2]) < 12
    # An embedded sRGB profile changes (almost) nothing.
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert diff(load_image(save(art, tmp_path / "srgb.png", icc_profile=srgb)).rgb, original) < 1


@pytest.mark.data
def test_transparency_becomes_white_paper(tmp_path: Path) -> None:
    art = np.asarray(Image.open(PAINTING))
    alpha = np.zeros((224, 224), np.uint8)
    alpha[:, 112:] = 255
    alpha[:, 100:112] = 128
    img = load_image(save(Image.fromarray(np.dstack([art, alpha])), tmp_path / "rgba.png"))
    assert (img.rgb[:, :100] == 255).all()
    assert np.array_equal(img.rgb[:, 112:], art[:, 112:])
    half = (art[:, 100:112].astype(np.float32) + 255) / 2
    assert np.abs(img.rgb[:, 100:112] - half).max() <= 2

    grey = np.asarray(Image.open(PAINTING).convert("L"))
    img = load_image(save(Image.fromarray(np.dstack([grey, alpha])), tmp_path / "la.png"))
    assert (img.rgb[:, :100] == 255).all() and np.array_equal(img.rgb[:, 112:, 0], grey[:, 112:])

    palette = Image.new("P", (40, 20))
    palette.putpalette([0, 0, 0, 200, 30, 30])
    palette.paste(1, (20, 0, 40, 20))
    img = load_image(save(palette, tmp_path / "palette.png", transparency=0))
    assert (img.rgb[:, :20] == 255).all() and (img.rgb[:, 20:] == (200, 30, 30)).all()

    pa = Image.fromarray(np.dstack([grey, alpha])).convert("RGBA").convert("PA")
    assert load_image(save(pa, tmp_path / "pa.tif")).rgb[:, :100].min() == 255


@pytest.mark.data
def test_grey_and_bilevel(tmp_path: Path) -> None:
    grey = Image.open(PAINTING).convert("L")
    img = load_image(save(grey, tmp_path / "grey.jpg", quality=95))
    assert (img.rgb[..., 0] == img.rgb[..., 1]).all() and (img.rgb[..., 1] == img.rgb[..., 2]).all()
    bilevel = load_image(save(grey.convert("1"), tmp_path / "bilevel.png"))
    assert set(np.unique(bilevel.rgb)) <= {0, 255} and len(np.unique(bilevel.rgb)) == 2


@pytest.mark.data
def test_16_bit_and_float_grey_are_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (32, 1))
    img = load_image(save(Image.fromarray(ramp), tmp_path / "ramp16.png"))
    row = img.rgb[0, :, 0].astype(int)
    assert row[0] <= 1 and row[-1] >= 254 and (np.diff(row) >= 0).all()
    assert 120 < row.mean() < 135 and (img.rgb == 255).mean() < 0.02  # not saturated

    grey = np.asarray(Image.open(PAINTING).convert("L"))
    scan16 = Image.fromarray(grey.astype(np.uint16) * 257)  # what a 16-bit scanner writes
    assert diff(load_image(save(scan16, tmp_path / "scan16.png")).rgb[..., 0], grey) < 1
    big_endian = Image.frombytes("I;16B", (224, 224), (grey.astype(">u2") * 257).tobytes())  # Motorola TIFF
    assert diff(load_image(save(big_endian, tmp_path / "scan16b.tif")).rgb[..., 0], grey) < 1
    as_int32 = Image.fromarray(grey.astype(np.int32) * 257)
    assert diff(load_image(save(as_int32, tmp_path / "scan32.tif")).rgb[..., 0], grey) < 1
    as_float = Image.fromarray(grey.astype(np.float32) / 255)
    assert diff(load_image(save(as_float, tmp_path / "scanf.tif")).rgb[..., 0], grey) < 1


@pytest.mark.data
def test_16_bit_rgb_tiff_and_float_rgb_tiff(tmp_path: Path) -> None:
    art = np.asarray(Image.open(PAINTING))
    scan = tmp_path / "scan48.tif"
    scan.write_bytes(tiff_bytes(art.astype(np.uint16) * 257, photometric=2))  # a 48-bit museum scan
    assert diff(load_image(scan).rgb, art) < 1
    hdr = tmp_path / "radiance.tif"
    hdr.write_bytes(tiff_bytes(art.astype(np.float32) / 255, photometric=2, sample_format=3))
    assert reason_of(hdr) == "unsupported"  # a real TIFF, but a layout PIL cannot decode


@pytest.mark.data
def test_lab_and_ycbcr(tmp_path: Path) -> None:
    art = Image.open(PAINTING)
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    lab = ImageCms.applyTransform(art, to_lab)
    assert diff(load_image(save(lab, tmp_path / "lab.tif")).rgb, np.asarray(art)) < 3
    assert diff(load_image(save(art.convert("YCbCr"), tmp_path / "ycbcr.tif")).rgb, np.asarray(art)) < 3


# --- geometry and formats ---------------------------------------------------------------------------------


@pytest.mark.data
def test_exif_orientation(tmp_path: Path) -> None:
    art = Image.open(LANDSCAPE)  # wider than tall
    upright = load_image(save(art, tmp_path / "plain.jpg", quality=90))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    rotated = load_image(save(art, tmp_path / "camera.jpg", quality=90, exif=exif))
    assert (rotated.width, rotated.height) == (upright.height, upright.width)
    assert np.array_equal(rotated.rgb, np.rot90(upright.rgb, k=-1))
    # TIFF carries the same tag (PIL uprights TIFFs itself: must not be turned twice).
    tiff = load_image(save(art, tmp_path / "camera.tif", exif=exif))
    assert (tiff.width, tiff.height) == (upright.height, upright.width)
    assert diff(tiff.rgb, np.rot90(pixels(LANDSCAPE), k=-1)) < 1


def test_animations_give_their_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (64, 48), c) for c in ((200, 20, 20), (20, 200, 20), (20, 20, 200))]
    gif = load_image(save(frames[0], tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0))
    webp = load_image(save(frames[0], tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=100, lossless=True))
    for img in (gif, webp):
        assert img.rgb.shape == (48, 64, 3)
        assert np.abs(img.rgb.reshape(-1, 3).mean(axis=0) - (200, 20, 20)).max() < 8


@pytest.mark.data
def test_tiny_and_thin_images(tmp_path: Path) -> None:
    dot = load_image(save(Image.new("RGB", (1, 1), (10, 20, 30)), tmp_path / "dot.png"))
    assert (dot.width, dot.height) == (1, 1) and dot.rgb.shape == (1, 1, 3)
    assert (square(dot.rgb, 224) == (10, 20, 30)).all()
    strip = np.asarray(Image.open(PAINTING).resize((1, 5000)))
    for name, data in (("tall.png", strip), ("wide.png", strip.transpose(1, 0, 2))):
        img = load_image(save(Image.fromarray(data), tmp_path / name))
        assert max(img.rgb.shape[:2]) == 512 and min(img.rgb.shape[:2]) == 1
        assert {img.width, img.height} == {1, 5000}
        assert square(img.rgb, 224).shape == (224, 224, 3)
        assert load_image(save(Image.fromarray(data), tmp_path / f"{name}.jpg")).rgb.shape == img.rgb.shape


@pytest.mark.data
def test_large_jpeg_uses_draft_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = Image.open(PORTRAIT).resize((3000, 4000), Image.Resampling.BICUBIC)
    path = save(big, tmp_path / "scan.jpg", quality=90)
    requested = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):  # type: ignore[no-untyped-def]
        requested.append(size)
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    img = load_image(path, max_side=512)
    assert requested == [(193, 257)]  # just over half of max_side, in the image's own shape
    # libjpeg decodes at 1/8 scale (375x500), not 12 Mpx, and that is the working copy: not resampled.
    assert (img.width, img.height) == (3000, 4000) and img.rgb.shape == (500, 375, 3)
    assert diff(img.rgb, np.asarray(Image.fromarray(pixels(path)).reduce(8))) < 2  # about each 8x8 block's mean
    assert reason_of(path, max_pixels=10_000_000) == "too-large"


@pytest.mark.parametrize(
    ("size", "working"),
    [
        ((500, 400), (500, 400)),  # not larger than max_side: decoded whole
        ((800, 600), (400, 300)),  # 1/2
        ((1100, 800), (275, 200)),  # 1/4: 1/2 would be 550, over max_side
        ((3000, 2400), (375, 300)),  # 1/8: a 7 Mpx camera JPEG
        ((4000, 3000), (500, 375)),  # 1/8: 12 Mpx
        ((6000, 4000), (520, 347)),  # 1/8 is 750x500, still over max_side: resampled to it
    ],
)
def test_jpeg_working_size_is_the_smallest_dct_scale_above_half(tmp_path: Path, size: tuple[int, int], working: tuple[int, int]) -> None:
    path = save(Image.new("RGB", size, (120, 80, 40)), tmp_path / "photo.jpg")
    img = load_image(path, max_side=520)
    assert (img.width, img.height) == size
    assert img.image.size == working


@pytest.mark.data
def test_a_camera_size_jpeg_is_decoded_small_and_upright(tmp_path: Path) -> None:
    # A 7 Mpx camera JPEG, stored on its side with EXIF orientation 6, as `add` reads it.
    camera = Image.open(LANDSCAPE).convert("RGB").resize((3000, 2400), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = save(camera, tmp_path / "camera.jpg", quality=90, exif=exif)
    img = load_image(path, max_side=WORKING_SIDE)
    assert (img.width, img.height) == (2400, 3000)  # the original size, upright
    assert img.rgb.shape == (375, 300, 3)  # 1/8 of each side (libjpeg's DCT scaling), then turned upright
    # At 1/8 scale libjpeg keeps about each 8x8 block's mean: the full image reduced by 8.
    assert diff(img.rgb, np.rot90(np.asarray(camera.reduce(8)), k=-1)) < 2
    again = load_image(path, max_side=WORKING_SIDE)
    assert (again.sha256, again.pixel_hash, again.phash) == (img.sha256, img.pixel_hash, img.phash)
    # Enough pixels for what the working copy is for: the largest model input and the thumbnail.
    assert min(img.rgb.shape[:2]) >= 260 and max(img.rgb.shape[:2]) >= 256


@pytest.mark.data
@pytest.mark.parametrize(
    ("suffix", "params", "exact"),
    [(".tif", {}, True), (".tiff", {"compression": "tiff_lzw"}, True), (".bmp", {}, True),
     (".webp", {"lossless": True}, True), (".webp", {"quality": 90}, False), (".png", {}, True), (".gif", {}, False)],
    ids=["tif", "tiff-lzw", "bmp", "webp-lossless", "webp", "png", "gif"],
)
def test_formats(tmp_path: Path, suffix: str, params: dict[str, object], exact: bool) -> None:
    art = Image.open(PAINTING)
    img = load_image(save(art, tmp_path / f"painting{suffix}", **params))
    assert img.format == {".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP", ".webp": "WEBP", ".png": "PNG", ".gif": "GIF"}[suffix]
    assert (img.width, img.height) == (224, 224)
    if exact:
        assert np.array_equal(img.rgb, np.asarray(art))
        assert img.pixel_hash == load_image(PAINTING).pixel_hash  # same pixels, whatever the container
    else:
        assert diff(img.rgb, np.asarray(art)) < 12


@pytest.mark.data
def test_truncated_files_of_every_format(tmp_path: Path) -> None:
    art = Image.open(PORTRAIT)
    for fmt, params in (("JPEG", {"progressive": True}), ("PNG", {}), ("GIF", {}), ("WEBP", {}), ("TIFF", {"compression": "tiff_lzw"}), ("BMP", {})):
        buf = io.BytesIO()
        art.save(buf, fmt, **params)
        path = tmp_path / f"cut.{fmt.lower()}"
        path.write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 3])
        assert reason_of(path) == "truncated", fmt


@pytest.mark.data
def test_threads_share_nothing(tmp_path: Path) -> None:
    # Ingest decodes in a thread pool: results must match, and no warnings filter may leak.
    filters = list(warnings.filters)
    (tmp_path / "bomb.png").write_bytes(png_claiming(12_000, 12_000))
    paths = [p for p in WIKIART_PICKS for _ in range(3)] + [tmp_path / "bomb.png"] * 8
    expected = {p: load_image(p).pixel_hash for p in WIKIART_PICKS}

    def work(p: Path) -> str:
        try:
            return load_image(p, max_pixels=100_000_000).pixel_hash
        except ImageError as exc:
            return exc.reason

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(work, paths))
    assert got == [expected.get(p, "too-large") for p in paths]
    assert list(warnings.filters) == filters
