"""From raw screen pixels to the frame the model sees: downscaled RGB, then JPEG.

Speed matters here (it runs on every look), so the raw BGRX buffer from mss is wrapped without
a copy, downscaled while still BGRX, and only the small result has its channels reordered.
The downscale, the costly step, is shared out in horizontal strips over the CPU's cores when
the caller lends a thread pool (Pillow lets go of the GIL while it resamples); the result is
pixel for pixel the same.
"""

from __future__ import annotations

import base64
import io
import os
from concurrent.futures import Executor
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


def frame_from_bgrx(
    raw: bytes | bytearray, size: tuple[int, int], max_side: int, pool: Executor | None = None
) -> Image.Image:
    """An RGB image of the BGRX pixels in ``raw``, downscaled to fit ``max_side`` (in strips
    on ``pool``'s threads, if given)."""
    from PIL import Image

    bgrx = bgrx_image(raw, size)
    target = scaled_size(size, max_side)
    if target != size:
        # Box (area averaging) is the filter for shrinking screen content: every source pixel
        # counts, so one-pixel strokes of text survive; it does not ring around glyphs the way
        # Lanczos does; and it is the cheapest antialiasing filter Pillow has.
        bgrx = box_downscale(bgrx, target, pool)
    blue, green, red, _ = bgrx.split()
    return Image.merge("RGB", (red, green, blue))


MAX_STRIPS = 4
"""More strips than this gain little: the strips' copies start to cost what they save."""
MIN_STRIP_ROWS = 90
"""Output rows per strip, at least: below this a thread hop costs more than it saves."""


def strip_workers() -> int:
    """How many threads a downscale can use: the cores this process may run on (containers,
    taskset), at most MAX_STRIPS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_STRIPS))


def box_downscale(
    image: Image.Image,
    target: tuple[int, int],
    pool: Executor | None = None,
    strips: int | None = None,
) -> Image.Image:
    """``image`` box-filtered down to ``target``; with a ``pool``, in ``strips`` resampled side
    by side (default: strip_workers(), each at least MIN_STRIP_ROWS high).

    Each strip resamples its own band of output rows from the exact (fractional) band of
    source rows behind it, so the seams are invisible: the result equals one whole resize.
    """
    from PIL import Image

    if strips is None:
        strips = min(strip_workers(), max(1, target[1] // MIN_STRIP_ROWS))
    if pool is None or strips == 1:
        return image.resize(target, Image.Resampling.BOX)
    scale = image.height / target[1]
    rows = [round(index * target[1] / strips) for index in range(strips + 1)]

    def strip(top: int, bottom: int) -> Image.Image:
        band = (0, top * scale, image.width, bottom * scale)
        return image.resize((target[0], bottom - top), Image.Resampling.BOX, box=band)

    parts = list(pool.map(strip, rows[:-1], rows[1:]))
    result = Image.new(image.mode, target)
    for top, part in zip(rows, parts, strict=False):
        result.paste(part, (0, top))
    return result


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """``image`` as a baseline JPEG (what every VLM server and llama.cpp's mtmd decode)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def jpeg_data_uri(jpeg: bytes) -> str:
    """``jpeg`` as a ``data:image/jpeg;base64,…`` URI, the image form every VLM server takes."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
