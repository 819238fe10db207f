"""The player's PortAudio side: one output stream at a time, driven from a thread of its own.

Every PortAudio call that can block — probing devices, opening, starting, aborting, closing —
runs on the output's thread ("termmate-audio"), so the Player's play(), stop() and muting
return at once. The thread does what the shared ``PlaybackState`` asks for (clips to play, a
stop, an open or close someone waits for), one PortAudio call at a time.

PortAudio's ALSA back end may hang instead of failing (a sink that vanished makes
Pa_StartStream deadlock): a call that takes longer than ``timeout_s`` gives the output up as
hung, thread and all, and fails the clips waiting for it; the next clip opens a new output.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._clips import PlaybackState, call_listener, end_clips, resample_to
from .device import import_sounddevice, quiet_alsa
from .errors import VoiceOff

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Waiter:
    """A caller of open() or close(), waiting (off the event loop) for the output's thread."""

    done: threading.Event = field(default_factory=threading.Event)
    error: VoiceOff | None = None

    def resolve(self, error: VoiceOff | None = None) -> None:
        self.error = error
        self.done.set()


@dataclass(eq=False)
class Output:
    """One stream and the thread that drives it; abandoned, thread and all, when it hangs."""

    stream: Any = None
    started: bool = False  # start() was called and no abort() since
    opening: list[Waiter] = field(default_factory=list)
    closing: list[Waiter] = field(default_factory=list)
    abandoned: bool = False
    operation: int = 0  # counts PortAudio calls, so a watchdog knows when its call is over
    thread: threading.Thread | None = None


class _Hung(Exception):
    """The output was abandoned while this thread was stuck in PortAudio."""


