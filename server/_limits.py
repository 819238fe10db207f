"""The request body cap: ``[server] max_upload_mb`` for every body, JSON or multipart.

A body declared larger (Content-Length) is refused before the app reads any of it; a chunked
body is counted as it arrives and refused as soon as it passes the cap, so no upload is ever
held, in memory or on disk, beyond it. A modestly oversized body is read and thrown away
before the 413 goes out, so the client, still sending, gets the answer instead of a reset
connection.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import HTTPException, UploadFile
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# How much of an oversized body is read and dropped so the client gets its 413: up to this
# many times the cap, for at most this long. Beyond that the connection is just closed.
_DRAIN_FACTOR = 2
_DRAIN_TIMEOUT_S = 10.0


class BodyLimit:
    """ASGI middleware: 413 for request bodies over ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            if declared <= self.max_bytes * _DRAIN_FACTOR:
                await _drain(receive)
            response = JSONResponse({"detail": self._too_large()}, status_code=413)
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI answers an HTTPException raised while it reads the body as is.
                    raise HTTPException(status_code=413, detail=self._too_large())
            return message

        await self.app(scope, counted, send)

    def _too_large(self) -> str:
        megabytes = self.max_bytes / 1024 / 1024
        return (
            f"the request body is larger than {megabytes:g} MB ([server] max_upload_mb); "
            "send a smaller file or fewer pictures"
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            with contextlib.suppress(ValueError):
                return int(value)
            return None  # malformed: the HTTP parser refuses it before we get here
    return None


async def _drain(receive: Receive) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DRAIN_TIMEOUT_S):
            while True:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return


async def read_upload(upload: UploadFile, limit: int, *, field: str = "audio_file") -> bytes:
    """The uploaded file's bytes; 413 past ``limit`` (read in pieces, never more than that)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(1024 * 1024):
        size += len(chunk)
        if size > limit:
            raise HTTPException(
                status_code=413,
                detail=f"{field} is larger than {limit / 1024 / 1024:g} MB "
                "([server] max_upload_mb)",
            )
        chunks.append(chunk)
    return b"".join(chunks)
