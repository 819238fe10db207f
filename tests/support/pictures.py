"""Pictures with known pixels, to show on the Xvfb screen and find again in captured frames."""

from __future__ import annotations

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 1920, 1080

RED = (200, 30, 30)
GREEN = (30, 160, 60)
BLUE = (40, 60, 210)
YELLOW = (230, 200, 40)
QUADRANTS = {(0, 0): RED, (1, 0): GREEN, (0, 1): BLUE, (1, 1): YELLOW}
"""(column, row) of each screen quarter and its colour."""
TEXT_BAND = (0, 500, WIDTH - 1, 579)
"""A white band across the middle, with black text in it."""
TEXT = "Traceback (most recent call last): termmate sees this line"


def quadrants(size: tuple[int, int] = (WIDTH, HEIGHT), *, text: bool = True) -> Image.Image:
    """Four solid quarters (red, green / blue, yellow) and, with ``text``, a white text band."""
    width, height = size
    picture = Image.new("RGB", size)
    draw = ImageDraw.Draw(picture)
    half_w, half_h = width // 2, height // 2
    for (col, row), colour in QUADRANTS.items():
        box = (col * half_w, row * half_h, (col + 1) * half_w - 1, (row + 1) * half_h - 1)
        draw.rectangle(box, fill=colour)
    if text:
        draw.rectangle(TEXT_BAND, fill=(255, 255, 255))
        draw.text((40, 520), TEXT, fill=(0, 0, 0), font_size=32)
    return picture


def with_block(
    picture: Image.Image, box: tuple[int, int, int, int], colour: tuple[int, int, int]
) -> Image.Image:
    """A copy of ``picture`` with the rectangle ``box`` (x0, y0, x1, y1 inclusive) filled."""
    changed = picture.copy()
    ImageDraw.Draw(changed).rectangle(box, fill=colour)
    return changed
