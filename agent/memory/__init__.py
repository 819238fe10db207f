"""Long-term memory: mem0 over Qdrant local (or PostgreSQL with pgvector, with ``[store] url``),
searched before every reply, updated after it.

Importing this package is cheap (mem0 and Qdrant load when a store is opened) and it switches
mem0's telemetry off before anything can import mem0.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# mem0 reads this once, when first imported; termmate never sends telemetry.
os.environ["MEM0_TELEMETRY"] = "false"

from .errors import (
    InvalidMemoryInput,
    MemoryNotFound,
    MemoryStoreError,
    MemoryUnavailable,
    ReadBeforeWriteError,
    VectorSizeMismatch,
)
from .events import MemoryChanged

if TYPE_CHECKING:
    from .service import MemoryService, open_memory
    from .tools import MemoryTools

__all__ = [
    "InvalidMemoryInput",
    "MemoryChanged",
    "MemoryNotFound",
    "MemoryService",
    "MemoryStoreError",
    "MemoryTools",
    "MemoryUnavailable",
    "ReadBeforeWriteError",
    "VectorSizeMismatch",
    "open_memory",
]


def __getattr__(name: str) -> Any:
    if name in ("MemoryService", "open_memory"):
        from . import service

        return getattr(service, name)
    if name == "MemoryTools":
        from .tools import MemoryTools

        return MemoryTools
    raise AttributeError(f"module 'agent.memory' has no attribute {name!r}")
