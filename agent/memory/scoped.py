"""Which mem0 filters a tier answers from its own fast path: equality on a user's memories."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SCOPE_KEY = "user_id"
"""The payload key that holds a memory's user (scope); every search and list names one."""
_LOGICAL_KEYS = {"AND", "OR", "NOT", "$and", "$or", "$not"}


def simple_filters(filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``filters`` when it is only equality on plain values and names a user; else None."""
    if not filters or SCOPE_KEY not in filters:
        return None
    for key, value in filters.items():
        if key in _LOGICAL_KEYS or isinstance(value, dict | list | tuple | set):
            return None
        if value == "*":
            return None
    return dict(filters)
