"""A scripted OpenAI-compatible server on 127.0.0.1, for tests that need exact answers.

It speaks the real protocol (GET /v1/models, POST /v1/chat/completions streamed as server-sent
events, POST /v1/embeddings) and answers from a script: queued chat answers, embeddings from
a test double, or a forced HTTP error status.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.memory.word_embedder import WordOverlapEmbedder


class ScriptedOpenAI:
    """State shared with the handler: what to answer and what was asked."""

    def __init__(self, embed_dims: int = 64) -> None:
        self.chat_answers: deque[str] = deque()
        self.embedder = WordOverlapEmbedder(embed_dims)
        self.fail_status: int | None = None
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.url = ""

    def answer(self, *texts: str) -> None:
        self.chat_answers.extend(texts)

    def answer_json(self, payload: dict[str, Any]) -> None:
        self.answer(json.dumps(payload, ensure_ascii=False))

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


def _handler(script: ScriptedOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return

        def _json(self, status: int, payload: Any) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _fail(self) -> bool:
            if script.fail_status is None:
                return False
            self._json(script.fail_status, {"error": {"message": "scripted failure"}})
            return True

        def do_GET(self) -> None:
            script.requests.append((self.path, {}))
            if self._fail():
                return
            if self.path == "/v1/models":
                self._json(200, {"data": [{"id": "scripted"}]})
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            script.requests.append((self.path, body))
            if self._fail():
                return
            if self.path == "/v1/embeddings":
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [
                    {"object": "embedding", "index": i, "embedding": script.embedder.vector(t)}
                    for i, t in enumerate(texts)
                ]
                self._json(200, {"object": "list", "data": data, "model": body.get("model")})
            elif self.path == "/v1/chat/completions":
                text = script.chat_answers.popleft() if script.chat_answers else "{}"
                self._stream(text)
            else:
                self._json(404, {"error": {"message": "not found"}})

        def _stream(self, text: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            pieces = [text[i : i + 7] for i in range(0, len(text), 7)] or [""]
            for piece in pieces:
                chunk = {"choices": [{"index": 0, "delta": {"content": piece}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


@contextmanager
def scripted_openai(embed_dims: int = 64) -> Iterator[ScriptedOpenAI]:
    """Serve a ScriptedOpenAI on 127.0.0.1 (its ``url`` ends in /v1) for the block."""
    script = ScriptedOpenAI(embed_dims)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    server.daemon_threads = True
    script.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()
