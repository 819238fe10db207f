"""The eyes: capture, notice change, describe, within a time limit; on or off; their status.

``Eyes.look()`` is the one call a turn makes. An unchanged screen reuses the last description
without asking the model. A slow model never holds a turn past ``vision.timeout_s``; its answer
keeps coming in the background and is reused by the next look while the screen stays put, so
even a model slower than the limit (a local VLM on a CPU) is useful from the second turn on.

The eyes also keep what the status pane shows about them: whether the user has them on, and
the problem the last look had. ``service_status()`` is their line there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from config import ServiceStatus, VisionSettings

from .capture import Frame, ScreenCapture
from .change import Signature
from .describe import DESCRIBE_PROMPT, PICTURE_PROMPT, VisionModel, get_visual_description
from .errors import DescriptionFailed, DescriptionTimedOut, ScreenUnavailable, VisionError

log = logging.getLogger(__name__)

StatusCallback = Callable[[ServiceStatus], None]


@dataclass(frozen=True, slots=True)
class SightTimings:
    """Where a look's time went, in milliseconds (0 for steps a reused description skipped)."""

    capture_ms: float
    """Grab, downscale and signature."""
    encode_ms: float
    """JPEG encoding."""
    describe_ms: float
    """The vision model's answer."""
    total_ms: float
    """The whole look, as the caller waited for it."""


