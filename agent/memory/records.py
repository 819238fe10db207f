"""Memories as the store hands them out, built from what mem0 keeps in Qdrant."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import unquote

from .events import MemoryChanged, Origin
from .schemas import DEFAULT_CATEGORY, MemoryHit, MemoryRecord, Tier
from .timestamps import normalize_utc


def text_hash(text: str) -> str:
    """The hash mem0 stores with each memory (to find exact duplicates)."""
    return hashlib.md5(text.encode()).hexdigest()


def shown_time(value: Any) -> str | None:
    if not value:
        return None
    try:
        return normalize_utc(str(value))
    except ValueError:
        return str(value)


def record_from_payload(
    point_id: str, payload: dict[str, Any], tier: Tier, score: float | None = None
) -> MemoryRecord:
    fields = {
        "id": point_id,
        "text": payload.get("data", ""),
        "category": payload.get("category") or DEFAULT_CATEGORY,
        "tier": tier,
        "updated_at": shown_time(payload.get("updated_at") or payload.get("created_at")) or "",
        "created_at": shown_time(payload.get("created_at")),
    }
    return MemoryHit(**fields, score=score) if score is not None else MemoryRecord(**fields)


def user_of(payload: dict[str, Any]) -> str:
    return unquote(str(payload.get("user_id", "")))


def changed(action: Any, record: MemoryRecord, user_id: str, origin: Origin) -> MemoryChanged:
    return MemoryChanged(
        action=action,
        memory_id=record.id,
        text=record.text,
        category=record.category,
        tier=record.tier,
        user_id=user_id,
        origin=origin,
    )
