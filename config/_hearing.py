"""Settings for hearing: the speech recogniser and how the microphone listens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from ._endpoints import EndpointSettings, SectionModel
from ._lists import list_from_env

WHISPER_LANGUAGES = frozenset(
    """af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw
    he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my
    ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt
    uk ur uz vi yi yo zh yue""".split()
)
"""The languages Whisper knows, by the codes its tokenizer uses."""


def _language_code(value: str) -> str:
    code = value.strip().lower()
    if code not in WHISPER_LANGUAGES:
        raise ValueError(
            f"{value!r} is not a language Whisper knows: use a code such as ko, en, ja or zh"
        )
    return code


class ASRSettings(EndpointSettings):
    """The remote speech recogniser: an OpenAI-compatible /v1/audio/transcriptions (vLLM serving
    a Whisper model, faster-whisper servers)."""

    max_retries: int = Field(1, ge=0, le=10)
    """Retries on connection errors, 5xx and 429 before auto mode falls back to the local
    recogniser. Few: the user is waiting for what they said to appear."""
    language: str = "auto"
    """The language spoken: "auto" (Whisper tells, choosing among languages) or a code such
    as ko or en (no detection: a little faster, and never wrong about the language)."""
    languages: Annotated[list[str], NoDecode] = Field(["ko", "en"], min_length=1)
    """With language = "auto": the languages the user speaks; detection picks the likeliest
    of these. In the environment: comma-separated, e.g. TERMMATE_ASR__LANGUAGES=ko,en."""

    @field_validator("language")
    @classmethod
    def _auto_or_code(cls, value: str) -> str:
        if value.strip().lower() == "auto":
            return "auto"
        return _language_code(value)

    @field_validator("languages", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> Any:
        value = list_from_env(value, 'language codes, e.g. ko,en or ["ko", "en"]')
        if isinstance(value, list | tuple):
            codes = [_language_code(str(code)) for code in value if str(code).strip()]
            return list(dict.fromkeys(codes))  # in order, each once
        return value

    @property
    def fixed_language(self) -> str | None:
        """The language to tell the recogniser, or None when it should detect it."""
        return None if self.language == "auto" else self.language


class ListenSettings(SectionModel):
    """Listening: push-to-talk and hands-free. Nothing is recorded unless you ask for it."""

    end_silence_ms: int = Field(700, ge=100, le=10_000)
    """An utterance ends after this much silence."""
    max_utterance_s: float = Field(30.0, gt=0, le=300)
    """An utterance ends after this long even if you are still talking."""
    start_timeout_s: float = Field(8.0, gt=0, le=300)
    """Push-to-talk: how long to wait for speech to begin before giving up ("heard nothing")."""
    auto_send: bool = True
    """Send what was heard as a message at once; off: it waits in the input line for Enter."""
    barge_in: bool = False
    """Hands-free: speech from the user stops the companion's voice and reply, like Esc.
    Use headphones, or the companion's own voice will interrupt it."""
    pre_roll_ms: int = Field(300, ge=0, le=2000)
    """Audio kept from before speech was detected, so the first syllable is not lost."""
    min_speech_ms: int = Field(120, ge=20, le=2000)
    """Sound must stay above the speech threshold this long to count as speech (a click or
    a knock does not)."""
    speech_threshold_db: float = Field(12.0, ge=3, le=40)
    """How far above the background noise, in dB, sound must rise to count as speech. Speech
    goes on while it stays above half of this (hysteresis). Raise it in a noisy room."""
    save_dir: Path | None = None
    """Also write each utterance heard to a WAV file here. Unset: audio is never written to
    disk."""
    max_file_s: float = Field(300.0, gt=0, le=3600)
    """Longest audio accepted for transcription (a file, an upload), in seconds."""
