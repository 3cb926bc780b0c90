"""Schemathesis hooks for tests/test_api_contract.py: what a valid image part is.

A JSON schema cannot say "a decodable image", so schemathesis would send random bytes (or a PDF) as a
schema-valid file part; this strategy for the `binary` format sends small real images of every
accepted format instead. The API's only binary inputs are image files.
"""

from __future__ import annotations

import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP", "image/tiff": "TIFF", "image/bmp": "BMP"}


def _image(fmt: str, size: int, colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, fmt)
    return buf.getvalue()


SAMPLES = [_image(fmt, size, colour) for fmt in FORMATS.values() for size in (1, 8, 33)
           for colour in ((0, 0, 0), (200, 120, 40), (255, 255, 255))]
schemathesis.openapi.format("binary", st.sampled_from(SAMPLES))
