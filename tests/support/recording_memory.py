"""A wrapper around a real MemoryService that records the calls made to it, in order."""

from __future__ import annotations

from typing import Any

from agent.memory.service import MemoryService


class RecordingMemory:
    """Passes every call to the real service; ``calls`` lists (operation, detail) in order."""

    def __init__(self, memory: MemoryService) -> None:
        self._memory = memory
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._memory, name)

    async def search(self, query: str, **kwargs: Any) -> Any:
        result = await self._memory.search(query, **kwargs)
        self.calls.append(("search", {hit.id for hit in result.hits}))
        return result

    async def add(self, text: str, **kwargs: Any) -> Any:
        outcome = await self._memory.add(text, **kwargs)
        self.calls.append(("add", text))
        return outcome

    async def update(self, memory_id: str, **kwargs: Any) -> Any:
        self.calls.append(("update", memory_id))
        return await self._memory.update(memory_id, **kwargs)

    async def delete(self, memory_id: str, **kwargs: Any) -> Any:
        self.calls.append(("delete", memory_id))
        return await self._memory.delete(memory_id, **kwargs)

    def writes_followed_searches(self) -> bool:
        """Every update/delete changed a memory that an earlier search had returned."""
        found: set[str] = set()
        for operation, detail in self.calls:
            if operation == "search":
                found |= detail
            elif operation in ("update", "delete") and detail not in found:
                return False
        return True
