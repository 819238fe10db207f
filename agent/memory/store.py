"""The memory store on disk: Qdrant local with the tiers "fresh" and "old" (through mem0), the
vocabulary in SQLite, and ``store.json`` (the model that built it), all in ``data_dir/memory``.

Qdrant local lets one process open the store, so only the process that owns it (see
service.py) opens this; the others reach it through that one. What every store does is in
store_core.py; this module is what Qdrant local does its own way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import warnings
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from . import tiers as tier_ops
from .errors import MemoryUnavailable
from .events import Tier
from .operations import Progress
from .schemas import TIERS
from .store_core import Listener, Settled, StoreCore
from .timestamps import format_utc, now_utc

log = logging.getLogger(__name__)

__all__ = ["Listener", "MemoryStore"]


class MemoryStore(StoreCore):
    """One memory store in ``data_dir/memory``, open in the process that owns it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: Any = None

    @property
    def location(self) -> str:
        return str(self.paths.root)

    @property
    def closed(self) -> bool:
        return self._closed or self._client is None

    # -- opening and closing ------------------------------------------------------------------

    def _open_sync(self, loop: asyncio.AbstractEventLoop) -> None:
        self.paths.ensure()
        self._remove_legacy_history()
        self._bind_mem0(loop)
        from qdrant_client import QdrantClient

        from .vocabulary import VocabularyManager

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

    def _close_backend(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- writes that differ by backend -----------------------------------------------------------

    def same_text(self, scope: str, digests: Sequence[str]) -> AbstractContextManager[None]:
        # Every write of this store runs on its one thread, in the one process that owns it.
        return contextlib.nullcontext()

    def remembered(self, scope: str, digests: Sequence[str]) -> set[str]:
        # The import checked its texts on this thread, the store's only writer, and the
        # owner's index would take a scan per text to look again.
        return set()

    def move(self, point_id: str, source: Tier, target: Tier) -> bool:
        return tier_ops.move(self.vectors(source), self.vectors(target), point_id)

    def stale_candidates(self, scope: str | None, cutoff: datetime) -> list[str]:
        return tier_ops.stale_candidates(self.vectors("fresh"), self.vectors("old"), scope, cutoff)

    def settle(self, point_id: str, cutoff: datetime, progress: Progress | None) -> Settled:
        fresh, old = self.vectors("fresh"), self.vectors("old")
        return tier_ops.settle(fresh, old, point_id, cutoff, progress)  # type: ignore[return-value]

    def snapshot(self) -> list[dict[str, Any]]:
        """Every memory, saved to reindex.jsonl first (on the store's thread)."""
        items = tier_ops.snapshot_for_reindex(self._tiers, self.paths.reindex_backup)
        self.reindex_pending = True
        return items

    def rebuild(
        self, dims: int, items: Sequence[dict[str, Any]], vectors: Sequence[Sequence[float]]
    ) -> None:
        for tier in TIERS:
            if self._client.collection_exists(tier):
                self._client.delete_collection(tier)
        self.dims = None
        self.build_tiers(dims)
        tier_ops.restore(self._tiers, items, vectors)
        self.paths.reindex_backup.unlink(missing_ok=True)
        self.reindex_pending = False

    # -- copying memories out and in -------------------------------------------------------------

    def export_rows(
        self, tier: Tier, after: str | None, limit: int
    ) -> list[tuple[str, dict[str, Any], list[float]]]:
        if tier not in self._tiers:
            return []
        index = self.vectors(tier).index
        ids = sorted(point_id for point_id, _ in index.items(all_scopes=True))
        chosen = [i for i in ids if after is None or i > after][:limit]
        rows = []
        for point_id in chosen:
            payload, vector = index.get(point_id), index.vector(point_id)
            if payload is not None and vector is not None:  # deleted meanwhile
                rows.append((point_id, payload, vector.tolist()))
        return rows

    def import_rows(
        self, tier: Tier, rows: Sequence[tuple[str, dict[str, Any], Sequence[float]]]
    ) -> list[str]:
        known: set[str] = set()
        for name in self._tiers:
            index = self.vectors(name).index
            known |= {point_id for point_id, _, _ in rows if point_id in index}
        new = []
        for row in rows:
            if row[0] not in known:
                known.add(row[0])  # an id given twice is written once
                new.append(row)
        if new:
            self.vectors(tier).insert(
                vectors=[list(vector) for _, _, vector in new],
                payloads=[dict(payload) for _, payload, _ in new],
                ids=[point_id for point_id, _, _ in new],
            )
        return [point_id for point_id, _, _ in new]
