"""What every memory store does, whatever holds its tiers: the one thread mem0 runs on, the
embedding model, telling listeners, and what may run now.

Two stores build on it: ``store.MemoryStore`` (Qdrant local in ``data_dir/memory``, opened
by one process that serves the others) and ``pg_store.PgMemoryStore`` (PostgreSQL with
pgvector, opened by every process itself). MemoryEngine (reads and writes) and Maintenance
(cleanup, import, reindex) use a store through the public members below and nothing else, so
they do not know which one they have. What differs sits behind the abstract members at the
end: opening, the record of the model that built the store, moving a memory between tiers,
the reindex snapshot and rebuild, and how an add is kept from storing a text twice.

mem0 is synchronous, so every call into it runs on the store's thread, one at a time
(``run``); embeddings are computed on the event loop first and handed to mem0 ready-made
(``prepared``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar

from config import Settings

from . import gate
from .errors import MemoryUnavailable, VectorSizeMismatch
from .events import MemoryChanged, Tier
from .operations import Progress
from .paths import StorePaths, scope_of
from .schemas import MemoryStatus
from .store_embedder import Embedder, EmbedKind, StoreEmbedder

log = logging.getLogger(__name__)

T = TypeVar("T")
Listener = Callable[[MemoryChanged], None]
Settled = Literal["moved", "kept", "repaired", "gone"]
"""What cleanup did with one fresh memory (see ``StoreCore.settle``)."""


class StoreCore:
    """One memory store, open in this process (see the module's docstring)."""

    role: ClassVar[Literal["owner", "shared"]] = "owner"
    """How this process has the store: it alone ("owner"), or every process ("shared")."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None,
        *,
        embedder_problem: str | None = None,
        chat: Callable[[list[dict[str, Any]]], Any] | None = None,
        writes: gate.WriteGate | None = None,
    ) -> None:
        self.settings = settings
        self.paths = StorePaths(settings.data_dir / "memory")
        self.embedder = StoreEmbedder(embedder, embedder_problem)
        self.writes = writes or gate.WriteGate()
        """Writes hold it shared, a reindex alone (see gate.py)."""
        self.vocabulary: Any = None
        """The controlled vocabulary (vocabulary.VocabularyManager), once open."""
        self.dims: int | None = None
        """The vector size of the tiers (None until the first model built them)."""
        self.mismatch: str | None = None
        """Why the model does not fit the store (another vector size), None when it does."""
        self.reindex_pending = False
        """A reindex has taken its snapshot and not yet rebuilt the store (or was cut short)."""
        self._chat = chat
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="termmate-memory")
        self._listeners: list[Listener] = []
        self._tiers: dict[Tier, Any] = {}
        self._binding: Any = None
        self._binding_key: str | None = None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- opening and closing ------------------------------------------------------------------

    async def open(self) -> None:
        """Open the store (creating it if needed) and check the embedding model fits it."""
        loop = self._loop = asyncio.get_running_loop()
        await self.embedder.probe()
        await self.run(self._open_sync, loop)

    def _bind_mem0(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand mem0 this store's embedder and chat model (on the store's thread)."""
        # mem0 reads MEM0_DIR when first imported and writes a config file there.
        os.environ.setdefault("MEM0_DIR", str(self.paths.mem0_home))
        from . import mem0_setup

        self._binding = mem0_setup.Mem0Binding(loop=loop, embed=self.embed_one, chat=self._chat)
        self._binding_key = mem0_setup.bind(self._binding)

    def check_dims(self) -> None:
        """Compare the model's vector size with the store's (sets ``mismatch``)."""
        self.mismatch = None
        model_dims = self.embedder.dims
        if model_dims and self.dims and model_dims != self.dims:
            built = self._built_with()
            by = f" (built with {built})" if built else ""
            self.mismatch = (
                f"the memory store in {self.location} holds {self.dims}-dimensional "
                f"vectors{by}, but {self.embedder.label} gives {model_dims}-dimensional ones. "
                "Run `termmate memory reindex` to rebuild it for the current model (your "
                "memories are kept), or switch back to the model that built it."
            )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self.run(self._close_sync)
        finally:
            self._executor.shutdown(wait=True)
            await self.embedder.aclose()

    def _close_sync(self) -> None:
        from . import mem0_setup

        for memory in self._tiers.values():
            memory.close()
        self._tiers = {}
        try:
            self._close_backend()
        finally:
            if self.vocabulary is not None:
                with contextlib.suppress(Exception):  # a connection the server dropped
                    self.vocabulary.close()
            if self._binding_key is not None:
                mem0_setup.unbind(self._binding_key)

    # -- the store's thread, and telling listeners ----------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the store's thread (the only one that calls into mem0)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every change; returns a function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def notify(self, events: Sequence[MemoryChanged]) -> None:
        """Tell listeners, from the store's thread, right after a write: even when the caller
        stopped waiting for it (e.g. was cancelled), the change happened and is announced."""
        if events and self._loop is not None:
            self._loop.call_soon_threadsafe(self._emit, list(events))

    def _emit(self, events: Sequence[MemoryChanged]) -> None:
        for event in events:
            for listener in list(self._listeners):
                try:
                    listener(event)
                except Exception:
                    log.exception("a memory listener failed")

    # -- the tiers -------------------------------------------------------------------------------

    @property
    def tiers(self) -> tuple[Tier, ...]:
        """The tiers that are open (none until a model has given the store its vector size)."""
        return tuple(self._tiers)

    def vectors(self, tier: Tier) -> Any:
        """The tier's vector store; its ``.index`` answers reads (get, find, ids_with_prefix,
        scope_of, vector, items, count, len, in) the same on every backend."""
        return self._tiers[tier].vector_store

    def memory(self, tier: Tier) -> Any:
        """The tier's mem0 Memory (adds, updates, deletes and searches go through it)."""
        return self._tiers[tier]

    @contextmanager
    def prepared(self, text: str, vector: list[float]) -> Iterator[None]:
        """While the block runs, mem0 gets ``vector`` when it embeds ``text``."""
        self._binding.prepared[text] = vector
        try:
            yield
        finally:
            self._binding.prepared.pop(text, None)

    def add_point(
        self,
        text: str,
        vector: list[float],
        user_id: str,
        category: str,
        updated_at: str | None,
        tier: Tier,
    ) -> str:
        """Add a memory to ``tier`` through mem0 (on the store's thread); its id."""
        metadata: dict[str, Any] = {"category": category}
        if updated_at is not None:
            metadata["created_at"] = updated_at  # mem0 sets updated_at to created_at on add
        with self.prepared(text, vector):
            result = self.memory(tier).add(
                text, user_id=scope_of(user_id), metadata=metadata, infer=False
            )
        return str(result["results"][0]["id"])

    def count(self) -> int:
        """How many memories both tiers hold (cheap: the status pane shows it)."""
        return sum(len(self.vectors(tier).index) for tier in self._tiers)

    # -- what may run now ----------------------------------------------------------------------

    def blocked(self) -> str | None:
        """Why the store cannot be used at all now (a reindex), None when it can."""
        if self.reindex_pending and self.writes.reindexing:
            return (
                "the memory store is being reindexed (`termmate memory reindex`); memory is "
                "back when it is done, and changes wait for it"
            )
        if self.reindex_pending:
            return (
                "a reindex of the memory store was interrupted; run `termmate memory reindex` "
                "to finish it (every memory is kept in "
                f"{self.paths.reindex_backup.name} until then)"
            )
        return None

    def require_open(self) -> None:
        """Raise MemoryUnavailable unless the store is open and usable."""
        if self.closed:
            raise MemoryUnavailable("the memory store is closed")
        blocked = self.blocked()
        if blocked:
            raise MemoryUnavailable(blocked)

    async def require_embedding(self, *, offline: bool = False) -> None:
        """Raise why text cannot be embedded now; retry a failed model now and then (not for
        an ``offline`` caller: the retry may use the network)."""
        self.require_open()
        if self.embedder.switch_offline(offline):
            if not self._tiers:
                why = self.embedder.problem or "no embedding model has built the store yet"
                raise MemoryUnavailable(f"memory is off: {why}")
            if self.mismatch:
                raise VectorSizeMismatch(self.mismatch)
            self.embedder.offline_model()
            return
        if self.embedder.probe_due(self.settings.embed.retry_remote_after_s):
            await self.embedder.probe()
            if self.embedder.dims and not self._tiers:
                await self.run(self.build_tiers, self.dims or self.embedder.dims)
            self.check_dims()
        if self.embedder.problem:
            raise MemoryUnavailable(f"memory is off: {self.embedder.problem}")
        if self.mismatch:
            raise VectorSizeMismatch(self.mismatch)

    # -- embedding -------------------------------------------------------------------------------

    async def embed(
        self, texts: Sequence[str], kind: EmbedKind, *, offline: bool = False
    ) -> list[list[float]]:
        """Vectors for ``texts``. ``offline``: the caller (maybe another process) is in offline
        mode, so only a model that opens no network connection may embed them."""
        if self.embedder.switch_offline(offline):
            return await self.embedder.embed_offline(texts, kind, self.dims)
        vectors = await self.embedder.embed(texts, kind)
        for vector in vectors:
            if self.dims is not None and len(vector) != self.dims:
                self.embedder.dims = len(vector)
                self.check_dims()
                raise VectorSizeMismatch(self.mismatch or "vector size mismatch")
        return vectors

    async def embed_one(self, text: str, kind: EmbedKind, *, offline: bool = False) -> list[float]:
        return (await self.embed([text], kind, offline=offline))[0]

    # -- status ----------------------------------------------------------------------------------

    def status_now(self) -> MemoryStatus:
        """What the status pane shows (cheap: no thread, no model)."""
        blocked = self.blocked()
        if blocked:
            return MemoryStatus(state="error", detail=blocked, role=self.role)
        if self.mismatch:
            return MemoryStatus(state="error", detail=self.mismatch, role=self.role)
        if self.embedder.problem:
            return MemoryStatus(state="off", detail=self.embedder.problem, role=self.role)
        detail = f"{self.embedder.label}, {self.dims}-d, {self.count():,} memories"
        return MemoryStatus(state="ok", detail=detail, role=self.role)

    # -- what each backend does its own way ---------------------------------------------------

    @property
    def location(self) -> str:
        """Where the store is, for messages (a folder, or a database by host and name)."""
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    def _open_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the tiers, the vocabulary and the model record (on the store's thread)."""
        raise NotImplementedError

    def _close_backend(self) -> None:
        """Let go of what ``_open_sync`` opened (on the store's thread)."""
        raise NotImplementedError

    def build_tiers(self, dims: int) -> None:
        """Open (or create) both tiers for vectors of ``dims`` (on the store's thread)."""
        raise NotImplementedError

    def _built_with(self) -> str:
        """The label of the embedding model that built the store ("" when unknown)."""
        raise NotImplementedError

    def same_text(self, scope: str, digests: Sequence[str]) -> AbstractContextManager[None]:
        """While the block runs, no other writer adds these texts (by hash) to ``scope``, so
        a check for them and the add that follows are one step (on the store's thread)."""
        raise NotImplementedError

    def remembered(self, scope: str, digests: Sequence[str]) -> set[str]:
        """Which of these text hashes ``scope``'s memories hold now, as seen by a writer that
        checked them earlier and is about to add the rest (inside ``same_text``)."""
        raise NotImplementedError

    def move(self, point_id: str, source: Tier, target: Tier) -> bool:
        """Move a memory from ``source`` to ``target`` unchanged; False when it is not in
        ``source`` (any more). Never leaves it in neither tier (on the store's thread)."""
        raise NotImplementedError

    def stale_candidates(self, scope: str | None, cutoff: datetime) -> list[str]:
        """Fresh memories cleanup looks at: the stale ones (every user's when ``scope`` is
        None), and those an interrupted move left in both tiers."""
        raise NotImplementedError

    def settle(self, point_id: str, cutoff: datetime, progress: Progress | None) -> Settled:
        """Put one fresh memory where it belongs: "moved" to old when not updated since
        ``cutoff``, "kept", "repaired" (a copy left in old removed) or "gone"."""
        raise NotImplementedError

    def snapshot(self) -> list[dict[str, Any]]:
        """Every memory as {"tier", "id", "payload"}, kept safe until ``rebuild`` is done."""
        raise NotImplementedError

    def rebuild(
        self, dims: int, items: Sequence[dict[str, Any]], vectors: Sequence[Sequence[float]]
    ) -> None:
        """Both tiers anew for ``dims``, holding ``items`` with ``vectors`` (store's thread)."""
        raise NotImplementedError

    def export_rows(
        self, tier: Tier, after: str | None, limit: int
    ) -> list[tuple[str, dict[str, Any], list[float]]]:
        """Up to ``limit`` memories of ``tier`` as (id, payload, vector), in id order, from the
        first id after ``after`` (None: from the start): every memory, page by page."""
        raise NotImplementedError

    def import_rows(
        self, tier: Tier, rows: Sequence[tuple[str, dict[str, Any], Sequence[float]]]
    ) -> list[str]:
        """Write (id, payload, vector) rows into ``tier`` keeping their ids; a row whose id
        either tier holds already is skipped. The ids written."""
        raise NotImplementedError


def open_store(settings: Settings, embedder: Embedder | None, **options: Any) -> StoreCore:
    """The store ``settings`` name: PostgreSQL with ``[store] url``, else the one on disk."""
    if settings.store.shared:
        from .pg_store import PgMemoryStore  # psycopg is loaded only for a shared store

        return PgMemoryStore(settings, embedder, **options)
    from .store import MemoryStore

    return MemoryStore(settings, embedder, **options)
