"""Settings for the voice: the Fish Speech server and local playback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from ._endpoints import SectionModel

# Fish Speech's own rule for reference ids, narrowed: no leading space or dash, at most 64
# characters. A name is also a file name in data_dir/voices, so no slash, dot or backslash.
_VOICE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9 _-]{0,63}")


def check_voice_name(name: str) -> str:
    """``name`` stripped; ValueError when it cannot name a voice (Fish Speech would refuse it
    as an id, or as a file name it would lead outside the voices folder). The message says
    what a name may hold; the caller says which name and where it came from.

    The one rule for every voice name that comes in: ``voice add``/``use``, the voice library
    and the settings file's ``tts.reference_id``.
    """
    cleaned = name.strip()
    if not _VOICE_NAME.fullmatch(cleaned):
        raise ValueError(
            "cannot name a voice: use 1–64 letters, digits, spaces, '-' or '_' "
            "(ASCII only; Fish Speech stores voices under that name)"
        )
    return cleaned


class TTSSettings(SectionModel):
    """A Fish Speech (OpenAudio) HTTP server."""

    url: str | None = None
    """Base URL of the server, e.g. http://gpu-box:8080. Unset: the companion does not speak.
    A user:password@ in it is sent as Basic auth (unless api_key is set) and never shown."""
    api_key: SecretStr | None = None
    """Bearer token, if the server wants one. Never logged or shown."""
    reference_id: str | None = None
    """Voice to speak with (termmate voice use NAME): a reference saved on the server, or a
    voice cloned into data_dir/voices and sent along with each request. 1–64 letters, digits,
    spaces, '-' or '_'. Unset: the model's own voice."""
    format: Literal["wav", "mp3"] = "wav"
    """Audio format asked for when not streaming."""
    streaming: bool = False
    """Ask the server to stream raw PCM as it synthesises (sound starts sooner)."""
    stream_sample_rate: int = Field(44100, ge=8000, le=192000)
    """Sample rate of streamed PCM, which arrives without a header: the model's rate
    (44100 for OpenAudio S1-mini)."""
    request_encoding: Literal["msgpack", "json"] = "msgpack"
    """How requests are sent: msgpack (Fish Speech's own client does) or JSON."""
    chunk_length: int = Field(200, ge=100, le=1000)
    """Characters the server synthesises per internal chunk."""
    normalize: bool = True
    """Let the server normalise numbers and symbols in English and Chinese text."""
    temperature: float = Field(0.8, ge=0.1, le=1.0)
    """Sampling temperature of the speech model."""
    top_p: float = Field(0.8, ge=0.1, le=1.0)
    """Nucleus sampling of the speech model."""
    repetition_penalty: float = Field(1.1, ge=0.9, le=2.0)
    """Penalty on repeated speech tokens."""
    max_new_tokens: int = Field(1024, ge=0)
    """Most speech tokens per request (0: no limit)."""
    seed: int | None = None
    """Fixed sampling seed for repeatable speech. Unset: random."""
    use_memory_cache: bool = True
    """Let the server keep the encoded voice reference in memory between sentences."""
    max_in_flight: int = Field(2, ge=1, le=8)
    """Sentences synthesised at the same time (the first plays while the next are made)."""
    connect_timeout_s: float = Field(3.0, gt=0)
    """Seconds to wait for a connection before calling the server unreachable."""
    timeout_s: float = Field(60.0, gt=0)
    """Seconds to wait for the server before giving up on a sentence."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = value.strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, e.g. http://gpu-box:8080")
        return url

    @field_validator("reference_id")
    @classmethod
    def _voice_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # Also a file name in data_dir/voices: a name like ../../x must never be read or sent.
        return check_voice_name(value)


class AudioSettings(SectionModel):
    """Local playback and recording."""

    enabled: bool = True
    """Speak replies aloud when a TTS server is configured."""
    output_device: str | None = None
    """sounddevice output device (name or index). Unset: the system default."""
    input_device: str | None = None
    """sounddevice input device (name or index) for `termmate voice record` and for listening.
    Unset: the system default."""
    save_dir: Path | None = None
    """Also write each reply's audio to a WAV file here (handy over SSH)."""
