"""The player's clip bookkeeping: what waits to play, how far each clip got, whom to tell.

Three parties share this state: callers of the Player (on the event loop or any thread), the
player's own thread (which drives PortAudio, see ``_output.py``) and PortAudio's callback,
which copies samples out in real time. They share it under one lock, held only briefly and
never across a PortAudio call.

Every clip ends exactly once: ``on_end(True)`` when it played to its end, ``on_end(False)``
when it was dropped or could not play (then ``on_error`` got the reason first).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import VoiceOff
from .pcm import resample

if TYPE_CHECKING:
    from ._output import Output

log = logging.getLogger(__name__)

StartCallback = Callable[[], None]
EndCallback = Callable[[bool], None]
"""Called with True when the clip played to its end, False when it was dropped or failed."""
ErrorCallback = Callable[[VoiceOff], None]
"""Called, before ``on_end(False)``, when the clip cannot play because the output failed."""


@dataclass(eq=False)
class QueuedClip:
    """A clip waiting to play (or playing), at the output's rate, and its listeners."""

    samples: np.ndarray
    rate: int
    on_start: StartCallback | None
    on_end: EndCallback | None
    on_error: ErrorCallback | None
    position: int = field(default=0)

    @property
    def seconds_left(self) -> float:
        return (len(self.samples) - self.position) / self.rate


@dataclass(eq=False)
class PlaybackState:
    """What the player's callers, its thread and the audio callback share. Hold ``lock`` to
    read or change any of it."""

    sample_rate: int
    """The stream's rate (the device's own when it refuses the one asked for)."""
    idle_stop_s: float
    """Silence after which the stream stops itself."""
    lock: threading.Condition = field(default_factory=lambda: threading.Condition(threading.Lock()))
    clips: deque[QueuedClip] = field(default_factory=deque)
    output: Output | None = None
    """The output now in use (None: none; the next clip or open() starts one)."""
    muted: bool = False
    idle_frames: int = 0
    finishing: bool = False
    """The callback asked the stream to stop after ``idle_stop_s`` of silence…"""
    restart: bool = False
    """…and a clip came after: start it again."""
    silenced: bool = False
    """stop() was called: play nothing until the stream is aborted."""

    def enqueue(self, clip: QueuedClip) -> None:
        """Queue ``clip`` after the others (lock held)."""
        self.clips.append(clip)
        self.idle_frames = 0
        if self.finishing:
            self.finishing, self.restart = False, True

    def take_all(self) -> list[QueuedClip]:
        """Empty the queue (lock held); the caller ends the clips it got, outside the lock."""
        taken = list(self.clips)
        self.clips.clear()
        return taken

    def at_other_rate(self, rate: int) -> list[QueuedClip]:
        """The clips queued at another rate than ``rate`` (lock held): resample them with
        ``resample_to`` once the lock is released."""
        return [clip for clip in self.clips if clip.rate != rate]

    def fill(
        self, output: Output, buffer: np.ndarray
    ) -> tuple[list[StartCallback], list[EndCallback], bool]:
        """Copy queued samples into ``buffer`` for ``output`` (lock held): returns the clips'
        start and end listeners to call (outside the lock) and whether the output has been idle
        long enough to stop."""
        started: list[StartCallback] = []
        ended: list[EndCallback] = []
        if output is not self.output or self.silenced:
            return started, ended, False
        frames = len(buffer)
        filled = 0
        while filled < frames and self.clips:
            clip = self.clips[0]
            if clip.position == 0 and clip.on_start is not None:
                started.append(clip.on_start)
            take = min(frames - filled, len(clip.samples) - clip.position)
            buffer[filled : filled + take] = clip.samples[clip.position : clip.position + take]
            clip.position += take
            filled += take
            if clip.position >= len(clip.samples):
                self.clips.popleft()
                if clip.on_end is not None:
                    ended.append(clip.on_end)
        self.idle_frames = self.idle_frames + frames if filled == 0 else 0
        finish = self.idle_frames >= self.idle_stop_s * self.sample_rate
        if finish:
            self.finishing = True
        return started, ended, finish


def resample_to(clips: list[QueuedClip], rate: int) -> None:
    """Bring clips queued before the stream said its rate to that rate (nothing plays them
    yet, so this runs outside the lock)."""
    for clip in clips:
        clip.samples = resample(clip.samples[clip.position :], clip.rate, rate)
        clip.rate, clip.position = rate, 0


def end_clips(clips: list[QueuedClip], error: VoiceOff | None = None) -> None:
    """End ``clips`` unplayed: ``on_error(error)`` first when the output failed, then
    ``on_end(False)``."""
    for clip in clips:
        if error is not None and clip.on_error:
            call_listener(clip.on_error, error)
        if clip.on_end:
            call_listener(clip.on_end, False)


def call_listener(callback: Callable[..., None], *args: object) -> None:
    """A listener's mistake must not kill the audio stream."""
    try:
        callback(*args)
    except Exception:
        log.exception("playback callback failed")
