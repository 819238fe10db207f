"""The memory store on disk: Qdrant local with the tiers "fresh" and "old" (through mem0), the
vocabulary, ``store.json``, and the one thread every call into them runs on.

mem0, Qdrant local and SQLite are synchronous, so every call into them runs on the store's
thread, one at a time (``run``); embeddings are computed on the event loop first and handed to
mem0 ready-made (``prepared``). MemoryEngine (reads and writes) and Maintenance (cleanup,
import, reindex) use the store through the public members below, and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from config import Settings

from . import gate
from . import tiers as tier_ops
from .errors import MemoryUnavailable, VectorSizeMismatch
from .events import MemoryChanged, Tier
from .paths import StorePaths, scope_of
from .schemas import TIERS, MemoryStatus
from .store_embedder import Embedder, EmbedKind, StoreEmbedder
from .timestamps import format_utc, now_utc

log = logging.getLogger(__name__)

T = TypeVar("T")
Listener = Callable[[MemoryChanged], None]


class MemoryStore:
    """One memory store, open in this process (see the module's docstring)."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None,
        *,
        embedder_problem: str | None = None,
        chat: Callable[[list[dict[str, Any]]], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.paths = StorePaths(settings.data_dir / "memory")
        self.embedder = StoreEmbedder(embedder, embedder_problem)
        self.writes = gate.WriteGate()
        """Writes hold it shared, a reindex alone (see gate.py)."""
        self.vocabulary: Any = None
        """The controlled vocabulary (vocabulary.VocabularyManager), once open."""
        self.dims: int | None = None
        """The vector size of the tiers on disk (None until the first model built them)."""
        self.mismatch: str | None = None
        """Why the model does not fit the store (another vector size), None when it does."""
        self.reindex_pending = False
        """A reindex has taken its snapshot and not yet rebuilt the store (or was cut short)."""
        self._chat = chat
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="termmate-memory")
        self._listeners: list[Listener] = []
        self._tiers: dict[Tier, Any] = {}
        self._client: Any = None
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

    def _open_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        self.paths.ensure()
        self._remove_legacy_history()
        # mem0 reads MEM0_DIR when first imported and writes a config file there.
        os.environ.setdefault("MEM0_DIR", str(self.paths.mem0_home))
        from qdrant_client import QdrantClient

        from . import mem0_setup
        from .vocabulary import VocabularyManager

        self._binding = mem0_setup.Mem0Binding(loop=loop, embed=self.embed_one, chat=self._chat)
        self._binding_key = mem0_setup.bind(self._binding)
        try:
            with warnings.catch_warnings():
                # Qdrant local warns on stderr above 20k points; the index (vector_index.py) is
                # what makes large stores fast, and stray stderr lines would tear the TUI.
                warnings.simplefilter("ignore", UserWarning)
                self._client = QdrantClient(path=str(self.paths.qdrant))
        except RuntimeError as exc:  # Qdrant local allows one client per directory
            raise MemoryUnavailable(
                f"the memory store {self.paths.qdrant} is open in another program ({exc})"
            ) from None
        self.vocabulary = VocabularyManager.open_sqlite(self.paths.vocabulary)
        self.reindex_pending = self.paths.reindex_backup.exists()
        self.dims = tier_ops.stored_dims(self._client, TIERS)
        dims = self.dims or self.embedder.dims
        if dims is not None and not self.reindex_pending:
            self.build_tiers(dims)
        self.check_dims()

    def build_tiers(self, dims: int) -> None:
        """Open (or create) both tiers for vectors of ``dims`` (on the store's thread)."""
        from . import mem0_setup

        for memory in self._tiers.values():
            memory.close()
        self._tiers = {
            tier: mem0_setup.build_memory(
                collection=tier,
                client=self._client,
                qdrant_path=str(self.paths.qdrant),
                dims=dims,
                binding_key=self._binding_key or "",
            )
            for tier in TIERS
        }
        if self.dims is None:
            self._write_meta(dims)
        self.dims = dims

    def _remove_legacy_history(self) -> None:
        """Delete the change history earlier versions kept on disk: it holds the texts of
        forgotten memories (mem0's history now lives in memory only, see mem0_setup)."""
        for path in self.paths.legacy_history_files:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:  # memory still works; the user can delete it
                log.warning(
                    "could not remove %s (%s); delete it: it holds the texts of "
                    "changed and forgotten memories",
                    path,
                    exc.strerror,
                )
                continue
            log.info("removed %s: it kept the texts of changed and forgotten memories", path)

    def _write_meta(self, dims: int) -> None:
        label = self.embedder.model.label if self.embedder.model else "unknown"
        meta = {"version": 1, "dims": dims, "embedder": label, "built_at": format_utc(now_utc())}
        tmp = self.paths.meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        tmp.replace(self.paths.meta)

    def _built_with(self) -> str:
        try:
            return json.loads(self.paths.meta.read_text(encoding="utf-8")).get("embedder", "")
        except (OSError, ValueError):
            return ""

    def check_dims(self) -> None:
        """Compare the model's vector size with the store's (sets ``mismatch``)."""
        self.mismatch = None
        model_dims = self.embedder.dims
        if model_dims and self.dims and model_dims != self.dims:
            built = self._built_with()
            by = f" (built with {built})" if built else ""
            self.mismatch = (
                f"the memory store in {self.paths.root} holds {self.dims}-dimensional "
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
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.vocabulary is not None:
            self.vocabulary.close()
        if self._binding_key is not None:
            mem0_setup.unbind(self._binding_key)

    # -- the store's thread, and telling listeners ----------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the store's thread (the only one that touches mem0 and Qdrant)."""
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
        """The tier's vector store (qdrant_store.IndexedQdrant; ``.index`` answers reads)."""
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

    def snapshot(self) -> list[dict[str, Any]]:
        """Every memory, saved to reindex.jsonl first (on the store's thread)."""
        return tier_ops.snapshot_for_reindex(self._tiers, self.paths.reindex_backup)

    def rebuild(
        self, dims: int, items: Sequence[dict[str, Any]], vectors: Sequence[Sequence[float]]
    ) -> None:
        """Both tiers anew for ``dims``, holding ``items`` with ``vectors`` (store's thread)."""
        for tier in TIERS:
            if self._client.collection_exists(tier):
                self._client.delete_collection(tier)
        self.dims = None
        self.build_tiers(dims)
        tier_ops.restore(self._tiers, items, vectors)
        self.paths.reindex_backup.unlink(missing_ok=True)

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

    @property
    def closed(self) -> bool:
        return self._closed or self._client is None

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
            return MemoryStatus(state="error", detail=blocked, role="owner")
        if self.mismatch:
            return MemoryStatus(state="error", detail=self.mismatch, role="owner")
        if self.embedder.problem:
            return MemoryStatus(state="off", detail=self.embedder.problem, role="owner")
        count = sum(len(self.vectors(tier).index) for tier in self._tiers)
        detail = f"{self.embedder.label}, {self.dims}-d, {count:,} memories"
        return MemoryStatus(state="ok", detail=detail, role="owner")
