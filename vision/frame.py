"""From raw screen pixels to the frame the model sees: downscaled RGB, then JPEG.

Speed matters here (it runs on every look), so the raw BGRX buffer from mss is wrapped without
a copy, downscaled while still BGRX, and only the small result has its channels reordered.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Pillow is imported on first capture: the TUI paints without it.
    from PIL import Image


def scaled_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` shrunk (never enlarged) so its longer side is at most ``max_side``."""
    width, height = size
    longer = max(width, height)
    if longer <= max_side:
        return width, height
    scale = max_side / longer
    return max(1, round(width * scale)), max(1, round(height * scale))


def bgrx_image(raw: bytes | bytearray, size: tuple[int, int]) -> Image.Image:
    """The BGRX pixels in ``raw`` as an image, without a copy.

    "RGBX" with the "RGBX" raw mode maps the buffer as it is; its channels are really B, G, R, X
    (fine for a change signature; frame_from_bgrx reorders them for the model).
    """
    from PIL import Image

    return Image.frombuffer("RGBX", size, raw, "raw", "RGBX", 0, 1)


def frame_from_bgrx(raw: bytes | bytearray, size: tuple[int, int], max_side: int) -> Image.Image:
    """An RGB image of the BGRX pixels in ``raw``, downscaled to fit ``max_side``."""
    from PIL import Image

    bgrx = bgrx_image(raw, size)
    target = scaled_size(size, max_side)
    if target != size:
        # Box (area averaging) is the filter for shrinking screen content: every source pixel
        # counts, so one-pixel strokes of text survive; it does not ring around glyphs the way
        # Lanczos does; and it is the cheapest antialiasing filter Pillow has.
        bgrx = bgrx.resize(target, Image.Resampling.BOX)
    blue, green, red, _ = bgrx.split()
    return Image.merge("RGB", (red, green, blue))


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """``image`` as a baseline JPEG (what every VLM server and llama.cpp's mtmd decode)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def jpeg_data_uri(jpeg: bytes) -> str:
    """``jpeg`` as a ``data:image/jpeg;base64,…`` URI, the image form every VLM server takes."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
