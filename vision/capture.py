"""Grab the screen with mss: the configured monitor or region, off the event loop.

An mss object is bound to the thread that made it, and connecting to the X server costs more
than a grab, so each ``ScreenCapture`` keeps one connection on one dedicated thread. Every way
capture can fail ends in ``ScreenUnavailable`` with a reason, never in a crash.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from config import VisionSettings

from .change import Signature, signature_of
from .errors import ScreenUnavailable
from .frame import bgrx_image, encode_jpeg, frame_from_bgrx, scaled_size, strip_workers

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from PIL import Image

log = logging.getLogger(__name__)

T = TypeVar("T")

_X11_PLATFORMS = ("linux", "freebsd", "openbsd", "netbsd")


class Frame:
    """One look at the screen. The downscaled picture is made only when it is needed.

    Deciding whether the screen changed needs only the signature, made straight from the raw
    pixels; an unchanged screen is never downscaled or encoded, so a look that reuses the last
    description costs a grab and a thumbnail.
    """

    __slots__ = ("_image", "_max_side", "_pool", "_raw", "capture_ms", "signature", "source_size")

    def __init__(
        self,
        raw: bytes | bytearray,
        source_size: tuple[int, int],
        signature: Signature,
        capture_ms: float,
        max_side: int,
        pool: Executor | None = None,
    ) -> None:
        self._raw = raw
        self._max_side = max_side
        self._pool = pool
        self._image: Image.Image | None = None
        self.source_size = source_size
        """The captured area's size in screen pixels, before downscaling."""
        self.signature = signature
        """For telling whether the screen has changed since an earlier frame."""
        self.capture_ms = capture_ms
        """Grab and signature together."""

    @property
    def image(self) -> Image.Image:
        """RGB, its longer side at most ``vision.max_side`` (made on first use)."""
        if self._image is None:
            self._image = frame_from_bgrx(self._raw, self.source_size, self._max_side, self._pool)
            self._raw = b""  # the full-size pixels are not needed any more
        return self._image

    @property
    def width(self) -> int:
        return scaled_size(self.source_size, self._max_side)[0]

    @property
    def height(self) -> int:
        return scaled_size(self.source_size, self._max_side)[1]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A frame and its JPEG, ready to send to a model."""

    frame: Frame
    jpeg: bytes
    encode_ms: float


def display_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why there is plainly no X display to capture, or None when there may be one."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith(_X11_PLATFORMS) or env.get("DISPLAY"):
        return None
    if env.get("WAYLAND_DISPLAY"):
        return (
            "Wayland session without XWayland: DISPLAY is not set, so there is no X display "
            "to capture; enable XWayland"
        )
    return "no display: DISPLAY is not set; over SSH, connect with ssh -X"


class Grabber:
    """Blocking capture with one mss connection. Use it from one thread only.

    ``pool``: threads its frames may downscale on, in strips (None: on the caller's thread).
    """

    def __init__(self, settings: VisionSettings, pool: Executor | None = None) -> None:
        self.settings = settings
        self.pool = pool
        self._sct: Any = None

    def grab(self) -> Frame:
        """Capture the configured area now. Raises ScreenUnavailable."""
        started = time.perf_counter()
        sct = self._connect()
        area = self._area(sct)
        from mss.exception import ScreenShotError

        try:
            shot = sct.grab(area)
        except ScreenShotError as exc:
            self.close()  # reconnect next time: the display may have gone and come back
            raise ScreenUnavailable(f"capture refused: {exc}") from exc
        except AssertionError as exc:  # mss asserts on a reply from a lost X connection
            self.close()
            raise ScreenUnavailable(
                "the display went away (connection to the X server lost)"
            ) from exc
        size = (shot.width, shot.height)
        signature = signature_of(bgrx_image(shot.raw, size))
        self._check_not_blanked(signature)
        elapsed = (time.perf_counter() - started) * 1000
        return Frame(shot.raw, size, signature, elapsed, self.settings.max_side, self.pool)

    def close(self) -> None:
        sct, self._sct = self._sct, None
        if sct is not None:
            try:
                sct.close()
            except Exception as exc:  # a connection that is already dead may not close cleanly
                log.debug("closing the X connection failed: %s", exc)

    def _connect(self) -> Any:
        if self._sct is not None:
            return self._sct
        problem = display_problem()
        if problem is not None:
            raise ScreenUnavailable(problem)
        import mss
        from mss.exception import ScreenShotError

        try:
            self._sct = mss.MSS()
        except ScreenShotError as exc:
            display = os.environ.get("DISPLAY", "")
            raise ScreenUnavailable(
                f"cannot open display {display} ({exc}); is the X server running, "
                "and over SSH is X forwarding on?"
            ) from exc
        return self._sct

    def _area(self, sct: Any) -> dict[str, int]:
        from mss.exception import ScreenShotError

        try:
            monitors = sct.monitors
        except ScreenShotError as exc:
            self.close()
            raise ScreenUnavailable(f"cannot list monitors: {exc}") from exc
        index = self.settings.monitor
        count = len(monitors) - 1
        if index > count:
            raise ScreenUnavailable(
                f"monitor {index} does not exist (this display has {count}); set "
                f"TERMMATE_VISION__MONITOR to 1..{count}, or 0 for all monitors together"
            )
        monitor = monitors[index]
        box = self.settings.region_box
        if box is None:
            return {key: monitor[key] for key in ("left", "top", "width", "height")}
        x, y, width, height = box
        if x + width > monitor["width"] or y + height > monitor["height"]:
            raise ScreenUnavailable(
                f"vision.region {self.settings.region} does not fit monitor {index} "
                f"({monitor['width']}×{monitor['height']}); fix TERMMATE_VISION__REGION"
            )
        return {
            "left": monitor["left"] + x,
            "top": monitor["top"] + y,
            "width": width,
            "height": height,
        }

    @staticmethod
    def _check_not_blanked(signature: Signature) -> None:
        # XWayland shows X11 programs only other X11 windows, and under most compositors the
        # root window reads as pure black: say so instead of describing a black screen.
        if os.environ.get("WAYLAND_DISPLAY") and not any(signature.cells):
            raise ScreenUnavailable(
                "this Wayland session does not let X11 programs see the screen "
                "(XWayland gave a black frame)"
            )


class ScreenCapture:
    """Captures and encodes on one dedicated thread, so the event loop never waits on it."""

    def __init__(self, settings: VisionSettings) -> None:
        self.settings = settings
        # Both pools start their threads on first use only.
        self._strips = ThreadPoolExecutor(strip_workers(), thread_name_prefix="termmate-downscale")
        self._grabber = Grabber(settings, self._strips)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="termmate-capture")

    async def grab(self) -> Frame:
        """The screen now, downscaled, with its signature. Raises ScreenUnavailable."""
        return await self._run(self._grabber.grab)

    async def encode(self, frame: Frame) -> Snapshot:
        """``frame`` as a JPEG at ``vision.jpeg_quality``."""
        return await self._run(lambda: self._encode(frame))

    async def snapshot(self) -> Snapshot:
        """Grab and encode in one trip to the capture thread."""
        return await self._run(lambda: self._encode(self._grabber.grab()))

    def _encode(self, frame: Frame) -> Snapshot:
        started = time.perf_counter()
        jpeg = encode_jpeg(frame.image, self.settings.jpeg_quality)
        return Snapshot(frame, jpeg, (time.perf_counter() - started) * 1000)

    async def _run(self, work: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work)

    async def aclose(self) -> None:
        """Close the X connection (on its own thread) and stop the threads."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._grabber.close)
        await loop.run_in_executor(None, self._executor.shutdown, True)
        await loop.run_in_executor(None, self._strips.shutdown, True)
