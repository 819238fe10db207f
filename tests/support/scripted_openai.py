"""A scripted OpenAI-compatible server on 127.0.0.1, for tests and benchmarks that need exact words.

It speaks the real protocol over real HTTP/1.1 (keep-alive, chunked transfer): ``GET /v1/models``
and ``POST /v1/chat/completions``, streaming server-sent ``data:`` events ending in
``data: [DONE]`` when the request says ``stream: true``, one JSON body otherwise. Each chat request
takes the next scripted ``Reply`` (or the default one), which may fail with a status code and
Retry-After, wait before its first word or between words, stall, cut the connection mid-stream,
end the stream cleanly but early (no finish_reason, no [DONE]), or leave out [DONE].
Given an ``embedder`` (a test double: text -> vector), it also answers ``POST /v1/embeddings``.
``set_failure`` makes every endpoint answer an error status, like a server that is up but broken.
Every request is recorded, so a test can assert what the client sent.

    with ScriptedOpenAI(Reply.failure(429, retry_after="1"), Reply.of("Hi", " there")) as server:
        ...  # point TERMMATE_LLM__URL at server.url
        assert server.chat_requests[-1].messages[-1]["content"] == "hello"

Built on the standard library (a thread per connection, TCP_NODELAY, one ``sendall`` per event)
so the latency it adds is a fraction of a millisecond: benchmarks use it as a fixed-latency model.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback_http import CuttableServer, LoopbackServer

DEFAULT_MODEL = "scripted-model"

Embedder = Callable[[str], Sequence[float]]
"""A test double for an embedding model: one text in, one vector out."""


@dataclass(frozen=True)
class Reply:
    """What the server does with one chat completion request."""

    words: tuple[str, ...] = ("Hello", " from", " the", " scripted", " server", ".")
    """The answer, one streamed event per word (sent exactly as given)."""
    status: int = 200
    """An error status (>= 400) answers with an OpenAI-style error body instead of words."""
    retry_after: str | None = None
    """The Retry-After header sent with an error status."""
    error: str = "scripted failure"
    """The error message in the body of an error status."""
    first_token_delay_s: float = 0.0
    """Time to first token: the wait after the response headers, before the first word."""
    token_delay_s: float = 0.0
    """The wait between two words."""
    drop_after: int | None = None
    """Cut the connection (no [DONE], no end of the chunked body) after this many words."""
    end_after: int | None = None
    """End the stream cleanly after this many words: the chunked body is properly ended and the
    connection stays open, but no finish_reason and no [DONE] are sent (a reply cut short by a
    proxy or a server that gave up)."""
    send_done: bool = True
    """Send ``data: [DONE]`` after the finish_reason event; False: leave it out, as some
    servers do."""
    stall_after: int | None = None
    """Stop sending for ``stall_s`` after this many words (the connection stays open)."""
    stall_s: float = 0.0
    finish_reason: str = "stop"

    @classmethod
    def of(cls, *words: str, **options: Any) -> Reply:
        """A reply made of exactly these words."""
        return cls(words=tuple(words), **options)

    @classmethod
    def of_json(cls, payload: Any, **options: Any) -> Reply:
        """A reply whose text is ``payload`` as JSON, streamed in several pieces."""
        return cls(words=words_of(json.dumps(payload, ensure_ascii=False)), **options)

    @classmethod
    def failure(cls, status: int, *, retry_after: str | None = None, error: str = "") -> Reply:
        """An HTTP error answer (e.g. 429 with Retry-After, 503, 400)."""
        return cls(status=status, retry_after=retry_after, error=error or f"scripted {status}")

    @property
    def text(self) -> str:
        return "".join(self.words)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: Any
    """The decoded JSON body, or None."""
    at: float
    """``time.monotonic()`` when the request had been read."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages", []))

    @property
    def response_format(self) -> dict[str, Any] | None:
        return (self.body or {}).get("response_format")

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass
class _State:
    model: str
    default: Reply
    api_key: str | None
    embedder: Embedder | None = None
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[RecordedRequest] = field(default_factory=list)
    models_status: int = 200
    failure: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)


