"""Moving a data dir's embedded stores into PostgreSQL (``termmate store migrate``).

Everything travels as it is: every conversation with its checkpoints and metadata (through
the checkpointers, ``agent.threads``), the vocabulary, and every memory with its id, tier,
payload and vector (nothing is re-embedded, ``agent.memory.transfer``). The embedded files
are only read: threads.sqlite and the vocabulary through read-only connections, the memory
tiers without opening the store for writing (``store_files.MemoryFiles``, which refuses
while a running termmate has the store open).

A copy is resumable and idempotent. Every checkpoint and memory keeps its own key, so what
is already in the database is skipped or replaced by itself, and a copy cut short at any
point is finished by running it again. A conversation already in the database with other
messages (another user's of the same name, or one continued there since an earlier copy) is
left as it is and reported: copying into it would mix two conversations. So is one whose
saved state cannot be read.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CorruptData
from .memory.events import Tier
from .memory.paths import StorePaths
from .memory.schemas import TIERS
from .threads import ThreadRecord, ThreadStore, open_threads

if TYPE_CHECKING:
    from config import Settings

    from .memory.store_core import StoreCore
    from .memory.store_files import MemoryFiles

Progress = Callable[[str, int, int], None]
"""``progress(what, done, total)``: ``done`` of ``total`` threads, terms or memories copied."""


@dataclass
class Tally:
    """What a copy did with one kind of thing."""

    copied: int = 0
    already: int = 0
    """Already in the database (by an earlier copy), left as they were."""

    def as_json(self) -> dict[str, int]:
        return {"copied": self.copied, "already_there": self.already}


@dataclass
class MigrationReport:
    """What ``migrate`` copied into ``where``, and what it could not."""

    where: str
    threads: Tally = field(default_factory=Tally)
    memories: dict[Tier, Tally] = field(default_factory=lambda: {tier: Tally() for tier in TIERS})
    terms: Tally = field(default_factory=Tally)
    problems: list[str] = field(default_factory=list)
    """One sentence per conversation left behind (unreadable, or in the way)."""


async def migrate(settings: Settings, progress: Progress | None = None) -> MigrationReport:
    """Copy the embedded stores of ``settings.data_dir`` into the PostgreSQL of
    ``settings.store.url`` (see the module's docstring).

    Raises StoreInUse (a running termmate has the memory store), StoreUnavailable (the
    database cannot be used: its host named, never the password), MemoryStoreError (memories
    of another vector size there, a store on disk that cannot be read as it is), CorruptData
    (a threads file that is no database).
    """
    from .memory.store_files import MemoryFiles

    if not settings.store.shared:
        raise ValueError("store.url names no database to migrate into")
    report = progress or _quiet
    async with contextlib.AsyncExitStack() as stack:
        memories = MemoryFiles(StorePaths(settings.data_dir / "memory"))
        stack.push_async_callback(memories.aclose)
        await memories.open()  # first: refuse at once while termmate runs
        source = await _open_source_threads(settings.threads_db)
        if source is not None:
            stack.push_async_callback(source.aclose)
        target = await open_threads(settings)
        stack.push_async_callback(target.aclose)
        store = await _open_target_memories(settings, stack)
        if memories.dims is not None:
            from .memory.transfer import check_fits

            check_fits(store, memories.dims)  # before anything is copied
        result = MigrationReport(target.where)
        # Counted first: copying memories adds their categories to the vocabulary.
        terms_there = set(await store.run(store.vocabulary.get_all_terms))
        if source is not None:
            result.threads = await _copy_threads(source, target, result.problems, report)
        result.memories = await _copy_memories(memories, store, report)
        result.terms = await _copy_terms(memories, store, terms_there, report)
    return result


def _quiet(what: str, done: int, total: int) -> None:
    """No progress shown."""


# -- opening both sides ------------------------------------------------------------------------


async def _open_source_threads(path: Path) -> ThreadStore | None:
    """The embedded conversations, for reading only (None: there are none)."""
    if not path.exists():
        return None
    from ._threads_sqlite import damaged, not_a_database, open_sqlite_threads

    backend = await open_sqlite_threads(path, path.parent / "locks", read_only=True)
    try:
        columns = await backend.columns("termmate_threads")
    except sqlite3.Error as exc:
        await backend.aclose()
        if damaged(exc):
            raise not_a_database(path, str(exc)) from None
        raise CorruptData(f"cannot read conversations from {path}: {exc}") from None
    if not columns:  # no conversation was ever saved in it
        await backend.aclose()
        return None
    if "user_id" not in columns:
        await backend.aclose()
        raise CorruptData(
            f"{path} was written by an older termmate (its conversations have no owners "
            "yet): run `termmate threads` once, which updates it, then run this again"
        )
    return ThreadStore(backend)


async def _open_target_memories(settings: Settings, stack: contextlib.AsyncExitStack) -> StoreCore:
    """The memory store in the database (no embedding model: nothing is embedded)."""
    from .memory.store_core import open_store

    store = open_store(settings, None)
    stack.push_async_callback(store.aclose)
    await store.open()
    return store


# -- copying -----------------------------------------------------------------------------------


async def _copy_threads(
    source: ThreadStore, target: ThreadStore, problems: list[str], progress: Progress
) -> Tally:
    tally = Tally()
    records = await source.records()
    there = {record.thread_id: record for record in await target.records()}
    for done, record in enumerate(records, start=1):
        outcome = await _copy_thread(source, target, record, there.get(record.thread_id))
        if outcome == "copied":
            tally.copied += 1
        elif outcome == "already":
            tally.already += 1
        elif outcome != "gone":
            problems.append(outcome)
        progress("threads", done, len(records))
    return tally


async def _copy_thread(
    source: ThreadStore, target: ThreadStore, record: ThreadRecord, there: ThreadRecord | None
) -> str:
    """Copy one conversation: "copied", "already" (nothing to add), "gone" (deleted since
    it was listed), or why it was left behind."""
    thread_id = record.thread_id
    try:
        copy = await source.export_thread(thread_id)
    except CorruptData as exc:
        return f"{exc.reason}; it was not copied"
    if copy is None:
        return "gone"  # deleted since it was listed
    copy_ids = {_checkpoint_id(saved) for saved in copy.checkpoints}
    latest = await target.checkpointer.aget_tuple({"configurable": {"thread_id": thread_id}})
    other_owner = there is not None and there.user_id != record.user_id
    if other_owner or (latest is not None and _checkpoint_id(latest) not in copy_ids):
        return (
            f"the conversation {thread_id} is in the {target.where} already, with other "
            "messages (another user's of that name, or one continued there): it was left as "
            f"it is there, and this one stays in {source.where}"
        )
    newest = copy.checkpoints[-1] if copy.checkpoints else None
    if there == record and _same_saved(latest, newest):
        return "already"
    await target.import_thread(copy)
    return "copied"


def _checkpoint_id(saved: Any) -> str:
    return str(saved.config["configurable"]["checkpoint_id"])


def _same_saved(there: Any, here: Any) -> bool:
    """Whether two saved checkpoints (or None) are the same one, with the same pending
    writes."""
    if there is None or here is None:
        return there is here
    same_writes = len(there.pending_writes or ()) == len(here.pending_writes or ())
    return _checkpoint_id(there) == _checkpoint_id(here) and same_writes


async def _copy_terms(
    source: MemoryFiles, store: StoreCore, there: set[str], progress: Progress
) -> Tally:
    """Copy the vocabulary; ``there``: the terms the database held before the copy began."""
    from .memory.store_files import stored_terms

    terms = set(await source.run(stored_terms, source.paths))
    if terms:
        await store.run(store.vocabulary.ensure_categories, sorted(terms))
        progress("terms", len(terms), len(terms))
    return Tally(copied=len(terms - there), already=len(terms & there))


async def _copy_memories(
    source: MemoryFiles, store: StoreCore, progress: Progress
) -> dict[Tier, Tally]:
    from .memory.transfer import bulk_copy, read_memories, write_memories

    tallies = {tier: Tally() for tier in TIERS}
    if source.dims is None:
        return tallies
    total = sum([await source.run(source.count, tier) for tier in TIERS])
    done = 0
    async with bulk_copy(store, source.dims, source.built_with):
        async for page in read_memories(source):
            written = await write_memories(store, page)
            tally = tallies[page[0].tier]
            tally.copied += written
            tally.already += len(page) - written
            done += len(page)
            progress("memories", done, total)
    return tallies
