"""A raw HTTP server on 127.0.0.1 whose answer is written byte by byte, endless if need be.

For what a well-behaved test server cannot do: a body that never ends, a line with no end, a
Content-Length of gigabytes. Every request (any method, any path) gets the same answer: a
status line and headers, then the bytes the ``body`` factory yields, until it stops or the
client hangs up. With no ``content_length`` the body ends when the connection closes
(``Connection: close``), which HTTP/1.1 allows.

    with RawHTTPServer(endless(b"data: " + b"x" * 65536)) as server:
        ...  # point a client at server.url; server.hung_up.wait(5) once it gives up
        assert server.bytes_sent < 64 << 20
"""

from __future__ import annotations

import itertools
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

BodyFactory = Callable[[], Iterable[bytes]]
"""Called once per request: the body's bytes, piece by piece."""


def endless(piece: bytes) -> BodyFactory:
    """A body that repeats ``piece`` for as long as the client reads."""
    return lambda: itertools.repeat(piece)


def sized(piece: bytes, total: int, *, head: bytes = b"", tail: bytes = b"") -> BodyFactory:
    """``head``, then ``piece`` repeated to make ``total`` bytes in all, then ``tail``."""

    def body() -> Iterator[bytes]:
        yield head
        left = total - len(head) - len(tail)
        while left > 0:
            yield piece[:left]
            left -= len(piece)
        yield tail

    return body


class RawHTTPServer:
    """Answers every request with ``status``, ``content_type`` and the factory's body."""

    def __init__(
        self,
        body: BodyFactory,
        *,
        status: int = 200,
        content_type: str = "application/json",
        content_length: int | None = None,
    ) -> None:
        self._body = body
        self._head = (
            f"HTTP/1.1 {status} Scripted\r\nContent-Type: {content_type}\r\nConnection: close\r\n"
            + ("" if content_length is None else f"Content-Length: {content_length}\r\n")
            + "\r\n"
        ).encode()
        self._lock = threading.Lock()
        self._sent = 0
        self.requests = 0
        """Requests read so far."""
        self.hung_up = threading.Event()
        """Set when a client stopped reading and closed its end mid-body."""
        self._server: socketserver.ThreadingTCPServer | None = None
        self.port = 0
        """The port it listens on (kept after it stops, for messages that name the URL)."""

    @property
    def url(self) -> str:
        """The base URL, ending in /v1 as OpenAI-compatible clients expect."""
        assert self.port, "start the server first"
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def bytes_sent(self) -> int:
        """Body bytes written to clients so far (the kernel may not have delivered all)."""
        with self._lock:
            return self._sent

    def __enter__(self) -> RawHTTPServer:
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                owner._answer(self)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self._server = server
        self.port = server.server_address[1]
        return self

    def __exit__(self, *exc: object) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def _answer(self, handler: Any) -> None:
        length = 0
        while (line := handler.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        handler.rfile.read(length)
        with self._lock:
            self.requests += 1
        try:
            handler.wfile.write(self._head)
            for piece in self._body():
                handler.wfile.write(piece)
                with self._lock:
                    self._sent += len(piece)
        except OSError:  # the client hung up: what the caps under test should make it do
            self.hung_up.set()
