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

Only the operations listed in OPS exist; this is how termmate's own processes share one store,
not an API for anything else.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any

from pydantic import BaseModel, TypeAdapter

from .errors import ERROR_TYPES, MemoryStoreError
from .schemas import (
    AddOutcome,
    CleanupReport,
    ImportReport,
    MemoryRecord,
    MemoryStatus,
    ReindexReport,
    SearchMemoryResult,
    UpdateOutcome,
)

LINE_LIMIT = 64 * 1024 * 1024
"""Longest message (an import of many memories is one line)."""

OPS: dict[str, TypeAdapter[Any]] = {
    "status": TypeAdapter(MemoryStatus),
    "add": TypeAdapter(AddOutcome),
    "update": TypeAdapter(UpdateOutcome),
    "delete": TypeAdapter(MemoryRecord),
    "get": TypeAdapter(MemoryRecord | None),
    "search": TypeAdapter(SearchMemoryResult),
    "list": TypeAdapter(list[MemoryRecord]),
    "categories": TypeAdapter(list[str]),
    "cleanup": TypeAdapter(CleanupReport),
    "import_items": TypeAdapter(ImportReport),
    "reindex": TypeAdapter(ReindexReport),
}
"""Every operation a peer may ask for, with the type of its result."""

SUBSCRIBE = "subscribe"


def to_wire(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    return value


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, ensure_ascii=False) + "\n").encode("utf-8")


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    return message


def error_to_wire(exc: BaseException) -> dict[str, str]:
    if isinstance(exc, MemoryStoreError):
        return {"type": type(exc).__name__, "message": exc.reason}
    return {"type": "MemoryStoreError", "message": f"{type(exc).__name__}: {exc}"}


def error_from_wire(error: dict[str, Any]) -> MemoryStoreError:
    cls = ERROR_TYPES.get(str(error.get("type")), MemoryStoreError)
    return cls(str(error.get("message", "the memory store failed")))


def peer_is_same_user(sock: socket.socket | None) -> bool:
    """Whether the process at the other end runs as this user (Linux; elsewhere the socket's
    0600 mode in a 0700 directory is the guard)."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return True
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()
