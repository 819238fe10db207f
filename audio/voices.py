"""Cloned voices: kept in data_dir/voices, saved on the server when it has a references API.

Every cloned voice is kept locally as ``<name>.wav`` + ``<name>.txt`` (the user's recording
is never lost, and the voice follows them to another server). A server with
``/v1/references/add`` also gets a copy and is then asked for it by ``reference_id``; a server
without that API (older Fish Speech, HTTP 404) gets the recording inline as ``references``
with every request.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from config import private_dir

from .errors import TTSError, VoiceExists, VoiceNotFound
from .fish_speech import FishSpeechClient, ReferenceAudio
from .voice_sample import VoiceSample, check_voice_name, check_voice_sample

ServerVoices = Literal["ok", "no_references_api", "unreachable", "not_configured"]


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice that can be chosen with ``termmate voice use NAME``."""

    name: str
    on_server: bool
    saved_locally: bool


@dataclass(frozen=True, slots=True)
class VoiceListing:
    """All voices; ``server`` says whether the server's own list could be read."""

    voices: tuple[Voice, ...]
    server: ServerVoices
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class ClonedVoice:
    """The result of cloning: where the voice lives and anything the user should know."""

    name: str
    stored_on: Literal["server", "local"]
    duration_s: float
    path: Path
    note: str | None = None


@dataclass(frozen=True, slots=True)
class VoiceChoice:
    """What a TTS request carries to speak in a voice."""

    reference_id: str | None = None
    references: tuple[ReferenceAudio, ...] = field(default_factory=tuple)


