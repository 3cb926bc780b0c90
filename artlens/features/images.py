"""Safe image decoding: every image a user adds passes through here before the CNN sees it.

`load_image` reads a file once, decodes it defensively and returns a small sRGB working copy plus
hashes. Anything wrong with the input (empty, not an image, truncated, corrupt, too large,
unreadable, unsupported) raises a single `ImageError` with a machine-readable `reason`, so one
bad file never crashes a batch.

Notes on safety:
* Only the formats in `IMAGE_SUFFIXES` are decoded (JPEG/MPO, PNG, TIFF, WebP, BMP, GIF). Other
  formats PIL knows are rejected as "unsupported": this keeps PIL's rarely used decoders (and
  EPS, which would run Ghostscript) away from untrusted files.
* The pixel count is checked from the header, before any pixel is decoded.
* No global PIL state is changed. PIL's DecompressionBombWarning is turned into an error only
  while the header is parsed, with `warnings.catch_warnings()`. In Python < 3.14 that context
  manager swaps a process-wide filter list, so concurrent uses could leave a filter behind: the
  (fast, header-only) open is therefore serialised by a lock, and pixel decoding runs in parallel.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import re
import stat
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
import numpy as np
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from artlens.errors import IMAGE_FAILURES, ImageError, ImageFailure

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_PIXELS",
    "REASONS",
    "DecodedImage",
    "ImageError",
    "Reason",
    "is_image_path",
    "load_image",
    "phash_distance",
    "square",
    "thumbnail",
]

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"}
)

# PIL's own hard limit (it warns at half of it). Callers may lower it per call; raising it above
# PIL's hard limit also needs `PIL.Image.MAX_IMAGE_PIXELS` raised by the application.
MAX_PIXELS: int = 178_956_970
MAX_THUMBNAIL_BYTES = 96 * 1024  # a small JPEG up to this size is kept as its own thumbnail

Reason = ImageFailure  # why a file cannot be used (defined with ImageError in artlens.errors)
REASONS = IMAGE_FAILURES

# PIL format names we decode. Camera JPEGs carrying several pictures come back as "MPO" (PIL's
# JPEG opener makes them), so "MPO" is not listed but treated as JPEG below.
_ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "TIFF", "WEBP", "GIF", "BMP")

_WHITE = (255, 255, 255)

# Serialises the warnings.catch_warnings() blocks of concurrent calls (see module docstring).
_OPEN_LOCK = threading.Lock()

# EXIF orientation -> the transpose that makes the image upright (as in PIL.ImageOps.exif_transpose).
_ORIENTATION_FIX: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image: sRGB working copy plus the facts the catalog stores about the file."""

    rgb: np.ndarray = field(repr=False, compare=False)  # (H, W, 3) uint8, read-only; covered by pixel_hash
    width: int  # original size, after EXIF orientation
    height: int
    format: str  # PIL format name, e.g. "JPEG"
    sha256: str  # of the file's bytes
    pixel_hash: str  # of the working pixels and the original size
    phash: str  # 64-bit perceptual hash as 16 hex digits
    # The same pixels as a PIL image: resizing and encoding start from it without another copy.
    image: Image.Image = field(repr=False, compare=False)
    # The file's bytes when they already are a small, upright, plain sRGB JPEG: its own thumbnail.
    jpeg: bytes | None = field(default=None, repr=False, compare=False)


def is_image_path(path: Path) -> bool:
    """True if the file name has one of `IMAGE_SUFFIXES` (case-insensitive)."""
    path = Path(path)
    # "._name.jpg" files are macOS AppleDouble metadata, common on external drives: never images.
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("._")


