"""The memory store on disk, read without opening it for writing: for copying it elsewhere
(``termmate store migrate``) and counting it (``termmate store status``).

Opening the store (store.MemoryStore) may change its files: it removes the change history
of earlier versions, records a model, creates what is missing. A copy must leave them as they
are, so this reads them directly: the tiers through Qdrant local's client (the one way to
read its collections; it only reads them), the vocabulary and every count through read-only
SQLite connections. Qdrant local lets one process open a store, and a running termmate
writes to it, so ``MemoryFiles`` first takes the owner lock (service.py) and refuses, naming
the process, when a running termmate holds it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import fcntl
import json
import os
import sqlite3
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from . import tiers as tier_ops
from .errors import MemoryUnavailable
from .events import Tier
from .paths import StorePaths
from .schemas import TIERS
from .vocabulary import SELECT_TERMS

T = TypeVar("T")


class StoreInUse(MemoryUnavailable):
    """A running termmate has the memory store open (it holds the owner lock)."""


def read_only_sqlite(path: Path) -> sqlite3.Connection:
    """A connection to ``path`` that cannot write to it (SQLite still keeps its ``-wal`` and
    ``-shm`` beside a WAL database, as every reader does)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)


def count_rows(path: Path, table: str) -> int:
    """How many rows ``table`` of the SQLite file ``path`` holds (0: no file, no table)."""
    if not path.exists():
        return 0
    with contextlib.closing(read_only_sqlite(path)) as conn:
        try:
            # ``table`` is one of our constant names, never input.
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise


def stored_terms(paths: StorePaths) -> list[str]:
    """Every term of the store's vocabulary, sorted (none without a vocabulary file)."""
    if not paths.vocabulary.exists():
        return []
    with contextlib.closing(read_only_sqlite(paths.vocabulary)) as conn:
        try:
            return [row[0] for row in conn.execute(SELECT_TERMS)]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise


def counted(paths: StorePaths) -> dict[Tier, int]:
    """How many memories each tier holds, counted in Qdrant local's files (a row per point)
    without loading them: cheap at any size, and possible while a running termmate has the
    store open."""
    return {tier: count_rows(_tier_file(paths, tier), "points") for tier in TIERS}


def _tier_file(paths: StorePaths, tier: Tier) -> Path:
    """Where Qdrant local keeps the points of ``tier`` (its own layout)."""
    return paths.qdrant / "collection" / tier / "storage.sqlite"


class MemoryFiles:
    """The memory store in ``paths``, open for reading only (see the module's docstring).

    ``await open()`` first, ``await aclose()`` at the end. Every call into Qdrant local runs
    on one thread of its own (``run``), as its SQLite connections require.
    """

    def __init__(self, paths: StorePaths) -> None:
        self.paths = paths
        self.dims: int | None = None
        """The vector size of the stored memories (None: the store holds no tiers)."""
        self.built_with = "unknown"
        """The label of the embedding model that made the vectors (store.json)."""
        self._lock_fd: int | None = None
        self._client: Any = None
        self._ids: dict[Tier, list[str]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="termmate-files")
        self._closed = False

    @property
    def location(self) -> str:
        return str(self.paths.root)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the reader's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open(self) -> None:
        """Take the owner lock and open the tiers for reading. Raises StoreInUse when a
        running termmate has the store, MemoryUnavailable when it cannot be read as it is."""
        if not self.paths.root.is_dir():
            return  # no memories yet: nothing to read, and nothing is created for it
        self._take_owner_lock()
        try:
            await self.run(self._open_sync)
        except BaseException:
            await self.aclose()
            raise

    def _take_owner_lock(self) -> None:
        try:
            fd = os.open(self.paths.owner_lock, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise MemoryUnavailable(
                f"cannot open {self.paths.owner_lock} ({exc.strerror}), so whether a running "
                "termmate has the memory store open cannot be told"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StoreInUse(
                f"the memory store in {self.location} is open in termmate ({holder}), which "
                f"may change it while it is copied: close termmate ({holder}) first, then "
                "run this again"
            ) from None
        # As an owner does: a termmate starting meanwhile names the process it waits for.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _open_sync(self) -> None:
        if self.paths.reindex_backup.exists():
            raise MemoryUnavailable(
                f"a reindex of the memory store in {self.location} was interrupted, so its "
                "tiers are incomplete: run `termmate memory reindex` to finish it, then run "
                "this again"
            )
        if not (self.paths.qdrant / "meta.json").exists():
            return  # the store was never given an embedding model: it holds no memory
        from qdrant_client import QdrantClient

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "local mode ... > 20k points"
                self._client = QdrantClient(path=str(self.paths.qdrant))
        except RuntimeError as exc:  # another program has the folder open
            raise MemoryUnavailable(
                f"the memory store {self.paths.qdrant} is open in another program ({exc})"
            ) from None
        self.dims = tier_ops.stored_dims(self._client, TIERS)
        self.built_with = self._built_with()

    def _built_with(self) -> str:
        try:
            meta = json.loads(self.paths.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "unknown"
        return str(meta.get("embedder") or "unknown") if isinstance(meta, dict) else "unknown"

    async def aclose(self) -> None:
        """Close the tiers and let go of the owner lock (again: nothing happens)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.run(self._close_sync)
        finally:
            self._executor.shutdown(wait=True)
            fd, self._lock_fd = self._lock_fd, None
            if fd is not None:
                os.close(fd)  # lets go of the lock

    def _close_sync(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- reading (on the reader's thread) --------------------------------------------------------

    def count(self, tier: Tier) -> int:
        """How many memories ``tier`` holds."""
        if not self._has(tier):
            return 0
        return int(self._client.count(tier, exact=True).count)

    def export_rows(
        self, tier: Tier, after: str | None, limit: int
    ) -> list[tuple[str, dict[str, Any], list[float]]]:
        """Up to ``limit`` memories of ``tier`` as (id, payload, vector), in id order, from the
        first id after ``after`` (None: from the start)."""
        ids = self._sorted_ids(tier)
        start = 0 if after is None else bisect.bisect_right(ids, after)
        chosen = ids[start : start + limit]
        if not chosen:
            return []
        records = self._client.retrieve(tier, chosen, with_payload=True, with_vectors=True)
        found = {str(record.id): record for record in records}
        rows = []
        for point_id in chosen:
            record = found.get(point_id)
            vector = tier_ops.stored_vector(record) if record is not None else None
            if vector is not None:
                rows.append((point_id, dict(record.payload or {}), [float(v) for v in vector]))
        return rows

    def _has(self, tier: Tier) -> bool:
        return self._client is not None and self._client.collection_exists(tier)

    def _sorted_ids(self, tier: Tier) -> list[str]:
        """Every id of ``tier``, sorted, listed once (pages then fetch only their points)."""
        if tier not in self._ids:
            ids: list[str] = []
            if self._has(tier):
                total = self._client.count(tier, exact=True).count
                records, _ = self._client.scroll(
                    tier, limit=total + 1, with_payload=False, with_vectors=False
                )
                ids = sorted(str(record.id) for record in records)
            self._ids[tier] = ids
        return self._ids[tier]


def _holder(fd: int) -> str:
    """The process that holds the owner lock, as it wrote itself into the file."""
    with contextlib.suppress(OSError):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return f"process {text}"
    return "another process"
