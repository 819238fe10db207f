"""Settings for the voice: the Fish Speech server and local playback."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from ._endpoints import SectionModel


class TTSSettings(SectionModel):
    """A Fish Speech (OpenAudio) HTTP server."""

    url: str | None = None
    """Base URL of the server, e.g. http://gpu-box:8080. Unset: the companion does not speak."""
    api_key: SecretStr | None = None
    """Bearer token, if the server wants one. Never logged or shown."""
    reference_id: str | None = None
    """Voice to speak with: a reference id saved on the server (termmate voice use NAME)."""
    format: Literal["wav", "mp3"] = "wav"
    """Audio format asked for when not streaming."""
    streaming: bool = False
    """Ask the server to stream raw PCM as it synthesises."""
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


class AudioSettings(SectionModel):
    """Local playback."""

    enabled: bool = True
    """Speak replies aloud when a TTS server is configured."""
    output_device: str | None = None
    """sounddevice output device (name or index). Unset: the system default."""
    save_dir: Path | None = None
    """Also write each reply's audio to a WAV file here (handy over SSH)."""
