"""The owning process serves its memory store to termmate's other processes (see ipc.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from . import ipc
from .declare import operations_of
from .engine import MemoryEngine
from .errors import InvalidMemoryInput, MemoryUnavailable
from .events import MemoryChanged

log = logging.getLogger(__name__)

_DRAIN_TIMEOUT_S = 30.0
_ANSWERED: dict[str, Any] = {}
"""What _read_request returns for a line it could not read (and has answered already)."""


class MemoryServer:
    """Answers requests on a Unix socket; requests wait until the engine is open."""

    def __init__(self, engine: MemoryEngine, path: Path) -> None:
        self.engine = engine
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._ready = asyncio.Event()
        self._open_error: BaseException | None = None
        self._requests: set[asyncio.Task[Any]] = set()
        self._connections: set[asyncio.StreamWriter] = set()
        self._subscribers: set[asyncio.Queue[MemoryChanged | None]] = set()
        self._stop_listening = engine.add_listener(self._publish)
        self._operations = operations_of(engine)
        """What a peer may ask: every operation the engine implements, by name."""

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)  # only the owner (holding the lock) gets here
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.path), limit=ipc.REQUEST_LIMIT
        )
        self.path.chmod(0o600)

    def engine_opened(self, error: BaseException | None = None) -> None:
        """The engine is open (or failed to open, with ``error`` told to every request)."""
        self._open_error = error
        self._ready.set()

    def _publish(self, event: MemoryChanged) -> None:
        for queue in self._subscribers:
            queue.put_nowait(event)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not ipc.peer_is_same_user(writer.get_extra_info("socket")):
            log.warning("refused a memory client run by another user")
            writer.close()
            return
        self._connections.add(writer)
        try:
            while True:
                request = await self._read_request(reader, writer)
                if request is None:
                    break
                if request is _ANSWERED:
                    continue  # unreadable, and told so: the next one may be fine
                if request.get("op") == ipc.SUBSCRIBE:
                    await self._stream_events(request, writer)
                    break
                task = asyncio.ensure_future(self._answer(request))
                self._requests.add(task)
                try:
                    answer = await asyncio.shield(task)
                finally:
                    self._requests.discard(task)
                writer.write(ipc.encode(answer))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            raise
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> dict[str, Any] | None:
        """The next request; None when the client hung up, _ANSWERED when the line could not be
        read (too big, not JSON, nested too deeply, not an object: answered with an error here,
        so the client learns why instead of losing the connection)."""
        try:
            line = await ipc.read_line(reader, ipc.REQUEST_LIMIT)
            if not line:
                return None
            return ipc.decode(line)
        except ipc.MessageTooBig as exc:
            answer = ipc.bad_request(str(exc), "InvalidMemoryInput")
        except ValueError as exc:
            answer = ipc.bad_request(f"the memory owner could not read a request: {exc}")
        log.warning("memory request refused: %s", answer["error"]["message"][:200])
        writer.write(ipc.encode(answer))
        await writer.drain()
        return _ANSWERED

    async def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """Check the request's arguments against its operation's declaration, then carry it
        out on the engine (the same method an in-process caller reaches)."""
        request_id = request.get("id")
        name = request.get("op")
        args = request.get("args") or {}
        try:
            op = self._operations.get(name) if isinstance(name, str) else None
            if op is None:
                raise MemoryUnavailable(f"unknown memory operation {name!r}")
            if not isinstance(args, dict):
                raise InvalidMemoryInput(f"memory {name}: the arguments must be a JSON object")
            await self._ready.wait()
            if self._open_error is not None:
                raise self._open_error
            result = await self.engine.perform(op, op.validate(args, received=True))
            return {"id": request_id, "ok": True, "result": ipc.to_wire(result)}
        except Exception as exc:
            if not getattr(exc, "reason", None):
                log.exception("memory operation %s failed", name)
            return {"id": request_id, "ok": False, "error": ipc.error_to_wire(exc)}

    async def _stream_events(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[MemoryChanged | None] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            writer.write(ipc.encode({"id": request.get("id"), "ok": True, "result": None}))
            await writer.drain()
            while True:
                event = await queue.get()
                if event is None:
                    return
                writer.write(ipc.encode({"event": event.as_dict()}))
                await writer.drain()
        finally:
            self._subscribers.discard(queue)

    async def aclose(self) -> None:
        """Stop accepting, let running requests finish, then hang up on everyone."""
        self._stop_listening()
        if self._server is not None:
            self._server.close()
        if self._requests:
            await asyncio.wait(set(self._requests), timeout=_DRAIN_TIMEOUT_S)
        for queue in self._subscribers:
            queue.put_nowait(None)
        for writer in list(self._connections):
            writer.close()
        self.path.unlink(missing_ok=True)
