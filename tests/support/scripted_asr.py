"""A scripted OpenAI-compatible speech recogniser on 127.0.0.1, for tests that need exact words.

It speaks the real protocol over real HTTP/1.1: ``GET /v1/models`` and ``POST
/v1/audio/transcriptions`` (a multipart form: ``file``, ``model``, ``language``,
``response_format``), answering ``{"text": ...}`` as vLLM and faster-whisper servers do. Each
transcription takes the next scripted ``Heard`` (or the default one), which may fail with a
status code or wait first; ``latency_s`` adds a fixed model latency to every transcription.
Every request is recorded with its form fields and the audio file, so a test can check what
the client sent.

    with ScriptedASR(Heard("안녕하세요")) as asr:
        ...  # point TERMMATE_ASR__URL at asr.url
        [sent] = asr.transcriptions
        assert sent.fields["language"] == "ko" and sent.audio.startswith(b"RIFF")

``stop()`` closes the listening socket and every open connection at once, as a crash would;
``start()`` listens again on the same port (a server coming back).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any

# The scripted chat server's own: it keeps track of its connections, so stop() can cut them.
from tests.support.loopback_http import LoopbackServer

ASR_MODEL = "scripted-whisper"


@dataclass(frozen=True)
class Heard:
    """What the server answers one transcription with."""

    text: str = "hello from the scripted recogniser"
    status: int = 200
    """An error status (>= 400) answers an OpenAI-style error body instead of the text."""
    error: str = "scripted failure"
    delay_s: float = 0.0
    """Wait this long before answering (on top of the server's latency_s)."""
    body: Any = None
    """Answer exactly this JSON instead of ``{"text": text}`` (a malformed answer)."""

    @classmethod
    def failure(cls, status: int, error: str = "") -> Heard:
        return cls(status=status, error=error or f"scripted {status}")


@dataclass(frozen=True)
class Transcription:
    """One transcription request as the server received it."""

    fields: dict[str, str]
    """The form's text fields (model, language, response_format, ...)."""
    audio: bytes
    """The uploaded file's content."""
    filename: str | None
    content_type: str | None
    """The uploaded file's media type."""
    headers: dict[str, str]
    """Header names in lower case."""
    at: float
    """``time.monotonic()`` when the request had been read."""


@dataclass
class _State:
    model: str
    default: Heard
    latency_s: float
    api_key: str | None
    replies: deque[Heard] = field(default_factory=deque)
    transcriptions: list[Transcription] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ScriptedASR:
    """A scripted ``/v1/audio/transcriptions`` on an ephemeral loopback port."""

    def __init__(
        self,
        *replies: Heard,
        default: Heard | None = None,
        model: str = ASR_MODEL,
        latency_s: float = 0.0,
        api_key: str | None = None,
        port: int = 0,
    ) -> None:
        self._state = _State(model, default or Heard(), latency_s, api_key)
        self._state.replies.extend(replies)
        self._http = LoopbackServer(_Handler, self._state, port)

    def start(self) -> ScriptedASR:
        self._http.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (like a crash)."""
        self._http.stop()

    @property
    def port(self) -> int:
        return self._http.port

    def __enter__(self) -> ScriptedASR:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, ending in /v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Heard) -> None:
        with self._state.lock:
            self._state.replies.extend(replies)

    @property
    def transcriptions(self) -> list[Transcription]:
        with self._state.lock:
            return list(self._state.transcriptions)

    @property
    def paths(self) -> list[str]:
        """The path of every request, in order."""
        with self._state.lock:
            return list(self._state.paths)

    def clear(self) -> None:
        with self._state.lock:
            self._state.transcriptions.clear()
            self._state.paths.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        state = self._state
        with state.lock:
            state.paths.append(self.path)
        if not self._authorised():
            return
        if self.path != "/v1/models":
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        self._json(200, {"object": "list", "data": [{"id": state.model, "object": "model"}]})

    def do_POST(self) -> None:
        state = self._state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        with state.lock:
            state.paths.append(self.path)
        if not self._authorised():
            return
        if self.path != "/v1/audio/transcriptions":
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            sent = _parse_form(self.headers.get("Content-Type", ""), raw, dict(self.headers))
        except ValueError as exc:
            self._json(400, {"error": {"message": str(exc)}})
            return
        with state.lock:
            state.transcriptions.append(sent)
            reply = state.replies.popleft() if state.replies else state.default
        time.sleep(state.latency_s + reply.delay_s)
        if reply.status >= 400:
            self._json(reply.status, {"error": {"message": reply.error, "code": reply.status}})
            return
        self._json(200, reply.body if reply.body is not None else {"text": reply.text})

    @property
    def _state(self) -> _State:
        return self.server.state  # type: ignore[attr-defined]

    def _authorised(self) -> bool:
        key = self._state.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._json(401, {"error": {"message": "invalid api key"}})
        return False

    def _json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)


def _parse_form(content_type: str, raw: bytes, headers: dict[str, str]) -> Transcription:
    """A multipart/form-data body, read with the standard library's MIME parser."""
    if not content_type.startswith("multipart/form-data"):
        raise ValueError(f"expected multipart/form-data, got {content_type!r}")
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, str] = {}
    audio, filename, media = b"", None, None
    for part in message.iter_parts():
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            audio, filename, media = payload, part.get_filename(), part.get_content_type()
        elif isinstance(name, str):
            fields[name] = payload.decode()
    if not audio:
        raise ValueError("the form has no file")
    lowered = {key.lower(): value for key, value in headers.items()}
    return Transcription(fields, audio, filename, media, lowered, time.monotonic())
