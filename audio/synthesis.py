"""Text → audio clips in the chosen voice, whole or streamed, from the Fish Speech server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from config import TTSSettings

from .errors import TTSBadResponse, TTSError
from .fish_speech import FishSpeechClient
from .pcm import Clip, PcmStreamDecoder, concatenate, decode_audio, encode_wav
from .voices import VoiceChoice, VoiceLibrary


class SpeechSynthesizer:
    """Speaks text in ``voice`` ([tts] reference_id) through one Fish Speech client."""

    def __init__(
        self, client: FishSpeechClient, voices: VoiceLibrary, settings: TTSSettings
    ) -> None:
        self.client = client
        self.voices = voices
        self.settings = settings
        self._voice = settings.reference_id
        self._choice: VoiceChoice | None = None
        self._choice_lock = asyncio.Lock()

    @property
    def voice(self) -> str | None:
        """The voice name requests speak in (None: the model's own voice)."""
        return self._voice

    @voice.setter
    def voice(self, name: str | None) -> None:
        self._voice = name
        self._choice = None

    def speaking_as(self, voice: str) -> SpeechSynthesizer:
        """The same server and voices, speaking in ``voice`` (the voice is checked then)."""
        other = SpeechSynthesizer(self.client, self.voices, self.settings)
        other.voice = voice
        return other

    async def stream_speech(self, text: str) -> AsyncIterator[Clip]:
        """Clips of ``text`` as the server produces them (one clip when not streaming)."""
        choice = await self._voice_choice()
        try:
            if self.settings.streaming:
                decoder = PcmStreamDecoder(self.settings.stream_sample_rate)
                async for chunk in self.client.stream(
                    text, reference_id=choice.reference_id, references=choice.references
                ):
                    clip = decoder.feed(chunk)
                    if clip is not None:
                        yield clip
                decoder.finish()
            else:
                data = await self.client.synthesize(
                    text, reference_id=choice.reference_id, references=choice.references
                )
                yield await asyncio.to_thread(_decode_answer, data, self.client.url)
        except TTSError:
            self._choice = None  # the server may have restarted: look the voice up again
            raise

    async def synthesize_speech(self, text: str) -> bytes:
        """``text`` spoken as one mono 16-bit WAV file."""
        clips = [clip async for clip in self.stream_speech(text)]
        if not clips:
            raise TTSBadResponse(f"the TTS server at {self.client.url} sent no audio")
        return await asyncio.to_thread(lambda: encode_wav(concatenate(clips)))

    async def _voice_choice(self) -> VoiceChoice:
        async with self._choice_lock:
            if self._choice is None:
                self._choice = await self.voices.choice(self._voice)
            return self._choice


def _decode_answer(data: bytes, url: str) -> Clip:
    try:
        return decode_audio(data)
    except ValueError as exc:
        raise TTSBadResponse(
            f"the TTS server at {url} answered with no readable audio: {exc}"
        ) from None
