"""Plays clips one after another through a sounddevice output stream, and stops on the spot.

The stream pulls samples in a callback (PortAudio's thread) from a queue that play() fills.
Every PortAudio call that can block runs on the player's own thread (``_output.py``), so
play(), stop() and muting return at once and are safe on an event loop. stop() empties the
queue and silences the callback immediately; the player's thread then aborts the stream, which
drops what the device had buffered too. The stream starts with the first clip and lets itself
stop after ``idle_stop_s`` of silence, so an idle companion holds no running audio stream.

Every clip handed to play() ends exactly once: ``on_end(True)`` when it played to its end,
``on_end(False)`` when stop() dropped it or it could not play (then ``on_error`` got the
VoiceOff first). An output that hangs for longer than ``timeout_s`` is given up and fails
the clips waiting for it; the next clip opens a new one.
"""

from __future__ import annotations

import threading

import numpy as np

from ._clips import (
    EndCallback,
    ErrorCallback,
    PlaybackState,
    QueuedClip,
    StartCallback,
    call_listener,
    end_clips,
)
from ._output import OutputDriver, Waiter
from .device import parse_device
from .errors import VoiceOff
from .pcm import Clip, resample

__all__ = ["EndCallback", "ErrorCallback", "Player", "StartCallback"]


class Player:
    """One audio output. Thread-safe; play(), stop(), muted and busy never wait for PortAudio.

    open() and close() do wait for it: call them off the event loop. Callbacks run on the
    audio or the player's thread and must be quick.
    """

    def __init__(
        self,
        *,
        device: str | int | None = None,
        sample_rate: int = 44100,
        latency: float = 0.1,
        idle_stop_s: float = 3.0,
        timeout_s: float = 5.0,
    ) -> None:
        """``timeout_s``: how long opening, starting or stopping the output may take before
        it counts as hung."""
        self._state = PlaybackState(sample_rate=sample_rate, idle_stop_s=idle_stop_s)
        self._driver = OutputDriver(
            self._state, device=parse_device(device), latency=latency, timeout_s=timeout_s
        )

    # -- state --------------------------------------------------------------------------------

    @property
    def device(self) -> str | int | None:
        """The output device asked for (None: the system's default)."""
        return self._driver.device

    @property
    def sample_rate(self) -> int:
        """The stream's rate (the device's own when it refuses the one asked for)."""
        return self._state.sample_rate

    @property
    def muted(self) -> bool:
        return self._state.muted

    @muted.setter
    def muted(self, value: bool) -> None:
        """Muted, clips keep playing silently: unmuting resumes where the speech has got to."""
        self._state.muted = value

    @property
    def busy(self) -> bool:
        """Whether clips are waiting or playing."""
        with self._state.lock:
            return bool(self._state.clips)

    @property
    def streaming(self) -> bool:
        """Whether an output stream is running (it stops itself after ``idle_stop_s``)."""
        with self._state.lock:
            output = self._state.output
            stream = output.stream if output is not None else None
        return stream is not None and bool(stream.active)

    @property
    def queued_seconds(self) -> float:
        with self._state.lock:
            return sum(clip.seconds_left for clip in self._state.clips)

    # -- control ------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the output stream (not started). Raises VoiceOff saying why sound is off.

        Waits for the player's thread, up to about ``timeout_s``: call it off the event loop.
        """
        waiter = Waiter()
        with self._state.lock:
            output = self._driver.running()
            if output.stream is not None:
                return
            output.opening.append(waiter)
            self._state.lock.notify_all()
        waiter.done.wait()
        if waiter.error is not None:
            raise VoiceOff(waiter.error.reason)

    def play(
        self,
        clip: Clip,
        *,
        on_start: StartCallback | None = None,
        on_end: EndCallback | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        """Queue ``clip`` after what is already queued; returns at once. The player's thread
        opens and starts the output as needed; if that fails, ``on_error`` says why."""
        state = self._state
        while True:
            rate = state.sample_rate
            samples = resample(clip.samples, clip.sample_rate, rate).astype(np.float32, copy=False)
            if len(samples) == 0:
                if on_start:
                    call_listener(on_start)
                if on_end:
                    call_listener(on_end, True)
                return
            with state.lock:
                if rate != state.sample_rate:
                    continue  # the output opened at another rate meanwhile
                state.enqueue(QueuedClip(samples, rate, on_start, on_end, on_error))
                self._driver.running()
                state.lock.notify_all()
                return

    def stop(self) -> None:
        """Silence now: drop everything queued; the player's thread then aborts the stream,
        dropping what the device has buffered too. Returns at once."""
        state = self._state
        with state.lock:
            dropped = state.take_all()
            state.finishing = state.restart = False
            output = state.output
            if output is not None and output.started:
                state.silenced = True
                state.lock.notify_all()
        end_clips(dropped)

    def close(self) -> None:
        """Stop and release the device. Waits for the player's thread: call it off the loop."""
        self.stop()
        waiter = Waiter()
        with self._state.lock:
            output = self._state.output
            if output is None:
                return
            output.closing.append(waiter)
            self._state.lock.notify_all()
        waiter.done.wait()
        if output.thread is not None and output.thread is not threading.current_thread():
            output.thread.join(timeout=1.0)
