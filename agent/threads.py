"""Conversations: metadata beside LangGraph's checkpoints in ``threads.sqlite``."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from .clock import utc_now_iso
from .state import Message

THREAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TITLE_LENGTH = 60

_SCHEMA = """
CREATE TABLE IF NOT EXISTS termmate_threads (
    thread_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """One conversation, as listed by ``termmate threads``."""

    thread_id: str
    title: str
    created_at: str
    updated_at: str
    turns: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.thread_id,
            "title": self.title,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "turns": self.turns,
        }


def new_thread_id() -> str:
    return "t-" + secrets.token_hex(5)


def valid_thread_id(thread_id: str) -> bool:
    return bool(THREAD_ID.match(thread_id))


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


class ThreadStore:
    """Thread metadata on the checkpointer's own SQLite connection; messages from checkpoints."""

    def __init__(self, conn: Any, checkpointer: Any) -> None:
        self._conn = conn
        self._checkpointer = checkpointer

    async def setup(self) -> None:
        await self._checkpointer.setup()  # WAL mode and LangGraph's tables
        # In WAL mode, NORMAL survives any crash of the process (SIGKILL included); only a
        # power cut may lose the last turn. It spares an fsync on each of a turn's commits.
        await self._conn.execute("PRAGMA synchronous=NORMAL")
        await self._conn.execute(_SCHEMA)
        await self._conn.commit()

    async def touch(self, thread_id: str, first_text: str | None) -> None:
        """Record that a turn starts on ``thread_id`` (creating it, titled by its first message)."""
        now = utc_now_iso()
        title = title_from(first_text) if first_text else "(untitled)"
        await self._conn.execute(
            "INSERT INTO termmate_threads (thread_id, title, created_at, updated_at, turns) "
            "VALUES (?, ?, ?, ?, 0) "
            "ON CONFLICT (thread_id) DO UPDATE SET updated_at = excluded.updated_at, "
            "title = CASE WHEN termmate_threads.title = '(untitled)' "
            "THEN excluded.title ELSE termmate_threads.title END",
            (thread_id, title, now, now),
        )
        await self._conn.commit()

    async def finish_turn(self, thread_id: str) -> None:
        await self._conn.execute(
            "UPDATE termmate_threads SET turns = turns + 1, updated_at = ? WHERE thread_id = ?",
            (utc_now_iso(), thread_id),
        )
        await self._conn.commit()

    async def list(self) -> list[ThreadInfo]:
        async with self._conn.execute(
            "SELECT thread_id, title, created_at, updated_at, turns FROM termmate_threads "
            "ORDER BY updated_at DESC"
        ) as cursor:
            return [ThreadInfo(*row) async for row in cursor]

    async def get(self, thread_id: str) -> ThreadInfo | None:
        async with self._conn.execute(
            "SELECT thread_id, title, created_at, updated_at, turns FROM termmate_threads "
            "WHERE thread_id = ?",
            (thread_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return ThreadInfo(*row) if row else None

    async def last(self) -> ThreadInfo | None:
        threads = await self.list()
        return threads[0] if threads else None

    async def messages(self, thread_id: str) -> list[Message]:
        """Every message of the thread, as last checkpointed."""
        saved = await self._checkpointer.aget_tuple({"configurable": {"thread_id": thread_id}})
        if saved is None:
            return []
        messages = list(saved.checkpoint["channel_values"].get("messages", []))
        # A step's writes are saved before its checkpoint: a reply that just finished may still
        # be a pending write of the newest checkpoint. It is saved all the same.
        for _task, channel, value in saved.pending_writes or ():
            if channel == "messages":
                messages.extend(value)
        return messages


async def open_thread_store(path: Any) -> tuple[ThreadStore, Any, Any]:
    """Open ``threads.sqlite``: returns (store, checkpointer, connection)."""
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    conn = await aiosqlite.connect(str(path), timeout=10)
    checkpointer = AsyncSqliteSaver(conn)
    store = ThreadStore(conn, checkpointer)
    await store.setup()
    return store, checkpointer, conn
