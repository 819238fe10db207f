"""The remote speech recogniser: POST /v1/audio/transcriptions on an OpenAI-compatible server.

vLLM (serving a Whisper model) and faster-whisper servers take the audio as a multipart
``file`` with ``model``, ``language`` (when it is known) and ``response_format=json``, and
answer ``{"text": ...}``. That answer does not say which language was heard; when the language
was left to the server, it is told from the text's script (Hangul or not), within
``asr.languages``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from config import ASRSettings

from ..language import detect_language
from .asr_audio import Heard, SpeechAudio
from .errors import BadResponse
from .remote_model import RemoteModel


class RemoteRecogniser(RemoteModel):
    """``[asr] url``: a fallback.RemoteBackend."""

    def __init__(self, settings: ASRSettings) -> None:
        super().__init__(settings, section="asr", max_retries=settings.max_retries)

    async def transcribe(
        self, audio: SpeechAudio, *, language: str | None, languages: Sequence[str]
    ) -> Heard:
        """The server's transcript of ``audio``: in ``language`` when it is given (or when
        ``languages`` leaves only one), else in what the server hears."""
        told = language or (languages[0] if len(languages) == 1 else None)
        fields = {"model": await self.resolve_model(), "response_format": "json"}
        if told is not None:
            fields["language"] = told
        data = await self.client.post_form(
            "/audio/transcriptions", fields, files={"file": audio.upload()}
        )
        text = _transcript_text(data, f"{self.url}/audio/transcriptions").strip()
        return Heard(text, told or _language_of(text, data, languages))


def _transcript_text(data: Any, where: str) -> str:
    text = data.get("text") if isinstance(data, dict) else None
    if not isinstance(text, str):
        raise BadResponse(f'{where} answered without a transcript (no "text")')
    return text


def _language_of(text: str, data: Any, languages: Sequence[str]) -> str:
    """The language of a transcript the server chose the language of: its own word when it
    gives one we allow (verbose answers do), else the script's (Korean or not)."""
    said = data.get("language")
    if isinstance(said, str) and said.lower() in languages:
        return said.lower()
    if not text:
        return languages[0]
    guess = detect_language(text)
    return guess if guess in languages else languages[0]
