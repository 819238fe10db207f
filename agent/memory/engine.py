"""The memory store in the process that owns it: mem0 over Qdrant local, two tiers, the vocabulary.

mem0, Qdrant local and SQLite are synchronous, so every call into them runs on one worker
thread, one at a time; embeddings are computed on the event loop first and handed to mem0
ready-made. Writes and a reindex take turns through a WriteGate (gate.py). Other processes
reach this store through the owner's server (see service.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from config import Settings

from ..llm.errors import ModelError
from . import gate
from . import tiers as tier_ops
from .embedding import Embedder, EmbedKind, offline_embedder
from .errors import (
    InvalidMemoryInput,
    MemoryNotFound,
    MemoryStoreError,
    MemoryUnavailable,
    VectorSizeMismatch,
)
from .events import MemoryChanged, Origin
from .maintenance import PROBE_TEXT, MaintenanceMixin
from .paths import StorePaths, scope_of
from .records import changed, record_from_payload, shown_time, text_hash
from .schemas import (
    DEFAULT_CATEGORY,
    MAX_TEXT_CHARS,
    TIERS,
    AddOutcome,
    MemoryHit,
    MemoryRecord,
    MemoryStatus,
    SearchMemoryResult,
    Tier,
    TierChoice,
    UpdateOutcome,
)
from .timestamps import format_utc, now_utc, parse_utc

log = logging.getLogger(__name__)

T = TypeVar("T")
_MIN_ID_PREFIX = 4

Listener = Callable[[MemoryChanged], None]


class MemoryEngine(MaintenanceMixin):
    """Add, update, delete, search and maintain memories, scoped by user."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder | None,
        *,
        embedder_problem: str | None = None,
        chat: Callable[[list[dict[str, Any]]], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.paths = StorePaths(settings.data_dir / "memory")
        self._chat = chat
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="termmate-memory")
        self._listeners: list[Listener] = []
        self._tiers: dict[Tier, Any] = {}
        self._client: Any = None
        self._binding: Any = None
        self._binding_key: str | None = None
        self.vocabulary: Any = None
        self.model_dims: int | None = None
        self.store_dims: int | None = None
        self._embedder_problem = embedder_problem or (
            None if embedder else "no embedding model is configured"
        )
        self._mismatch: str | None = None
        self._reindex_pending = False
        self.writes = gate.WriteGate()
        """Writes hold it shared, a reindex alone (see gate.py)."""
        self._last_probe = 0.0
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- opening and closing ------------------------------------------------------------------

    async def open(self) -> None:
        """Open the store (creating it if needed) and check the embedding model fits it."""
        loop = self._loop = asyncio.get_running_loop()
        await self._probe_model()
        await self._call(self._open_sync, loop)

    async def _probe_model(self) -> None:
        self._last_probe = time.monotonic()
        if self.embedder is None:
            return
        try:
            vectors = await self.embedder.embed([PROBE_TEXT], "document")
        except (ModelError, MemoryStoreError) as exc:
            self._embedder_problem = exc.reason
            return
        self.model_dims = len(vectors[0])
        self._embedder_problem = None

    def _open_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        self.paths.ensure()
        self._remove_legacy_history()
        # mem0 reads MEM0_DIR when first imported and writes a config file there.
        os.environ.setdefault("MEM0_DIR", str(self.paths.mem0_home))
        from qdrant_client import QdrantClient

        from . import mem0_setup
        from .vocabulary import VocabularyManager

        self._binding = mem0_setup.Mem0Binding(loop=loop, embed=self._embed_one, chat=self._chat)
        self._binding_key = mem0_setup.bind(self._binding)
        try:
            with warnings.catch_warnings():
                # Qdrant local warns on stderr above 20k points; the index below is what makes
                # large stores fast, and stray stderr lines would tear the TUI.
                warnings.simplefilter("ignore", UserWarning)
                self._client = QdrantClient(path=str(self.paths.qdrant))
        except RuntimeError as exc:  # Qdrant local allows one client per directory
            raise MemoryUnavailable(
                f"the memory store {self.paths.qdrant} is open in another program ({exc})"
            ) from None
        self.vocabulary = VocabularyManager.open_sqlite(self.paths.vocabulary)
        self._reindex_pending = self.paths.reindex_backup.exists()
        self.store_dims = tier_ops.stored_dims(self._client, TIERS)
        dims = self.store_dims or self.model_dims
        if dims is not None and not self._reindex_pending:
            self._build_tiers(dims)
        self._check_dims()

    def _build_tiers(self, dims: int) -> None:
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
        if self.store_dims is None:
            self._write_meta(dims)
        self.store_dims = dims

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
        label = self.embedder.label if self.embedder else "unknown"
        meta = {"version": 1, "dims": dims, "embedder": label, "built_at": format_utc(now_utc())}
        tmp = self.paths.meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2), encoding="utf-8")
        tmp.replace(self.paths.meta)

    def _built_with(self) -> str:
        try:
            return json.loads(self.paths.meta.read_text(encoding="utf-8")).get("embedder", "")
        except (OSError, ValueError):
            return ""

    def _check_dims(self) -> None:
        self._mismatch = None
        if self.model_dims and self.store_dims and self.model_dims != self.store_dims:
            built = self._built_with()
            by = f" (built with {built})" if built else ""
            model = self.embedder.label if self.embedder else "the embedding model"
            self._mismatch = (
                f"the memory store in {self.paths.root} holds {self.store_dims}-dimensional "
                f"vectors{by}, but {model} gives {self.model_dims}-dimensional ones. Run "
                "`termmate memory reindex` to rebuild it for the current model (your memories "
                "are kept), or switch back to the model that built it."
            )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._call(self._close_sync)
        finally:
            self._executor.shutdown(wait=True)
            if self.embedder is not None:
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

    # -- plumbing ----------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every change; returns a function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _notify(self, events: Sequence[MemoryChanged]) -> None:
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

    async def _embed(
        self, texts: Sequence[str], kind: EmbedKind, *, offline: bool = False
    ) -> list[list[float]]:
        """Vectors for ``texts``. ``offline``: the caller (maybe another process) is in offline
        mode, so only a model that opens no network connection may embed them."""
        if self._switch_offline(offline):
            return await self._embed_offline(texts, kind)
        assert self.embedder is not None
        try:
            vectors = await self.embedder.embed(texts, kind)
        except ModelError as exc:
            raise MemoryUnavailable(f"cannot embed text for memory: {exc.reason}") from exc
        for vector in vectors:
            if self.store_dims is not None and len(vector) != self.store_dims:
                self.model_dims = len(vector)
                self._check_dims()
                raise VectorSizeMismatch(self._mismatch or "vector size mismatch")
        return vectors

    async def _embed_one(self, text: str, kind: EmbedKind, *, offline: bool = False) -> list[float]:
        return (await self._embed([text], kind, offline=offline))[0]

    def _switch_offline(self, offline: bool) -> bool:
        """Whether an ``offline`` caller needs another embedder than this process's own (which
        may use the network: auto or online mode)."""
        if not offline or self.embedder is None:
            return False
        return offline_embedder(self.embedder) is not self.embedder

    def _offline_embedder(self) -> Embedder:
        local = offline_embedder(self.embedder) if self.embedder is not None else None
        if local is None:
            raise MemoryUnavailable(
                "this process is in offline mode, and the process that owns the memory store "
                "has no local embedding model to embed its text without the network; set "
                "local.embed_model, or leave offline mode"
            )
        return local

    async def _embed_offline(self, texts: Sequence[str], kind: EmbedKind) -> list[list[float]]:
        local = self._offline_embedder()
        try:
            vectors = await local.embed(texts, kind)
        except ModelError as exc:
            raise MemoryUnavailable(
                f"cannot embed text for memory in offline mode: {exc.reason}"
            ) from exc
        # The store stays as it is: only this caller's model does not fit it.
        for vector in vectors:
            if self.store_dims is not None and len(vector) != self.store_dims:
                raise MemoryUnavailable(
                    f"this process is in offline mode, and {local.label} gives "
                    f"{len(vector)}-dimensional vectors, but the memory store holds "
                    f"{self.store_dims}-dimensional ones; give [embed] and local.embed_model "
                    "the same model, or leave offline mode"
                )
        return vectors

    def _blocked(self) -> str | None:
        if self._reindex_pending and self.writes.reindexing:
            return (
                "the memory store is being reindexed (`termmate memory reindex`); memory is "
                "back when it is done, and changes wait for it"
            )
        if self._reindex_pending:
            return (
                "a reindex of the memory store was interrupted; run `termmate memory reindex` "
                "to finish it (every memory is kept in "
                f"{self.paths.reindex_backup.name} until then)"
            )
        return None

    def _require_open(self) -> None:
        if self._closed or self._client is None:
            raise MemoryUnavailable("the memory store is closed")
        blocked = self._blocked()
        if blocked:
            raise MemoryUnavailable(blocked)

    async def _require_embedding(self, *, offline: bool = False) -> None:
        """Raise why text cannot be embedded now; retry a failed model now and then (not for
        an ``offline`` caller: the retry may use the network)."""
        self._require_open()
        if self._switch_offline(offline):
            if not self._tiers:
                why = self._embedder_problem or "no embedding model has built the store yet"
                raise MemoryUnavailable(f"memory is off: {why}")
            if self._mismatch:
                raise VectorSizeMismatch(self._mismatch)
            self._offline_embedder()
            return
        retry_due = time.monotonic() - self._last_probe >= self.settings.embed.retry_remote_after_s
        if self._embedder_problem and self.embedder is not None and retry_due:
            await self._probe_model()
            if self.model_dims and not self._tiers:
                await self._call(self._build_tiers, self.store_dims or self.model_dims)
            self._check_dims()
        if self._embedder_problem:
            raise MemoryUnavailable(f"memory is off: {self._embedder_problem}")
        if self._mismatch:
            raise VectorSizeMismatch(self._mismatch)

    def _memory(self, tier: Tier) -> Any:
        return self._tiers[tier]

    def _store(self, tier: Tier) -> Any:
        return self._tiers[tier].vector_store

    # -- status ------------------------------------------------------------------------------

    async def status(self) -> MemoryStatus:
        return self.status_now()

    def status_now(self) -> MemoryStatus:
        """What the status pane shows (cheap: no thread, no model)."""
        blocked = self._blocked()
        if blocked:
            return MemoryStatus(state="error", detail=blocked, role="owner")
        if self._mismatch:
            return MemoryStatus(state="error", detail=self._mismatch, role="owner")
        if self._embedder_problem:
            return MemoryStatus(state="off", detail=self._embedder_problem, role="owner")
        count = sum(len(self._store(tier).index) for tier in self._tiers)
        assert self.embedder is not None
        detail = f"{self.embedder.label}, {self.store_dims}-d, {count:,} memories"
        return MemoryStatus(state="ok", detail=detail, role="owner")

    # -- reading -----------------------------------------------------------------------------

    def _locate(self, memory_id: str, user_id: str) -> tuple[Tier, str, dict[str, Any]]:
        """The tier, full id and payload of the user's memory ``memory_id`` (or a prefix)."""
        scope = scope_of(user_id)
        for tier in self._tiers:
            store = self._store(tier)
            if store.index.scope_of(memory_id) == scope:
                return tier, memory_id, store.index.get(memory_id)
        if len(memory_id) >= _MIN_ID_PREFIX:
            matches = {
                point_id: tier
                for tier in reversed(TIERS)
                if tier in self._tiers
                for point_id in self._store(tier).index.ids_with_prefix(scope, memory_id)
            }
            if len(matches) > 1:
                raise InvalidMemoryInput(
                    f"{memory_id!r} matches {len(matches)} memories; give more of the id"
                )
            if matches:
                (point_id, tier), *_ = matches.items()
                return tier, point_id, self._store(tier).index.get(point_id)
        raise MemoryNotFound(
            f"no memory with id {memory_id!r}; `termmate memory list` shows the ids"
        )

    async def get(self, *, memory_id: str, user_id: str) -> MemoryRecord | None:
        self._require_open()

        def work() -> MemoryRecord | None:
            try:
                tier, point_id, payload = self._locate(memory_id, user_id)
            except MemoryNotFound:
                return None
            return record_from_payload(point_id, payload, tier)

        return await self._call(work)

    async def list(self, *, user_id: str, tier: TierChoice = "all") -> list[MemoryRecord]:
        """The user's memories, newest first (one entry per id, fresh winning over old)."""
        self._require_open()
        chosen = TIERS if tier == "all" else (tier,)

        def work() -> list[MemoryRecord]:
            seen: dict[str, MemoryRecord] = {}
            for name in chosen:
                if name not in self._tiers:
                    continue
                for point_id, payload in self._store(name).index.items(scope_of(user_id)):
                    seen.setdefault(point_id, record_from_payload(point_id, payload, name))
            return sorted(seen.values(), key=lambda r: r.updated_at, reverse=True)

        return await self._call(work)

    async def categories(self) -> list[str]:
        self._require_open()
        return await self._call(self.vocabulary.get_all_terms)

    async def search(
        self,
        *,
        query: str,
        user_id: str,
        k: int | None = None,
        category: str | None = None,
        min_score: float | None = None,
        offline: bool = False,
    ) -> SearchMemoryResult:
        """The user's memories closest to ``query``: fresh first, then old when fresh gives
        fewer than ``k`` hits above the threshold (Sequential Probing)."""
        await self._require_embedding(offline=offline)
        settings = self.settings.memory
        limit = k or settings.search_k
        threshold = settings.score_threshold if min_score is None else min_score
        text = query.strip()
        if not text:
            raise InvalidMemoryInput("the search query is empty")
        started = time.perf_counter()
        vector = await self._embed_one(text, "query", offline=offline)
        embed_ms = (time.perf_counter() - started) * 1000
        if category is not None:
            from .vocabulary import normalize_category

            category = normalize_category(category)

        def work() -> list[MemoryHit]:
            self._binding.prepared[text] = vector
            try:
                filters: dict[str, Any] = {"user_id": scope_of(user_id)}
                if category is not None:
                    filters["category"] = category
                hits = self._search_tier("fresh", text, filters, limit, threshold)
                if settings.sequential_probing and len(hits) < limit:
                    known = {hit.id for hit in hits}
                    more = self._search_tier("old", text, filters, limit, threshold)
                    hits += [hit for hit in more if hit.id not in known]
                    hits.sort(key=lambda hit: hit.score, reverse=True)
                return hits[:limit]
            finally:
                self._binding.prepared.pop(text, None)

        started = time.perf_counter()
        hits = await self._call(work)
        search_ms = (time.perf_counter() - started) * 1000
        return SearchMemoryResult(hits=hits, embed_ms=embed_ms, search_ms=search_ms)

    def _search_tier(
        self, tier: Tier, text: str, filters: dict[str, Any], limit: int, threshold: float
    ) -> list[MemoryHit]:
        found = self._memory(tier).search(text, top_k=limit, filters=filters, threshold=threshold)
        hits = []
        for item in found["results"]:
            payload = {
                "data": item.get("memory", ""),
                "category": (item.get("metadata") or {}).get("category"),
                "updated_at": item.get("updated_at"),
                "created_at": item.get("created_at"),
            }
            hit = record_from_payload(item["id"], payload, tier, score=float(item["score"]))
            hits.append(hit)
        return hits  # type: ignore[return-value]

    # -- writing (each through the write gate) ------------------------------------------------

    @gate.write
    async def add(
        self,
        *,
        text: str,
        user_id: str,
        category: str = DEFAULT_CATEGORY,
        updated_at: str | None = None,
        tier: Tier = "fresh",
        origin: Origin = "user",
        offline: bool = False,
    ) -> AddOutcome:
        """Remember ``text`` for the user; exactly the same text is not stored twice."""
        text = _checked_text(text)
        await self._require_embedding(offline=offline)
        category = await self._call(self.vocabulary.ensure_category, category)
        existing = await self._call(self._find_text, text, user_id)
        if existing is not None:
            return AddOutcome(record=existing, created=False)
        vector = await self._embed_one(text, "document", offline=offline)

        def work() -> AddOutcome:
            again = self._find_text(text, user_id)
            if again is not None:
                return AddOutcome(record=again, created=False)
            point_id = self._add_sync(text, vector, user_id, category, updated_at, tier)
            payload = self._store(tier).index.get(point_id)
            record = record_from_payload(point_id, payload, tier)
            self._notify([changed("added", record, user_id, origin)])
            return AddOutcome(record=record, created=True)

        return await self._call(work)

    def _find_text(self, text: str, user_id: str) -> MemoryRecord | None:
        digest = text_hash(text)
        for tier in TIERS:
            point_id = self._store(tier).index.find(scope_of(user_id), "hash", digest)
            if point_id is not None:
                return record_from_payload(point_id, self._store(tier).index.get(point_id), tier)
        return None

    def _add_sync(
        self,
        text: str,
        vector: list[float],
        user_id: str,
        category: str,
        updated_at: str | None,
        tier: Tier,
    ) -> str:
        metadata: dict[str, Any] = {"category": category}
        if updated_at is not None:
            metadata["created_at"] = updated_at  # mem0 sets updated_at to created_at on add
        self._binding.prepared[text] = vector
        try:
            result = self._memory(tier).add(
                text, user_id=scope_of(user_id), metadata=metadata, infer=False
            )
        finally:
            self._binding.prepared.pop(text, None)
        return str(result["results"][0]["id"])

    @gate.write
    async def update(
        self,
        *,
        memory_id: str,
        user_id: str,
        text: str | None = None,
        category: str | None = None,
        updated_at: str | None = None,
        origin: Origin = "user",
        offline: bool = False,
    ) -> UpdateOutcome:
        """Change a memory's text and/or category. With ``updated_at`` (when the change was
        observed), a stored memory updated later than that wins and nothing changes."""
        if text is None and category is None:
            raise InvalidMemoryInput("give a new text or category to change")
        if text is not None:
            text = _checked_text(text)
            await self._require_embedding(offline=offline)
        else:
            self._require_open()
        if category is not None:
            category = await self._call(self.vocabulary.ensure_category, category)
        tier, point_id, payload = await self._call(self._locate, memory_id, user_id)
        newer = _newer_than(payload, updated_at)
        if newer:
            record = record_from_payload(point_id, payload, tier)
            return UpdateOutcome(record=record, applied=False, reason=newer)
        vector = (
            await self._embed_one(text, "document", offline=offline) if text is not None else None
        )

        def work() -> UpdateOutcome:
            current_tier, _, current = self._locate(point_id, user_id)
            newer = _newer_than(current, updated_at)
            if newer:
                record = record_from_payload(point_id, current, current_tier)
                return UpdateOutcome(record=record, applied=False, reason=newer)
            new_text = text if text is not None else current["data"]
            store = self._store(current_tier)
            prepared = vector if vector is not None else store.index.vector(point_id).tolist()
            metadata = {"category": category} if category is not None else None
            self._binding.prepared[new_text] = prepared
            try:
                self._memory(current_tier).update(point_id, text=new_text, metadata=metadata)
            finally:
                self._binding.prepared.pop(new_text, None)
            if current_tier == "old":  # updated now, so fresh again
                tier_ops.move(self._store("old"), self._store("fresh"), point_id)
                current_tier = "fresh"
            payload = self._store(current_tier).index.get(point_id)
            record = record_from_payload(point_id, payload, current_tier)
            self._notify([changed("updated", record, user_id, origin)])
            return UpdateOutcome(record=record, applied=True)

        return await self._call(work)

    @gate.write
    async def delete(
        self, *, memory_id: str, user_id: str, origin: Origin = "user"
    ) -> MemoryRecord:
        """Forget a memory (in whichever tier it is); returns what was forgotten."""
        self._require_open()

        def work() -> MemoryRecord:
            tier, point_id, payload = self._locate(memory_id, user_id)
            for name in TIERS:
                if point_id in self._store(name).index:
                    self._memory(name).delete(point_id)
            record = record_from_payload(point_id, payload, tier)
            self._notify([changed("deleted", record, user_id, origin)])
            return record

        return await self._call(work)


def _checked_text(text: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise InvalidMemoryInput("a memory's text must not be empty")
    if len(cleaned) > MAX_TEXT_CHARS:
        raise InvalidMemoryInput(
            f"a memory's text is limited to {MAX_TEXT_CHARS} characters (got {len(cleaned):,})"
        )
    return cleaned


def _newer_than(payload: dict[str, Any], observed_at: str | None) -> str | None:
    """Why the stored memory wins over a change observed at ``observed_at`` (None: it does not)."""
    if observed_at is None:
        return None
    stored = payload.get("updated_at") or payload.get("created_at")
    try:
        if stored and parse_utc(str(stored)) > parse_utc(observed_at):
            return f"the stored memory was updated later ({shown_time(stored)})"
    except ValueError:
        return None
    return None
