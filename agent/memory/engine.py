"""The memory store in the process that owns it: every declared operation (operations.py),
implemented over the store on disk (store.py).

Reads and writes are here; cleanup, import and reindex are Maintenance's (maintenance.py).
Writes pass the write gate as their declarations say (declare.Implementation). Other processes
reach this engine through the owner's server (server.py, service.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from config import Settings

from . import gate
from .declare import Implementation
from .errors import InvalidMemoryInput, MemoryNotFound, MemoryUnavailable
from .events import Origin, Tier
from .maintenance import Maintenance
from .operations import Progress, StoreOperations
from .paths import StorePaths, scope_of
from .records import changed, record_from_payload, shown_time, text_hash
from .schemas import (
    DEFAULT_CATEGORY,
    MAX_TEXT_CHARS,
    TIERS,
    AddOutcome,
    CleanupReport,
    ImportItem,
    ImportReport,
    MemoryHit,
    MemoryRecord,
    MemoryStatus,
    ReindexReport,
    SearchMemoryResult,
    TierChoice,
    UpdateOutcome,
)
from .scoped import SCOPE_KEY
from .store_core import Listener, open_store
from .store_embedder import Embedder
from .timestamps import parse_utc

_MIN_ID_PREFIX = 4
_TRIES = 3
"""How often a change is tried again when another process moved the memory meanwhile."""


class MemoryEngine(Implementation, StoreOperations):
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
        self.store = open_store(settings, embedder, embedder_problem=embedder_problem, chat=chat)
        self.maintenance = Maintenance(self.store)

    @property
    def writes(self) -> gate.WriteGate:  # type: ignore[override]
        """The store's write gate (gate.WriteGate): writes share it, a reindex holds it alone."""
        return self.store.writes

    @property
    def paths(self) -> StorePaths:
        return self.store.paths

    @property
    def embedder(self) -> Embedder | None:
        """The store's embedding model (None when none is configured)."""
        return self.store.embedder.model

    async def open(self) -> None:
        """Open the store (creating it if needed) and check the embedding model fits it."""
        await self.store.open()

    async def aclose(self) -> None:
        await self.store.aclose()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every change; returns a function that stops it."""
        return self.store.add_listener(listener)

    def status_now(self) -> MemoryStatus:
        """What the status pane shows (cheap: no thread, no model)."""
        return self.store.status_now()

    async def status(self) -> MemoryStatus:
        return self.status_now()

    # -- reading -----------------------------------------------------------------------------

    def _locate(self, memory_id: str, user_id: str) -> tuple[Tier, str, dict[str, Any]]:
        """The tier, full id and payload of the user's memory ``memory_id`` (or a prefix)."""
        scope = scope_of(user_id)
        store = self.store
        for tier in store.tiers:
            payload = store.vectors(tier).index.get(memory_id)
            if payload is not None and payload.get(SCOPE_KEY) == scope:
                return tier, memory_id, payload
        if len(memory_id) >= _MIN_ID_PREFIX:
            matches = {
                point_id: tier
                for tier in reversed(TIERS)
                if tier in store.tiers
                for point_id in store.vectors(tier).index.ids_with_prefix(scope, memory_id)
            }
            if len(matches) > 1:
                raise InvalidMemoryInput(
                    f"{memory_id!r} matches {len(matches)} memories; give more of the id"
                )
            if matches:
                (point_id, tier), *_ = matches.items()
                payload = store.vectors(tier).index.get(point_id)
                if payload is not None:  # not forgotten since (another process)
                    return tier, point_id, payload
        raise MemoryNotFound(
            f"no memory with id {memory_id!r}; `termmate memory list` shows the ids"
        )

    async def get(self, memory_id: str, *, user_id: str) -> MemoryRecord | None:
        self.store.require_open()

        def work() -> MemoryRecord | None:
            try:
                tier, point_id, payload = self._locate(memory_id, user_id)
            except MemoryNotFound:
                return None
            return record_from_payload(point_id, payload, tier)

        return await self.store.run(work)

    async def list(self, *, user_id: str, tier: TierChoice = "all") -> list[MemoryRecord]:
        self.store.require_open()
        chosen = TIERS if tier == "all" else (tier,)

        def work() -> list[MemoryRecord]:
            seen: dict[str, MemoryRecord] = {}
            for name in chosen:
                if name not in self.store.tiers:
                    continue
                for point_id, payload in self.store.vectors(name).index.items(scope_of(user_id)):
                    seen.setdefault(point_id, record_from_payload(point_id, payload, name))
            return sorted(seen.values(), key=lambda r: r.updated_at, reverse=True)

        return await self.store.run(work)

    async def categories(self) -> list[str]:
        self.store.require_open()
        return await self.store.run(self.store.vocabulary.get_all_terms)

    async def search(
        self,
        query: str,
        *,
        user_id: str,
        k: int | None = None,
        category: str | None = None,
        min_score: float | None = None,
        offline: bool = False,
    ) -> SearchMemoryResult:
        store = self.store
        await store.require_embedding(offline=offline)
        settings = self.settings.memory
        limit = k or settings.search_k
        threshold = settings.score_threshold if min_score is None else min_score
        text = query.strip()
        if not text:
            raise InvalidMemoryInput("the search query is empty")
        started = time.perf_counter()
        vector = await store.embed_one(text, "query", offline=offline)
        embed_ms = (time.perf_counter() - started) * 1000
        filters: dict[str, Any] = {"user_id": scope_of(user_id)}
        if category is not None:
            from .vocabulary import normalize_category

            filters["category"] = normalize_category(category)

        def work() -> list[MemoryHit]:
            with store.prepared(text, vector):
                hits = self._search_tier("fresh", text, filters, limit, threshold)
                if settings.sequential_probing and len(hits) < limit:
                    known = {hit.id for hit in hits}
                    more = self._search_tier("old", text, filters, limit, threshold)
                    hits += [hit for hit in more if hit.id not in known]
                    hits.sort(key=lambda hit: hit.score, reverse=True)
                return hits[:limit]

        started = time.perf_counter()
        hits = await store.run(work)
        search_ms = (time.perf_counter() - started) * 1000
        return SearchMemoryResult(hits=hits, embed_ms=embed_ms, search_ms=search_ms)

    def _search_tier(
        self, tier: Tier, text: str, filters: dict[str, Any], limit: int, threshold: float
    ) -> list[MemoryHit]:
        found = self.store.memory(tier).search(
            text, top_k=limit, filters=filters, threshold=threshold
        )
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

    def _find_text(self, text: str, user_id: str) -> MemoryRecord | None:
        digest = text_hash(text)
        for tier in TIERS:
            index = self.store.vectors(tier).index
            point_id = index.find(scope_of(user_id), "hash", digest)
            if point_id is not None:
                return record_from_payload(point_id, index.get(point_id), tier)
        return None

    # -- writing (each through the write gate, as declared) -------------------------------------

    async def add(
        self,
        text: str,
        *,
        user_id: str,
        category: str = DEFAULT_CATEGORY,
        updated_at: str | None = None,
        tier: Tier = "fresh",
        origin: Origin = "user",
        offline: bool = False,
    ) -> AddOutcome:
        store = self.store
        text = _checked_text(text)
        await store.require_embedding(offline=offline)
        category = await store.run(store.vocabulary.ensure_category, category)
        existing = await store.run(self._find_text, text, user_id)
        if existing is not None:
            return AddOutcome(record=existing, created=False)
        vector = await store.embed_one(text, "document", offline=offline)

        def work() -> AddOutcome:
            # Checked again with no other writer of this text between the check and the add
            # (another process, on a shared store).
            with store.same_text(scope_of(user_id), [text_hash(text)]):
                again = self._find_text(text, user_id)
                if again is not None:
                    return AddOutcome(record=again, created=False)
                point_id = store.add_point(text, vector, user_id, category, updated_at, tier)
            payload = store.vectors(tier).index.get(point_id) or {}
            record = record_from_payload(point_id, payload, tier)
            store.notify([changed("added", record, user_id, origin)])
            return AddOutcome(record=record, created=True)

        return await store.run(work)

    async def update(
        self,
        memory_id: str,
        *,
        user_id: str,
        text: str | None = None,
        category: str | None = None,
        updated_at: str | None = None,
        origin: Origin = "user",
        offline: bool = False,
    ) -> UpdateOutcome:
        store = self.store
        if text is None and category is None:
            raise InvalidMemoryInput("give a new text or category to change")
        if text is not None:
            text = _checked_text(text)
            await store.require_embedding(offline=offline)
        else:
            store.require_open()
        if category is not None:
            category = await store.run(store.vocabulary.ensure_category, category)
        tier, point_id, payload = await store.run(self._locate, memory_id, user_id)
        newer = _newer_than(payload, updated_at)
        if newer:
            record = record_from_payload(point_id, payload, tier)
            return UpdateOutcome(record=record, applied=False, reason=newer)
        vector = (
            await store.embed_one(text, "document", offline=offline) if text is not None else None
        )

        def attempt() -> UpdateOutcome | None:
            """One try; None when the memory left its tier meanwhile (moved by a cleanup in
            another process, on a shared store): the next try finds it where it is now."""
            current_tier, _, current = self._locate(point_id, user_id)
            newer = _newer_than(current, updated_at)
            if newer:
                record = record_from_payload(point_id, current, current_tier)
                return UpdateOutcome(record=record, applied=False, reason=newer)
            new_text = text if text is not None else current["data"]
            prepared = vector
            if prepared is None:
                stored = store.vectors(current_tier).index.vector(point_id)
                if stored is None:
                    return None
                prepared = stored.tolist()
            metadata = {"category": category} if category is not None else None
            try:
                with store.prepared(new_text, prepared):
                    store.memory(current_tier).update(point_id, text=new_text, metadata=metadata)
            except (KeyError, ValueError):  # not in that tier any more (mem0: ValueError)
                return None
            if current_tier == "old":
                store.move(point_id, "old", "fresh")  # updated now, so fresh again
            tier, _, payload = self._locate(point_id, user_id)
            record = record_from_payload(point_id, payload, tier)
            store.notify([changed("updated", record, user_id, origin)])
            return UpdateOutcome(record=record, applied=True)

        def work() -> UpdateOutcome:
            for _ in range(_TRIES):
                outcome = attempt()
                if outcome is not None:
                    return outcome
            raise MemoryUnavailable(
                f"memory {point_id} kept moving while it was changed; try again"
            )

        return await store.run(work)

    async def delete(
        self, memory_id: str, *, user_id: str, origin: Origin = "user"
    ) -> MemoryRecord:
        store = self.store
        store.require_open()

        def work() -> MemoryRecord:
            tier, point_id, payload = self._locate(memory_id, user_id)
            for _ in range(_TRIES):
                # Gone from every tier, even if moved between them meanwhile (a shared store).
                held = [name for name in store.tiers if point_id in store.vectors(name).index]
                if not held:
                    break
                for name in held:
                    with contextlib.suppress(ValueError):  # mem0: not in that tier any more
                        store.memory(name).delete(point_id)
            else:
                raise MemoryUnavailable(f"memory {point_id} kept moving while it was forgotten")
            record = record_from_payload(point_id, payload, tier)
            store.notify([changed("deleted", record, user_id, origin)])
            return record

        return await store.run(work)

    # -- maintenance ---------------------------------------------------------------------------

    async def cleanup(
        self, *, user_id: str | None, days: int | None = None, progress: Progress | None = None
    ) -> CleanupReport:
        return await self.maintenance.cleanup(user_id=user_id, days=days, progress=progress)

    async def import_items(
        self, items: list[ImportItem], *, user_id: str, offline: bool = False
    ) -> ImportReport:
        return await self.maintenance.import_items(items, user_id=user_id, offline=offline)

    async def reindex(self, *, offline: bool = False) -> ReindexReport:
        return await self.maintenance.reindex(offline=offline)


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