class ScriptedOpenAI:
    """An OpenAI-compatible server with scripted answers, on an ephemeral loopback port.

    ``stop()`` closes the listening socket and every open connection at once, as a crash
    would; ``start()`` again listens on the same port (a server "coming back").
    """

    def __init__(
        self,
        *replies: Reply,
        default: Reply | None = None,
        model: str = DEFAULT_MODEL,
        api_key: str | None = None,
        port: int = 0,
        embedder: Embedder | None = None,
    ) -> None:
        """``embedder`` turns on ``POST /v1/embeddings`` (without one, that path is a 404)."""
        self._state = _State(
            model=model, default=default or Reply(), api_key=api_key, embedder=embedder
        )
        self._state.replies.extend(replies)
        self._http = LoopbackServer(_Handler, self._state, port)

    # -- life cycle --------------------------------------------------------------------------------

    def start(self) -> ScriptedOpenAI:
        self._state.stopping.clear()
        self._http.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (like a crash)."""
        self._state.stopping.set()
        self._http.stop()

    @property
    def port(self) -> int:
        return self._http.port

    @property
    def running(self) -> bool:
        return self._http.server is not None

    def __enter__(self) -> ScriptedOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- script ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def model(self) -> str:
        return self._state.model

    def script(self, *replies: Reply) -> None:
        """Queue answers for the next chat requests (after those already queued)."""
        with self._state.lock:
            self._state.replies.extend(replies)

    def set_default(self, reply: Reply) -> None:
        """The answer once the scripted ones are used up."""
        with self._state.lock:
            self._state.default = reply

    def set_models_status(self, status: int) -> None:
        """Make GET /v1/models answer ``status`` (e.g. 503) from now on."""
        with self._state.lock:
            self._state.models_status = status

    def set_failure(self, status: int | None) -> None:
        """Answer every request with HTTP ``status`` (e.g. 503) from now on; None: work again."""
        with self._state.lock:
            self._state.failure = status

    @property
    def pending(self) -> int:
        """Scripted answers not used yet."""
        with self._state.lock:
            return len(self._state.replies)

    # -- what was asked ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def connections_accepted(self) -> int:
        """How many connections clients opened to this server (since it last started)."""
        server = self._http.server
        return server.accepted if server is not None else 0

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def model_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/models")]

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/embeddings")]

    def clear_requests(self) -> None:
        with self._state.lock:
            self._state.requests.clear()

    def wait_for(
        self, condition: Callable[[list[RecordedRequest]], bool], timeout_s: float = 10.0
    ) -> list[RecordedRequest]:
        """Block until ``condition(requests)`` holds and return the requests (or fail)."""
        deadline = time.monotonic() + timeout_s
        with self._state.changed:
            while not condition(list(self._state.requests)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the scripted server did not see the expected requests within "
                        f"{timeout_s} s; it saw {[r.path for r in self._state.requests]}"
                    )
                self._state.changed.wait(left)
            return list(self._state.requests)


class _ConnectionCut(Exception):
    """The scripted reply ends by cutting the connection."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CuttableServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read the recorded requests instead

    # -- routing -----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        state = self.server.state
        request = self._record()
        with state.lock:
            failure = state.failure
        try:
            if failure is not None:
                self._send_json(failure, _error_body("scripted failure", failure))
            elif state.api_key is not None and request.authorization != f"Bearer {state.api_key}":
                self._send_json(401, _error_body("invalid api key", 401))
            elif request.method == "GET" and request.path.rstrip("/") == "/v1/models":
                self._models()
            elif request.method == "POST" and request.path == "/v1/chat/completions":
                self._chat(request)
            elif request.method == "POST" and request.path == "/v1/embeddings":
                self._embeddings(request)
            else:
                self._send_json(404, _error_body(f"no route {request.path}", 404))
        except (_ConnectionCut, OSError):
            self.close_connection = True

    def _record(self) -> RecordedRequest:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        request = RecordedRequest(
            method=self.command,
            path=self.path.split("?", 1)[0],
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        state = self.server.state
        with state.changed:
            state.requests.append(request)
            state.changed.notify_all()
        return request

    # -- answers -----------------------------------------------------------------------------------

    def _models(self) -> None:
        state = self.server.state
        if state.models_status >= 400:
            self._send_json(state.models_status, _error_body("models unavailable", 503))
            return
        self._send_json(
            200,
            {
                "object": "list",
                "data": [{"id": state.model, "object": "model", "owned_by": "scripted"}],
            },
        )

    def _chat(self, request: RecordedRequest) -> None:
        state = self.server.state
        with state.lock:
            reply = state.replies.popleft() if state.replies else state.default
        if reply.status >= 400:
            headers = {"Retry-After": reply.retry_after} if reply.retry_after else {}
            self._send_json(reply.status, _error_body(reply.error, reply.status), headers)
            return
        model = (request.body or {}).get("model") or state.model
        if (request.body or {}).get("stream"):
            self._stream(reply, model)
        else:
            self._wait(reply.first_token_delay_s + reply.token_delay_s * len(reply.words))
            self._send_json(200, _completion(reply, model))

    def _embeddings(self, request: RecordedRequest) -> None:
        embedder = self.server.state.embedder
        if embedder is None:  # a chat-only server, as most are
            self._send_json(404, _error_body(f"no route {request.path}", 404))
            return
        body = request.body or {}
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            self._send_json(400, _error_body("input must be a string or a list of strings", 400))
            return
        data = [
            {"object": "embedding", "index": index, "embedding": list(embedder(text))}
            for index, text in enumerate(texts)
        ]
        model = body.get("model") or self.server.state.model
        usage = {"prompt_tokens": 0, "total_tokens": 0}
        self._send_json(200, {"object": "list", "data": data, "model": model, "usage": usage})

    def _stream(self, reply: Reply, model: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        ident = f"chatcmpl-scripted-{time.monotonic_ns()}"
        self._event(_chunk(ident, model, {"role": "assistant", "content": ""}, None))
        self._wait(reply.first_token_delay_s)
        for index, word in enumerate(reply.words):
            if index == reply.drop_after:
                self._cut()
            if index == reply.end_after:
                self._end_body()
                return
            if index == reply.stall_after:
                self._wait(reply.stall_s)
            if index and reply.token_delay_s:
                self._wait(reply.token_delay_s)
            self._event(_chunk(ident, model, {"content": word}, None))
        if reply.drop_after is not None and reply.drop_after >= len(reply.words):
            self._cut()
        if reply.end_after is not None and reply.end_after >= len(reply.words):
            self._end_body()
            return
        self._event(_chunk(ident, model, {}, reply.finish_reason))
        if reply.send_done:
            self._event("[DONE]")
        self._end_body()

    def _event(self, data: str | dict[str, Any]) -> None:
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        payload = f"data: {text}\n\n".encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))

    def _end_body(self) -> None:
        self.wfile.write(b"0\r\n\r\n")  # the last chunk: the body is complete

    def _cut(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _ConnectionCut

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.server.state.stopping.wait(seconds):
            self._cut()  # the server is stopping: behave like a dead process

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


def _chunk(ident: str, model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _completion(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-scripted-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": len(reply.words), "total_tokens": 0},
    }


def _error_body(message: str, status: int) -> dict[str, Any]:
    kind = "rate_limit_error" if status == 429 else "invalid_request_error"
    if status >= 500:
        kind = "server_error"
    return {"error": {"message": message, "type": kind, "code": status}}


def words_of(text: str) -> tuple[str, ...]:
    """Split ``text`` into streamable words that join back to exactly ``text``."""
    parts = text.split(" ")
    return tuple([parts[0]] + [" " + p for p in parts[1:]])


__all__ = ["DEFAULT_MODEL", "Embedder", "RecordedRequest", "Reply", "ScriptedOpenAI", "words_of"]
