"""Moving memories between the fresh and old tiers without losing any, and rebuilding both.

These run on the store's thread. A move is copy, verify, delete: killed at any point, the
memory is in one tier or (copied, not yet deleted) in both, never in neither; the next cleanup
finishes the job, and readers show one entry per id meanwhile.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MemoryStoreError
from .timestamps import parse_utc

log = logging.getLogger(__name__)


def stored_vector(record: Any) -> list[float] | None:
    """The dense vector of a Qdrant record (unnamed, or named "" beside sparse ones)."""
    vector = record.vector
    if isinstance(vector, dict):
        vector = vector.get("")
    return list(vector) if vector is not None else None


def stored_dims(client: Any, tiers: Sequence[str]) -> int | None:
    """The vector size of the tiers already on disk (None when there are none yet)."""
    for tier in tiers:
        if client.collection_exists(tier):
            params = client.get_collection(tier).config.params.vectors
            if isinstance(params, dict):
                params = params[""]
            return int(params.size)
    return None


def is_stale(payload: dict[str, Any], cutoff: datetime) -> bool:
    stamp = payload.get("updated_at") or payload.get("created_at")
    try:
        return bool(stamp) and parse_utc(str(stamp)) < cutoff
    except ValueError:
        log.warning("memory with an unreadable updated_at %r stays fresh", stamp)
        return False


def stale_candidates(fresh: Any, old: Any, scope: str | None, cutoff: datetime) -> list[str]:
    """Fresh memories to look at: the stale ones, and those an interrupted move left in both."""
    rows = fresh.index.items(scope, all_scopes=scope is None)
    return [
        point_id for point_id, payload in rows if is_stale(payload, cutoff) or point_id in old.index
    ]


def move(
    source: Any,
    target: Any,
    point_id: str,
    progress: Callable[[str, str], None] | None = None,
) -> bool:
    """Copy a memory to ``target``, check the copy, then delete it from ``source``."""
    payload = source.index.get(point_id)
    vector = source.index.vector(point_id)
    if payload is None or vector is None:
        return False
    target.insert(vectors=[vector.tolist()], payloads=[payload], ids=[point_id])
    _verify_copy(target, point_id, payload, vector)
    if progress is not None:
        progress("copied", point_id)
    source.delete(point_id)
    if progress is not None:
        progress("moved", point_id)
    return True


def _verify_copy(target: Any, point_id: str, payload: dict[str, Any], vector: np.ndarray) -> None:
    found = target.client.retrieve(
        target.collection_name, [point_id], with_payload=True, with_vectors=True
    )
    copy = found[0] if found else None
    copied_vector = stored_vector(copy) if copy is not None else None
    if (
        copy is None
        or dict(copy.payload or {}) != payload
        or copied_vector is None
        or not np.allclose(np.asarray(copied_vector, dtype=np.float32), vector, atol=1e-5)
    ):
        raise MemoryStoreError(
            f"copying memory {point_id} to the {target.collection_name} tier could not be "
            "verified; it stays where it was"
        )


def settle(
    fresh: Any,
    old: Any,
    point_id: str,
    cutoff: datetime,
    progress: Callable[[str, str], None] | None = None,
) -> str:
    """Put one fresh memory where it belongs: "moved" to old, "kept", "repaired" or "gone"."""
    payload = fresh.index.get(point_id)
    if payload is None:
        return "gone"  # deleted or moved since the list was made
    if is_stale(payload, cutoff):
        return "moved" if move(fresh, old, point_id, progress) else "gone"
    if point_id in old.index:
        # A move left a copy in old, and the fresh memory has been updated since: it wins.
        old.delete(point_id)
        return "repaired"
    return "kept"


def snapshot_for_reindex(tiers: dict[str, Any], backup: Path) -> list[dict[str, Any]]:
    """Every memory (tier, id, payload), saved to ``backup`` first, or read back from it when
    an earlier reindex was interrupted."""
    if backup.exists():
        with backup.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    items: dict[str, dict[str, Any]] = {}
    for tier in ("fresh", "old"):
        if tier not in tiers:
            continue
        for point_id, payload in tiers[tier].vector_store.index.items(all_scopes=True):
            items.setdefault(point_id, {"tier": tier, "id": point_id, "payload": payload})
    partial = backup.with_suffix(".part")
    with partial.open("w", encoding="utf-8") as handle:
        for item in items.values():
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(backup)
    return list(items.values())


def restore(
    tiers: dict[str, Any], items: Sequence[dict[str, Any]], vectors: Sequence[Sequence[float]]
) -> None:
    """Write ``items`` back with new ``vectors`` (same ids and payloads, same tiers)."""
    for tier in ("fresh", "old"):
        chosen = [(i, item) for i, item in enumerate(items) if item["tier"] == tier]
        for start in range(0, len(chosen), 256):
            batch = chosen[start : start + 256]
            if batch:
                tiers[tier].vector_store.insert(
                    vectors=[list(vectors[i]) for i, _ in batch],
                    payloads=[item["payload"] for _, item in batch],
                    ids=[item["id"] for _, item in batch],
                )
