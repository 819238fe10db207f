"""Maintenance of the store: moving stale memories to the old tier, importing, reindexing.

MemoryEngine builds one Maintenance over its store and hands these operations to it. It uses
the store's public interface only (store_core.StoreCore, the same for every backend): ``run``
(its thread), ``tiers``/``vectors`` (the tiers), ``require_open``/``require_embedding``,
``embed`` and ``embedder``, ``notify``, ``vocabulary``, ``add_point``, ``same_text``,
``stale_candidates``/``settle`` and ``snapshot``/``rebuild``/``check_dims``. The engine's
methods hold the write gate around these (cleanup and import are writes; a reindex runs
alone), as declared in operations.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from .errors import InvalidMemoryInput, MemoryUnavailable
from .events import MemoryChanged, Tier
from .operations import Progress
from .paths import scope_of
from .records import changed, record_from_payload, text_hash, user_of
from .schemas import TIERS, CleanupReport, ImportItem, ImportReport, ReindexReport
from .store_core import StoreCore
from .store_embedder import reembed
from .timestamps import format_utc, now_utc, parse_utc

EMBED_BATCH = 32


class Maintenance:
    """cleanup, import_items and reindex on one store."""

    def __init__(self, store: StoreCore) -> None:
        self.store = store

    async def cleanup(
        self, *, user_id: str | None, days: int | None = None, progress: Progress | None = None
    ) -> CleanupReport:
        """Move memories not updated for ``days`` from fresh to old: copy, verify, delete.

        Safe to interrupt (a re-run finishes the job) and to run while memories are added,
        here or (a shared store) in another process: each memory moves in its own step, and
        only as it was when found stale.
        """
        store = self.store
        store.require_open()
        days = days or store.settings.memory.fresh_days
        if days < 1:
            raise InvalidMemoryInput("--days must be at least 1")
        cutoff = now_utc() - timedelta(days=days)
        report = CleanupReport(moved=0, kept=0, days=days, cutoff=format_utc(cutoff))
        if not store.tiers:
            return report
        scope = None if user_id is None else scope_of(user_id)
        candidates = await store.run(store.stale_candidates, scope, cutoff)

        def step(point_id: str) -> bool:
            if store.settle(point_id, cutoff, progress) != "moved":
                return False
            payload = store.vectors("old").index.get(point_id)
            if payload is None:  # moved, then forgotten by another process at once
                return True
            record = record_from_payload(point_id, payload, "old")
            store.notify([changed("moved", record, user_of(payload), "cleanup")])
            return True

        moved = 0
        for point_id in candidates:
            moved += await store.run(step, point_id)

        def count_fresh() -> int:
            fresh = store.vectors("fresh").index
            return len(fresh) if scope is None else fresh.count(scope)

        kept = await store.run(count_fresh)
        return CleanupReport(moved=moved, kept=kept, days=days, cutoff=report.cutoff)

    async def import_items(
        self, items: Sequence[ImportItem], *, user_id: str, offline: bool = False
    ) -> ImportReport:
        """Add the items not already remembered (same id or same text): safe to repeat."""
        store = self.store
        await store.require_embedding(offline=offline)
        cutoff = now_utc() - timedelta(days=store.settings.memory.fresh_days)
        new = await store.run(self._not_remembered, items, user_id)
        categories = await store.run(
            store.vocabulary.ensure_categories, [item.category for item in new]
        )
        added = 0
        for start in range(0, len(new), EMBED_BATCH):
            batch = new[start : start + EMBED_BATCH]
            vectors = await store.embed([item.text for item in batch], "document", offline=offline)
            rows = list(zip(batch, vectors, categories[start : start + EMBED_BATCH], strict=True))
            added += await store.run(self._add_batch, rows, user_id, cutoff)
        return ImportReport(added=added, skipped=len(items) - added)

    def _not_remembered(self, items: Sequence[ImportItem], user_id: str) -> list[ImportItem]:
        """The items whose id and text the user's memories do not hold yet (store's thread)."""
        ids: set[str] = set()
        hashes: set[str] = set()
        for tier in TIERS:
            for point_id, payload in self.store.vectors(tier).index.items(scope_of(user_id)):
                ids.add(point_id)
                hashes.add(payload.get("hash", ""))
        new: list[ImportItem] = []
        for item in items:
            digest = text_hash(item.text)
            if (item.id and item.id in ids) or digest in hashes:
                continue
            hashes.add(digest)
            new.append(item)
        return new

    def _add_batch(
        self, rows: list[tuple[ImportItem, list[float], str]], user_id: str, cutoff: datetime
    ) -> int:
        """Add embedded items (store's thread); an item without a tier goes to old when it was
        updated before ``cutoff``. A text remembered since the items were checked (an add
        meanwhile, here or in another process) is not added again."""
        scope = scope_of(user_id)
        digests = [text_hash(item.text) for item, _, _ in rows]
        with self.store.same_text(scope, digests):
            known = self.store.remembered(scope, digests)
            events = self._add_rows(
                [row for row, digest in zip(rows, digests, strict=True) if digest not in known],
                user_id,
                cutoff,
            )
        self.store.notify(events)
        return len(events)

    def _add_rows(
        self, rows: list[tuple[ImportItem, list[float], str]], user_id: str, cutoff: datetime
    ) -> list[MemoryChanged]:
        events: list[MemoryChanged] = []
        for item, vector, category in rows:
            stale = item.updated_at is not None and parse_utc(item.updated_at) < cutoff
            tier: Tier = item.tier or ("old" if stale else "fresh")
            point_id = self.store.add_point(
                item.text, vector, user_id, category, item.updated_at, tier
            )
            payload = self.store.vectors(tier).index.get(point_id)
            record = record_from_payload(point_id, payload, tier)
            events.append(changed("added", record, user_id, "user"))
        return events

    async def reindex(self, *, offline: bool = False) -> ReindexReport:
        """Re-embed every memory and rebuild both tiers for the model's vector size.

        Every memory is first kept safe (store.snapshot); an interrupted reindex is finished by
        running it again. ``offline``: the caller is in offline mode, so the
        local model re-embeds them. The caller holds the write gate alone meanwhile.
        """
        store = self.store
        if store.closed:
            raise MemoryUnavailable("the memory store is closed")
        offline = store.embedder.switch_offline(offline)
        model, dims = await store.embedder.for_reindex(offline)
        items = await store.run(store.snapshot)
        texts = [item["payload"].get("data", "") for item in items]
        vectors: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            vectors += await reembed(model, texts[start : start + EMBED_BATCH], offline=offline)
        await store.run(store.rebuild, dims, items, vectors)
        store.check_dims()
        return ReindexReport(count=len(items), dims=dims, model=model.label)
