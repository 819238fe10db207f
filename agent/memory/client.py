"""The memory store reached through the process that owns it (see ipc.py and server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import ipc
from .declare import Caller, Operation, operations_of
from .errors import InvalidMemoryInput, MemoryStoreError, MemoryUnavailable
from .events import MemoryChanged
from .operations import StoreOperations
from .schemas import MemoryStatus

log = logging.getLogger(__name__)


class OwnerGone(Exception):
    """The owning process went away (it quit or crashed); someone must take over."""


class RemoteMemory(Caller, StoreOperations):
    """Same operations as MemoryEngine (their methods generated from operations.py), answered
    by the owner over a Unix socket.

    One request at a time on one connection, each answer matched to its request by id (an
    error answer with id null is the owner saying it could not read the request: it answers
    the one request waiting). A request given up before its answer came (a timeout, Esc,
    closing) leaves that answer on its way, so the connection is dropped with it and the next
    request opens a new one. Every connection is checked before anything is sent on it: the
    process answering must run as this user.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._closed = False

    async def connect(self) -> None:
        """Connect; raises OSError (no such socket, refused) when no owner listens, and
        MemoryUnavailable when a process of another user answers."""
        self._reader, self._writer = await _open(self.path)

    async def perform(self, op: Operation, arguments: dict[str, Any]) -> Any:
        """Ask the owner to carry out ``op`` (arguments that stay in this process, such as a
        progress callback, are not sent); its answer, read as the operation's result type."""
        answer = await self._request(op.name, ipc.to_wire(op.for_another_process(arguments)))
        try:
            return op.result.validate_python(answer)
        except ValidationError as exc:
            raise MemoryStoreError(
                f"the memory owner answered {op.name} with something else than expected "
                f"({exc.error_count()} problems, first: {exc.errors()[0]['msg']}); "
                "are both termmate processes the same version?"
            ) from None

    async def _request(self, op: str, args: dict[str, Any]) -> Any:
        """Send one request; the result of its answer (raising the error it carries)."""
        async with self._lock:
            if self._closed:
                raise OwnerGone("the connection to the memory owner is closed")
            if self._writer is None:
                try:
                    await self.connect()
                except OSError as exc:
                    raise OwnerGone(str(exc)) from exc
            request_id = next(self._ids)
            request = ipc.encode({"id": request_id, "op": op, "args": args})
            if len(request) > ipc.REQUEST_LIMIT:
                raise InvalidMemoryInput(
                    f"the {op} request is {len(request):,} bytes, over the limit of "
                    f"{ipc.REQUEST_LIMIT // ipc.MIB} MiB; send less at once"
                )
            try:
                answer = await self._exchange(request_id, request)
            except BaseException as exc:
                # Cancelled or failed half-way: whatever the owner still sends on this
                # connection would be taken for the answer to the next request.
                self._hang_up()
                if isinstance(exc, ConnectionError | OSError | asyncio.IncompleteReadError):
                    raise OwnerGone(str(exc) or type(exc).__name__) from exc
                if isinstance(exc, Exception) and not isinstance(exc, OwnerGone | MemoryStoreError):
                    raise MemoryStoreError(
                        f"the memory owner's answer to {op} could not be read ({exc})"
                    ) from exc
                raise
        if not answer.get("ok"):
            error = answer.get("error")
            raise ipc.error_from_wire(error if isinstance(error, dict) else {})
        return answer.get("result")

    async def _exchange(self, request_id: int, request: bytes) -> dict[str, Any]:
        """Send one request and read until its answer (skipping late answers to earlier ones)."""
        assert self._writer is not None and self._reader is not None
        self._writer.write(request)
        await self._writer.drain()
        while True:
            line = await self._reader.readline()
            if not line:
                raise OwnerGone("the owner hung up")
            answer = ipc.decode(line)
            answer_id = answer.get("id")
            if answer_id == request_id:
                return answer
            if answer_id is None and answer.get("ok") is False:
                return answer  # the owner could not read the request: ours, the only one
            if isinstance(answer_id, int) and answer_id < request_id:
                log.debug("skipping a late answer (id %s; waiting for %s)", answer_id, request_id)
                continue
            raise MemoryStoreError(
                f"the memory owner answered request {answer_id!r} while {request_id} was asked"
            )

    def _hang_up(self) -> None:
        """Drop the connection now (the next request opens a new one)."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()

    async def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def status(self) -> MemoryStatus:
        """The owner's status, as seen from here (role "client")."""
        status: MemoryStatus = await self.perform(operations_of(self)["status"], {})
        return status.model_copy(update={"role": "client"})

    async def events(self) -> AsyncIterator[MemoryChanged]:
        """Every change the owner makes, on a connection of its own; ends with OwnerGone."""
        reader, writer = await _open(self.path)
        try:
            writer.write(ipc.encode({"id": 0, "op": ipc.SUBSCRIBE}))
            await writer.drain()
            if not await reader.readline():
                raise OwnerGone("the owner hung up")
            while True:
                line = await reader.readline()
                if not line:
                    raise OwnerGone("the owner hung up")
                try:
                    message = ipc.decode(line)
                    if "event" not in message:
                        continue
                    event = MemoryChanged.from_dict(message["event"])
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("skipping a memory change that could not be read: %r", exc)
                    continue
                yield event
        except (ConnectionError, OSError) as exc:
            raise OwnerGone(str(exc)) from exc
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def aclose(self) -> None:
        self._closed = True
        await self._drop()


async def _open(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the owner at ``path``, once the process there proved to run as this
    user (SO_PEERCRED): a socket in a shared directory may have been bound by someone else,
    who would then read what we remember and answer with what they like."""
    reader, writer = await asyncio.open_unix_connection(str(path), limit=ipc.ANSWER_LIMIT)
    sock = writer.get_extra_info("socket")
    if not ipc.peer_is_same_user(sock):
        writer.close()
        raise MemoryUnavailable(
            f"a process of another user (uid {ipc.peer_uid(sock)}) answers on the memory "
            f"socket {path}, so termmate sent it nothing; find out who runs it, or set "
            "TERMMATE_DATA_DIR to a shorter path so the socket lives in termmate's own folder"
        )
    return reader, writer
