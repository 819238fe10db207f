"""Voice errors. Each carries ``reason``: a sentence the front end can show as it is."""

from __future__ import annotations


class VoiceError(Exception):
    """Something about the voice went wrong. ``reason`` says what, and how to fix it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TTSError(VoiceError):
    """The Fish Speech server could not turn text into speech."""


class TTSUnavailable(TTSError):
    """The server cannot be reached, timed out, failed (5xx) or cut the audio stream off."""


class TTSRejected(TTSError):
    """The server refused the request (4xx): a setting, the API key or the request is wrong."""

    def __init__(self, reason: str, status_code: int) -> None:
        super().__init__(reason)
        self.status_code = status_code


class TTSBadResponse(TTSError):
    """The server answered with something that is not the audio the protocol promises."""


class TTSNotAllowed(TTSError):
    """The server may not be used now (offline mode and a server on another machine); no
    request was sent."""


class VoiceSampleError(VoiceError):
    """A voice sample (or its transcript or name) was refused; nothing was saved."""


class VoiceNotFound(VoiceError):
    """No voice of that name on the TTS server or in the local voice folder."""


class VoiceExists(VoiceError):
    """A voice of that name already exists (pass ``replace=True`` to overwrite it)."""


class VoiceOff(VoiceError):
    """Sound cannot be played here (no PortAudio, no output device); text chat goes on."""


class MicrophoneUnavailable(VoiceError):
    """Sound cannot be recorded here (no PortAudio, no input device)."""
