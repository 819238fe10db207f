"""Fish Speech's HTTP API: /v1/tts (whole or streamed), /v1/health and /v1/references/*.

The request is Fish Speech's ``ServeTTSRequest``, sent as msgpack (bytes stay bytes) or JSON
(reference audio as base64, which the server decodes). Every failure becomes a TTSError whose
``reason`` a user can act on; nothing here retries — the next reply simply tries again.
While ``refusal`` is set (offline mode, a server on another machine) every call fails with
TTSNotAllowed before any connection is opened or any name looked up.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from config import TTSSettings, redact_secrets, redact_url, split_userinfo

from .errors import (
    TTSBadResponse,
    TTSError,
    TTSNotAllowed,
    TTSRejected,
    TTSUnavailable,
    VoiceExists,
)

log = logging.getLogger(__name__)

MAX_AUDIO_BYTES = 64 << 20
"""Largest answer read from the TTS server, whole or streamed: 64 MiB. One request is one
sentence, and a minute of 44.1 kHz 16-bit stereo WAV is about 10 MiB: 64 MiB is over six
minutes of speech. More is a broken server, and reading on would hold it all in memory."""

_ERROR_BODY_BYTES = 64 << 10
"""Of an error answer only the message is shown (200 characters), so no more than this is read."""


@dataclass(frozen=True, slots=True)
class ReferenceAudio:
    """A voice sent along with a request: a short recording and what is said in it."""

    audio: bytes
    text: str


class FishSpeechClient:
    """A connection pool to one Fish Speech server ([tts] url)."""

    def __init__(
        self, settings: TTSSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        if settings.url is None:
            raise ValueError("[tts] url is not set")
        self.settings = settings
        url, userinfo = split_userinfo(settings.url)
        self.url = redact_url(settings.url)
        """The server's URL as every message shows it: without a password or token."""
        self.refusal: str | None = None
        """While set, why the server may not be used: every call raises TTSNotAllowed."""
        headers = {"Accept": "application/json"}
        # Credentials in the URL travel as Basic auth, never in request URLs (which end up in
        # exceptions); an api_key (Bearer) takes precedence.
        auth = httpx.BasicAuth(*userinfo) if userinfo is not None else None
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
            auth = None
        timeout = httpx.Timeout(
            connect=settings.connect_timeout_s,
            read=settings.timeout_s,
            write=settings.timeout_s,
            pool=settings.timeout_s,
        )
        # trust_env=False: a proxy from the environment must not silently reroute a local server.
        self._http = httpx.AsyncClient(
            base_url=url,
            auth=auth,
            headers=headers,
            timeout=timeout,
            trust_env=False,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- speech -----------------------------------------------------------------------------

    def request_body(
        self,
        text: str,
        *,
        streaming: bool,
        reference_id: str | None = None,
        references: Sequence[ReferenceAudio] = (),
    ) -> dict[str, Any]:
        """The ServeTTSRequest for ``text`` with this client's settings."""
        s = self.settings
        return {
            "text": text,
            "format": "wav" if streaming else s.format,  # the server streams WAV/PCM only
            "streaming": streaming,
            "reference_id": reference_id,
            "references": [{"audio": ref.audio, "text": ref.text} for ref in references],
            "chunk_length": s.chunk_length,
            "normalize": s.normalize,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "repetition_penalty": s.repetition_penalty,
            "max_new_tokens": s.max_new_tokens,
            "seed": s.seed,
            "use_memory_cache": "on" if s.use_memory_cache else "off",
        }

    async def synthesize(
        self,
        text: str,
        *,
        reference_id: str | None = None,
        references: Sequence[ReferenceAudio] = (),
    ) -> bytes:
        """The whole audio file (WAV or MP3, per [tts] format) for ``text``."""
        body = self.request_body(
            text, streaming=False, reference_id=reference_id, references=references
        )
        async with self._open("POST", "/v1/tts", **self._encode(body)) as response:
            data = await self._read_all(response, "/v1/tts")
        if not data:
            raise TTSBadResponse(f"the TTS server at {self.url} answered with no audio")
        return data

    async def stream(
        self,
        text: str,
        *,
        reference_id: str | None = None,
        references: Sequence[ReferenceAudio] = (),
    ) -> AsyncIterator[bytes]:
        """The streamed answer's bytes as they arrive (16-bit PCM, with or without header)."""
        body = self.request_body(
            text, streaming=True, reference_id=reference_id, references=references
        )
        async with self._open("POST", "/v1/tts", **self._encode(body)) as response:
            if (_content_length(response) or 0) > MAX_AUDIO_BYTES:
                raise self._too_large("/v1/tts")
            received = 0
            try:
                async for chunk in response.aiter_bytes():
                    received += len(chunk)
                    if received > MAX_AUDIO_BYTES:
                        raise self._too_large("/v1/tts")
                    if chunk:
                        yield chunk
            except httpx.TimeoutException:
                raise TTSUnavailable(self._timed_out()) from None
            except httpx.HTTPError as exc:
                raise TTSUnavailable(
                    f"the TTS server at {self.url} cut the audio stream off ({_describe(exc)})"
                ) from None

    async def health(self) -> None:
        """Raises TTSError (with the reason) unless GET /v1/health answers OK."""
        async with self._open("GET", "/v1/health") as response:
            await self._read_all(response, "/v1/health")

    # -- references (saved voices) ------------------------------------------------------------

    async def list_references(self) -> list[str] | None:
        """The reference ids saved on the server; None when it has no references API."""
        async with self._open("GET", "/v1/references/list", allow={404}) as response:
            if response.status_code == 404:
                return None
            payload = _decode_payload(await self._read_all(response, "/v1/references/list"))
        ids = payload.get("reference_ids") if isinstance(payload, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise TTSBadResponse(
                f"the TTS server at {self.url} answered /v1/references/list without "
                "a reference_ids list"
            )
        return ids

    async def add_reference(self, reference_id: str, audio: bytes, text: str) -> bool:
        """Save a voice on the server. False when the server has no references API.

        Raises VoiceExists when the server already has ``reference_id``.
        """
        files = {"audio": (f"{reference_id}.wav", audio, "audio/wav")}
        data = {"id": reference_id, "text": text}
        async with self._open(
            "POST", "/v1/references/add", files=files, data=data, allow={404, 409}
        ) as response:
            if response.status_code == 404:
                return False
            if response.status_code == 409:
                raise VoiceExists(f"the TTS server already has a voice named '{reference_id}'")
            await self._read_all(response, "/v1/references/add")
        return True

    async def delete_reference(self, reference_id: str) -> bool:
        """Remove a saved voice. False when the server has no such voice or no references API."""
        async with self._open(
            "DELETE", "/v1/references/delete", json={"reference_id": reference_id}, allow={404}
        ) as response:
            if response.status_code == 404:
                return False
            await self._read_all(response, "/v1/references/delete")
        return True

    # -- plumbing ---------------------------------------------------------------------------

    def _encode(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.settings.request_encoding == "json":
            for ref in body["references"]:
                ref["audio"] = base64.b64encode(ref["audio"]).decode("ascii")
            return {"json": body}
        import msgpack

        return {
            "content": msgpack.packb(body, use_bin_type=True),
            "headers": {"Content-Type": "application/msgpack"},
        }

    @asynccontextmanager
    async def _open(
        self, method: str, path: str, *, allow: Collection[int] = (), **kwargs: Any
    ) -> AsyncIterator[httpx.Response]:
        """Send a request; yields the response once it is 2xx (or in ``allow``)."""
        if self.refusal is not None:
            raise TTSNotAllowed(self.refusal)
        try:
            async with self._http.stream(method, path, **kwargs) as response:
                if response.status_code in allow or response.is_success:
                    yield response
                    return
                body = await self._read_all(response, path, check=False)
                raise self._status_error(response.status_code, path, body)
        except TTSError:
            raise
        except httpx.TimeoutException:
            raise TTSUnavailable(self._timed_out()) from None
        except httpx.HTTPError as exc:
            raise TTSUnavailable(
                f"cannot reach the TTS server at {self.url} ({_describe(exc)}); "
                "is it running? Check [tts] url"
            ) from None

    async def _read_all(self, response: httpx.Response, path: str, *, check: bool = True) -> bytes:
        """The whole answer to ``path``: TTSBadResponse past MAX_AUDIO_BYTES, without reading
        on (or at all, when Content-Length already says so). With ``check`` False (the body of
        an error status) only its start is read, and a broken one is b"".
        """
        limit = MAX_AUDIO_BYTES if check else _ERROR_BODY_BYTES
        if check and (_content_length(response) or 0) > limit:
            raise self._too_large(path)
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    if not check:
                        return bytes(body[:limit])
                    raise self._too_large(path)
        except httpx.TimeoutException:
            raise TTSUnavailable(self._timed_out()) from None
        except httpx.HTTPError as exc:
            if not check:
                return b""
            raise TTSUnavailable(
                f"the TTS server at {self.url} broke off its answer to {path} ({_describe(exc)})"
            ) from None
        return bytes(body)

    def _too_large(self, path: str) -> TTSBadResponse:
        return TTSBadResponse(
            f"the TTS server at {self.url} answered {path} with more than "
            f"{MAX_AUDIO_BYTES >> 20} MiB (the limit for one sentence's audio); "
            "check that [tts] url is a Fish Speech server"
        )

    def _timed_out(self) -> str:
        return (
            f"the TTS server at {self.url} did not answer within "
            f"{self.settings.timeout_s:g} s (raise [tts] timeout_s if it is just slow)"
        )

    def _status_error(self, status: int, path: str, body: bytes) -> TTSError:
        message = _error_message(body)
        said = f" ({message})" if message else ""
        if status in (401, 403):
            return TTSRejected(
                f"the TTS server at {self.url} refused the API key (HTTP {status}){said}; "
                "check [tts] api_key",
                status,
            )
        if status == 404:
            return TTSRejected(
                f"no Fish Speech API at {self.url} (HTTP 404 for {path}); check [tts] url",
                status,
            )
        if 400 <= status < 500:
            return TTSRejected(
                f"the TTS server at {self.url} rejected the request (HTTP {status}){said}", status
            )
        return TTSUnavailable(f"the TTS server at {self.url} failed (HTTP {status}){said}")


def _decode_payload(body: bytes) -> Any:
    """A references-API answer: JSON normally (we ask for it), msgpack if the server insists."""
    try:
        return json.loads(body)
    except ValueError:
        pass
    import msgpack

    try:
        return msgpack.unpackb(body, raw=False)
    except Exception:  # msgpack raises several unrelated types on garbage
        raise TTSBadResponse("the TTS server answered with neither JSON nor msgpack") from None


def _error_message(body: bytes) -> str:
    """The human part of an error body (Fish Speech: {"message": ...}; others: "detail")."""
    if not body:
        return ""
    try:
        payload = _decode_payload(body)
    except TTSBadResponse:
        payload = None
    if isinstance(payload, dict):
        for key in ("message", "detail", "error"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                return value[:200]
        return json.dumps(payload, default=str)[:200]
    if isinstance(payload, list):
        return json.dumps(payload, default=str)[:200]
    text = body.decode("utf-8", "replace").strip()
    return text[:200] if text.isprintable() else ""


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _describe(exc: httpx.HTTPError) -> str:
    # httpx's own words may quote the request URL, query-string token included.
    text = redact_secrets(str(exc).strip())
    return text or type(exc).__name__
