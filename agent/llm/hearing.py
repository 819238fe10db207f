"""Hearing: the remote speech recogniser or the local one, by the one policy (fallback.py).

``speech_models`` builds the fourth Fallback (after chat, sight and embeddings) with the rules
every transcription follows (``HearingRules``: the language, the languages to detect among, the
longest audio); ``transcribe`` is the one operation on it::

    models = speech_models(settings, downloads=downloads, on_change=changed)
    transcript = await transcribe(models, wav_bytes)        # or 16 kHz float32 samples
    transcript.text, transcript.language, transcript.backend

Audio that is not audio, empty, or longer than ``listen.max_file_s`` raises BadAudio before any
model is asked; no model at all raises NoModelAvailable saying what to set. A transcript with
no text means the audio held no speech ("heard nothing"): deciding what that means is the
caller's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from config import WHISPER_LANGUAGES, Mode, Settings

from .asr_audio import AudioInput, BadAudio, Heard, SpeechAudio, check_audio
from .asr_local import LocalRecogniser
from .asr_remote import RemoteRecogniser
from .downloads import Downloads
from .fallback import Fallback, ModelKind
from .types import BackendName

__all__ = [
    "SPEECH",
    "AudioInput",
    "BadAudio",
    "HearingRules",
    "SpeechModels",
    "Transcript",
    "speech_models",
    "transcribe",
]

SPEECH = ModelKind("speech recogniser", "TERMMATE_ASR__URL", "TERMMATE_LOCAL__ASR_MODEL")


@dataclass(frozen=True, slots=True)
class HearingRules:
    """What every transcription follows, from ``[asr]`` and ``[listen]``."""

    language: str | None
    """The language spoken (None: detect it)."""
    languages: tuple[str, ...]
    """The languages detection may choose."""
    max_file_s: float
    """The longest audio accepted, in seconds."""

    @classmethod
    def from_settings(cls, settings: Settings) -> HearingRules:
        asr = settings.asr
        return cls(asr.fixed_language, tuple(asr.languages), settings.listen.max_file_s)


class SpeechModels(Fallback[RemoteRecogniser, LocalRecogniser]):
    """The speech recognisers, and the rules their transcriptions follow."""

    def __init__(self, rules: HearingRules, **policy: Any) -> None:
        """``policy``: Fallback's own arguments (the kind is always SPEECH)."""
        super().__init__(SPEECH, **policy)
        self.rules = rules


def speech_models(
    settings: Settings,
    *,
    mode: Mode | None = None,
    downloads: Downloads | None = None,
    on_change: Callable[[], None] | None = None,
) -> SpeechModels:
    """The speech recognisers of ``settings``: ``[asr]`` remotely, ``local.asr_model`` here."""
    downloads = downloads or Downloads()
    asr = settings.asr
    return SpeechModels(
        HearingRules.from_settings(settings),
        mode=mode or settings.mode,
        make_remote=(lambda: RemoteRecogniser(asr)) if asr.configured else None,
        local=LocalRecogniser(
            settings.local, settings.models_dir, progress=downloads.progress_for(SPEECH.noun)
        ),
        retry_remote_after_s=asr.retry_remote_after_s,
        downloads=downloads,
        on_change=on_change,
    )


@dataclass(frozen=True, slots=True)
class Transcript:
    """What was heard, and how."""

    text: str
    """The words, stripped ("" when the audio held no speech)."""
    language: str
    """The language they are in (a Whisper code: ko, en, ...)."""
    duration_s: float
    """How long the audio was."""
    backend: BackendName
    """Which recogniser heard it."""
    model: str
    """The recogniser's model."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Milliseconds: ``total_ms`` (the whole call), ``recognise_ms`` (the recogniser's part)."""
    fallback_reason: str | None = None
    """Why the local recogniser heard it although a remote is set (None: it did not)."""

    @property
    def heard_anything(self) -> bool:
        return bool(self.text)

    def to_json(self) -> dict[str, Any]:
        """The shape ``termmate transcribe --json`` prints."""
        return {
            "text": self.text,
            "language": self.language,
            "duration_s": round(self.duration_s, 3),
            "backend": self.backend,
            "model": self.model,
            "timings": {name: round(ms, 1) for name, ms in self.timings.items()},
        }


async def transcribe(
    models: SpeechModels, audio: AudioInput, *, language: str | None = None
) -> Transcript:
    """What ``audio`` says (a WAV or other audio file's bytes, or 16 kHz mono float32
    samples). ``language``: "auto", a code such as "ko", or None for asr.language.

    Raises BadAudio (not audio, empty, too long), NoModelAvailable (nothing can hear: what to
    set), or another ModelError (online mode and the server failed).
    """
    started = time.perf_counter()
    rules = models.rules
    checked: SpeechAudio = check_audio(audio, max_s=rules.max_file_s)
    fixed = rules.language if language is None else _language(language)
    recognised: list[float] = []

    async def hear(backend: RemoteRecogniser | LocalRecogniser) -> Heard:
        began = time.perf_counter()
        try:
            return await backend.transcribe(checked, language=fixed, languages=rules.languages)
        finally:
            recognised.append((time.perf_counter() - began) * 1000)

    heard, choice = await models.call(hear)
    return Transcript(
        text=heard.text,
        language=heard.language,
        duration_s=checked.duration_s,
        backend="remote" if choice.remote else "local",
        model=choice.backend.label,
        timings={
            "total_ms": (time.perf_counter() - started) * 1000,
            "recognise_ms": recognised[-1],
        },
        fallback_reason=choice.fallback_reason,
    )


def _language(language: str) -> str | None:
    """A ``language`` argument as a code, or None for "auto"; ValueError for one Whisper does
    not know."""
    code = language.strip().lower()
    if code == "auto":
        return None
    if code not in WHISPER_LANGUAGES:
        raise ValueError(
            f"{language!r} is not a language Whisper knows: use auto or a code such as ko or en"
        )
    return code
