"""A loopback Fish Speech server: the real HTTP protocol, real audio, scripted timing.

Speaks what ``tools/api_server.py`` of fishaudio/fish-speech speaks: ``POST /v1/tts`` with a
msgpack or JSON ``ServeTTSRequest`` (validated with the same field rules), answering a whole
WAV/MP3 file, or with ``streaming: true`` headerless 16-bit mono PCM labelled audio/wav;
``GET|POST /v1/health``; ``/v1/references/add`` (multipart id, audio, text), ``/list`` and
``/delete`` answering msgpack unless JSON is asked for; bearer-key checks; error bodies shaped
like its exception handler's. Instead of a model it sings: a sine tone as long as the text
(``seconds_per_char``), at a pitch derived from the text (so tests can tell sentences apart),
produced at ``real_time_factor`` × its duration. Knobs for failure: ``fail_status``,
``delay_s`` (slow to answer), ``cut_stream_after_s``; ``references_api=False`` behaves like a
server without the references endpoints (404). Runs uvicorn on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import re
import socket
import threading
import time
import wave
import zlib
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from typing import Annotated, Any, Literal

import msgpack
import numpy as np
import soundfile
from pydantic import BaseModel, Field, ValidationError, model_validator

_ID_PATTERN = re.compile(r"^[a-zA-Z0-9\-_ ]+$")


class ServeReferenceAudio(BaseModel):
    audio: bytes
    text: str

    @model_validator(mode="before")
    @classmethod
    def _decode_base64(cls, values: Any) -> Any:
        # As upstream: a long string is base64 (how JSON carries bytes).
        audio = values.get("audio") if isinstance(values, dict) else None
        if isinstance(audio, str) and len(audio) > 255:
            with contextlib.suppress(ValueError):
                values = {**values, "audio": base64.b64decode(audio)}
        return values


class ServeTTSRequest(BaseModel):
    """Upstream's field rules (fish_speech/utils/schema.py)."""

    text: str
    chunk_length: Annotated[int, Field(ge=100, le=1000, strict=True)] = 200
    format: Literal["wav", "pcm", "mp3", "opus"] = "wav"
    latency: Literal["normal", "balanced"] = "normal"
    references: list[ServeReferenceAudio] = []
    reference_id: str | None = None
    seed: int | None = None
    use_memory_cache: Literal["on", "off"] = "off"
    normalize: bool = True
    streaming: bool = False
    max_new_tokens: int = 1024
    top_p: Annotated[float, Field(ge=0.1, le=1.0, strict=True)] = 0.8
    repetition_penalty: Annotated[float, Field(ge=0.9, le=2.0, strict=True)] = 1.1
    temperature: Annotated[float, Field(ge=0.1, le=1.0, strict=True)] = 0.8


@dataclass
class TTSCall:
    """One /v1/tts request as the server saw it."""

    encoding: Literal["msgpack", "json"]
    request: ServeTTSRequest
    authorization: str | None
    voice: str | None  # "reference:<id>", "inline:<n>", or None (the model's own voice)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    completed: bool = False
    cancelled: bool = False


def tone_frequency(text: str) -> float:
    """The pitch the server sings ``text`` at: 300–780 Hz, fixed per text."""
    return 300.0 + (zlib.crc32(text.encode("utf-8")) % 25) * 20.0


