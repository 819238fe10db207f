"""The memory tools: add, update, delete, search. Internal to the agent: graph nodes call them;
no API exposes them.

Read-then-Write is enforced, not just followed: update_memory and delete_memory accept only ids
that a search_memory of the same MemoryTools returned, so every change follows a search, and a
search is always scoped to one user, so a caller can only change that user's memories.

Their writes are announced (MemoryService.changes()) with the origin given to MemoryTools:
"turn" by default, since the agent writes through them after a reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ReadBeforeWriteError
from .events import MemoryChanged, Origin
from .schemas import (
    AddMemoryArgs,
    AddMemoryResult,
    DeleteMemoryArgs,
    DeleteMemoryResult,
    MemoryMetadata,
    MemoryRecord,
    SearchMemoryArgs,
    SearchMemoryResult,
    UpdateMemoryArgs,
    UpdateMemoryResult,
)

if TYPE_CHECKING:
    from .service import MemoryService


class MemoryTools:
    """One caller's use of the memory tools (e.g. one update_memory run)."""

    def __init__(self, memory: MemoryService, *, origin: Origin = "turn") -> None:
        self._memory = memory
        self.origin: Origin = origin
        """Who the writes are made for (see MemoryChanged.origin)."""
        self._found: dict[str, str] = {}
        self.changes: list[MemoryChanged] = []
        """What the writes of these tools changed, in order (for the chat's quiet lines)."""

    async def search_memory(self, query: str, user_id: str, k: int = 5) -> SearchMemoryResult:
        args = SearchMemoryArgs(query=query, user_id=user_id, k=k)
        result = await self._memory.search(args.query, user_id=args.user_id, k=args.k)
        for hit in result.hits:
            self._found[hit.id] = args.user_id
        return result

    async def add_memory(
        self, content: str, user_id: str, metadata: MemoryMetadata | None = None
    ) -> AddMemoryResult:
        args = AddMemoryArgs(
            content=content, user_id=user_id, metadata=metadata or MemoryMetadata()
        )
        outcome = await self._memory.add(
            args.content, user_id=args.user_id, category=args.metadata.category, origin=self.origin
        )
        self._found[outcome.record.id] = args.user_id
        if outcome.created:
            self._record("added", outcome.record, args.user_id)
        return AddMemoryResult(memory_id=outcome.record.id, created=outcome.created)

    async def update_memory(
        self,
        memory_id: str,
        content: str | None = None,
        metadata: MemoryMetadata | None = None,
    ) -> UpdateMemoryResult:
        args = UpdateMemoryArgs(memory_id=memory_id, content=content, metadata=metadata)
        user_id = self._searched(args.memory_id, "update_memory")
        category = None
        observed_at = None
        if args.metadata is not None:
            if "category" in args.metadata.model_fields_set:
                category = args.metadata.category
            observed_at = args.metadata.updated_at
        outcome = await self._memory.update(
            args.memory_id,
            user_id=user_id,
            text=args.content,
            category=category,
            updated_at=observed_at,
            origin=self.origin,
        )
        if outcome.applied:
            self._record("updated", outcome.record, user_id)
        return UpdateMemoryResult(
            memory_id=outcome.record.id, applied=outcome.applied, reason=outcome.reason
        )

    async def delete_memory(self, memory_id: str) -> DeleteMemoryResult:
        args = DeleteMemoryArgs(memory_id=memory_id)
        user_id = self._searched(args.memory_id, "delete_memory")
        record = await self._memory.delete(args.memory_id, user_id=user_id, origin=self.origin)
        self._found.pop(args.memory_id, None)
        self._record("deleted", record, user_id)
        return DeleteMemoryResult(memory_id=record.id, deleted=True)

    def _searched(self, memory_id: str, tool: str) -> str:
        user_id = self._found.get(memory_id)
        if user_id is None:
            raise ReadBeforeWriteError(
                f"{tool}({memory_id!r}) without a search that found that memory first: "
                "changes follow Read-then-Write"
            )
        return user_id

    def _record(self, action: str, record: MemoryRecord, user_id: str) -> None:
        self.changes.append(
            MemoryChanged(
                action=action,  # type: ignore[arg-type]
                memory_id=record.id,
                text=record.text,
                category=record.category,
                tier=record.tier,
                user_id=user_id,
                origin=self.origin,
            )
        )
