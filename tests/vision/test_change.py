"""Change detection: identical screens match, a changed region is caught, noise is not."""

from __future__ import annotations

from PIL import Image, ImageDraw

from config import VisionSettings
from tests.support.pictures import quadrants, with_block
from tests.support.xvfb import XvfbDisplay
from vision import Grabber, Signature, signature_of

THRESHOLD = VisionSettings().change_threshold


def signatures_of(screen: XvfbDisplay, *pictures: Image.Image) -> list[Signature]:
    grabber = Grabber(VisionSettings())
    try:
        found = []
        for picture in pictures:
            screen.show(picture)
            found.append(grabber.grab().signature)
        return found
    finally:
        grabber.close()


def test_identical_screens_have_no_change(screen: XvfbDisplay) -> None:
    picture = quadrants()
    first, second = signatures_of(screen, picture, picture)

    assert second.change_from(first) == 0.0


def test_a_changed_region_is_caught(screen: XvfbDisplay) -> None:
    picture = quadrants()
    dialog = with_block(picture, (1300, 700, 1539, 859), (250, 250, 250))  # a 240×160 dialog
    before, after = signatures_of(screen, picture, dialog)

    change = after.change_from(before)
    assert change > THRESHOLD
    assert change < 0.1  # and it is measured as a small part of the screen


def test_a_new_line_of_text_is_caught(screen: XvfbDisplay) -> None:
    picture = quadrants()
    line = picture.copy()

    ImageDraw.Draw(line).text((40, 30), "NameError: name 'x' is not defined", font_size=32)
    before, after = signatures_of(screen, picture, line)

    assert after.change_from(before) > THRESHOLD


def test_a_blinking_caret_is_not_a_change(screen: XvfbDisplay) -> None:
    picture = quadrants()
    caret = with_block(picture, (600, 520, 601, 551), (0, 0, 0))  # 2×32 pixels in the text band
    before, after = signatures_of(screen, picture, caret)

    assert after.change_from(before) <= THRESHOLD


def test_signatures_of_images() -> None:
    grey = Image.new("RGB", (1280, 720), (128, 128, 128))
    half = with_block(grey, (0, 0, 639, 719), (0, 0, 0))

    assert signature_of(grey).change_from(signature_of(grey.copy())) == 0.0
    assert signature_of(half).change_from(signature_of(grey)) == 0.5
    assert signature_of(grey.resize((640, 360))).change_from(signature_of(grey)) == 1.0
    assert len(signature_of(grey).cells) == 32 * 18