@dataclass(frozen=True, slots=True)
class Sight:
    """What the eyes saw."""

    description: str
    width: int
    """Width of the frame the model saw (after downscaling), in pixels."""
    height: int
    model: str
    """The model that wrote the description."""
    reused: bool
    """True when the screen had not changed and an earlier description was reused."""
    change: float
    """Fraction of the screen that differs from the frame last described (1.0 at first)."""
    timings: SightTimings

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``termmate look --json`` and logs."""
        data = asdict(self)
        data["change"] = round(self.change, 4)
        data["timings"] = {key: round(value, 1) for key, value in data["timings"].items()}
        return data


@dataclass(frozen=True, slots=True)
class _Described:
    signature: Signature
    description: str
    model: str
    width: int
    height: int
    encode_ms: float
    describe_ms: float


@dataclass(frozen=True, slots=True)
class _Pending:
    signature: Signature
    task: asyncio.Task[_Described]


class Eyes:
    """Looks at the screen on request. Owns its ScreenCapture; the model belongs to the caller.

    One model call runs at a time: a look that finds the same screen already being described
    waits for that answer, and one that finds a different screen cancels the outdated call.

    Whether the eyes are *on* is the user's choice (Ctrl+E, ``vision.enabled``): turns look by
    default only while they are, and so does ``glance()``. ``look()`` itself always looks: a
    caller that asks for it (``ask --eyes``, watch mode) has decided already.
    """

    def __init__(
        self,
        settings: VisionSettings,
        model: VisionModel,
        *,
        capture: ScreenCapture | None = None,
        prompt: str = DESCRIBE_PROMPT,
    ) -> None:
        self.settings = settings
        self.model = model
        self.prompt = prompt
        self.capture = capture or ScreenCapture(settings)
        self.on_status: StatusCallback | None = None
        """Called (on the event loop) whenever :meth:`service_status` may have changed."""
        self._on = settings.enabled
        self._problem: str | None = None
        self._described: _Described | None = None
        self._pending: _Pending | None = None
        self._glances: set[asyncio.Task[None]] = set()
        # Bumped by forget(): a look begun before it must not describe or remember anything.
        self._generation = 0

    # -- on, off and status -------------------------------------------------------------------

    @property
    def on(self) -> bool:
        """Whether the eyes are on: turns look at the screen unless told otherwise."""
        return self._on

    @property
    def problem(self) -> str | None:
        """What went wrong in the last look, as a status line ("eyes: …"); None once one sees."""
        return self._problem

    def turn_on(self) -> None:
        """Look at the screen for turns from now on."""
        self._switch(on=True)

    def turn_off(self) -> None:
        """Stop looking: forget what was seen and call off every look in progress (a glance
        or a turn's: that turn goes on without sight)."""
        self._switch(on=False)

    def service_status(self) -> ServiceStatus:
        """The eyes' line in the status pane: off, active (with the model) or the problem."""
        if not self._on:
            return ServiceStatus("eyes", "off", "screen capture is off")
        if self._problem is not None:
            return ServiceStatus("eyes", "error", self._problem.removeprefix("eyes: "))
        return ServiceStatus("eyes", "active", f"ON, capturing the screen · {self.model.label}")

    # -- looking ------------------------------------------------------------------------------

    async def look(self) -> Sight:
        """Describe the screen now, or reuse the last description if it has not changed.

        Raises ScreenUnavailable (nothing to capture), DescriptionTimedOut (no answer within
        ``vision.timeout_s``) or DescriptionFailed / NoVisionModel (the model failed, or the
        look was called off). The outcome becomes the eyes' :attr:`problem`.
        """
        generation = self._generation
        try:
            sight = await self._look(generation)
        except VisionError as exc:
            self._note_problem(generation, exc.status)
            raise
        self._note_problem(generation, None)
        return sight

    async def describe_pictures(self, pictures: Sequence[bytes]) -> str:
        """What the JPEG ``pictures`` (sent with a message, not the screen) show, described by
        the same model within ``vision.timeout_s`` for them all. Raises VisionError."""
        timeout = self.settings.timeout_s
        limit = self.settings.max_description_chars

        async def describe_all() -> list[str]:
            return [
                await get_visual_description(jpeg, self.model, PICTURE_PROMPT, max_chars=limit)
                for jpeg in pictures
            ]

        try:
            async with asyncio.timeout(timeout):
                descriptions = await describe_all()
        except TimeoutError:
            raise DescriptionTimedOut(
                f"the vision model ({self.model.label}) did not describe the pictures within "
                f"{timeout:g} s"
            ) from None
        if len(descriptions) == 1:
            return descriptions[0]
        return "\n".join(f"Picture {i}: {text}" for i, text in enumerate(descriptions, start=1))

    def glance(self) -> None:
        """Start looking now, ahead of a turn (the user began typing with the eyes on).

        The turn's own look then finds the same screen already described, or being described,
        and waits only for what is left of the model's answer. Does nothing with the eyes off.
        """
        if self._on:
            glance = asyncio.create_task(self._glance(), name="termmate-eyes-glance")
            self._glances.add(glance)
            glance.add_done_callback(self._glances.discard)

    def forget(self) -> None:
        """Drop what was seen (e.g. when the eyes are turned off) and stop any look under way."""
        self._generation += 1
        self._described = None
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.task.cancel()
        for glance in self._glances:
            glance.cancel()

    async def aclose(self) -> None:
        """Stop any look and model call and release the capture thread and X connection."""
        running = set(self._glances)
        if self._pending is not None:
            running.add(self._pending.task)
        self.forget()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        await self.capture.aclose()

    # -- internals ----------------------------------------------------------------------------

    async def _look(self, generation: int) -> Sight:
        started = time.perf_counter()
        timeout = self.settings.timeout_s
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                frame = await self.capture.grab()
        except TimeoutError:
            raise ScreenUnavailable(f"the screen did not answer within {timeout:g} s") from None

        if generation != self._generation:
            raise DescriptionFailed("the eyes were turned off during the look")
        known = self._described
        change = 1.0 if known is None else frame.signature.change_from(known.signature)
        if known is not None and change <= self.settings.change_threshold:
            total = (time.perf_counter() - started) * 1000
            return self._sight(known, reused=True, change=change, frame=frame, total_ms=total)

        task = self._describe_task(frame)
        try:
            async with asyncio.timeout_at(deadline):
                described = await asyncio.shield(task)
        except TimeoutError:
            raise DescriptionTimedOut(
                f"the vision model ({self.model.label}) did not answer within {timeout:g} s"
            ) from None
        except asyncio.CancelledError:
            # The model call this look waited for was called off, not this look: it fails
            # like any look that could not see, and the turn waiting on it goes on.
            if not task.cancelled() or _being_cancelled():
                raise
            if generation != self._generation:
                raise DescriptionFailed("the eyes were turned off during the look") from None
            raise DescriptionFailed("the screen changed before it was described") from None
        total = (time.perf_counter() - started) * 1000
        return self._sight(described, reused=False, change=change, frame=frame, total_ms=total)

    async def _glance(self) -> None:
        try:
            await self.look()
        except VisionError as exc:
            log.debug("glance: %s", exc.reason)  # the status shows it; so does the turn's look

    def _switch(self, *, on: bool) -> None:
        if on == self._on:
            return
        self._on = on
        self._problem = None  # a problem belongs to the looks before the switch
        if not on:
            self.forget()
        self._status_changed()

    def _note_problem(self, generation: int, problem: str | None) -> None:
        # A look begun before forget() (the eyes turned off) says nothing about them now.
        if generation == self._generation and problem != self._problem:
            self._problem = problem
            self._status_changed()

    def _status_changed(self) -> None:
        if self.on_status is not None:
            try:
                self.on_status(self.service_status())
            except Exception:
                log.exception("eyes status listener failed")

    def _describe_task(self, frame: Frame) -> asyncio.Task[_Described]:
        pending = self._pending
        if pending is not None and not pending.task.done():
            if frame.signature.change_from(pending.signature) <= self.settings.change_threshold:
                return pending.task  # this screen is being described already
            pending.task.cancel()  # that screen is gone; its description would be stale
        task = asyncio.create_task(self._describe(frame), name="termmate-eyes-describe")
        task.add_done_callback(_retrieve_failure)
        self._pending = _Pending(frame.signature, task)
        return task

    async def _describe(self, frame: Frame) -> _Described:
        generation = self._generation
        snapshot = await self.capture.encode(frame)
        if generation != self._generation:
            raise DescriptionFailed("the eyes were turned off during the look")
        started = time.perf_counter()
        description = await get_visual_description(
            snapshot.jpeg,
            self.model,
            self.prompt,
            max_chars=self.settings.max_description_chars,
        )
        described = _Described(
            frame.signature,
            description,
            self.model.label,
            frame.width,
            frame.height,
            snapshot.encode_ms,
            (time.perf_counter() - started) * 1000,
        )
        if generation == self._generation:
            self._described = described  # else forgotten meanwhile: do not remember it
        return described

    @staticmethod
    def _sight(
        described: _Described, *, reused: bool, change: float, frame: Frame, total_ms: float
    ) -> Sight:
        timings = SightTimings(
            capture_ms=frame.capture_ms,
            encode_ms=0.0 if reused else described.encode_ms,
            describe_ms=0.0 if reused else described.describe_ms,
            total_ms=total_ms,
        )
        return Sight(
            described.description,
            described.width,
            described.height,
            described.model,
            reused,
            change,
            timings,
        )


def _being_cancelled() -> bool:
    """Whether the running task itself has been asked to stop."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _retrieve_failure(task: asyncio.Task[Any]) -> None:
    # A description nobody waits for any more (the turn timed out) may still fail: log it
    # rather than let asyncio complain that the exception was never retrieved.
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.info("screen description failed: %s", exc)
