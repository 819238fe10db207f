"""A loopback stand-in for the Hugging Face hub (what HF_ENDPOINT points at).

Serves, like the hub:

- ``GET /{owner}/{repo}/resolve/{revision}/{file}``: Content-Length, byte ranges (206 Partial
  Content, 416 past the end), 404 for unknown files;
- ``GET /api/models/{owner}/{repo}/tree/{revision}?recursive=true``: the repository's files as
  the hub lists them (``type``, ``path``, ``size``), ``page_size`` entries per page with a
  ``Link: <...>; rel="next"`` header to the next page, as the hub paginates; 404 for a
  repository it has no file of.

``cut_next_after(n)`` makes the next file download stop after ``n`` bytes, as a dropped
connection would. ``listings`` replaces what the API lists for a repository (a hostile hub
naming files like ``../../x``). Every request is recorded (``downloads``), with its
Authorization header.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d+)-$")
_TREE = re.compile(r"/api/models/([^/]+)/([^/]+)/tree/([^/]+)$")


@dataclass(frozen=True)
class Download:
    """One request the mirror answered."""

    path: str
    range: str | None
    status: int
    sent: int
    authorization: str | None = None


def repo_files(owner_repo: str, files: Mapping[str, bytes], revision: str = "main") -> dict:
    """``files`` (path in the repository → content) as the mirror's ``files`` argument."""
    return {f"/{owner_repo}/resolve/{revision}/{path}": data for path, data in files.items()}


class HFMirror:
    def __init__(
        self,
        files: dict[str, bytes],
        *,
        listings: Mapping[str, list[dict[str, Any]]] | None = None,
        page_size: int = 1000,
    ) -> None:
        """``files``: URL path → content. ``listings``: "OWNER/REPO" → the entries the API
        lists instead of those ``files`` implies."""
        self.files = files
        self.listings = dict(listings or {})
        self.page_size = page_size
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

    @property
    def file_downloads(self) -> list[Download]:
        """The requests for files (not for listings)."""
        return [d for d in self.downloads if not d.path.startswith("/api/")]

    def cut_next_after(self, size: int) -> None:
        with self._lock:
            self._cut_after = size

    def listing(self, owner_repo: str, revision: str) -> list[dict[str, Any]] | None:
        """What the API lists for the repository (None: the hub has no such repository)."""
        if owner_repo in self.listings:
            return self.listings[owner_repo]
        prefix = f"/{owner_repo}/resolve/{revision}/"
        entries = [
            {"type": "file", "path": path.removeprefix(prefix), "size": len(data)}
            for path, data in dict.items(self.files)
            if path.startswith(prefix)
        ]
        return entries or None

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
        if path.startswith("/api/"):
            self._list(mirror)
            return
        wanted = self.headers.get("Range")
        auth = self.headers.get("Authorization")
        data = mirror.files.get(unquote(path))
        if data is None:
            self._answer(404, b"Entry not found")
            mirror._record(Download(path, wanted, 404, 0, auth))
            return
        start = 0
        if wanted and (match := _RANGE.match(wanted)):
            start = int(match.group(1))
            if start >= len(data):
                self._answer(416, b"")
                mirror._record(Download(path, wanted, 416, 0, auth))
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
        mirror._record(Download(path, wanted, status, len(sent), auth))
        if cut is not None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def _list(self, mirror: HFMirror) -> None:
        url = urlsplit(self.path)
        auth = self.headers.get("Authorization")
        match = _TREE.match(url.path)
        entries = None
        if match is not None:
            owner, repo, revision = (unquote(part) for part in match.groups())
            entries = mirror.listing(f"{owner}/{repo}", revision)
        if entries is None:
            self._answer(404, b'{"error": "Repository not found"}')
            mirror._record(Download(self.path, None, 404, 0, auth))
            return
        start = int(parse_qs(url.query).get("cursor", ["0"])[0])
        page = entries[start : start + mirror.page_size]
        body = json.dumps(page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if start + mirror.page_size < len(entries):
            following = f"{mirror.endpoint}{url.path}?recursive=true&cursor={start + len(page)}"
            self.send_header("Link", f'<{following}>; rel="next"')
        self.end_headers()
        self.wfile.write(body)
        mirror._record(Download(self.path, None, 200, len(body), auth))

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
