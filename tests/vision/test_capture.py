"""Screen capture on a real X server (Xvfb): the pixels, the size, the region, the failures."""

from __future__ import annotations

import asyncio
import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from config import VisionSettings
from tests.support.pictures import BLUE, GREEN, HEIGHT, QUADRANTS, RED, WIDTH, YELLOW, quadrants
from tests.support.xvfb import XvfbDisplay, xvfb
from vision import Grabber, ScreenCapture, ScreenUnavailable
from vision.frame import strip_workers


def grab(**settings: object) -> Image.Image:
    grabber = Grabber(VisionSettings(**settings))
    try:
        return grabber.grab().image
    finally:
        grabber.close()


def test_the_frame_holds_the_shown_picture_pixel_for_pixel(screen: XvfbDisplay) -> None:
    picture = quadrants()
    screen.show(picture)

    frame = grab(max_side=WIDTH)

    assert frame.mode == "RGB"
    assert frame.size == (WIDTH, HEIGHT)
    assert ImageChops.difference(frame, picture).getbbox() is None  # identical, channels too


def test_a_solid_colour_is_captured_exactly(screen: XvfbDisplay) -> None:
    screen.solid("#336699")

    frame = grab()

    assert frame.getcolors() == [(frame.width * frame.height, (0x33, 0x66, 0x99))]


def test_the_frame_is_downscaled_to_max_side_keeping_colours(screen: XvfbDisplay) -> None:
    screen.show(quadrants(text=False))

    frame = grab(max_side=1280)

    assert frame.size == (1280, 720)
    for (col, row), colour in QUADRANTS.items():
        centre = (col * 640 + 320, row * 360 + 180)
        assert frame.getpixel(centre) == colour


def test_a_portrait_max_side_applies_to_the_longer_side(screen: XvfbDisplay) -> None:
    screen.solid("#102030")

    assert grab(max_side=480).size == (480, 270)
    assert grab(region="0,0,300,900", max_side=450).size == (150, 450)


def test_a_small_region_is_not_enlarged(screen: XvfbDisplay) -> None:
    screen.show(quadrants(text=False))

    frame = grab(region="960,0,400,300")

    assert frame.size == (400, 300)
    assert frame.getcolors() == [(400 * 300, GREEN)]


def test_a_region_is_taken_from_where_it_says(screen: XvfbDisplay) -> None:
    screen.show(quadrants(text=False))

    frame = grab(region="940,530,40,20", max_side=WIDTH)  # straddles all four quarters

    assert frame.getpixel((0, 0)) == RED
    assert frame.getpixel((39, 0)) == GREEN
    assert frame.getpixel((0, 19)) == BLUE
    assert frame.getpixel((39, 19)) == YELLOW


async def test_the_jpeg_decodes_to_the_frame(screen: XvfbDisplay) -> None:
    screen.show(quadrants())
    capture = ScreenCapture(VisionSettings(jpeg_quality=90))
    try:
        snapshot = await capture.snapshot()
    finally:
        await capture.aclose()

    decoded = Image.open(io.BytesIO(snapshot.jpeg))
    assert decoded.format == "JPEG"
    assert decoded.size == (snapshot.frame.width, snapshot.frame.height) == (1280, 720)
    red = decoded.convert("RGB").getpixel((100, 100))
    assert all(abs(a - b) <= 6 for a, b in zip(red, RED, strict=True)), red


async def test_capture_leaves_the_event_loop_free(screen: XvfbDisplay) -> None:
    screen.show(quadrants())
    capture = ScreenCapture(VisionSettings())
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await capture.snapshot()  # grab, downscale, encode take milliseconds: the loop turns on
    finally:
        task.cancel()
        await capture.aclose()
    assert ticks > 10


async def test_closing_the_capture_leaves_no_thread_behind(screen: XvfbDisplay) -> None:
    screen.show(quadrants())
    capture = ScreenCapture(VisionSettings(max_side=1280))
    await capture.snapshot()  # downscaled in strips on the capture's own threads
    strips = any(t.name.startswith("termmate-downscale") for t in threading.enumerate())
    assert strips == (strip_workers() > 1)
    await capture.aclose()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("termmate-")]


