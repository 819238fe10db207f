"""The voice, assembled once per process: TTS client, voices, player, and the replies spoken.

``agent.Companion`` builds one VoiceService from Settings and hands it to the graph (which
speaks replies), the TUI (Esc stops, Ctrl+M mutes, the status pane) and the CLI
(``say``, ``voice ...``, ``ask --speak``).

In offline mode the voice uses a TTS server on this machine only: with ``[tts] url`` on
another machine it is off (saying why), and nothing — speech, keep_audio, voice cloning,
listing or checks — opens a connection to that server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from config import AudioSettings, Mode, ServiceStatus, Settings, TTSSettings

from .errors import TTSNotAllowed, VoiceError, VoiceOff
from .events import (
    SpeechEvent,
    SpeechFailed,
    SpeechFinished,
    SpeechResult,
    SpeechStarted,
    VoiceStatus,
)
from .fish_speech import FishSpeechClient
from .microphone import CountdownCallback, LevelCallback, record_voice_sample
from .offline import offline_refusal
from .pipeline import EventCallback, SpokenReply
from .player import Player
from .synthesis import SpeechSynthesizer
from .voices import ClonedVoice, LocalVoices, Voice, VoiceLibrary, VoiceListing

log = logging.getLogger(__name__)

StatusCallback = Callable[[VoiceStatus], None]


class VoiceService:
    """Everything the companion does with sound. Use it from one asyncio event loop."""

    def __init__(
        self,
        tts: TTSSettings,
        audio: AudioSettings,
        data_dir: Path,
        *,
        mode: Mode = Mode.AUTO,
        player: Player | None = None,
    ) -> None:
        self.tts = tts
        self.audio = audio
        self.client = FishSpeechClient(tts) if tts.url else None
        self.mode = Mode(mode)
        self._refuse_if_offline()
        self.library = VoiceLibrary(self.client, LocalVoices(data_dir / "voices"))
        self.synthesizer = (
            SpeechSynthesizer(self.client, self.library, tts) if self.client else None
        )
        self.player = player or Player(device=audio.output_device)
        self.on_status: StatusCallback | None = None
        """Called (on the event loop) whenever :attr:`status` changes."""
        self._slots = asyncio.Semaphore(tts.max_in_flight)
        self._player_off: str | None = None
        self._replies: list[SpokenReply] = []
        self._last_played: SpokenReply | None = None
        self._voices: dict[str, SpeechSynthesizer] = {}
        self._speaking: set[str] = set()
        self._last_error: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> VoiceService:
        return cls(settings.tts, settings.audio, settings.data_dir, mode=settings.mode)

    def set_mode(self, mode: Mode) -> None:
        """Follow the companion's mode. Going offline with a TTS server on another machine
        turns the voice off and stops what it is saying (its requests go to that server)."""
        self.mode = Mode(mode)
        was_refused = self._refusal is not None
        self._refuse_if_offline()
        if self._refusal is not None and not was_refused:
            self.stop()
        self._status_changed()

    # -- state --------------------------------------------------------------------------------

    @property
    def off_reason(self) -> str | None:
        """Why replies are not spoken aloud (None: they are)."""
        if self.client is None:
            return "no TTS server (set [tts] url, e.g. http://gpu-box:8080)"
        if self._refusal is not None:
            return self._refusal
        if not self.audio.enabled:
            return "turned off ([audio] enabled = false)"
        return self._player_off

    @property
    def status(self) -> VoiceStatus:
        """What the voice is doing now: off (and why), ready or speaking; muted; last error."""
        reason = self.off_reason
        state = "off" if reason else ("speaking" if self._speaking else "ready")
        return VoiceStatus(state, self.player.muted, reason, self._last_error)

    def service_status(self) -> ServiceStatus:
        """The voice's line in the status pane: off (why), error (the last reply's problem),
        active while speaking, else ok; muting shows in the detail."""
        status = self.status
        muted = " · muted" if status.muted else ""
        if status.state == "off":
            return ServiceStatus("voice", "off", status.reason)
        if status.last_error:
            return ServiceStatus("voice", "error", f"last reply not spoken: {status.last_error}")
        if status.state == "speaking":
            return ServiceStatus("voice", "active", "speaking" + muted)
        return ServiceStatus("voice", "ok", "ready" + muted)

    @property
    def muted(self) -> bool:
        return self.player.muted

    def set_muted(self, muted: bool) -> None:
        """Mute keeps speech going silently (unmuting resumes mid-sentence)."""
        self.player.muted = muted
        self._status_changed()

    def toggle_mute(self) -> bool:
        self.set_muted(not self.player.muted)
        return self.player.muted

    async def start(self) -> VoiceStatus:
        """Open the sound output (off the event loop). Never raises: a problem turns the voice
        off with the reason in :attr:`status`. Call it after the TUI's first paint."""
        if self.client is not None and self.audio.enabled:
            try:
                await asyncio.to_thread(self.player.open)
                self._player_off = None
            except VoiceOff as exc:
                self._player_off = exc.reason
                log.info("voice off: %s", exc.reason)
        self._status_changed()
        return self.status

    # -- speaking -------------------------------------------------------------------------------

    def begin_reply(
        self,
        *,
        keep_audio: bool = False,
        started_at: float | None = None,
        on_event: EventCallback | None = None,
        voice: str | None = None,
    ) -> SpokenReply:
        """A reply to speak; feed it the model's deltas, then close() it (or cancel() it).

        Its audio queues behind the replies begun before it: it plays once the one before has
        been closed and handed all its audio to the player. Beginning a reply never closes or
        cuts another one that is still being written.

        ``keep_audio``: also synthesise when sound is off, and return the whole reply as one
        WAV in the result (``ask --speak --json``), and each sentence's as it is made
        (SentenceAudio). ``started_at``: time.perf_counter() when the turn began, so
        first_audio_ms counts from there. ``voice``: speak in this voice instead of the
        service's own (``tts.reference_id``): a user of ``termmate serve`` with a voice of
        their own.
        """
        reason = self.off_reason
        can_play = reason is None
        may_synthesise = can_play or (keep_audio and self._refusal is None)
        synthesizer = self._synthesizer_for(voice) if may_synthesise else None
        self._replies = [reply for reply in self._replies if reply.active]
        # Sound plays one reply after another; a reply that is only synthesised waits for none.
        after = self._last_played if can_play and self._last_played in self._replies else None

        def listen(event: SpeechEvent) -> None:
            self._track(event)
            if on_event is not None:
                on_event(event)

        reply = SpokenReply(
            synthesizer=synthesizer,
            player=self.player if can_play else None,
            slots=self._slots,
            keep_audio=keep_audio,
            save_dir=self.audio.save_dir,
            on_event=listen,
            started_at=started_at,
            after=after,
            silent_reason=None if can_play else f"voice off: {reason}",
        )
        self._replies.append(reply)
        if can_play:
            self._last_played = reply
        return reply

    @property
    def can_synthesise(self) -> bool:
        """Whether speech can be made at all (a TTS server is set and this mode may use it),
        whether or not it can be played here."""
        return self.synthesizer is not None and self._refusal is None

    def _synthesizer_for(self, voice: str | None) -> SpeechSynthesizer | None:
        """The synthesiser speaking in ``voice`` (None: the service's own voice)."""
        if self.synthesizer is None or voice is None or voice == self.synthesizer.voice:
            return self.synthesizer
        if voice not in self._voices:
            self._voices[voice] = self.synthesizer.speaking_as(voice)
        return self._voices[voice]

    async def say(
        self, text: str, *, keep_audio: bool = False, on_event: EventCallback | None = None
    ) -> SpeechResult:
        """Speak ``text`` (Markdown is cleaned) and wait until it has played."""
        reply = self.begin_reply(
            keep_audio=keep_audio, started_at=time.perf_counter(), on_event=on_event
        )
        reply.add_sentence(text)
        return await reply.finish()

    def stop(self) -> None:
        """Barge-in: silence now and cancel every reply still being spoken."""
        for reply in list(self._replies):
            reply.cancel()
        self._replies.clear()
        self.player.stop()

    async def synthesize_speech(self, text: str) -> bytes:
        """``text`` as one WAV, without playing it."""
        if self._refusal is not None:
            raise TTSNotAllowed(self._refusal)
        if self.synthesizer is None:
            raise VoiceError(self.off_reason or "no TTS server")
        return await self.synthesizer.synthesize_speech(text)

    async def check_server(self) -> None:
        """Raises VoiceError / TTSError (with the reason) unless the TTS server is healthy."""
        if self.client is None:
            raise VoiceError("no TTS server (set [tts] url, e.g. http://gpu-box:8080)")
        await self.client.health()

    # -- voices ---------------------------------------------------------------------------------

    @property
    def voice(self) -> str | None:
        """The voice replies are spoken in (None: the model's own)."""
        return self.synthesizer.voice if self.synthesizer else self.tts.reference_id

    async def use_voice(self, name: str) -> Voice:
        """Speak in ``name`` from now on (VoiceNotFound if there is no such voice).

        The caller persists the choice: ``config.save_setting(path, "tts.reference_id", name)``.
        """
        voice = await self.library.find(name)
        if self.synthesizer is not None:
            self.synthesizer.voice = voice.name
        return voice

    async def clone_voice_from_audio(
        self, audio: bytes, transcript: str, name: str, *, replace: bool = False
    ) -> ClonedVoice:
        """Check a sample (VoiceSampleError: 3–30 s of real audio, ≤ 10 MB) and save it.

        When the server may not be used (offline mode), the voice is kept locally and the
        result's ``note`` says why; it reaches the server when the voice is first used there.
        """
        return await self.library.clone(audio, transcript, name, replace=replace)

    async def list_voices(self) -> VoiceListing:
        return await self.library.listing()

    async def delete_voice(self, name: str) -> None:
        await self.library.delete(name)

    async def record_voice_sample(
        self,
        *,
        seconds: float = 12.0,
        countdown: int = 3,
        on_countdown: CountdownCallback | None = None,
        on_level: LevelCallback | None = None,
        stop: asyncio.Event | None = None,
    ) -> bytes:
        """Record from [audio] input_device; a WAV ready for clone_voice_from_audio."""
        return await record_voice_sample(
            seconds=seconds,
            countdown=countdown,
            device=self.audio.input_device,
            on_countdown=on_countdown,
            on_level=on_level,
            stop=stop,
        )

    async def aclose(self) -> None:
        self.stop()
        await asyncio.to_thread(self.player.close)
        if self.client is not None:
            await self.client.aclose()

    # -- internals ----------------------------------------------------------------------------

    @property
    def _refusal(self) -> str | None:
        """Why the TTS server may not be used in this mode (None: it may)."""
        return self.client.refusal if self.client is not None else None

    def _refuse_if_offline(self) -> None:
        if self.client is not None:
            self.client.refusal = offline_refusal(self.client.url, self.mode)

    def _track(self, event: SpeechEvent) -> None:
        if isinstance(event, SpeechStarted):
            self._speaking.add(event.reply_id)
            self._last_error = None
        elif isinstance(event, SpeechFailed):
            self._last_error = event.reason
            if event.kind == "player":
                self._player_off = event.reason
        elif isinstance(event, SpeechFinished):
            self._speaking.discard(event.reply_id)
        else:
            return
        self._status_changed()

    def _status_changed(self) -> None:
        if self.on_status is not None:
            try:
                self.on_status(self.status)
            except Exception:
                log.exception("voice status listener failed")
