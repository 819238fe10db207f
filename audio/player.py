"""Plays clips one after another through a sounddevice output stream, and stops on the spot.

The stream pulls samples in a callback (PortAudio's thread) from a queue that play() fills.
Every PortAudio call that can block — probing devices, opening, starting, aborting, closing
— runs on the player's own thread ("termmate-audio"), so play(), stop() and muting return at
once and are safe on an event loop. stop() empties the queue and silences the callback
immediately; the player's thread then aborts the stream, which drops what the device had
buffered too. The stream starts with the first clip and lets itself stop after
``idle_stop_s`` of silence, so an idle companion holds no running audio stream.

Every clip handed to play() ends exactly once: ``on_end(True)`` when it played to its end,
``on_end(False)`` when stop() dropped it or it could not play (then ``on_error`` got the
VoiceOff first). PortAudio's ALSA back end may hang instead of failing (a sink that vanished
makes Pa_StartStream deadlock): an operation that takes longer than ``timeout_s`` gives the
stream up as hung and fails the clips waiting for it; the next clip opens a new stream.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .device import import_sounddevice, parse_device, quiet_alsa
from .errors import VoiceOff
from .pcm import Clip, resample

log = logging.getLogger(__name__)

StartCallback = Callable[[], None]
EndCallback = Callable[[bool], None]
"""Called with True when the clip played to its end, False when it was dropped or failed."""
ErrorCallback = Callable[[VoiceOff], None]
"""Called, before ``on_end(False)``, when the clip cannot play because the output failed."""


@dataclass(eq=False)
class _Queued:
    samples: np.ndarray
    rate: int
    on_start: StartCallback | None
    on_end: EndCallback | None
    on_error: ErrorCallback | None
    position: int = field(default=0)


@dataclass(eq=False)
class _Waiter:
    """A caller of open() or close(), waiting (off the event loop) for the player's thread."""

    done: threading.Event = field(default_factory=threading.Event)
    error: VoiceOff | None = None

    def resolve(self, error: VoiceOff | None = None) -> None:
        self.error = error
        self.done.set()


@dataclass(eq=False)
class _Output:
    """One stream and the thread that drives it; abandoned, thread and all, when it hangs."""

    stream: Any = None
    started: bool = False  # start() was called and no abort() since
    opening: list[_Waiter] = field(default_factory=list)
    closing: list[_Waiter] = field(default_factory=list)
    abandoned: bool = False
    operation: int = 0  # counts PortAudio calls, so a watchdog knows when its call is over
    thread: threading.Thread | None = None