def sing(text: str, *, sample_rate: int, seconds_per_char: float) -> np.ndarray:
    """The float32 tone for ``text`` (10 ms fades, so it starts and stops cleanly)."""
    seconds = max(0.2, len(text) * seconds_per_char)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    samples = 0.4 * np.sin(2 * np.pi * tone_frequency(text) * t)
    fade = min(len(samples) // 2, int(0.01 * sample_rate))
    ramp = np.linspace(0.0, 1.0, fade)
    samples[:fade] *= ramp
    samples[len(samples) - fade :] *= ramp[::-1]
    return samples.astype(np.float32)


def wav_stream_header(sample_rate: int) -> bytes:
    """The header upstream builds for streams (0 frames): sent only with stream_wav_header."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
    return buffer.getvalue()


class FishSpeechServer:
    """Start with ``with FishSpeechServer() as server:``; ``server.url`` is its base URL."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        references_api: bool = True,
        sample_rate: int = 44100,
        seconds_per_char: float = 0.02,
        real_time_factor: float = 0.0,
        stream_chunk_s: float = 0.05,
        stream_wav_header: bool = False,
        max_text_length: int = 0,
    ) -> None:
        self.api_key = api_key
        self.references_api = references_api
        self.sample_rate = sample_rate
        self.seconds_per_char = seconds_per_char
        self.real_time_factor = real_time_factor
        self.stream_chunk_s = stream_chunk_s
        self.stream_wav_header = stream_wav_header
        self.max_text_length = max_text_length
        # Failure knobs, read per request: change them while the server runs.
        self.fail_status: int | None = None
        self.fail_message = "Failed to generate speech"
        self.delay_s = 0.0
        self.cut_stream_after_s: float | None = None
        self.calls: list[TTSCall] = []
        self.references: dict[str, tuple[bytes, str]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_idle(self, timeout: float = 2.0) -> bool:
        """Blocks until no request is being synthesised (False on timeout)."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.in_flight == 0

    def reset(self) -> None:
        """Forget calls and failure knobs (saved references stay)."""
        self.fail_status = None
        self.delay_s = 0.0
        self.cut_stream_after_s = None
        self.calls.clear()
        self.max_in_flight = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FishSpeechServer:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(),
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="fish-speech"
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the loopback Fish Speech server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout=5)

    def __enter__(self) -> FishSpeechServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- the app --------------------------------------------------------------------------------

    def _app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.routing import Route

        routes = [
            Route("/v1/health", self._health, methods=["GET", "POST"]),
            Route("/v1/tts", self._tts, methods=["POST"]),
        ]
        if self.references_api:
            routes += [
                Route("/v1/references/add", self._add_reference, methods=["POST"]),
                Route("/v1/references/list", self._list_references, methods=["GET"]),
                Route("/v1/references/delete", self._delete_reference, methods=["DELETE"]),
            ]
        return Starlette(routes=routes)

    def _denied(self, request: Any) -> Any:
        if self.api_key is None:
            return None
        if request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return _error(HTTPStatus.UNAUTHORIZED, "Invalid token")

    async def _health(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return self._denied(request) or JSONResponse({"status": "ok"})

    async def _tts(self, request: Any) -> Any:
        from starlette.responses import Response, StreamingResponse

        if denied := self._denied(request):
            return denied
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        raw = await request.body()
        try:
            if content_type == "application/msgpack":
                payload, encoding = msgpack.unpackb(raw, raw=False), "msgpack"
            elif content_type == "application/json":
                payload, encoding = json.loads(raw), "json"
            else:
                return _error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"cannot read {content_type!r}")
            tts = ServeTTSRequest.model_validate(payload)
        except ValidationError as exc:
            return _error(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
        except (ValueError, msgpack.ExtraData) as exc:
            return _error(HTTPStatus.BAD_REQUEST, f"bad body: {exc}")

        voice = None
        if tts.reference_id and tts.reference_id in self.references:
            voice = f"reference:{tts.reference_id}"  # unknown ids: the model's own voice
        elif tts.references:
            voice = f"inline:{len(tts.references)}"
        call = TTSCall(encoding, tts, request.headers.get("authorization"), voice)
        self.calls.append(call)

        if self.max_text_length and len(tts.text) > self.max_text_length:
            return _error(HTTPStatus.BAD_REQUEST, "Text is too long")
        if tts.streaming and tts.format != "wav":
            return _error(HTTPStatus.BAD_REQUEST, "Streaming only supports WAV format")
        for reference in tts.references:
            try:
                soundfile.info(io.BytesIO(reference.audio))
            except Exception:
                return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "Failed to generate speech")
        if self.delay_s and not await _sleep_unless_gone(request, self.delay_s):
            call.cancelled = True
            return Response(status_code=499)
        if self.fail_status is not None:
            call.finished = time.monotonic()
            return _error(HTTPStatus(self.fail_status), self.fail_message)

        samples = sing(
            tts.text, sample_rate=self.sample_rate, seconds_per_char=self.seconds_per_char
        )
        headers = {"Content-Disposition": f"attachment; filename=audio.{tts.format}"}
        if tts.streaming:
            return StreamingResponse(
                self._stream(call, samples), media_type="audio/wav", headers=headers
            )
        self._enter()
        try:
            produce_s = len(samples) / self.sample_rate * self.real_time_factor
            if not await _sleep_unless_gone(request, produce_s):
                call.cancelled = True
                return Response(status_code=499)
            buffer = io.BytesIO()
            soundfile.write(buffer, samples, self.sample_rate, format=tts.format.upper())
        finally:
            self._leave()
        call.completed, call.finished = True, time.monotonic()
        media = {"wav": "audio/wav", "mp3": "audio/mpeg"}.get(
            tts.format, "application/octet-stream"
        )
        return Response(buffer.getvalue(), media_type=media, headers=headers)

    async def _stream(self, call: TTSCall, samples: np.ndarray) -> Any:
        self._enter()
        try:
            if self.stream_wav_header:
                yield wav_stream_header(self.sample_rate)
            pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
            step = max(1, int(self.stream_chunk_s * self.sample_rate))
            for start in range(0, len(pcm), step):
                await asyncio.sleep(step / self.sample_rate * self.real_time_factor)
                cut = self.cut_stream_after_s
                if cut is not None and start / self.sample_rate >= cut:
                    raise ConnectionAbortedError("the model crashed mid-stream")
                yield pcm[start : start + step].tobytes()
            call.completed = True
        except (asyncio.CancelledError, GeneratorExit):
            call.cancelled = True
            raise
        finally:
            call.finished = time.monotonic()
            self._leave()

    async def _add_reference(self, request: Any) -> Any:
        if denied := self._denied(request):
            return denied
        form = _parse_multipart(request.headers.get("content-type", ""), await request.body())
        reference_id = form.get("id", b"").decode("utf-8", "replace").strip()
        text = form.get("text", b"").decode("utf-8", "replace").strip()
        audio = form.get("audio", b"")

        def answer(success: bool, message: str, status: int = 200) -> Any:
            body = {"success": success, "message": message, "reference_id": reference_id}
            return _formatted(request, body, status)

        if not reference_id:
            return answer(False, "Reference ID cannot be empty", 400)
        if not text:
            return answer(False, "Reference text cannot be empty", 400)
        if not audio:
            return answer(False, "Audio file is empty or could not be read", 400)
        if not _ID_PATTERN.match(reference_id) or len(reference_id) > 255:
            return answer(False, "Reference ID contains invalid characters or is too long", 400)
        if reference_id in self.references:
            return answer(False, f"Reference ID '{reference_id}' already exists", 409)
        self.references[reference_id] = (audio, text)
        return answer(True, f"Reference voice '{reference_id}' added successfully")

    async def _list_references(self, request: Any) -> Any:
        if denied := self._denied(request):
            return denied
        ids = sorted(self.references)
        body = {"success": True, "reference_ids": ids, "message": f"Found {len(ids)} references"}
        return _formatted(request, body)

    async def _delete_reference(self, request: Any) -> Any:
        if denied := self._denied(request):
            return denied
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/msgpack"):
            payload = msgpack.unpackb(raw, raw=False)
        elif content_type.startswith("multipart/form-data"):
            payload = {k: v.decode() for k, v in _parse_multipart(content_type, raw).items()}
        else:
            payload = json.loads(raw or b"{}")
        reference_id = str(payload.get("reference_id", ""))
        if reference_id not in self.references:
            body = {
                "success": False,
                "message": f"Reference ID '{reference_id}' not found",
                "reference_id": reference_id,
            }
            return _formatted(request, body, 404)
        del self.references[reference_id]
        body = {"success": True, "message": "deleted", "reference_id": reference_id}
        return _formatted(request, body)

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _error(status: HTTPStatus, message: str) -> Any:
    """Upstream's ExceptionHandler body."""
    from starlette.responses import JSONResponse

    body = {"statusCode": int(status), "message": message, "error": status.phrase}
    return JSONResponse(body, status_code=int(status))


def _formatted(request: Any, body: dict[str, Any], status: int = 200) -> Any:
    """Upstream's format_response: msgpack unless the client asks for JSON."""
    from starlette.responses import JSONResponse, Response

    query = request.query_params.get("format", "").strip().lower()
    accept = request.headers.get("accept", "").lower()
    if query:
        wants_json = query in ("json", "application/json")
    else:
        wants_json = "application/json" in accept and "application/msgpack" not in accept
    if wants_json:
        return JSONResponse(body, status_code=status)
    return Response(msgpack.packb(body), status_code=status, media_type="application/msgpack")


def _parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, bytes] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = part.get_payload(decode=True) or b""
    return fields


async def _sleep_unless_gone(request: Any, seconds: float) -> bool:
    """Sleep, but give up (False) as soon as the client hangs up."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(0.02, left))
        if await request.is_disconnected():
            return False
    return True
