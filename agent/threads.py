"""Conversations: LangGraph's checkpoints, and the ``termmate_threads`` table beside them.

Where they live is the backend's business: ``threads.sqlite`` in the data dir (the embedded
store, ``agent._threads_sqlite``) or the PostgreSQL of ``[store] url`` (shared by every
process on any machine, ``agent._threads_postgres``). ``ThreadStore`` is the same on both and
holds every query once: the metadata SQL is portable, and the backend only runs it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .clock import utc_now_iso
from .errors import CorruptData

if TYPE_CHECKING:
    from config import Settings

    from .state import Message
    from .turn_locks import SharedLock

THREAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TITLE_LENGTH = 60

# Portable SQL (SQLite and PostgreSQL), with "?" for every value: a backend that spells
# parameters otherwise translates the marker, never the query.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS termmate_threads (
    thread_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    turns INTEGER NOT NULL DEFAULT 0,
    user_id TEXT
)
"""
_INDEX = (
    "CREATE INDEX IF NOT EXISTS termmate_threads_by_user ON termmate_threads (user_id, updated_at)"
)
_COLUMNS = "thread_id, title, created_at, updated_at, turns"
_RECORD_COLUMNS = _COLUMNS + ", user_id"
_TOUCH = (
    "INSERT INTO termmate_threads (thread_id, title, created_at, updated_at, turns, user_id) "
    "VALUES (?, ?, ?, ?, 0, ?) "
    "ON CONFLICT (thread_id) DO UPDATE SET updated_at = excluded.updated_at, "
    "title = CASE WHEN termmate_threads.title = '(untitled)' "
    "THEN excluded.title ELSE termmate_threads.title END"
)
_PUT_RECORD = (
    f"INSERT INTO termmate_threads ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (thread_id) DO UPDATE SET title = excluded.title, "
    "created_at = excluded.created_at, updated_at = excluded.updated_at, "
    "turns = excluded.turns, user_id = excluded.user_id"
)


class ThreadNotFound(LookupError):
    """No conversation of this user has that id (another user's counts as none)."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"no conversation {thread_id!r}")
        self.thread_id = thread_id


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


@dataclass(frozen=True, slots=True)
class ThreadRecord:
    """A conversation's whole metadata row, its owner included (for copying stores)."""

    thread_id: str
    title: str
    created_at: str
    updated_at: str
    turns: int
    user_id: str | None


@dataclass(frozen=True, slots=True)
class ThreadCopy:
    """Everything saved of one conversation: its metadata (None: it has none) and every
    checkpoint with its pending writes (LangGraph ``CheckpointTuple``s, oldest first)."""

    thread_id: str
    record: ThreadRecord | None
    checkpoints: tuple[Any, ...]


class ThreadBackend(Protocol):
    """Where a ThreadStore's rows live: runs the store's SQL, owns the checkpointer."""

    where: str
    """The store, fit to show: a file's path, or ``database NAME on HOST:PORT``."""
    checkpointer: Any
    """LangGraph's checkpointer over the same store, with ``PlainDataSerializer``, that
    knows when a thread's writes have landed (``agent._checkpoint_writes.TracksWrites``)."""

    async def prepare(self) -> None:
        """Create the checkpointer's tables (and set the backend's own options)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement and make it last (commit)."""

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a query."""

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""

    async def columns(self, table: str) -> set[str]:
        """The names of ``table``'s columns."""

    def turn_lock(self, thread_id: str) -> SharedLock:
        """The lock that orders ``thread_id``'s turns between every process of this store."""

    async def aclose(self) -> None:
        """Close every connection (an unclosed aiosqlite thread keeps the process alive)."""


def new_thread_id() -> str:
    return "t-" + secrets.token_hex(5)


def valid_thread_id(thread_id: str) -> bool:
    # fullmatch: with match, "$" would also accept an id that ends in a newline.
    return bool(THREAD_ID.fullmatch(thread_id))


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


def shown_as_json(thread_id: str, title: str, messages: Sequence[dict[str, Any]]) -> dict:
    """A conversation as ``termmate show --json`` prints it and ``GET /v1/threads/{id}``
    answers it: ``stopped`` appears (true) only on a reply that was cut short."""
    return {
        "thread_id": thread_id,
        "title": title,
        "messages": [
            {"role": m["role"], "content": m["content"], "created_at": m["created_at"]}
            | ({"stopped": True} if m.get("stopped") else {})
            for m in messages
        ],
    }