class _Hung(Exception):
    """The output was abandoned while this thread was stuck in PortAudio."""


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
        self.device = parse_device(device)
        self.sample_rate = sample_rate
        """The stream's rate (the device's own when it refuses the one asked for)."""
        self.latency = latency
        self.idle_stop_s = idle_stop_s
        self.timeout_s = timeout_s
        """How long opening, starting or stopping the output may take before it counts as
        hung."""
        self._wanted_rate = sample_rate
        self._queue: deque[_Queued] = deque()
        # Guards everything below; the audio callback takes it too, so hold it only briefly
        # and never across a PortAudio call.
        self._lock = threading.Condition(threading.Lock())
        self._output: _Output | None = None
        self._sd: Any = None
        self._channels = 1
        self._muted = False
        self._idle_frames = 0
        self._finishing = False  # the callback asked the stream to stop when idle
        self._restart = False  # ... and a clip came after: start it again
        self._silenced = False  # stop() was called: play nothing until the stream is aborted

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
    def streaming(self) -> bool:
        """Whether an output stream is running (it stops itself after ``idle_stop_s``)."""
        with self._lock:
            output = self._output
            stream = output.stream if output is not None else None
        return stream is not None and bool(stream.active)

    @property
    def queued_seconds(self) -> float:
        with self._lock:
            return sum((len(item.samples) - item.position) / item.rate for item in self._queue)

    # -- control ------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the output stream (not started). Raises VoiceOff saying why sound is off.

        Waits for the player's thread, up to about ``timeout_s``: call it off the event loop.
        """
        waiter = _Waiter()
        with self._lock:
            output = self._running_output()
            if output.stream is not None:
                return
            output.opening.append(waiter)
            self._lock.notify_all()
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
        while True:
            rate = self.sample_rate
            samples = resample(clip.samples, clip.sample_rate, rate).astype(np.float32, copy=False)
            if len(samples) == 0:
                if on_start:
                    _run(on_start)
                if on_end:
                    _run(on_end, True)
                return
            with self._lock:
                if rate != self.sample_rate:
                    continue  # the output opened at another rate meanwhile
                self._queue.append(_Queued(samples, rate, on_start, on_end, on_error))
                self._idle_frames = 0
                if self._finishing:
                    self._finishing, self._restart = False, True
                self._running_output()
                self._lock.notify_all()
                return

    def stop(self) -> None:
        """Silence now: drop everything queued; the player's thread then aborts the stream,
        dropping what the device has buffered too. Returns at once."""
        with self._lock:
            dropped = list(self._queue)
            self._queue.clear()
            self._finishing = self._restart = False
            output = self._output
            if output is not None and output.started:
                self._silenced = True
                self._lock.notify_all()
        for item in dropped:
            if item.on_end:
                _run(item.on_end, False)

    def close(self) -> None:
        """Stop and release the device. Waits for the player's thread: call it off the loop."""
        self.stop()
        waiter = _Waiter()
        with self._lock:
            output = self._output
            if output is None:
                return
            output.closing.append(waiter)
            self._lock.notify_all()
        waiter.done.wait()
        if output.thread is not None and output.thread is not threading.current_thread():
            output.thread.join(timeout=1.0)

    # -- the player's thread ------------------------------------------------------------------

    def _running_output(self) -> _Output:
        """The current output, with its thread started (call with the lock held)."""
        if self._output is None:
            output = _Output()
            output.thread = threading.Thread(
                target=self._serve, args=(output,), name="termmate-audio", daemon=True
            )
            self._output = output
            output.thread.start()
        return self._output

    def _serve(self, output: _Output) -> None:
        """Do what play(), stop(), open() and close() asked for, one PortAudio call at a time."""
        try:
            while self._next_step(output):
                pass
        except _Hung:
            self._tidy_abandoned(output)
        except Exception as exc:  # a bug must cost the sound, never hang a reply
            log.exception("the audio output's thread failed")
            with self._lock:
                if self._output is output:
                    self._output = None
            self._fail(output, VoiceOff(f"the audio output failed: {exc}"))
            self._tidy_abandoned(output)

    def _next_step(self, output: _Output) -> bool:
        with self._lock:
            while not self._has_work(output):
                if output.abandoned:
                    return False
                if output.stream is None:  # nothing open and nothing asked: retire
                    if self._output is output:
                        self._output = None
                    return False
                self._lock.wait()
            if output.abandoned:
                return False
            closing = bool(output.closing)
            silence = self._silenced
            wanted = bool(self._queue)
            opening = bool(output.opening)
            restart, self._restart = self._restart, False
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

    def _has_work(self, output: _Output) -> bool:
        return bool(
            output.abandoned
            or output.closing
            or output.opening
            or self._silenced
            or (self._queue and (output.stream is None or self._restart or not output.started))
        )

    def _open(self, output: _Output) -> None:
        try:
            with self._watch(output, "opening"):
                stream, rate, channels = self._new_stream(output)
                output.stream = stream  # (a watchdog that fired meanwhile tidies it away)
        except VoiceOff as exc:
            self._fail(output, exc)
            return
        with self._lock:
            self.sample_rate, self._channels = rate, channels
            stale = [item for item in self._queue if item.rate != rate]
        for item in stale:  # queued before the stream said its rate; nothing plays them yet
            item.samples = resample(item.samples[item.position :], item.rate, rate)
            item.rate, item.position = rate, 0
        self._resolve_opening(output)

    def _resolve_opening(self, output: _Output) -> None:
        with self._lock:
            waiters, output.opening = output.opening, []
        for waiter in waiters:
            waiter.resolve()

    def _start(self, output: _Output) -> None:
        with self._lock:
            was_started, output.started = output.started, True
        try:
            with self._watch(output, "starting"):
                if was_started:
                    output.stream.abort()  # it was winding down after silence
                output.stream.start()
        except self._sd.PortAudioError as exc:
            with self._lock:
                output.started = False
            self._fail(output, VoiceOff(f"cannot start the audio output: {exc}"))
            self._release(output)

    def _abort(self, output: _Output) -> None:
        if output.stream is not None:
            # A failing abort means the stream is gone anyway; the next start tells.
            with self._watch(output, "stopping"), contextlib.suppress(self._sd.PortAudioError):
                output.stream.abort()
        with self._lock:
            output.started = False
            self._silenced = False

    def _release(self, output: _Output) -> None:
        """Close a broken stream, so the next clip opens a fresh one."""
        stream, output.stream = output.stream, None
        if stream is not None:
            with self._watch(output, "closing"), contextlib.suppress(self._sd.PortAudioError):
                stream.close()

    def _shut(self, output: _Output) -> None:
        if output.started:
            self._abort(output)
        self._release(output)
        with self._lock:
            waiters = output.opening + output.closing
            output.opening, output.closing = [], []
            if self._output is output:
                self._output = None
                if self._queue:  # played while closing: that clip gets a new output
                    self._running_output()
        for waiter in waiters:
            waiter.resolve()

    def _new_stream(self, output: _Output) -> tuple[Any, int, int]:
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
                return stream, rate, channels
        raise VoiceOff(f"cannot open the audio output '{info.get('name')}': {last_error}")

    # -- failures -----------------------------------------------------------------------------

    def _fail(self, output: _Output, error: VoiceOff) -> None:
        """Nothing queued can play: end every clip (saying why) and answer open()."""
        with self._lock:
            failed = list(self._queue)
            self._queue.clear()
            waiters, output.opening = output.opening, []
        for waiter in waiters:
            waiter.resolve(error)
        _fail_clips(failed, error)

    @contextlib.contextmanager
    def _watch(self, output: _Output, doing: str) -> Iterator[None]:
        """Give the output up as hung if the PortAudio call inside takes over ``timeout_s``."""
        with self._lock:
            output.operation += 1
            ticket = output.operation
        watchdog = threading.Timer(self.timeout_s, self._hung, (output, ticket, doing))
        watchdog.daemon = True
        watchdog.start()
        try:
            yield
        finally:
            watchdog.cancel()
            with self._lock:
                output.operation += 1
                abandoned = output.abandoned
            if abandoned:
                raise _Hung

    def _hung(self, output: _Output, ticket: int, doing: str) -> None:
        """The watchdog: PortAudio has not come back. Leave its thread stuck; fail the clips."""
        with self._lock:
            if output.abandoned or output.operation != ticket:
                return  # the call came back just in time
            output.abandoned = True
            if self._output is output:
                self._output = None
            failed = list(self._queue)
            self._queue.clear()
            self._finishing = self._restart = self._silenced = False
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
        _fail_clips(failed, error)

    def _tidy_abandoned(self, output: _Output) -> None:
        """The stuck call came back after all: release what it left behind, quietly."""
        stream, output.stream = output.stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.abort()
                stream.close()

    # -- the audio callback -------------------------------------------------------------------

    def _fill(
        self, output: _Output, outdata: np.ndarray, frames: int, _time: Any, _st: Any
    ) -> None:
        """PortAudio's callback: copy queued samples out, report starts and ends."""
        buffer = np.zeros(frames, dtype=np.float32)
        started: list[StartCallback] = []
        ended: list[EndCallback] = []
        finish = False
        with self._lock:
            if output is self._output and not self._silenced:
                filled = 0
                while filled < frames and self._queue:
                    item = self._queue[0]
                    if item.position == 0 and item.on_start is not None:
                        started.append(item.on_start)
                    take = min(frames - filled, len(item.samples) - item.position)
                    chunk = item.samples[item.position : item.position + take]
                    buffer[filled : filled + take] = chunk
                    item.position += take
                    filled += take
                    if item.position >= len(item.samples):
                        self._queue.popleft()
                        if item.on_end is not None:
                            ended.append(item.on_end)
                self._idle_frames = self._idle_frames + frames if filled == 0 else 0
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


def _fail_clips(clips: list[_Queued], error: VoiceOff) -> None:
    for item in clips:
        if item.on_error:
            _run(item.on_error, error)
        if item.on_end:
            _run(item.on_end, False)


def _run(callback: Callable[..., None], *args: object) -> None:
    """A listener's mistake must not kill the audio stream."""
    try:
        callback(*args)
    except Exception:
        log.exception("playback callback failed")
