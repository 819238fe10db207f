"""Listening: the microphone and the voice activity detector together, in the two ways a user
talks to termmate.

- **Push-to-talk**: ``await listener.record_one(stop=event)`` opens the microphone, waits up to
  ``listen.start_timeout_s`` for speech, and returns the utterance when the user stops talking
  (``listen.end_silence_ms``), when ``stop`` is set, or at ``listen.max_utterance_s``; None
  when it heard nothing. The microphone is closed again before it returns.
- **Hands-free**: ``async with listener.hands_free() as heard: async for utterance in heard``
  yields utterance after utterance until closed. ``pause()`` while the companion speaks (it
  would hear itself): with ``barge_in``, speech still starts, and then
  ``on_speech_start(SpeechOnset(while_paused=True))`` is called at once so the front end can
  silence the voice, and listening resumes with that utterance; without, the microphone's
  audio is dropped until ``resume()``.

The microphone is open only while one of these runs; ``level`` (0..1) is its live loudness
for a meter. Audio is never written to disk unless ``listen.save_dir`` is set; each utterance
then also goes to a WAV file there. A missing microphone or PortAudio raises
MicrophoneUnavailable with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

import numpy as np

from config import ListenSettings, Settings, private_dir

from ._input import InputStream
from .vad import SpeechBegan, Utterance, UtteranceCutter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SpeechOnset:
    """The user started talking (hands-free): at ``at`` (``time.monotonic()``), and whether
    listening was paused then (the companion was speaking: a barge-in)."""

    at: float
    while_paused: bool


SpeechStartCallback = Callable[[SpeechOnset], None]


class Listener:
    """The microphone with a voice activity detector (see the module's docstring)."""

    def __init__(self, listen: ListenSettings, *, device: str | int | None = None) -> None:
        self.settings = listen
        self.device = device
        self._cutter: UtteranceCutter | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Listener:
        return cls(settings.listen, device=settings.audio.input_device)

    @property
    def level(self) -> float:
        """The microphone's loudness now, 0..1 (0 while it is closed)."""
        return self._cutter.level if self._cutter is not None else 0.0

    @property
    def listening(self) -> bool:
        """Whether the microphone is open."""
        return self._cutter is not None

    @property
    def hearing_speech(self) -> bool:
        """Whether someone is talking now (an utterance is under way)."""
        return self._cutter is not None and self._cutter.in_speech

    @property
    def ready(self) -> bool:
        """Whether the microphone is open and has heard the room's level (about 100 ms after
        it opened): from now on speech is detected."""
        return self._cutter is not None and self._cutter.vad.floor_db is not None

    async def record_one(self, *, stop: asyncio.Event | None = None) -> Utterance | None:
        """One utterance (push-to-talk), or None when no speech began within
        ``listen.start_timeout_s`` or before ``stop`` was set."""
        cutter = UtteranceCutter(self.settings)
        stop = stop or asyncio.Event()
        utterance: Utterance | None = None
        async with self._microphone(cutter) as microphone:
            # Counted from the moment it can hear: opening the stream takes a sound server a
            # second or more at times, and that time is not the user's to speak in.
            deadline = time.monotonic() + self.settings.start_timeout_s
            while utterance is None:
                if stop.is_set():
                    utterance = cutter.finish()
                    break
                if not cutter.in_speech and time.monotonic() > deadline:
                    break
                block = await _read_or_stop(microphone, stop)
                if block is None:
                    continue
                ended = [e for e in cutter.feed(block) if isinstance(e, Utterance)]
                utterance = ended[0] if ended else None
        return await self._saved(utterance) if utterance is not None else None

    def hands_free(
        self,
        *,
        barge_in: bool | None = None,
        on_speech_start: SpeechStartCallback | None = None,
    ) -> HandsFree:
        """Continuous listening (``barge_in`` None: ``listen.barge_in``)."""
        wanted = self.settings.barge_in if barge_in is None else barge_in
        return HandsFree(self, barge_in=wanted, on_speech_start=on_speech_start)

    @contextlib.asynccontextmanager
    async def _microphone(self, cutter: UtteranceCutter) -> AsyncIterator[InputStream]:
        async with InputStream(self.device) as microphone:
            self._cutter = cutter
            try:
                yield microphone
            finally:
                self._cutter = None

    async def _saved(self, utterance: Utterance) -> Utterance:
        """The utterance, also written to listen.save_dir when that is set."""
        folder = self.settings.save_dir
        if folder is None:
            return utterance
        path = folder.expanduser() / f"utterance-{datetime.now():%Y%m%d-%H%M%S-%f}.wav"
        try:
            await asyncio.to_thread(_write, path, utterance)
        except OSError as exc:
            log.warning("could not save the utterance to %s: %s", path, exc)
            return utterance
        return dataclasses.replace(utterance, saved_to=path)


class HandsFree:
    """Utterance after utterance from the open microphone; see ``Listener.hands_free``."""

    def __init__(
        self,
        listener: Listener,
        *,
        barge_in: bool,
        on_speech_start: SpeechStartCallback | None,
    ) -> None:
        self.listener = listener
        self.barge_in = barge_in
        self.on_speech_start = on_speech_start
        self.paused = False
        self._heard: asyncio.Queue[Utterance | BaseException] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._cutter = UtteranceCutter(listener.settings)

    def pause(self) -> None:
        """The companion is speaking: hear nothing (with barge_in, only speech starting)."""
        if not self.paused:
            self.paused = True
            self._cutter.reset()

    def resume(self) -> None:
        self.paused = False

    async def __aenter__(self) -> HandsFree:
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._listen(opened), name="termmate-hands-free")
        try:
            await opened  # MicrophoneUnavailable comes out here
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> HandsFree:
        return self

    async def __anext__(self) -> Utterance:
        if self._task is None:
            raise StopAsyncIteration
        item = await self._heard.get()
        if isinstance(item, StopAsyncIteration):
            self._heard.put_nowait(item)  # every later call ends too
        if isinstance(item, BaseException):
            raise item
        return item

    async def aclose(self) -> None:
        """Close the microphone; the iteration ends."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._heard.put_nowait(StopAsyncIteration())

    async def _listen(self, opened: asyncio.Future[None]) -> None:
        try:
            async with self.listener._microphone(self._cutter) as microphone:
                if not opened.done():  # (done: whoever waited for it gave up)
                    opened.set_result(None)
                while True:
                    block = await microphone.read()
                    if self.paused and not self.barge_in:
                        continue  # the companion is speaking: nothing is heard
                    for event in self._cutter.feed(block):
                        await self._handle(event)
        except Exception as exc:
            if not opened.done():
                opened.set_exception(exc)
            else:
                self._heard.put_nowait(exc)

    async def _handle(self, event: SpeechBegan | Utterance) -> None:
        if isinstance(event, SpeechBegan):
            onset = SpeechOnset(event.at, self.paused)
            self.paused = False  # a barge-in: listening goes on with this utterance
            if self.on_speech_start is not None:
                try:
                    self.on_speech_start(onset)
                except Exception:
                    log.exception("the speech-start callback failed")
            return
        self._heard.put_nowait(await self.listener._saved(event))


async def _read_or_stop(microphone: InputStream, stop: asyncio.Event) -> np.ndarray | None:
    """The next block, or None as soon as ``stop`` is set."""
    if stop.is_set():
        return None
    reading = asyncio.ensure_future(microphone.read())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # Cancelled (Esc): the read goes too, or it fails once the microphone is closed
        # with nobody there to hear it ("Task exception was never retrieved").
        reading.cancel()
        raise
    finally:
        stopping.cancel()
    if reading.done():
        return reading.result()
    reading.cancel()
    try:
        await reading
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # we were cancelled meanwhile (Esc)
            raise
    return None


def _write(path: Path, utterance: Utterance) -> None:
    private_dir(path.parent, tighten=False)  # the user's own folder: its mode is theirs
    path.write_bytes(utterance.wav())
