"""Plays clips one after another through a sounddevice output stream, and stops on the spot.

The stream pulls samples in a callback (PortAudio's thread) from a queue the asyncio side
fills, so stopping is immediate: the queue is emptied and the stream aborted, which drops
what the device had buffered too. The stream starts with the first clip and lets itself
stop after ``idle_stop_s`` of silence, so an idle companion holds no audio stream open.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .device import import_sounddevice, parse_device, quiet_alsa
from .errors import VoiceOff
from .pcm import Clip, resample

log = logging.getLogger(__name__)

StartCallback = Callable[[], None]
EndCallback = Callable[[bool], None]
"""Called with True when the clip played to its end, False when stop() dropped it."""


@dataclass(eq=False)
class _Queued:
    samples: np.ndarray
    on_start: StartCallback | None
    on_end: EndCallback | None
    position: int = field(default=0)


class Player:
    """One audio output. Thread-safe; callbacks run on the audio thread and must be quick."""

    def __init__(
        self,
        *,
        device: str | int | None = None,
        sample_rate: int = 44100,
        latency: float = 0.1,
        idle_stop_s: float = 3.0,
    ) -> None:
        self.device = parse_device(device)
        self.sample_rate = sample_rate
        self.latency = latency
        self.idle_stop_s = idle_stop_s
        self._queue: deque[_Queued] = deque()
        self._lock = threading.Lock()  # the queue; taken by the audio callback
        self._control = threading.RLock()  # opening, starting, aborting the stream
        self._stream: Any = None
        self._sd: Any = None
        self._channels = 1
        self._muted = False
        self._idle_frames = 0
        self._finishing = False  # the callback asked the stream to stop when idle

    # -- state --------------------------------------------------------------------------------

    @property
    def muted(self) -> bool:
        return self._muted

    @muted.setter
    def muted(self, value: bool) -> None:
        """Muted, clips keep playing silently: unmuting resumes where the speech has got to."""
        self._muted = value

    @property
    def busy(self) -> bool:
        """Whether clips are waiting or playing."""
        with self._lock:
            return bool(self._queue)

    @property
    def queued_seconds(self) -> float:
        with self._lock:
            frames = sum(len(item.samples) - item.position for item in self._queue)
        return frames / self.sample_rate

    # -- control ------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the output stream (not started). Raises VoiceOff saying why sound is off."""
        with self._control:
            if self._stream is not None:
                return
            sd = import_sounddevice(VoiceOff)
            try:
                info = sd.query_devices(self.device, kind="output")
            except (ValueError, sd.PortAudioError) as exc:
                raise VoiceOff(self._no_device(exc)) from None
            rates = [self.sample_rate]
            default_rate = int(info.get("default_samplerate") or 0)
            if default_rate and default_rate != self.sample_rate:
                rates.append(default_rate)
            last_error: Exception | None = None
            for channels in (1, 2):
                for rate in rates:
                    try:
                        with quiet_alsa():
                            stream = sd.OutputStream(
                                device=self.device,
                                samplerate=rate,
                                channels=channels,
                                dtype="float32",
                                latency=self.latency,
                                callback=self._fill,
                            )
                    except (sd.PortAudioError, ValueError) as exc:
                        last_error = exc
                        continue
                    self._sd, self._stream = sd, stream
                    self.sample_rate, self._channels = rate, channels
                    return
            raise VoiceOff(f"cannot open the audio output '{info.get('name')}': {last_error}")

    def play(
        self,
        clip: Clip,
        *,
        on_start: StartCallback | None = None,
        on_end: EndCallback | None = None,
    ) -> None:
        """Queue ``clip`` after what is already queued. Raises VoiceOff if sound cannot play."""
        self.open()
        samples = resample(clip.samples, clip.sample_rate, self.sample_rate).astype(
            np.float32, copy=False
        )
        if len(samples) == 0:
            if on_start:
                on_start()
            if on_end:
                on_end(True)
            return
        with self._control:
            with self._lock:
                self._queue.append(_Queued(samples, on_start, on_end))
                self._idle_frames = 0
                restart, self._finishing = self._finishing, False
            stream = self._stream
            try:
                if restart and not stream.stopped:
                    stream.abort()  # it was winding down after silence; only silence is lost
                if stream.stopped:
                    stream.start()
            except self._sd.PortAudioError as exc:
                self._drop_all()
                raise VoiceOff(f"cannot start the audio output: {exc}") from None

    def stop(self) -> None:
        """Silence now: drop everything queued and what the device has buffered."""
        with self._control:
            dropped = self._drop_all()
            stream = self._stream
            if stream is not None and not stream.stopped:
                # A failing abort means the stream is gone anyway; play() starts it again.
                with contextlib.suppress(self._sd.PortAudioError):
                    stream.abort()
            with self._lock:
                self._finishing = False
        for item in dropped:
            if item.on_end:
                _run(item.on_end, False)

    def close(self) -> None:
        """Stop and release the device."""
        self.stop()
        with self._control:
            if self._stream is not None:
                self._stream.close()
                self._stream = None

    # -- internals ----------------------------------------------------------------------------

    def _drop_all(self) -> list[_Queued]:
        with self._lock:
            dropped = list(self._queue)
            self._queue.clear()
        return dropped

    def _fill(self, outdata: np.ndarray, frames: int, _time: Any, _status: Any) -> None:
        """PortAudio's callback: copy queued samples out, report starts and ends."""
        buffer = np.zeros(frames, dtype=np.float32)
        started: list[StartCallback] = []
        ended: list[EndCallback] = []
        filled = 0
        with self._lock:
            while filled < frames and self._queue:
                item = self._queue[0]
                if item.position == 0 and item.on_start is not None:
                    started.append(item.on_start)
                take = min(frames - filled, len(item.samples) - item.position)
                buffer[filled : filled + take] = item.samples[item.position : item.position + take]
                item.position += take
                filled += take
                if item.position >= len(item.samples):
                    self._queue.popleft()
                    if item.on_end is not None:
                        ended.append(item.on_end)
            if filled == 0:
                self._idle_frames += frames
            else:
                self._idle_frames = 0
            finish = self._idle_frames >= self.idle_stop_s * self.sample_rate
            if finish:
                self._finishing = True
        if self._muted:
            buffer[:] = 0.0
        outdata[:] = buffer[:, None]
        for callback in started:
            _run(callback)
        for callback in ended:
            _run(callback, True)
        if finish:
            raise self._sd.CallbackStop

    def _no_device(self, exc: Exception) -> str:
        if self.device is None:
            return f"no audio output device ({exc})"
        return (
            f"audio output device '{self.device}' not found ({exc}); "
            "set [audio] output_device to a name or index from `python -m sounddevice`"
        )


def _run(callback: Callable[..., None], *args: object) -> None:
    """A listener's mistake must not kill the audio stream."""
    try:
        callback(*args)
    except Exception:
        log.exception("playback callback failed")
