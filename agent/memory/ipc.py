"""The wire between the process that owns the memory store and the others.

One JSON object per line over a Unix socket in ``data_dir/memory`` (mode 0600, in a 0700
directory, and only peers of the same user are served):

    request   {"id": 7, "op": "search", "args": {...}}
    answer    {"id": 7, "ok": true, "result": ...}  or  {"id": 7, "ok": false, "error": {...}}
    events    after {"op": "subscribe"}: {"event": {...MemoryChanged...}} per change

A client sends one request at a time per connection and reads answers until the one with its
request's id; a request it gives up on costs it the connection (see client.py). The args of
requests that embed text carry ``"offline": true`` when the caller is in offline mode, and
writes carry the change's ``"origin"`` (see MemoryChanged).

A request is at most REQUEST_LIMIT bytes (an import goes in chunks, see request_chunks); an
answer at most ANSWER_LIMIT (a ``list`` of a big store is one line). A request the owner
cannot read (too big, not JSON, nested too deeply, not an object) is answered with
``{"id": null, "ok": false, "error": {...}}`` and the connection stays open: that answer
belongs to the request the client is waiting for.

Both ends check who is at the other end (SO_PEERCRED) before they send anything: a socket in
a shared directory could have been bound by another user.

Only the operations declared in operations.py exist (``op`` is an operation's name, ``args``
its arguments, checked against its declaration); this is how termmate's own processes share
one store, not an API for anything else.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from .errors import ERROR_TYPES, MemoryStoreError

MIB = 1024 * 1024
REQUEST_LIMIT = 16 * MIB
"""Longest request the owner reads; a longer one is skipped and answered with an error."""
ANSWER_LIMIT = 64 * MIB
"""Longest answer a client reads (a ``list`` of every memory is one line)."""
CHUNK_BYTES = 1 * MIB
"""An import goes to the owner in requests of about this many bytes of items, ..."""
CHUNK_ITEMS = 1000
"""... and at most this many items (each is embedded and written before the answer)."""

SUBSCRIBE = "subscribe"


def to_wire(value: Any) -> Any:
    """``value`` as JSON-ready data (models dumped, inside lists and dicts too)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {key: to_wire(item) for key, item in value.items()}
    return value


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, ensure_ascii=False) + "\n").encode("utf-8")


def decode(line: bytes) -> dict[str, Any]:
    """One message; ValueError (saying why) when it is not a JSON object."""
    try:
        message = json.loads(line)
    except RecursionError:  # "[" * 200000: json raises this, not a ValueError
        raise ValueError("the message is nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"the message is not JSON ({exc})") from None
    if not isinstance(message, dict):
        raise ValueError(f"a message must be a JSON object, not {type(message).__name__}")
    return message


class MessageTooBig(Exception):
    """A line longer than the reader's limit came in; it has been read past and dropped."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the request is {size:,} bytes, over the limit of {limit // MIB} MiB; send less "
            "at once"
        )
        self.size = size


async def read_line(reader: asyncio.StreamReader, limit: int) -> bytes:
    """The next line (b"" at the end; what is left, without a newline, when the peer hangs up
    mid-line). A line over ``limit`` (the reader's own limit) is read up to its newline and
    dropped, so the next line is read whole, and MessageTooBig is raised."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    except asyncio.LimitOverrunError as exc:
        size = await _skip_line(reader, exc.consumed)
        raise MessageTooBig(size, limit) from None


async def _skip_line(reader: asyncio.StreamReader, consumed: int) -> int:
    """Drop what is left of a line that overran the limit; how long it was."""
    size = 0
    while True:
        # ``consumed`` bytes of the buffer hold no newline: drop them, then look again.
        await reader.readexactly(consumed)
        size += consumed
        try:
            rest = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:  # hung up mid-line
            return size + len(exc.partial)
        except asyncio.LimitOverrunError as exc:
            consumed = exc.consumed
            continue
        return size + len(rest)


def bad_request(reason: str, error_type: str = "MemoryStoreError") -> dict[str, Any]:
    """The answer to a request that could not be read (it has no id to answer with)."""
    return {"id": None, "ok": False, "error": {"type": error_type, "message": reason}}


def request_chunks(items: Sequence[Any]) -> Iterator[list[Any]]:
    """``items`` in runs small enough for one request each (by count and by encoded size)."""
    chunk: list[Any] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(to_wire(item), ensure_ascii=False).encode("utf-8"))
        if chunk and (len(chunk) >= CHUNK_ITEMS or size + item_size > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


def error_to_wire(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, MemoryStoreError):
        return {"type": type(exc).__name__, "message": exc.reason}
    return {"type": "MemoryStoreError", "message": f"{type(exc).__name__}: {exc}"}


def error_from_wire(error: dict[str, Any]) -> MemoryStoreError:
    cls = ERROR_TYPES.get(str(error.get("type")), MemoryStoreError)
    return cls(str(error.get("message", "the memory store failed")))


def peer_uid(sock: socket.socket | None) -> int | None:
    """The user id of the process at the other end (None where the system cannot say)."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def peer_is_same_user(sock: socket.socket | None) -> bool:
    """Whether the process at the other end runs as this user (Linux; elsewhere the socket's
    0600 mode in a 0700 directory is the guard). The server asks it of every client, and a
    client of the server before it sends anything."""
    uid = peer_uid(sock)
    return uid is None or uid == os.getuid()