class LocalVoices:
    """The voice folder: ``<name>.wav`` and ``<name>.txt`` (the transcript) per voice.

    Every method that takes a name refuses (VoiceSampleError) one that cannot name a voice,
    so no name (from the command line, the settings file or a server) reaches a file outside
    the folder.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(
            path.stem for path in self.directory.glob("*.wav") if path.with_suffix(".txt").is_file()
        )

    def exists(self, name: str) -> bool:
        return self._wav(name).is_file() and self._txt(name).is_file()

    def load(self, name: str) -> ReferenceAudio | None:
        if not self.exists(name):
            return None
        return ReferenceAudio(
            audio=self._wav(name).read_bytes(),
            text=self._txt(name).read_text(encoding="utf-8").strip(),
        )

    def save(self, name: str, sample: VoiceSample) -> Path:
        private_dir(self.directory)  # recordings of the user's voice are theirs alone
        _write_atomic(self._txt(name), sample.transcript.encode("utf-8"))
        _write_atomic(self._wav(name), sample.wav)
        return self._wav(name)

    def delete(self, name: str) -> bool:
        found = False
        for path in (self._wav(name), self._txt(name)):
            if path.exists():
                path.unlink()
                found = True
        return found

    def _wav(self, name: str) -> Path:
        return self.directory / f"{check_voice_name(name)}.wav"

    def _txt(self, name: str) -> Path:
        return self.directory / f"{check_voice_name(name)}.txt"


class VoiceLibrary:
    """Clone, list, find and delete voices, and turn a voice name into request fields."""

    def __init__(self, client: FishSpeechClient | None, local: LocalVoices) -> None:
        self.client = client
        self.local = local

    async def clone(
        self, audio: bytes, transcript: str, name: str, *, replace: bool = False
    ) -> ClonedVoice:
        """Check the sample, keep it locally and save it on the server if the server can.

        Raises VoiceSampleError (bad sample, transcript or name) before anything is saved,
        and VoiceExists when ``name`` is taken and ``replace`` is false.
        """
        name = check_voice_name(name)
        sample = await asyncio.to_thread(check_voice_sample, audio, transcript)
        server_ids, server_state, detail = await self._server_ids()
        on_server = server_ids is not None and name in server_ids
        if not replace and (self.local.exists(name) or on_server):
            raise VoiceExists(
                f"a voice named '{name}' already exists; choose another name or replace it"
            )
        path = await asyncio.to_thread(self.local.save, name, sample)
        if server_state != "ok":
            note = {
                "not_configured": "no TTS server is configured yet; the voice is kept locally",
                "no_references_api": (
                    "the TTS server cannot save voices; the recording is sent along with "
                    "each request instead"
                ),
                "unreachable": (
                    f"the TTS server could not be reached ({detail}); the voice is kept "
                    "locally and will be saved on the server when it is first used"
                ),
            }[server_state]
            return ClonedVoice(name, "local", sample.duration_s, path, note)
        assert self.client is not None
        if on_server:
            await self.client.delete_reference(name)
        try:
            saved = await self.client.add_reference(name, sample.wav, sample.transcript)
        except VoiceExists:  # appeared since we listed: the user asked to replace it
            await self.client.delete_reference(name)
            saved = await self.client.add_reference(name, sample.wav, sample.transcript)
        if not saved:
            return ClonedVoice(
                name,
                "local",
                sample.duration_s,
                path,
                "the TTS server cannot save voices; the recording is sent with each request",
            )
        return ClonedVoice(name, "server", sample.duration_s, path)

    async def listing(self) -> VoiceListing:
        """Local and server voices together (the server's part may be unavailable)."""
        local = set(self.local.names())
        server_ids, state, detail = await self._server_ids()
        server = set(server_ids or ())
        voices = tuple(
            Voice(name, on_server=name in server, saved_locally=name in local)
            for name in sorted(local | server)
        )
        return VoiceListing(voices, state, detail)

    async def find(self, name: str) -> Voice:
        """The voice called ``name``; VoiceNotFound (listing what exists) otherwise, and
        VoiceSampleError when ``name`` cannot name a voice."""
        name = check_voice_name(name)
        listing = await self.listing()
        for voice in listing.voices:
            if voice.name == name:
                return voice
        if listing.server == "no_references_api":
            # An older server cannot list its voices but may keep this one in its folder.
            return Voice(name, on_server=True, saved_locally=False)
        known = ", ".join(v.name for v in listing.voices) or "none yet"
        where = "" if listing.server == "ok" else f" (server: {listing.detail or listing.server})"
        raise VoiceNotFound(
            f"no voice named '{name}'{where}; voices: {known}. "
            "Add one with `termmate voice add FILE --text ...`"
        )

    async def delete(self, name: str) -> None:
        """Remove the voice locally and from the server; VoiceNotFound if it is in neither."""
        name = check_voice_name(name)
        removed = await asyncio.to_thread(self.local.delete, name)
        if self.client is not None:
            try:
                removed = await self.client.delete_reference(name) or removed
            except TTSError:
                if not removed:
                    raise
        if not removed:
            raise VoiceNotFound(f"no voice named '{name}'")

    async def choice(self, name: str | None) -> VoiceChoice:
        """The request fields that make the server speak in ``name`` (None: its own voice).

        A server with a references API gets a missing voice uploaded from the local copy;
        a server without one gets the recording inline.
        """
        if name is None or self.client is None:
            return VoiceChoice()
        name = check_voice_name(name)
        server_ids = await self.client.list_references()
        local = await asyncio.to_thread(self.local.load, name)
        if server_ids is not None and name in server_ids:
            return VoiceChoice(reference_id=name)
        if local is not None:
            if server_ids is not None:
                try:
                    if await self.client.add_reference(name, local.audio, local.text):
                        return VoiceChoice(reference_id=name)
                except (VoiceExists, TTSError):
                    pass  # fall back to sending it along
            return VoiceChoice(references=(local,))
        if server_ids is None:
            return VoiceChoice(reference_id=name)  # an older server may keep it in its folder
        raise VoiceNotFound(
            f"the voice '{name}' is neither on the TTS server nor in {self.local.directory}; "
            "choose another with `termmate voice use NAME` (see `termmate voice list`)"
        )

    async def _server_ids(self) -> tuple[list[str] | None, ServerVoices, str | None]:
        if self.client is None:
            return None, "not_configured", "no [tts] url set"
        try:
            ids = await self.client.list_references()
        except TTSError as exc:
            return None, "unreachable", exc.reason
        if ids is None:
            return None, "no_references_api", "the server has no /v1/references API"
        return ids, "ok", None


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
