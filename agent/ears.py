"""The companion's hearing: the speech recognisers (the fourth user of the one remote→local
policy) and the microphone, as one part with one status line.

Front ends ask for what they need and nothing more: ``hear_once`` (push-to-talk: one utterance,
transcribed; None when nothing was said), ``hands_free`` (utterance after utterance, each
transcribed), ``transcribe`` (audio that came another way: a file, an upload). The microphone is
open only inside those, and the status line says so while it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from audio import Listener, MicrophoneUnavailable, SpeechOnset
from config import Mode, ServiceStatus, Settings

from .llm.downloads import Downloads
from .llm.errors import ModelError, NoModelAvailable
from .llm.hearing import AudioInput, SpeechModels, Transcript, speech_models, transcribe

log = logging.getLogger(__name__)


class Ears:
    """Hearing: listen, transcribe, and say how it is going (``service_status``)."""

    def __init__(self, models: SpeechModels, listener: Listener) -> None:
        self.models = models
        self.listener = listener
        self.on_status: Callable[[Any], None] | None = None
        """Called whenever ``service_status`` may have changed (the Companion's hub)."""
        self._listening: str | None = None  # "push-to-talk" or "hands-free" while open
        self._problem: str | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        downloads: Downloads | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> Ears:
        models = speech_models(settings, downloads=downloads, on_change=on_change)
        return cls(models, Listener.from_settings(settings))

    # -- status ------------------------------------------------------------------------------

    @property
    def listening(self) -> bool:
        """Whether the microphone is open."""
        return self._listening is not None

    @property
    def level(self) -> float:
        """The microphone's loudness now, 0..1, for a meter."""
        return self.listener.level

    def service_status(self) -> ServiceStatus:
        """The "ears" line: off (the microphone is closed), active (listening), or the problem."""
        if self._listening is not None:
            return ServiceStatus("ears", "active", f"LISTENING ({self._listening})")
        if self._problem is not None:
            return ServiceStatus("ears", "error", self._problem)
        return ServiceStatus("ears", "off", "the microphone is closed")

    def statuses(self) -> tuple[ServiceStatus, ...]:
        return (*self.models.statuses(), self.service_status())

    def _set(self, *, listening: str | None = None, problem: str | None = None) -> None:
        self._listening, self._problem = listening, problem
        if self.on_status is not None:
            self.on_status(self.service_status())

    # -- hearing -----------------------------------------------------------------------------

    async def transcribe(self, audio: AudioInput, *, language: str | None = None) -> Transcript:
        """What ``audio`` says (see agent.llm.hearing.transcribe for what it raises)."""
        return await transcribe(self.models, audio, language=language)

    async def hear_once(
        self, *, stop: asyncio.Event | None = None, language: str | None = None
    ) -> Transcript | None:
        """Push-to-talk: one utterance from the microphone, transcribed; None when nothing was
        said (no speech, or a transcript with no words). MicrophoneUnavailable when there is
        no microphone (the status line then says why)."""
        with self._open("push-to-talk"):
            utterance = await self.listener.record_one(stop=stop)
        if utterance is None:
            return None
        transcript = await self.transcribe(utterance.samples, language=language)
        return transcript if transcript.heard_anything else None

    @contextlib.asynccontextmanager
    async def hands_free(
        self,
        *,
        on_speech_start: Callable[[SpeechOnset], None] | None = None,
        on_missed: Callable[[str], None] | None = None,
    ) -> AsyncIterator[HandsFreeHearing]:
        """Continuous listening: ``async for transcript in heard`` (utterances with no words
        are skipped); ``heard.pause()`` / ``resume()`` while the companion speaks. An utterance
        the recogniser fails on is missed (``on_missed(reason)``), and listening goes on; only
        having no recogniser at all (NoModelAvailable) ends it."""
        with self._open("hands-free"):
            async with self.listener.hands_free(on_speech_start=on_speech_start) as heard:
                yield HandsFreeHearing(self, heard, on_missed)

    @contextlib.contextmanager
    def _open(self, how: str) -> Any:
        self._set(listening=how)
        problem = None
        try:
            yield
        except MicrophoneUnavailable as exc:
            problem = exc.reason
            raise
        finally:
            self._set(problem=problem)

    def recheck(self) -> None:
        self.models.recheck()

    async def set_mode(self, mode: Mode) -> None:
        await self.models.set_mode(mode)

    async def aclose(self) -> None:
        await self.models.aclose()


class HandsFreeHearing:
    """The transcripts of hands-free listening (see ``Ears.hands_free``)."""

    def __init__(
        self, ears: Ears, heard: Any, on_missed: Callable[[str], None] | None = None
    ) -> None:
        self._ears = ears
        self._heard = heard
        self._on_missed = on_missed

    def pause(self) -> None:
        self._heard.pause()

    def resume(self) -> None:
        self._heard.resume()

    def __aiter__(self) -> AsyncIterator[Transcript]:
        return self._transcripts()

    async def _transcripts(self) -> AsyncIterator[Transcript]:
        async for utterance in self._heard:
            try:
                transcript = await self._ears.transcribe(utterance.samples)
            except NoModelAvailable:
                raise
            except ModelError as exc:
                # A server hiccup loses this utterance, not hands-free listening.
                log.warning("an utterance could not be transcribed: %s", exc.reason)
                if self._on_missed is not None:
                    self._on_missed(exc.reason)
                continue
            if transcript.heard_anything:
                yield transcript
            else:
                log.info("an utterance with no words (%.1f s): skipped", utterance.duration_s)
