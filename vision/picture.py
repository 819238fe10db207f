"""Pictures a front end sends along with a message (instead of the screen): checked, shrunk and
re-encoded as the JPEG the vision model is shown, exactly as a screen frame would be.

Only PNG and JPEG are taken. A picture is decoded once here, so anything else (a text file, a
truncated image, a decompression bomb) is refused with the reason before a model sees it.
"""

from __future__ import annotations

import io

from .frame import encode_jpeg, scaled_size

MAX_PIXELS = 40_000_000
"""Largest picture decoded (40 megapixels): more than any phone camera, far less than a bomb."""
FORMATS = ("PNG", "JPEG")


class BadPicture(ValueError):
    """Data that is not a picture termmate can show the vision model; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def prepare_picture(data: bytes, *, max_side: int, quality: int) -> bytes:
    """``data`` (a PNG or JPEG) as a JPEG whose longer side is at most ``max_side``."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise BadPicture("the picture is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in FORMATS:
                raise BadPicture(f"a {image.format} picture; send PNG or JPEG")
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise BadPicture(
                    f"the picture is {width}×{height} pixels; at most "
                    f"{MAX_PIXELS // 1_000_000} megapixels are taken"
                )
            image.load()
            picture = image.convert("RGB")
    except BadPicture:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise BadPicture(f"not a PNG or JPEG picture ({exc})") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt image data
        raise BadPicture(f"the picture cannot be read ({exc})") from None
    size = scaled_size(picture.size, max_side)
    if size != picture.size:
        picture = picture.resize(size, Image.Resampling.BOX)
    return encode_jpeg(picture, quality)
