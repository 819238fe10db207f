"""Maintenance of the store: moving stale memories to the old tier, importing, reindexing.

A mixin of MemoryEngine, kept apart so each file has one job; it uses the engine's thread,
tiers, embedder and write gate (cleanup and import are writes; a reindex runs alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from ..llm.errors import ModelError
from . import gate
from . import tiers as tier_ops
from .errors import InvalidMemoryInput, MemoryUnavailable
from .events import MemoryChanged
from .paths import scope_of
from .records import changed, record_from_payload, text_hash, user_of
from .schemas import TIERS, CleanupReport, ImportItem, ImportReport, ReindexReport, Tier
from .timestamps import format_utc, now_utc, parse_utc

EMBED_BATCH = 32
PROBE_TEXT = "dimension probe"

Progress = Callable[[str, str], None]
"""progress(step, memory_id): cleanup calls it with "copied" and "moved" for each memory."""


class MaintenanceMixin:
    """cleanup, import_items and reindex for MemoryEngine."""

    _tiers: dict[Tier, Any]
    settings: Any
    embedder: Any
    writes: gate.WriteGate

    @gate.write
    async def cleanup(
        self,
        *,
        user_id: str | None,
        days: int | None = None,
        progress: Progress | None = None,
    ) -> CleanupReport:
        """Move memories not updated for ``days`` from fresh to old: copy, verify, delete.

        Safe to interrupt (a re-run finishes the job) and to run while memories are added:
        each memory moves in its own step on the store's thread.
        """
        self._require_open()
        days = days or self.settings.memory.fresh_days
        if days < 1:
            raise InvalidMemoryInput("--days must be at least 1")
        cutoff = now_utc() - timedelta(days=days)
        report = CleanupReport(moved=0, kept=0, days=days, cutoff=format_utc(cutoff))
        if not self._tiers:
            return report
        scope = None if user_id is None else scope_of(user_id)
        candidates = await self._call(
            tier_ops.stale_candidates, self._store("fresh"), self._store("old"), scope, cutoff
        )
        moved = 0
        for point_id in candidates:

            def step(point_id: str = point_id) -> tuple[str, MemoryChanged | None]:
                fresh, old = self._store("fresh"), self._store("old")
                outcome = tier_ops.settle(fresh, old, point_id, cutoff, progress)
                if outcome != "moved":
                    return outcome, None
                payload = old.index.get(point_id)
                owner = user_of(payload)
                record = record_from_payload(point_id, payload, "old")
                event = changed("moved", record, owner, "cleanup")
                self._notify([event])
                return outcome, event

            _, event = await self._call(step)
            if event is not None:
                moved += 1

        def count_fresh() -> int:
            fresh = self._store("fresh").index
            return len(fresh) if scope is None else sum(1 for _ in fresh.items(scope))

        kept = await self._call(count_fresh)
        return CleanupReport(moved=moved, kept=kept, days=days, cutoff=report.cutoff)

    @gate.write
    async def import_items(
        self, *, user_id: str, items: Sequence[ImportItem], offline: bool = False
    ) -> ImportReport:
        """Add the items not already remembered (same id or same text): safe to repeat."""
        await self._require_embedding(offline=offline)
        fresh_days = self.settings.memory.fresh_days
        cutoff = now_utc() - timedelta(days=fresh_days)

        def known() -> tuple[set[str], set[str]]:
            ids: set[str] = set()
            hashes: set[str] = set()
            for tier in TIERS:
                for point_id, payload in self._store(tier).index.items(scope_of(user_id)):
                    ids.add(point_id)
                    hashes.add(payload.get("hash", ""))
            return ids, hashes

        ids, hashes = await self._call(known)
        new: list[ImportItem] = []
        for item in items:
            digest = text_hash(item.text)
            if (item.id and item.id in ids) or digest in hashes:
                continue
            hashes.add(digest)
            new.append(item)
        categories = await self._call(
            self.vocabulary.ensure_categories, [item.category for item in new]
        )
        added: list[MemoryChanged] = []
        for start in range(0, len(new), EMBED_BATCH):
            batch = new[start : start + EMBED_BATCH]
            vectors = await self._embed([item.text for item in batch], "document", offline=offline)
            batch_categories = categories[start : start + EMBED_BATCH]

            def work(
                batch: list[ImportItem] = batch,
                vectors: list[list[float]] = vectors,
                batch_categories: list[str] = batch_categories,
            ) -> list[MemoryChanged]:
                events = []
                for item, vector, category in zip(batch, vectors, batch_categories, strict=True):
                    tier: Tier = item.tier or (
                        "old"
                        if item.updated_at and parse_utc(item.updated_at) < cutoff
                        else "fresh"
                    )
                    point_id = self._add_sync(
                        item.text, vector, user_id, category, item.updated_at, tier
                    )
                    payload = self._store(tier).index.get(point_id)
                    record = record_from_payload(point_id, payload, tier)
                    events.append(changed("added", record, user_id, "user"))
                self._notify(events)
                return events

            added += await self._call(work)
        return ImportReport(added=len(added), skipped=len(items) - len(added))

    async def reindex(self, *, offline: bool = False) -> ReindexReport:
        """Re-embed every memory with the current model and rebuild both tiers for its size.

        Every memory is first written to ``reindex.jsonl``; an interrupted reindex is finished
        from that file by running it again. ``offline``: the caller is in offline mode, so the
        local model re-embeds them. No write runs from before the snapshot until the rebuilt
        store is in place (they wait, then go to the rebuilt store): none can be lost to it.
        """
        async with self.writes.reindex():
            return await self._reindex(offline=offline)

    async def _reindex(self, *, offline: bool) -> ReindexReport:
        if self._closed or self._client is None:
            raise MemoryUnavailable("the memory store is closed")
        if self.embedder is None:
            raise MemoryUnavailable(f"cannot reindex: {self._embedder_problem}")
        offline = self._switch_offline(offline)
        if offline:
            embedder = self._offline_embedder()
            dims = len((await self._embed_offline_unchecked([PROBE_TEXT], embedder))[0])
        else:
            embedder = self.embedder
            await self._probe_model()
            if self._embedder_problem or self.model_dims is None:
                raise MemoryUnavailable(f"cannot reindex: {self._embedder_problem}")
            dims = self.model_dims
        items = await self._call(
            tier_ops.snapshot_for_reindex, self._tiers, self.paths.reindex_backup
        )
        self._reindex_pending = True
        texts = [item["payload"].get("data", "") for item in items]
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = texts[start : start + EMBED_BATCH]
            if offline:
                embedded = await self._embed_offline_unchecked(batch, embedder)
            else:
                embedded = await embedder.embed(batch, "document")
            vectors += embedded

        def rebuild() -> None:
            for tier in TIERS:
                if self._client.collection_exists(tier):
                    self._client.delete_collection(tier)
            self.store_dims = None
            self._build_tiers(dims)
            tier_ops.restore(self._tiers, items, vectors)
            self.paths.reindex_backup.unlink(missing_ok=True)

        await self._call(rebuild)
        self._reindex_pending = False
        self._check_dims()
        return ReindexReport(count=len(items), dims=dims, model=embedder.label)

    async def _embed_offline_unchecked(
        self, texts: Sequence[str], embedder: Any
    ) -> list[list[float]]:
        """Documents embedded by an offline caller's model, of whatever size it gives."""
        try:
            return await embedder.embed(texts, "document")
        except ModelError as exc:
            raise MemoryUnavailable(f"cannot reindex in offline mode: {exc.reason}") from exc
