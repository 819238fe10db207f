"""What speaking a reply tells its front end: typed, immutable events and the final result.

Audio never travels in these: it goes to the player (and, when asked, into SpeechResult).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The reply's first sound is playing, ``first_audio_ms`` after the reply began."""

    reply_id: str
    first_audio_ms: float


@dataclass(frozen=True, slots=True)
class SentenceSpeaking:
    """Sentence ``index`` (0-based, in reply order) began to play."""

    reply_id: str
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class SentenceAudio:
    """Sentence ``index``'s audio, as one WAV, once it is synthesised (only for replies that keep
    their audio: a front end that plays the reply itself, such as `termmate serve`'s stream)."""

    reply_id: str
    index: int
    text: str
    wav: bytes


@dataclass(frozen=True, slots=True)
class SpeechFailed:
    """The rest of the reply will not be spoken. The text is unaffected; the next reply tries
    again. ``kind``: "tts" (server down, slow, failing), "voice" (the chosen voice is
    missing) or "player" (no sound device)."""

    reply_id: str
    reason: str
    kind: Literal["tts", "voice", "player"]


@dataclass(frozen=True, slots=True)
class SpeechFinished:
    """The reply is done speaking: played out, failed, or stopped (``cancelled``)."""

    reply_id: str
    sentences: int
    spoken: int
    cancelled: bool


SpeechEvent = SpeechStarted | SentenceSpeaking | SentenceAudio | SpeechFailed | SpeechFinished


@dataclass(frozen=True, slots=True)
class SpeechResult:
    """How speaking one reply went, for ``termmate say`` / ``ask --speak --json``."""

    reply_id: str
    sentences: tuple[str, ...]
    spoken: int
    first_audio_ms: float | None
    cancelled: bool
    error: str | None
    audio_seconds: float
    audio_wav: bytes | None = None
    """The whole reply as one WAV, only when asked for (keep_audio)."""
    saved_to: Path | None = None
    """Where [audio] save_dir got this reply's WAV."""


@dataclass(frozen=True, slots=True)
class VoiceStatus:
    """What the status pane shows about the voice."""

    state: Literal["off", "ready", "speaking"]
    muted: bool
    reason: str | None = None
    """Why the voice is off ("voice off: <reason>")."""
    last_error: str | None = None
    """Why the last reply was not (fully) spoken; cleared when a reply speaks again."""