def test_a_missing_monitor_is_a_clear_error(screen: XvfbDisplay) -> None:
    with pytest.raises(ScreenUnavailable, match=r"monitor 3 does not exist \(this display has 1\)"):
        grab(monitor=3)


def test_a_region_outside_the_monitor_is_a_clear_error(screen: XvfbDisplay) -> None:
    with pytest.raises(
        ScreenUnavailable, match=r"1800,0,400,300 does not fit monitor 1 \(1920×1080\)"
    ):
        grab(region="1800,0,400,300")


def test_region_setting_is_validated() -> None:
    assert VisionSettings(region=" 1, 2 ,3,4 ").region_box == (1, 2, 3, 4)
    assert VisionSettings(region="").region is None
    with pytest.raises(ValueError, match="x,y,width,height"):
        VisionSettings(region="10,10,200")
    with pytest.raises(ValueError, match="more than 0"):
        VisionSettings(region="0,0,0,10")


async def test_no_display_is_screen_unavailable(no_display: None) -> None:
    capture = ScreenCapture(VisionSettings())
    try:
        with pytest.raises(ScreenUnavailable) as caught:
            await capture.grab()
    finally:
        await capture.aclose()
    assert caught.value.reason.startswith("no display: DISPLAY is not set")
    assert caught.value.status.startswith("eyes: unavailable (no display")


def test_wayland_without_xwayland_says_so(
    no_display: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    with pytest.raises(ScreenUnavailable, match="Wayland session without XWayland"):
        grab()


def test_xwayland_black_frame_is_not_described(
    screen: XvfbDisplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    screen.solid("#000000")  # what XWayland shows an X11 program of a Wayland desktop
    with pytest.raises(ScreenUnavailable, match="does not let X11 programs see the screen"):
        grab()

    screen.solid("#336699")  # a real X11 screen under the same variables is fine
    assert grab().getpixel((0, 0)) == (0x33, 0x66, 0x99)


def test_a_display_nobody_serves_is_screen_unavailable(
    no_display: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", ":4093")  # no X server there
    with pytest.raises(ScreenUnavailable, match=r"cannot open display :4093"):
        grab()


def test_a_display_that_goes_away_is_screen_unavailable_then_recovers(
    xvfb_server: XvfbDisplay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with xvfb(tmp_path, 640, 480) as doomed:
        monkeypatch.setenv("DISPLAY", doomed.display)
        grabber = Grabber(VisionSettings())
        assert grabber.grab().source_size == (640, 480)
        doomed.process.terminate()
        doomed.process.wait(timeout=10)
        with pytest.raises(ScreenUnavailable):
            grabber.grab()  # an SSH -X session that dropped: an error, not a crash

    monkeypatch.setenv("DISPLAY", xvfb_server.display)  # a display again: the grabber reconnects
    assert grabber.grab().source_size == (WIDTH, HEIGHT)
    grabber.close()


@pytest.mark.parametrize(
    ("size", "target"),
    [((1920, 1080), (1280, 720)), ((1917, 1077), (1280, 719)), ((900, 2000), (576, 1280))],
)
def test_the_downscale_in_strips_equals_one_whole_resize(
    size: tuple[int, int], target: tuple[int, int]
) -> None:
    # Busy content (every row differs) shows any seam between strips, or a strip in the wrong place.
    from vision.frame import box_downscale

    noise = Image.effect_noise(size, 80).convert("RGB").convert("RGBX")
    whole = noise.resize(target, Image.Resampling.BOX)
    with ThreadPoolExecutor(4) as pool:
        for strips in (None, 2, 3, 4):
            in_strips = box_downscale(noise, target, pool, strips)
            assert ImageChops.difference(in_strips, whole).getbbox() is None, f"{strips} strips"