def load_image(path: Path, max_side: int = 512, max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """Decode `path` to an upright sRGB working copy whose longest side is at most `max_side`.

    A larger image is shrunk to exactly `max_side`, except a JPEG: libjpeg decodes it at 1/2, 1/4 or
    1/8 scale for a fraction of the work, and the smallest scale whose longest side is still above
    `max_side / 2` is kept as it is (resampled to `max_side` only if even 1/8 is larger).
    Raises `ImageError` for any problem with the file (never anything else for bad input).
    """
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    path = Path(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a directory, or a FIFO that would block the batch forever
            raise ImageError("unreadable", f'Cannot read "{path}": it is not a regular file.', path)
        if st.st_size > _max_file_bytes(max_pixels):  # don't pull a mislabelled 20 GB file into memory
            raise ImageError(
                "too-large", f'"{path}" is too large to decode safely: {st.st_size:,} bytes on disk.', path
            )
        data = path.read_bytes()  # read once: hash and decode the very same bytes
    except OSError as exc:
        raise ImageError("unreadable", f'Cannot read "{path}": {exc.strerror or exc}.', path) from exc
    if not data:
        raise ImageError("empty", f'"{path}" is an empty file (0 bytes), not an image.', path)
    sha256 = hashlib.sha256(data).hexdigest()
    rgb_image, width, height, fmt, plain = _decode(data, path, max_side, max_pixels)

    rgb = np.asarray(rgb_image)  # C-contiguous uint8 over a bytes copy of the pixels: read-only already,
    rgb.flags.writeable = False  # and pixel_hash describes these pixels, so it stays that way
    return DecodedImage(
        rgb=rgb,
        width=width,
        height=height,
        format=fmt,
        sha256=sha256,
        pixel_hash=_pixel_hash(rgb, width, height),
        phash=str(imagehash.phash(rgb_image)),
        image=rgb_image,
        jpeg=data if plain and fmt == "JPEG" and len(data) <= MAX_THUMBNAIL_BYTES else None,
    )


def thumbnail(img: DecodedImage, size: int = 256) -> bytes:
    """Encode a JPEG thumbnail whose longest side is `size` pixels.

    JPEG, not WebP: encoding is 10-20x faster (0.3 ms against 3-5 ms at 256 px here), and at
    ingest that difference is a sizeable share of the whole per-image budget.

    Made from the working copy and never upscaled: an image smaller than `size` keeps its size. A
    small plain JPEG file is stored as it is (no second lossy encoding, and no encoding work).
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if img.jpeg is not None and max(img.width, img.height) <= size:
        return img.jpeg
    im = _fit(img.image, size)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def as_pil(rgb: np.ndarray | Image.Image) -> Image.Image:
    """An RGB PIL image from an (H, W, 3) uint8 array (or the image itself)."""
    if isinstance(rgb, Image.Image):
        if rgb.mode != "RGB":
            raise ValueError(f"expected an RGB image, got mode {rgb.mode}")
        return rgb
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def square(img_rgb: np.ndarray | Image.Image, size: int) -> np.ndarray:
    """Resize (squash, no crop) the whole image to (size, size, 3) uint8: what the CNN gets."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if isinstance(img_rgb, np.ndarray) and img_rgb.shape == (size, size, 3) and img_rgb.dtype == np.uint8:
        return img_rgb  # already the CNN's size: resizing would only copy it
    im = as_pil(img_rgb)
    # PIL widens the filter support when shrinking, so BICUBIC is properly antialiased.
    return np.array(im.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)


def phash_distance(a: str, b: str) -> int:
    """Hamming distance between two perceptual hashes given as hex strings of equal length."""
    if len(a) != len(b):
        raise ValueError(f"phash lengths differ: {len(a)} vs {len(b)}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


# --- decoding ------------------------------------------------------------------------------------


def _max_file_bytes(max_pixels: int) -> int:
    # No accepted format needs more than 8 bytes a pixel (16-bit RGBA, uncompressed) plus metadata.
    return 8 * max_pixels + (64 << 20)


def _decode(data: bytes, path: Path, max_side: int, max_pixels: int) -> tuple[Image.Image, int, int, str, bool]:
    """Open, check, decode and normalise; returns (RGB image, original width, height, format, plain).

    plain: the file's pixels needed no change to become the working copy (8-bit RGB or grey, no ICC
    profile, upright, not shrunk), so the file itself shows exactly what was indexed.
    """
    im = _open(data, path, max_pixels)
    with im:
        fmt = im.format or "unknown"
        width, height = im.size  # header values: nothing decoded yet
        if width * height > max_pixels:
            raise ImageError(
                "too-large",
                f'"{path}" is too large to decode safely: {width}x{height} = {width * height:,} pixels '
                f"(limit {max_pixels:,}).",
                path,
            )
        try:
            if fmt in ("JPEG", "MPO"):
                _draft(im, max_side)
            im.load()
            # Read after load: PNG may store EXIF after the pixels, and PIL already uprights TIFFs.
            orientation = _orientation(im)
            plain = im.mode in ("RGB", "L") and not im.info.get("icc_profile") and orientation == 1 and max(width, height) <= max_side
            rgb = _to_rgb(im, path, max_side)
            rgb = _fit(rgb, max_side)
            if orientation in _ORIENTATION_FIX:
                # Transpose the small copy rather than the full image: same result, less work.
                rgb = rgb.transpose(_ORIENTATION_FIX[orientation])
        except ImageError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError) as exc:
            raise _too_large(path, exc, max_pixels) from exc
        except Exception as exc:  # any decoder failure must become an ImageError, never crash a batch
            raise _damaged(data, path, fmt, exc) from exc
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return rgb, width, height, fmt, plain


def _open(data: bytes, path: Path, max_pixels: int) -> Image.Image:
    """Image.open (lazy: header only) restricted to accepted formats, with errors classified."""
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            # For this header parse only: PIL's bomb warning becomes an exception, and PIL's chatter
            # about damaged metadata stays out of batch logs.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            try:
                return Image.open(io.BytesIO(data), formats=_ACCEPTED_FORMATS)
            except Image.DecompressionBombWarning:
                # PIL's soft limit (half its hard one) was crossed: if the caller allows more,
                # open again quietly and let our own check in _decode decide.
                limit = Image.MAX_IMAGE_PIXELS
                if limit is not None and max_pixels <= limit:
                    raise
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                return Image.open(io.BytesIO(data), formats=_ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError) as exc:
        raise _too_large(path, exc, max_pixels) from exc
    except UnidentifiedImageError as exc:
        kind = _sniff(data)
        if kind is not None:  # it claims to be one of our formats, but PIL cannot read its header
            raise _damaged(data, path, kind, _refusal(data, kind) or exc) from exc
        other = _identify_any(data)
        if other is not None:
            raise ImageError(
                "unsupported",
                f'"{path}" is a {other} image; ArtLens accepts JPEG, PNG, TIFF, WebP, BMP and GIF.',
                path,
            ) from exc
        raise ImageError("not-an-image", f'"{path}" is not an image (no known image format).', path) from exc
    except Exception as exc:  # broken headers raise all sorts of things
        raise _damaged(data, path, _sniff(data) or "image", exc) from exc


def _refusal(data: bytes, kind: str) -> Exception | None:
    """Why PIL's `kind` plugin refuses the header (Image.open hides it), e.g. "unknown pixel mode"."""
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Image.init()
            factory = Image.OPEN[kind][0]
            with factory(io.BytesIO(data), ""):  # header parse only, then dropped
                return None
    except Exception as exc:  # noqa: BLE001 - returned to the caller, which reports it
        return exc


def _identify_any(data: bytes) -> str | None:
    """Name of the format if any PIL plugin recognises the header (headers only, no decoding)."""
    try:
        with _OPEN_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # only a name is wanted here, quietly
            with Image.open(io.BytesIO(data)) as im:
                return im.format
    except Exception:  # noqa: BLE001 - best effort: whatever a broken file raises means no answer
        return None


def _draft(im: Image.Image, max_side: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale (DCT scaling): the smallest that keeps the longest
    side above max_side / 2, so a large JPEG lands in (max_side / 2, max_side] with no resampling."""
    w, h = im.size
    if max(w, h) <= max_side:
        return
    s = (max_side // 2 + 1) / max(w, h)
    # Ask for a size of the image's own shape, not a square: PIL never decodes below it in either
    # direction, and a panorama shrinks as well as a square would.
    im.draft(im.mode, (max(1, math.ceil(w * s)), max(1, math.ceil(h * s))))


def _orientation(im: Image.Image) -> int:
    """EXIF orientation (1..8) still to apply; 1 if absent or unreadable (bad EXIF is not fatal)."""
    try:
        value = im.getexif().get(ExifTags.Base.Orientation, 1)
        return value if isinstance(value, int) and 1 <= value <= 8 else 1
    except Exception:  # noqa: BLE001 - best effort: whatever a broken file raises means no answer
        return 1


def _to_rgb(im: Image.Image, path: Path, max_side: int) -> Image.Image:
    """Any PIL mode -> 8-bit sRGB "RGB"; transparency is composited over white paper."""
    icc = im.info.get("icc_profile")
    mode = im.mode
    if mode in ("L", "RGB", "CMYK", "I", "F") and "transparency" not in im.info and max(im.size) >= 4 * max_side:
        # Cheap box pre-shrink so the conversions below don't touch every pixel of a huge scan; the
        # final LANCZOS still has >= 2x to work with. Not with alpha or a colour key: averaging
        # transparent pixels would leave dark fringes.
        im = im.reduce(max(1, max(im.size) // (2 * max_side)))
    if mode.startswith("I;16") or mode in ("I", "F"):
        im = Image.fromarray(_to_uint8(np.asarray(im), mode))
    elif mode == "1":
        im = im.convert("L")
    elif mode in ("P", "PA"):
        im = im.convert("RGBA" if mode == "PA" or im.info.get("transparency") is not None else "RGB")
    elif mode in ("L", "RGB") and im.info.get("transparency") is not None:
        im = im.convert("RGBA")  # tRNS colour key -> real alpha
    elif mode in ("La", "RGBa"):
        im = im.convert(mode.upper())  # premultiplied -> straight alpha
    elif mode == "LAB":
        im = _apply_transform(im, _lab_transform())

    if icc and im.mode in ("RGB", "RGBA", "CMYK"):
        transform = _icc_transform(bytes(icc), im.mode)
        if transform is not None:
            im = _apply_transform(im, transform)

    if im.mode in ("RGBA", "LA"):
        im = _over_white(im)
    if im.mode != "RGB":
        try:
            im = im.convert("RGB")  # L, CMYK without profile, YCbCr, HSV, ...
        except ValueError as exc:
            raise ImageError(
                "unsupported", f'"{path}" uses the {mode} pixel format, which cannot be converted to RGB.', path
            ) from exc
    return im


def _to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """Scale 16-bit, 32-bit int or float grey to 8 bits without clipping to white."""
    if mode.startswith("I;16"):
        return (a.astype(np.uint16) >> 8).astype(np.uint8)  # full 16-bit range -> full 8-bit range
    x = a.astype(np.float32)
    finite = np.isfinite(x)
    if not finite.all():
        x = np.where(finite, x, 0.0).astype(np.float32)
    if not finite.any():
        return np.zeros(a.shape, np.uint8)
    lo, hi = float(x.min()), float(x.max())
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        x = x * 255.0  # normalised float image
    elif lo >= 0.0 and hi <= 255.0:
        pass  # 8-bit values in a wide container
    elif lo >= 0.0 and hi <= 65535.0:
        x = x * (255.0 / 65535.0)  # 16-bit values (e.g. 16-bit PGM opens as "I")
    else:
        x = (x - lo) * (255.0 / (hi - lo))  # unknown range: stretch (hi > lo here)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _over_white(im: Image.Image) -> Image.Image:
    """Composite RGBA/LA over white: a transparent background should look like paper."""
    rgba = im.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema() == (255, 255):
        return rgba.convert("RGB")
    paper = Image.new("RGB", rgba.size, _WHITE)
    paper.paste(rgba.convert("RGB"), (0, 0), alpha)
    return paper


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@functools.cache
def _lab_transform() -> ImageCms.ImageCmsTransform:
    return ImageCms.buildTransform(
        ImageCms.createProfile("LAB"), _srgb(), "LAB", "RGB", flags=ImageCms.Flags.NOCACHE
    )


@functools.lru_cache(maxsize=32)
def _icc_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """Transform from an embedded profile to sRGB, or None if the profile is unusable or mismatched.

    Cached because collections usually share a handful of profiles. NOCACHE keeps a shared
    transform safe to use from several threads.
    """
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = src.profile.xcolor_space.strip()
        if space != {"RGB": "RGB", "RGBA": "RGB", "CMYK": "CMYK"}[mode]:
            return None  # e.g. a CMYK profile on an RGB image: ignore it rather than garble colours
        out_mode = "RGBA" if mode == "RGBA" else "RGB"
        return ImageCms.buildTransform(
            src,
            _srgb(),
            mode,
            out_mode,
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            flags=ImageCms.Flags.NOCACHE,
        )
    except Exception:  # noqa: BLE001 - a broken profile must not cost us the image: fall back to plain conversion
        return None


def _apply_transform(im: Image.Image, transform: ImageCms.ImageCmsTransform) -> Image.Image:
    out = ImageCms.applyTransform(im, transform)
    assert out is not None  # only None with inPlace=True
    return out


def _fit(im: Image.Image, max_side: int) -> Image.Image:
    """Shrink so the longest side is `max_side` (never enlarge), with proper antialiasing."""
    w, h = im.size
    if max(w, h) <= max_side:
        return im
    s = max_side / max(w, h)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    # reducing_gap: box-reduce first, then LANCZOS on the last >= 3x: fast and still sharp.
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _pixel_hash(rgb: np.ndarray, width: int, height: int) -> str:
    h = hashlib.sha256(b"artlens-pixels-v1")
    h.update(f"{width}x{height};{rgb.shape[1]}x{rgb.shape[0]};".encode())
    h.update(np.ascontiguousarray(rgb).data)  # the buffer itself: same bytes as tobytes(), no copy
    return h.hexdigest()


# --- classifying damaged files -----------------------------------------------------------------


def _sniff(data: bytes) -> str | None:
    """Which accepted format the leading bytes claim, if any (strong magic numbers only)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in (12, 16, 40, 52, 56, 64, 108, 124):
        return "BMP"
    return None


def _looks_truncated(data: bytes, kind: str) -> bool:
    """Whether the file ends before its container says it should (checked after a decode failure)."""
    n = len(data)
    if kind == "PNG":
        return b"IEND" not in data[-16:]
    if kind in ("JPEG", "MPO"):
        return b"\xff\xd9" not in data[-32:]
    if kind == "GIF":
        return not data.rstrip(b"\x00").endswith(b";")
    if kind == "WEBP":
        return n < 12 or int.from_bytes(data[4:8], "little") + 8 > n
    if kind == "TIFF":
        if n < 8:
            return True
        little_endian = data[:2] == b"II"
        bigtiff = data[2:4] in (b"+\x00", b"\x00+")
        offset = int.from_bytes(data[8:16] if bigtiff else data[4:8], "little" if little_endian else "big")
        return offset >= n
    if kind == "BMP":
        return n < 18 or int.from_bytes(data[2:6], "little") > n
    return False


# How PIL says "valid, but a variant it cannot decode" (float RGB TIFF, odd BMP, missing codec...).
_UNSUPPORTED_MESSAGE = re.compile(r"unsupported|not supported|unknown pixel mode|unknown data organization|not available", re.I)


def _too_large(path: Path, exc: BaseException, max_pixels: int) -> ImageError:
    if isinstance(exc, MemoryError):
        return ImageError("too-large", f'"{path}" is too large to decode: there is not enough memory.', path)
    # PIL's message carries the declared pixel count; show it if it is there.
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1)):,} pixels" if found else "more pixels than allowed"
    limit = min(max_pixels, 2 * Image.MAX_IMAGE_PIXELS) if Image.MAX_IMAGE_PIXELS else max_pixels
    return ImageError("too-large", f'"{path}" is too large to decode safely: {size} (limit {limit:,}).', path)


def _damaged(data: bytes, path: Path, kind: str, exc: BaseException) -> ImageError:
    """Classify a decode failure of a file that claims to be an image: truncated, unsupported or corrupt."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError) or "truncated" in detail.lower() or _looks_truncated(data, kind):
        return ImageError(
            "truncated",
            f'"{path}" is a truncated {kind} file: it ends before the image data does '
            "(an interrupted download or copy?).",
            path,
        )
    if _UNSUPPORTED_MESSAGE.search(detail):
        return ImageError("unsupported", f'"{path}" is a {kind} variant that cannot be decoded ({detail}).', path)
    return ImageError("corrupt", f'"{path}" is a damaged {kind} file that cannot be decoded ({detail}).', path)
