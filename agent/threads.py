"""Conversations: metadata beside LangGraph's checkpoints in ``threads.sqlite``."""

from __future__ import annotations

import asyncio
import re
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .clock import utc_now_iso
from .errors import CorruptData

if TYPE_CHECKING:
    from .state import Message

THREAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
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
    # fullmatch: with match, "$" would also accept an id that ends in a newline.
    return bool(THREAD_ID.fullmatch(thread_id))


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


class ThreadStore:
    """Thread metadata on the checkpointer's own SQLite connection; messages from checkpoints."""

    def __init__(self, conn: Any, checkpointer: Any, path: Path) -> None:
        self._conn = conn
        self._checkpointer = checkpointer
        self.path = path

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
        """Every message of the thread, as last checkpointed.

        Raises CorruptData when the thread's checkpoint cannot be read or holds something
        other than termmate's messages.
        """
        try:
            saved = await self._checkpointer.aget_tuple({"configurable": {"thread_id": thread_id}})
        except CorruptData as exc:
            raise self.unreadable(thread_id, exc.reason) from exc
        if saved is None:
            return []
        messages = list(saved.checkpoint["channel_values"].get("messages", []))
        # A step's writes are saved before its checkpoint: a reply that just finished may still
        # be a pending write of the newest checkpoint. It is saved all the same.
        for _task, channel, value in saved.pending_writes or ():
            if channel == "messages":
                messages.extend(value if isinstance(value, list) else [value])
        for message in messages:
            if not _is_message(message):
                raise self.unreadable(thread_id, f"it holds {_shown(message)} among its messages")
        return messages

    def unreadable(self, thread_id: str, why: str) -> CorruptData:
        """The error for a conversation whose saved state cannot be read."""
        return CorruptData(
            f"the conversation {thread_id} in {self.path} cannot be read: {why}. Start a new "
            "conversation; termmate never deletes the damaged one"
        )


def _is_message(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("role") in ("user", "assistant")
        and isinstance(value.get("content"), str)
        and isinstance(value.get("created_at"), str)
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


async def open_thread_store(path: Path) -> tuple[ThreadStore, Any, Any]:
    """Open ``threads.sqlite``: returns (store, checkpointer, connection).

    Raises CorruptData when the file is not a (readable) SQLite database, and OSError or
    sqlite3.Error when it cannot be opened at all; either way nothing is left open (an
    unclosed aiosqlite connection's thread would keep the process alive).
    """
    if not _looks_like_sqlite(path):  # said at once, before LangGraph is even imported
        raise _not_a_database(path, "file is not a database")
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from .serde import PlainDataSerializer

    conn = aiosqlite.connect(str(path), timeout=10)
    try:
        await conn
    except BaseException:
        # aiosqlite stops its thread when connecting fails, and that thread then reports back
        # to this event loop: wait for it, or it finds the loop closed and prints a traceback.
        await asyncio.to_thread(conn._thread.join, 5.0)
        raise
    try:
        checkpointer = AsyncSqliteSaver(conn, serde=PlainDataSerializer())
        store = ThreadStore(conn, checkpointer, path)
        await store.setup()
    except BaseException as exc:
        await conn.close()
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            # "file is not a database", "database disk image is malformed"
            raise _not_a_database(path, str(exc)) from None
        raise
    return store, checkpointer, conn


_SQLITE_HEADER = b"SQLite format 3\x00"


def _looks_like_sqlite(path: Path) -> bool:
    """False for a file that is certainly no SQLite database (a missing or empty file is a new
    one); unreadable files are left to SQLite to report."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_HEADER))
    except OSError:
        return True
    return not head or head == _SQLITE_HEADER


def _not_a_database(path: Path, why: str) -> CorruptData:
    return CorruptData(
        f"{path} cannot be read as termmate's conversation database ({why}). Move it aside "
        f"(e.g. mv {path} {path}.broken) and termmate starts a new one; it never deletes the "
        "file itself"
    )