class ThreadStore:
    """Thread metadata beside the checkpoints; messages from checkpoints.

    Every conversation belongs to one user: listings are per user, and a thread of another
    user is, to every caller, a thread that does not exist.
    """

    def __init__(self, backend: ThreadBackend) -> None:
        self._backend = backend
        self.checkpointer = backend.checkpointer
        """LangGraph's checkpointer over this store (the graph saves through it)."""
        self.where = backend.where
        """Where the conversations are, fit to show (a path, or a database and its host)."""

    async def setup(self, *, owner_of_old_threads: str) -> None:
        """Create the tables (and migrate a store from before threads had owners: its
        threads belong to ``owner_of_old_threads``, the configured user)."""
        db = self._backend
        await db.prepare()
        await db.execute(_SCHEMA)
        if "user_id" not in await db.columns("termmate_threads"):
            await db.execute("ALTER TABLE termmate_threads ADD COLUMN user_id TEXT")
        await db.execute(
            "UPDATE termmate_threads SET user_id = ? WHERE user_id IS NULL", (owner_of_old_threads,)
        )
        await db.execute(_INDEX)

    def turn_lock(self, thread_id: str) -> SharedLock:
        """The lock that orders ``thread_id``'s turns between processes (``TurnLocks``)."""
        return self._backend.turn_lock(thread_id)

    async def aclose(self) -> None:
        """Close the store's connections."""
        await self._backend.aclose()

    async def touch(self, thread_id: str, first_text: str | None, user_id: str) -> None:
        """Record that a turn of ``user_id`` starts on ``thread_id`` (creating it for them,
        titled by its first message). The caller has checked that it is theirs (``owner``)."""
        now = utc_now_iso()
        title = title_from(first_text) if first_text else "(untitled)"
        await self._backend.execute(_TOUCH, (thread_id, title, now, now, user_id))

    async def owner(self, thread_id: str) -> str | None:
        """Whose conversation ``thread_id`` is (None: nobody's yet)."""
        row = await self._backend.fetch_one(
            "SELECT user_id FROM termmate_threads WHERE thread_id = ?", (thread_id,)
        )
        return row[0] if row else None

    async def check_owner(self, thread_id: str, user_id: str) -> None:
        """Raise ThreadNotFound when ``thread_id`` belongs to another user."""
        owner = await self.owner(thread_id)
        if owner is not None and owner != user_id:
            raise ThreadNotFound(thread_id)

    async def delete(self, thread_id: str) -> None:
        """Forget the conversation: its checkpoints and its metadata."""
        await self.checkpointer.adelete_thread(thread_id)
        await self._backend.execute(
            "DELETE FROM termmate_threads WHERE thread_id = ?", (thread_id,)
        )

    async def finish_turn(self, thread_id: str) -> None:
        """Count a turn of ``thread_id`` as done, once everything it wrote is saved: the caller
        then says "finished", and every reader, in any process, sees the reply."""
        await self.checkpointer.writes_landed(thread_id)
        await self._backend.execute(
            "UPDATE termmate_threads SET turns = turns + 1, updated_at = ? WHERE thread_id = ?",
            (utc_now_iso(), thread_id),
        )

    async def list(self, user_id: str) -> list[ThreadInfo]:
        """``user_id``'s conversations, the most recent first."""
        rows = await self._backend.fetch_all(
            f"SELECT {_COLUMNS} FROM termmate_threads WHERE user_id = ? ORDER BY updated_at DESC",
            (user_id,),
        )
        return [ThreadInfo(*row) for row in rows]

    async def get(self, thread_id: str, *, user_id: str) -> ThreadInfo | None:
        """``user_id``'s conversation ``thread_id`` (None: none of theirs has that id)."""
        row = await self._backend.fetch_one(
            f"SELECT {_COLUMNS} FROM termmate_threads WHERE thread_id = ? AND user_id = ?",
            (thread_id, user_id),
        )
        return ThreadInfo(*row) if row else None

    async def last(self, user_id: str) -> ThreadInfo | None:
        """``user_id``'s most recent conversation."""
        threads = await self.list(user_id)
        return threads[0] if threads else None

    async def messages(self, thread_id: str) -> list[Message]:
        """Every message of the thread, as last checkpointed.

        Raises CorruptData when the thread's checkpoint cannot be read or holds something
        other than termmate's messages.
        """
        try:
            saved = await self.checkpointer.aget_tuple(_config(thread_id))
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
            f"the conversation {thread_id} in {self.where} cannot be read: {why}. Start a new "
            "conversation; termmate never deletes the damaged one"
        )

    # -- every user's threads, and copies between stores (``termmate store migrate``) --------

    async def records(self) -> list[ThreadRecord]:
        """Every conversation of every user, the oldest first."""
        rows = await self._backend.fetch_all(
            f"SELECT {_RECORD_COLUMNS} FROM termmate_threads ORDER BY created_at, thread_id"
        )
        return [ThreadRecord(*row) for row in rows]

    async def count(self) -> int:
        """How many conversations the store holds (every user's)."""
        row = await self._backend.fetch_one("SELECT COUNT(*) FROM termmate_threads")
        return int(row[0]) if row else 0

    async def export_thread(self, thread_id: str) -> ThreadCopy | None:
        """Everything saved of ``thread_id`` (None: nothing), for ``import_thread`` into
        another store. Raises CorruptData when a checkpoint cannot be read."""
        row = await self._backend.fetch_one(
            f"SELECT {_RECORD_COLUMNS} FROM termmate_threads WHERE thread_id = ?", (thread_id,)
        )
        try:
            checkpoints = [saved async for saved in self.checkpointer.alist(_config(thread_id))]
        except CorruptData as exc:
            raise self.unreadable(thread_id, exc.reason) from exc
        if row is None and not checkpoints:
            return None
        checkpoints.reverse()  # alist gives the newest first
        return ThreadCopy(thread_id, ThreadRecord(*row) if row else None, tuple(checkpoints))

    async def import_thread(self, copy: ThreadCopy) -> None:
        """Save ``copy`` (from ``export_thread``, maybe of another backend) here, as it was.

        Idempotent: every checkpoint and write has its own key, and saving one again
        replaces it with itself, so importing a thread twice adds nothing twice.
        """
        from ._threads_copy import put_checkpoints

        await put_checkpoints(self.checkpointer, copy.checkpoints)
        if copy.record is not None:
            r = copy.record
            await self._backend.execute(
                _PUT_RECORD, (r.thread_id, r.title, r.created_at, r.updated_at, r.turns, r.user_id)
            )


