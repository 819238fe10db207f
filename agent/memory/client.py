"""The memory store reached through the process that owns it (see ipc.py and server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from . import ipc
from .events import MemoryChanged
from .schemas import (
    AddOutcome,
    CleanupReport,
    ImportItem,
    ImportReport,
    MemoryRecord,
    MemoryStatus,
    ReindexReport,
    SearchMemoryResult,
    UpdateOutcome,
)


class OwnerGone(Exception):
    """The owning process went away (it quit or crashed); someone must take over."""


class RemoteMemory:
    """Same operations as MemoryEngine, answered by the owner over a Unix socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)

    async def connect(self) -> None:
        """Connect; raises OSError (no such socket, refused) when no owner listens."""
        self._reader, self._writer = await asyncio.open_unix_connection(
            str(self.path), limit=ipc.LINE_LIMIT
        )

    async def _request(self, op: str, **args: Any) -> Any:
        async with self._lock:
            if self._writer is None or self._reader is None:
                raise OwnerGone("not connected")
            request_id = next(self._ids)
            try:
                self._writer.write(ipc.encode({"id": request_id, "op": op, "args": args}))
                await self._writer.drain()
                line = await self._reader.readline()
            except (ConnectionError, OSError) as exc:
                await self._drop()
                raise OwnerGone(str(exc)) from exc
            if not line:
                await self._drop()
                raise OwnerGone("the owner hung up")
        answer = ipc.decode(line)
        if not answer.get("ok"):
            raise ipc.error_from_wire(answer.get("error") or {})
        return ipc.OPS[op].validate_python(answer.get("result"))

    async def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # -- the operations ---------------------------------------------------------------------

    async def status(self) -> MemoryStatus:
        status: MemoryStatus = await self._request("status")
        return status.model_copy(update={"role": "client"})

    async def add(self, **args: Any) -> AddOutcome:
        return await self._request("add", **args)

    async def update(self, **args: Any) -> UpdateOutcome:
        return await self._request("update", **args)

    async def delete(self, **args: Any) -> MemoryRecord:
        return await self._request("delete", **args)

    async def get(self, **args: Any) -> MemoryRecord | None:
        return await self._request("get", **args)

    async def search(self, **args: Any) -> SearchMemoryResult:
        return await self._request("search", **args)

    async def list(self, **args: Any) -> list[MemoryRecord]:
        return await self._request("list", **args)

    async def categories(self) -> list[str]:
        return await self._request("categories")

    async def cleanup(self, **args: Any) -> CleanupReport:
        args.pop("progress", None)  # progress stays in the owner
        return await self._request("cleanup", **args)

    async def import_items(self, *, user_id: str, items: list[ImportItem]) -> ImportReport:
        return await self._request("import_items", user_id=user_id, items=ipc.to_wire(items))

    async def reindex(self) -> ReindexReport:
        return await self._request("reindex")

    async def events(self) -> AsyncIterator[MemoryChanged]:
        """Every change the owner makes, on a connection of its own; ends with OwnerGone."""
        reader, writer = await asyncio.open_unix_connection(str(self.path), limit=ipc.LINE_LIMIT)
        try:
            writer.write(ipc.encode({"id": 0, "op": ipc.SUBSCRIBE}))
            await writer.drain()
            if not await reader.readline():
                raise OwnerGone("the owner hung up")
            while True:
                line = await reader.readline()
                if not line:
                    raise OwnerGone("the owner hung up")
                message = ipc.decode(line)
                if "event" in message:
                    yield MemoryChanged.from_dict(message["event"])
        except (ConnectionError, OSError) as exc:
            raise OwnerGone(str(exc)) from exc
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def aclose(self) -> None:
        await self._drop()