class OutputDriver:
    """Opens, starts, stops and closes the player's outputs, and watches each PortAudio call."""

    def __init__(
        self,
        state: PlaybackState,
        *,
        device: str | int | None,
        latency: float,
        timeout_s: float,
    ) -> None:
        self.state = state
        self.device = device
        self.latency = latency
        self.timeout_s = timeout_s
        self._wanted_rate = state.sample_rate
        self._sd: Any = None

    def running(self) -> Output:
        """The current output, with its thread started (call with the lock held)."""
        state = self.state
        if state.output is None:
            output = Output()
            output.thread = threading.Thread(
                target=self._serve, args=(output,), name="termmate-audio", daemon=True
            )
            state.output = output
            output.thread.start()
        return state.output

    # -- the output's thread ------------------------------------------------------------------

    def _serve(self, output: Output) -> None:
        """Do what play(), stop(), open() and close() asked for, one PortAudio call at a time."""
        try:
            while self._next_step(output):
                pass
        except _Hung:
            self._tidy_abandoned(output)
        except Exception as exc:  # a bug must cost the sound, never hang a reply
            log.exception("the audio output's thread failed")
            with self.state.lock:
                if self.state.output is output:
                    self.state.output = None
            self._fail(output, VoiceOff(f"the audio output failed: {exc}"))
            self._tidy_abandoned(output)

    def _next_step(self, output: Output) -> bool:
        state = self.state
        with state.lock:
            while not self._has_work(output):
                if output.abandoned:
                    return False
                if output.stream is None:  # nothing open and nothing asked: retire
                    if state.output is output:
                        state.output = None
                    return False
                state.lock.wait()
            if output.abandoned:
                return False
            closing = bool(output.closing)
            silence = state.silenced
            wanted = bool(state.clips)
            opening = bool(output.opening)
            restart, state.restart = state.restart, False
        if closing:
            self._shut(output)
            return False
        if silence:
            self._abort(output)
        if (opening or wanted) and output.stream is None:
            self._open(output)
        elif opening:  # already open (asked twice)
            self._resolve_opening(output)
        if wanted and output.stream is not None and (restart or not output.started):
            self._start(output)
        return True

    def _has_work(self, output: Output) -> bool:
        state = self.state
        return bool(
            output.abandoned
            or output.closing
            or output.opening
            or state.silenced
            or (state.clips and (output.stream is None or state.restart or not output.started))
        )

    def _open(self, output: Output) -> None:
        try:
            with self._watch(output, "opening"):
                stream, rate = self._new_stream(output)
                output.stream = stream  # (a watchdog that fired meanwhile tidies it away)
        except VoiceOff as exc:
            self._fail(output, exc)
            return
        with self.state.lock:
            self.state.sample_rate = rate
            stale = self.state.at_other_rate(rate)
        resample_to(stale, rate)
        self._resolve_opening(output)

    def _resolve_opening(self, output: Output) -> None:
        with self.state.lock:
            waiters, output.opening = output.opening, []
        for waiter in waiters:
            waiter.resolve()

    def _start(self, output: Output) -> None:
        with self.state.lock:
            was_started, output.started = output.started, True
        try:
            with self._watch(output, "starting"):
                if was_started:
                    output.stream.abort()  # it was winding down after silence
                output.stream.start()
        except self._sd.PortAudioError as exc:
            with self.state.lock:
                output.started = False
            self._fail(output, VoiceOff(f"cannot start the audio output: {exc}"))
            self._release(output)

    def _abort(self, output: Output) -> None:
        if output.stream is not None:
            # A failing abort means the stream is gone anyway; the next start tells.
            with self._watch(output, "stopping"), contextlib.suppress(self._sd.PortAudioError):
                output.stream.abort()
        with self.state.lock:
            output.started = False
            self.state.silenced = False

    def _release(self, output: Output) -> None:
        """Close a broken stream, so the next clip opens a fresh one."""
        stream, output.stream = output.stream, None
        if stream is not None:
            with self._watch(output, "closing"), contextlib.suppress(self._sd.PortAudioError):
                stream.close()

    def _shut(self, output: Output) -> None:
        if output.started:
            self._abort(output)
        self._release(output)
        state = self.state
        with state.lock:
            waiters = output.opening + output.closing
            output.opening, output.closing = [], []
            if state.output is output:
                state.output = None
                if state.clips:  # played while closing: that clip gets a new output
                    self.running()
        for waiter in waiters:
            waiter.resolve()

    def _new_stream(self, output: Output) -> tuple[Any, int]:
        """A stream on the device, at the rate asked for or the device's own, mono if it can
        (samples go out mono either way: the callback copies them to every channel)."""
        sd = import_sounddevice(VoiceOff)
        self._sd = sd
        try:
            info = sd.query_devices(self.device, kind="output")
        except (ValueError, sd.PortAudioError) as exc:
            raise VoiceOff(self._no_device(exc)) from None
        rates = [self._wanted_rate]
        default_rate = int(info.get("default_samplerate") or 0)
        if default_rate and default_rate != self._wanted_rate:
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
                            callback=lambda *args, _output=output: self._fill(_output, *args),
                        )
                except (sd.PortAudioError, ValueError) as exc:
                    last_error = exc
                    continue
                return stream, rate
        raise VoiceOff(f"cannot open the audio output '{info.get('name')}': {last_error}")

    def _no_device(self, exc: Exception) -> str:
        if self.device is None:
            return f"no audio output device ({exc})"
        return (
            f"audio output device '{self.device}' not found ({exc}); "
            "set [audio] output_device to a name or index from `python -m sounddevice`"
        )

    # -- failures -----------------------------------------------------------------------------

    def _fail(self, output: Output, error: VoiceOff) -> None:
        """Nothing queued can play: end every clip (saying why) and answer open()."""
        with self.state.lock:
            failed = self.state.take_all()
            waiters, output.opening = output.opening, []
        for waiter in waiters:
            waiter.resolve(error)
        end_clips(failed, error)

    @contextlib.contextmanager
    def _watch(self, output: Output, doing: str) -> Iterator[None]:
        """Give the output up as hung if the PortAudio call inside takes over ``timeout_s``."""
        with self.state.lock:
            output.operation += 1
            ticket = output.operation
        watchdog = threading.Timer(self.timeout_s, self._hung, (output, ticket, doing))
        watchdog.daemon = True
        watchdog.start()
        try:
            yield
        finally:
            watchdog.cancel()
            with self.state.lock:
                output.operation += 1
                abandoned = output.abandoned
            if abandoned:
                raise _Hung

    def _hung(self, output: Output, ticket: int, doing: str) -> None:
        """The watchdog: PortAudio has not come back. Leave its thread stuck; fail the clips."""
        state = self.state
        with state.lock:
            if output.abandoned or output.operation != ticket:
                return  # the call came back just in time
            output.abandoned = True
            if state.output is output:
                state.output = None
            failed = state.take_all()
            state.finishing = state.restart = state.silenced = False
            opening, output.opening = output.opening, []
            closing, output.closing = output.closing, []
        error = VoiceOff(
            f"the audio output stopped responding ({doing} it took over {self.timeout_s:g} s); "
            "is the sound server running?"
        )
        log.warning("%s", error.reason)
        for waiter in opening:
            waiter.resolve(error)
        for waiter in closing:
            waiter.resolve()  # nothing more to close: it is given up
        end_clips(failed, error)

    def _tidy_abandoned(self, output: Output) -> None:
        """The stuck call came back after all: release what it left behind, quietly."""
        stream, output.stream = output.stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.abort()
                stream.close()

    # -- the audio callback -------------------------------------------------------------------

    def _fill(
        self, output: Output, outdata: np.ndarray, frames: int, _time: Any, _status: Any
    ) -> None:
        """PortAudio's callback: copy queued samples out, report starts and ends."""
        buffer = np.zeros(frames, dtype=np.float32)
        with self.state.lock:
            started, ended, finish = self.state.fill(output, buffer)
        if self.state.muted:
            buffer[:] = 0.0
        outdata[:] = buffer[:, None]
        for callback in started:
            call_listener(callback)
        for callback in ended:
            call_listener(callback, True)
        if finish:
            raise self._sd.CallbackStop
