"""A scripted HTTP peer's server side: a handler class served on 127.0.0.1 in a thread.

``stop()`` closes the listening socket and every open connection at once, as a crash would;
``start()`` again listens on the same port (a server "coming back"). The scripted peers
(tests/support/scripted_openai.py, scripted_asr.py) each give it their handler and state.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CuttableServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its open connections, so it can cut them."""

    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog is 5: dozens of clients connecting at once (load tests,
    # benchmarks) would see connections reset.
    request_queue_size = 128
    state: Any
    """The peer's script and records, which its handler reads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.accepted = 0
        """Connections accepted so far (a client that reuses its connection opens one)."""
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(conn)
            self.accepted += 1
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away mid-answer is part of the script, not an error

    def cut_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class LoopbackServer:
    """``handler`` served on 127.0.0.1:``port`` (0: the OS chooses, kept across restarts)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], state: Any, port: int = 0) -> None:
        self._handler = handler
        self._state = state
        self.port = port
        self.server: CuttableServer | None = None
        """The running server (None while stopped)."""
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.server is not None:
            return
        server = CuttableServer(("127.0.0.1", self.port), self._handler)
        server.state = self._state
        self.port = server.server_address[1]
        self.server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and cut every open connection (like a crash)."""
        server, self.server = self.server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.cut_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
