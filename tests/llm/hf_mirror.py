"""A loopback stand-in for the Hugging Face hub's file downloads (what HF_ENDPOINT points at).

Serves ``GET /{owner}/{repo}/resolve/{revision}/{file}`` like the hub: Content-Length, byte
ranges (206 Partial Content, 416 past the end), 404 for unknown files. ``cut_next_after(n)``
makes the next download stop after ``n`` bytes, as a dropped connection would.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-$")


@dataclass(frozen=True)
class Download:
    """One request the mirror answered."""

    path: str
    range: str | None
    status: int
    sent: int


class HFMirror:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.downloads: list[Download] = []
        self._cut_after: int | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.mirror = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def cut_next_after(self, size: int) -> None:
        with self._lock:
            self._cut_after = size

    def _take_cut(self) -> int | None:
        with self._lock:
            cut, self._cut_after = self._cut_after, None
            return cut

    def _record(self, download: Download) -> None:
        with self._lock:
            self.downloads.append(download)

    def __enter__(self) -> HFMirror:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        mirror: HFMirror = self.server.mirror  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        wanted = self.headers.get("Range")
        data = mirror.files.get(path)
        if data is None:
            self._answer(404, b"Entry not found")
            mirror._record(Download(path, wanted, 404, 0))
            return
        start = 0
        if wanted and (match := _RANGE.match(wanted)):
            start = int(match.group(1))
            if start >= len(data):
                self._answer(416, b"")
                mirror._record(Download(path, wanted, 416, 0))
                return
        body = data[start:]
        status = 206 if wanted else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        cut = mirror._take_cut()
        sent = body if cut is None else body[:cut]
        with contextlib.suppress(OSError):
            self.wfile.write(sent)
        mirror._record(Download(path, wanted, status, len(sent)))
        if cut is not None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
