"""Has the screen changed? A tiny greyscale thumbnail per frame, compared cell by cell.

Each of the 32×18 cells averages a patch of the screen (60×60 pixels at 1920×1080). A cell has
changed when its grey level moved by more than ``CELL_TOLERANCE``; the change between two
frames is the fraction of cells that did. Averaging makes the comparison blind to noise that
does not matter (a blinking caret, a ticking clock) and the fraction makes the threshold read
as "how much of the screen".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

THUMBNAIL_SIZE = (32, 18)
"""Cells across and down; 16:9 like most screens (other shapes just get oblong cells)."""
CELL_TOLERANCE = 4
"""Grey levels (of 255) a cell's average may move without counting as changed."""


@dataclass(frozen=True, slots=True)
class Signature:
    """What a frame looked like, in a few hundred bytes."""

    size: tuple[int, int]
    """The frame's size in pixels; frames of different sizes are entirely different."""
    cells: bytes
    """The greyscale thumbnail, row by row."""

    def change_from(self, other: Signature) -> float:
        """The fraction of the screen (0.0 to 1.0) that differs between ``other`` and this."""
        if self.size != other.size or len(self.cells) != len(other.cells) or not self.cells:
            return 1.0
        moved = sum(
            abs(a - b) > CELL_TOLERANCE for a, b in zip(self.cells, other.cells, strict=True)
        )
        return moved / len(self.cells)


def signature_of(image: Image.Image) -> Signature:
    """The signature of a frame (cheap: about 2 ms from a full 1920×1080 screen)."""
    from PIL import Image

    # reducing_gap: a fast integer reduce first, then an exact box average of what is left.
    thumbnail = image.resize(THUMBNAIL_SIZE, Image.Resampling.BOX, reducing_gap=2.0).convert("L")
    return Signature(image.size, thumbnail.tobytes())
