"""Speaking one reply: text deltas → sentences → TTS (bounded concurrency) → player, in order.

Each sentence gets its own synthesis task as soon as the splitter finds its end; a shared
semaphore bounds how many are at the server at once. One feeder task hands the audio to the
player strictly in sentence order, chunk by chunk, so the first sentence plays while the
model is still writing the third. ``cancel()`` (barge-in) silences the player at once, drops
the queue and cancels every pending request; text fed after that is swallowed, since the
model may still be writing when the user barges in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from .errors import TTSError, VoiceError, VoiceNotFound, VoiceOff
from .events import (
    SentenceAudio,
    SentenceSpeaking,
    SpeechEvent,
    SpeechFailed,
    SpeechFinished,
    SpeechResult,
    SpeechStarted,
)
from .pcm import Clip, concatenate, encode_wav
from .player import Player
from .sentences import SentenceSplitter, split_sentences

log = logging.getLogger(__name__)

EventCallback = Callable[[SpeechEvent], None]


class Synthesizer(Protocol):
    """Anything that turns a sentence into clips (SpeechSynthesizer does, over HTTP)."""

    def stream_speech(self, text: str) -> AsyncIterator[Clip]: ...


class _End:
    """Marks the end of one sentence's clips."""


_END = _End()


@dataclass(eq=False)
class _Job:
    index: int
    text: str
    clips: asyncio.Queue[Clip | _End | VoiceError] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class SpokenReply:
    """One reply being spoken. Create it inside the running event loop.

    Feed it with :meth:`feed_text` (model deltas) or :meth:`add_sentence`, then
    :meth:`close` and ``await`` :meth:`wait` — or :meth:`cancel` at any time. Once closed or
    cancelled, it swallows more text quietly (feeding returns no sentences). Events go to
    ``on_event`` (called on the event loop) and to :meth:`events`.
    """

    def __init__(
        self,
        *,
        synthesizer: Synthesizer | None,
        player: Player | None,
        slots: asyncio.Semaphore,
        keep_audio: bool = False,
        save_dir: Path | None = None,
        on_event: EventCallback | None = None,
        started_at: float | None = None,
        after: SpokenReply | None = None,
        silent_reason: str | None = None,
        max_sentence_chars: int = 240,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.reply_id = uuid.uuid4().hex[:12]
        self._synthesizer = synthesizer
        self._player = player
        self._slots = slots
        self._keep = keep_audio or save_dir is not None
        self._return_audio = keep_audio
        self._save_dir = save_dir
        self._on_event = on_event
        self._started_at = time.perf_counter() if started_at is None else started_at
        self._after = after
        self._silent_reason = silent_reason
        self._splitter = SentenceSplitter(max_chars=max_sentence_chars)
        self._sentences: list[str] = []
        self._jobs: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._synthesising: list[asyncio.Task[None]] = []
        self._events: asyncio.Queue[SpeechEvent | None] = asyncio.Queue()
        self._kept: list[Clip] = []
        self._outstanding = 0  # clips given to the player that have not ended yet
        self._played_out = asyncio.Event()
        self._played_out.set()
        self.handed_over = asyncio.Event()
        """Set once this reply has given the player everything it will (the next reply's
        audio queues behind it)."""
        self._first_audio_ms: float | None = None
        self._spoken = 0
        self._error: str | None = None
        self._closed = False
        self._cancelled = False
        self._done = False
        self._result: asyncio.Future[SpeechResult] = self._loop.create_future()
        self._feeder = self._loop.create_task(self._feed(), name=f"speak-{self.reply_id}")

    # -- input ------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether the reply is still being spoken (not finished, failed or cancelled)."""
        return not self._done

    @property
    def closed(self) -> bool:
        """Whether the reply takes no more text."""
        return self._closed

    @property
    def sentences(self) -> tuple[str, ...]:
        return tuple(self._sentences)

    def feed_text(self, delta: str) -> list[str]:
        """Add a text delta; returns the sentences it completed (now queued for speech).

        After close() or cancel() the text is dropped and nothing is returned."""
        if self._closed:
            return []
        sentences = self._splitter.feed(delta)
        for sentence in sentences:
            self._queue_sentence(sentence)
        return sentences

    def add_sentence(self, text: str) -> list[str]:
        """Queue finished text (Markdown is cleaned; several sentences are split).

        After close() or cancel() the text is dropped and nothing is returned."""
        if self._closed:
            return []
        sentences = split_sentences(text)
        for sentence in sentences:
            self._queue_sentence(sentence)
        return sentences

    def close(self) -> list[str]:
        """No more text: speak what is left. Returns the last sentences it found."""
        if self._closed:
            return []
        sentences = self._splitter.flush()
        for sentence in sentences:
            self._queue_sentence(sentence)
        self._closed = True
        self._jobs.put_nowait(None)
        return sentences

    async def wait(self) -> SpeechResult:
        """Until the reply has played out (or failed, or was cancelled)."""
        return await asyncio.shield(self._result)

    async def finish(self) -> SpeechResult:
        """close() and wait()."""
        self.close()
        return await self.wait()

    def cancel(self) -> None:
        """Barge-in: silence the player now, drop what is queued, cancel pending synthesis."""
        if self._done:
            return
        self._cancelled = True
        self._closed = True
        for task in self._synthesising:
            task.cancel()
        self._feeder.cancel()
        if self._player is not None:
            self._player.stop()
        self.handed_over.set()
        self._finish()

    async def events(self) -> AsyncIterator[SpeechEvent]:
        """The reply's events, ending with SpeechFinished. One consumer only."""
        while True:
            event = await self._events.get()
            if event is None:
                return
            yield event

    # -- synthesis ------------------------------------------------------------------------------

    def _queue_sentence(self, sentence: str) -> None:
        self._sentences.append(sentence)
        if self._synthesizer is None or self._cancelled or self._error is not None:
            return
        if self._player is None and not self._keep:
            return
        job = _Job(len(self._sentences) - 1, sentence)
        job.task = self._loop.create_task(self._synthesise(job))
        # A cancelled task (even one that never ran) still ends its clips, so the feeder
        # waiting on them goes on.
        job.task.add_done_callback(lambda task: task.cancelled() and job.clips.put_nowait(_END))
        self._synthesising.append(job.task)
        self._jobs.put_nowait(job)

    async def _synthesise(self, job: _Job) -> None:
        assert self._synthesizer is not None
        try:
            async with self._slots:
                if self._error is None:
                    async for clip in self._synthesizer.stream_speech(job.text):
                        job.clips.put_nowait(clip)
            job.clips.put_nowait(_END)
        except VoiceError as exc:
            job.clips.put_nowait(exc)
        except Exception as exc:  # a bug must cost the voice, never the reply's text
            log.exception("speech synthesis failed")
            job.clips.put_nowait(TTSError(f"speech synthesis failed: {exc}"))

    # -- playback -----------------------------------------------------------------------------

    async def _feed(self) -> None:
        try:
            if self._player is not None:
                await asyncio.to_thread(self._player.open)
            if self._after is not None:
                await self._after.handed_over.wait()
            while (job := await self._jobs.get()) is not None:
                if not await self._hand_over(job):
                    break
        except VoiceError as exc:
            self._fail(exc)
        finally:
            self.handed_over.set()
        await self._played_out.wait()
        self._finish()

    async def _hand_over(self, job: _Job) -> bool:
        """Give one sentence's clips to the player; False when speech has failed."""
        first = True
        sentence: list[Clip] = []
        while self._error is None and not isinstance(item := await job.clips.get(), _End):
            if isinstance(item, VoiceError):
                self._fail(item)
                return False
            if self._error is not None:  # the player failed while this clip was made
                break
            if self._keep:
                self._kept.append(item)
            if self._return_audio:
                sentence.append(item)
            if self._player is None:
                if first:
                    self._sentence_started(job)
            else:
                self._play(item, job if first else None)
            first = False
        if self._error is None and sentence and not self._done:
            wav = encode_wav(concatenate(sentence))  # one sentence: a few milliseconds
            self._emit(SentenceAudio(self.reply_id, job.index, job.text, wav))
        return self._error is None

    def _play(self, clip: Clip, job: _Job | None) -> None:
        """Hand a clip to the player, which ends each one exactly once: played, dropped by a
        barge-in, or failed (then ``_fail`` hears why first)."""
        assert self._player is not None
        self._outstanding += 1
        self._played_out.clear()
        on_start = None
        if job is not None:
            on_start = self._from_audio_thread(self._sentence_started, job)
        self._player.play(
            clip,
            on_start=on_start,
            on_end=self._from_audio_thread(self._ended),
            on_error=self._from_audio_thread(self._fail),
        )

    def _from_audio_thread(
        self, method: Callable[..., None], *bound: object
    ) -> Callable[..., None]:
        def call(*args: object) -> None:
            # RuntimeError: the loop is closed, nobody is listening any more.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(method, *bound, *args)

        return call

    def _ended(self, _played: bool) -> None:
        self._outstanding -= 1
        if self._outstanding <= 0:
            self._outstanding = 0
            self._played_out.set()

    def _sentence_started(self, job: _Job) -> None:
        if self._done:
            return
        if self._first_audio_ms is None:
            self._first_audio_ms = (time.perf_counter() - self._started_at) * 1000
            self._emit(SpeechStarted(self.reply_id, self._first_audio_ms))
        self._spoken += 1
        self._emit(SentenceSpeaking(self.reply_id, job.index, job.text))

    # -- the end ------------------------------------------------------------------------------

    def _fail(self, error: VoiceError) -> None:
        """The rest of the reply will not be spoken: say so once, stop synthesis, and let the
        feeder finish (it waits only for the clips already handed to the player)."""
        if self._error is not None or self._cancelled or self._done:
            return
        self._error = error.reason
        for task in self._synthesising:
            task.cancel()
        self._jobs.put_nowait(None)
        kind: Literal["tts", "voice", "player"] = "tts"
        if isinstance(error, VoiceOff):
            kind = "player"
        elif isinstance(error, VoiceNotFound):
            kind = "voice"
        self._emit(SpeechFailed(self.reply_id, error.reason, kind))

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self._emit(
            SpeechFinished(self.reply_id, len(self._sentences), self._spoken, self._cancelled)
        )
        self._events.put_nowait(None)
        self._settling = self._loop.create_task(self._settle())

    async def _settle(self) -> None:
        """Build the result (and the saved WAV) off the event loop."""
        saved_to: Path | None = None
        wav: bytes | None = None
        clips = list(self._kept)
        seconds = sum(clip.duration_s for clip in clips)
        error = self._error
        if error is None and self._silent_reason and self._sentences:
            error = self._silent_reason
        try:
            if clips:
                wav = await asyncio.to_thread(lambda: encode_wav(concatenate(clips)))
            if wav is not None and self._save_dir is not None:
                saved_to = await asyncio.to_thread(self._save, wav)
        except OSError as exc:
            error = error or f"cannot save the reply's audio: {exc}"
        except Exception as exc:
            log.exception("building the reply's audio failed")
            error = error or f"cannot build the reply's audio: {exc}"
        self._result.set_result(
            SpeechResult(
                reply_id=self.reply_id,
                sentences=tuple(self._sentences),
                spoken=self._spoken,
                first_audio_ms=self._first_audio_ms,
                cancelled=self._cancelled,
                error=error,
                audio_seconds=seconds,
                audio_wav=wav if self._return_audio else None,
                saved_to=saved_to,
            )
        )

    def _save(self, wav: bytes) -> Path:
        assert self._save_dir is not None
        directory = self._save_dir.expanduser()
        directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = directory / f"reply-{stamp}-{self.reply_id}.wav"
        path.write_bytes(wav)
        return path

    def _emit(self, event: SpeechEvent) -> None:
        self._events.put_nowait(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("speech event listener failed")