async def copy_thread(source: ThreadStore, target: ThreadStore, thread_id: str) -> bool:
    """Copy one conversation from ``source`` to ``target`` (again: nothing changes); False
    when ``source`` has nothing of it."""
    copy = await source.export_thread(thread_id)
    if copy is None:
        return False
    await target.import_thread(copy)
    return True


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


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


async def open_threads(settings: Settings) -> ThreadStore:
    """The conversations of ``settings``: in PostgreSQL when ``[store] url`` is set (psycopg is
    imported only then), else ``threads.sqlite`` in the data dir. Close with ``aclose()``.

    Raises StoreUnavailable (the database cannot be used: its host named, never the
    password), CorruptData (a threads file that is no database), OSError or sqlite3.Error.
    """
    if settings.store.shared:
        from ._threads_postgres import open_postgres_threads

        return await open_postgres_threads(settings.store, user_id=settings.user_id)
    store, _, _ = await open_thread_store(
        settings.threads_db, user_id=settings.user_id, locks=settings.data_dir / "locks"
    )
    return store


async def open_thread_store(
    path: Path, *, user_id: str, locks: Path | None = None
) -> tuple[ThreadStore, Any, Any]:
    """Open the embedded ``threads.sqlite``: returns (store, checkpointer, connection). ``user_id``
    owns the threads of a database from before threads had owners; turns take their ``flock``
    in ``locks`` (default: ``locks/`` beside the file).

    Raises CorruptData when the file is not a (readable) SQLite database, and OSError or
    sqlite3.Error when it cannot be opened at all; either way nothing is left open.
    """
    from ._threads_sqlite import damaged, not_a_database, open_sqlite_threads

    backend = await open_sqlite_threads(path, locks or path.parent / "locks")
    store = ThreadStore(backend)
    try:
        await store.setup(owner_of_old_threads=user_id)
    except BaseException as exc:
        await backend.aclose()
        if damaged(exc):  # "file is not a database", "database disk image is malformed"
            raise not_a_database(path, str(exc)) from None
        raise
    return store, backend.checkpointer, backend.conn
