"""Changes to a shared store reach every process: NOTIFY after each write, LISTEN in each process.

A process that writes tells its own listeners at once (store_core.notify) and sends each change
on the channel ``termmate_memory``; every process LISTENs on one connection of its own and hands
what others sent to its listeners, so a memory pane refreshes when another machine writes.
PostgreSQL delivers a notification when the writer's transaction commits, so a receiver that
looks the memory up finds it.

A notification carries what MemoryChanged needs (it is at most 8000 bytes: a very long text is
cut, marked so, and the receiver reads it whole from the store) and the sending store's token,
so a process skips its own. A dropped listening connection is opened again after a growing
pause (0.5 s, doubling, at most 30 s), and the memories are counted again (changes may have been
missed); whatever fails there (a PostgreSQL restart brings every process back at once) is
logged and tried again the same way, until the store closes. While idle nothing is sent or
polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.postgres import Database, StoreUnavailable
from config import redact_secrets

from .events import MemoryChanged

log = logging.getLogger(__name__)

CHANNEL = "termmate_memory"
PAYLOAD_LIMIT = 7900
"""Bytes per notification: PostgreSQL refuses payloads of 8000 bytes or more."""
FIRST_RETRY_S = 0.5
LAST_RETRY_S = 30.0
# Noticed within about a minute when a peer vanishes without closing (TCP; not Unix sockets).
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}


@dataclass(frozen=True, slots=True)
class Heard:
    """A change another process made; ``cut``: its text is shortened, read it from the store."""

    event: MemoryChanged
    cut: bool


def _described(exc: BaseException) -> str:
    return redact_secrets(" ".join(str(exc).split())) or type(exc).__name__


def encode(event: MemoryChanged, sender: str) -> str:
    """The notification for ``event`` from the store ``sender`` (within PAYLOAD_LIMIT)."""
    data: dict[str, Any] = {**event.as_dict(), "from": sender}
    payload = json.dumps(data, ensure_ascii=False)
    text = event.text
    while len(payload.encode()) > PAYLOAD_LIMIT:
        text = text[: len(text) * 3 // 4]  # JSON escapes make the size hard to predict
        data.update(text=text + "…", cut=True)
        payload = json.dumps(data, ensure_ascii=False)
    return payload


def decode(payload: str) -> tuple[str, Heard] | None:
    """(sender, change) from a notification; None for one that is not termmate's."""
    try:
        data = json.loads(payload)
        return str(data["from"]), Heard(MemoryChanged.from_dict(data), bool(data.get("cut")))
    except (ValueError, KeyError, TypeError):
        log.warning("ignored a memory change notification that is not termmate's")
        return None


class ChangeFeed:
    """This process's end of the channel: send (store's thread), listen (event loop)."""

    def __init__(
        self,
        database: Database,
        deliver: Callable[[Heard], Awaitable[None]],
        on_reconnect: Callable[[], Awaitable[None]],
    ) -> None:
        self.sender = secrets.token_hex(8)
        """This store's token: its own notifications come back to it, and are skipped."""
        self._database = database
        self._deliver = deliver
        self._on_reconnect = on_reconnect
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None

    # -- sending (on the store's thread, on one of its connections) -------------------------

    def send(self, conn: Any, events: Sequence[MemoryChanged]) -> None:
        """Announce ``events`` to every other process (delivered as ``conn`` commits)."""
        for event in events:
            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, encode(event, self.sender)))

    # -- listening ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen from now on (StoreUnavailable when the database cannot be reached)."""
        self._conn = await self._listen()
        self._task = asyncio.create_task(self._run(), name="termmate-memory-changes")

    async def _listen(self) -> Any:
        conn = await self._database.connect(**_KEEPALIVES)
        try:
            await conn.execute(f"LISTEN {CHANNEL}")  # a constant: LISTEN takes no parameters
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _run(self) -> None:
        # Ends only when cancelled (aclose): whatever listening, or counting after listening
        # again, raises, it is logged and tried again after a growing pause. A PostgreSQL
        # restart makes every process reconnect at once, so a second failure is to be expected.
        pause = FIRST_RETRY_S
        counted = True
        while True:
            try:
                if self._conn is None:
                    self._conn = await self._listen()
                    counted = False
                if not counted:  # changes may have been missed meanwhile
                    await self._on_reconnect()
                    counted = True
                pause = FIRST_RETRY_S
                async for note in self._conn.notifies():
                    await self._heard(note.payload)
            except Exception as exc:
                self._warn(exc, counted, pause)
            if self._conn is not None and (self._conn.broken or self._conn.closed):
                with contextlib.suppress(Exception):
                    await self._conn.close()
                self._conn = None
            # A connection that still works is kept: what it heard meanwhile is not lost.
            await asyncio.sleep(pause)
            pause = min(pause * 2, LAST_RETRY_S)

    def _warn(self, exc: Exception, counted: bool, pause: float) -> None:
        """One line for one failure (no traceback, no password: psycopg may quote the URL)."""
        why = exc.reason if isinstance(exc, StoreUnavailable) else _described(exc)
        if self._conn is None:
            log.warning(
                "cannot listen for memory changes from other processes in the %s yet (%s); "
                "trying again in %g s",
                self._database.where,
                why,
                pause,
            )
        elif not counted:
            log.warning(
                "cannot count the memories in the %s after listening again (%s); trying again "
                "in %g s",
                self._database.where,
                why,
                pause,
            )
        else:
            log.warning(
                "memory changes from other processes stopped (%s); reconnecting to the %s",
                why,
                self._database.where,
            )

    async def _heard(self, payload: str) -> None:
        decoded = decode(payload)
        if decoded is None or decoded[0] == self.sender:
            return
        try:
            await self._deliver(decoded[1])
        except Exception:
            log.exception("a memory change from another process could not be handed on")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
