"""Every operation on the memory store, declared once (the machinery is in declare.py).

MemoryService's methods (what the agent, the TUI and the CLI call) and RemoteMemory's (a client
asking the owning process) are generated from these declarations; the owner's server checks
each request against them; MemoryEngine implements them, with the same signatures
(tests/memory/test_operations.py checks it). To add an operation, declare it here and
implement it on the engine: callers in this process and in every other one have it.
"""

from __future__ import annotations

from collections.abc import Callable

from . import ipc
from .declare import Chunked, Declarations, operation
from .events import Origin, Tier
from .schemas import (
    DEFAULT_CATEGORY,
    AddOutcome,
    CleanupReport,
    ImportItem,
    ImportReport,
    MemoryRecord,
    MemoryStatus,
    ReindexReport,
    SearchMemoryResult,
    TierChoice,
    UpdateOutcome,
)

Progress = Callable[[str, str], None]
"""progress(step, memory_id): cleanup calls it with "copied" and "moved" for each memory."""


class MemoryOperations(Declarations):
    """What callers ask of long-term memory, wherever the store is open."""

    @operation(access="write", embeds=True)
    async def add(
        self,
        text: str,
        *,
        user_id: str,
        category: str = DEFAULT_CATEGORY,
        updated_at: str | None = None,
        tier: Tier = "fresh",
        origin: Origin = "user",
    ) -> AddOutcome:
        """Remember ``text`` for the user; exactly the same text is not stored twice."""
        raise NotImplementedError

    @operation(access="write", embeds=True)
    async def update(
        self,
        memory_id: str,
        *,
        user_id: str,
        text: str | None = None,
        category: str | None = None,
        updated_at: str | None = None,
        origin: Origin = "user",
    ) -> UpdateOutcome:
        """Change a memory's text and/or category. With ``updated_at`` (when the change was
        observed), a stored memory updated later than that wins and nothing changes."""
        raise NotImplementedError

    @operation(access="write")
    async def delete(
        self, memory_id: str, *, user_id: str, origin: Origin = "user"
    ) -> MemoryRecord:
        """Forget a memory (in whichever tier it is); returns what was forgotten."""
        raise NotImplementedError

    @operation()
    async def get(self, memory_id: str, *, user_id: str) -> MemoryRecord | None:
        """The user's memory with this id (or an unambiguous prefix of it); None when none."""
        raise NotImplementedError

    @operation(embeds=True)
    async def search(
        self,
        query: str,
        *,
        user_id: str,
        k: int | None = None,
        category: str | None = None,
        min_score: float | None = None,
    ) -> SearchMemoryResult:
        """The user's memories closest to ``query``: fresh first, then old when fresh gives
        fewer than ``k`` hits above the threshold (Sequential Probing)."""
        raise NotImplementedError

    @operation()
    async def list(self, *, user_id: str, tier: TierChoice = "all") -> list[MemoryRecord]:
        """The user's memories, newest first (one entry per id, fresh winning over old)."""
        raise NotImplementedError

    @operation()
    async def categories(self) -> list[str]:
        """Every category of the controlled vocabulary, sorted."""
        raise NotImplementedError

    @operation(access="write", in_process=("progress",))
    async def cleanup(
        self, *, user_id: str | None, days: int | None = None, progress: Progress | None = None
    ) -> CleanupReport:
        """Move memories not updated for ``days`` (memory.fresh_days) from fresh to old; every
        user's when ``user_id`` is None. ``progress`` is called only in the owning process."""
        raise NotImplementedError

    @operation(
        access="write",
        embeds=True,
        chunked=Chunked("items", split=ipc.request_chunks, merge=ImportReport.total),
    )
    async def import_items(self, items: list[ImportItem], *, user_id: str) -> ImportReport:
        """Add the items not remembered yet (same id or same text: skipped), safe to repeat.
        Sent in parts bounded by count and size, so an import cut short can be run again."""
        raise NotImplementedError

    @operation(access="alone", embeds=True, refreshes_status=True)
    async def reindex(self) -> ReindexReport:
        """Re-embed every memory with the current model and rebuild both tiers for its size;
        no write runs meanwhile (they wait, then go to the rebuilt store)."""
        raise NotImplementedError


class StoreOperations(MemoryOperations):
    """What a store answers besides: its status (MemoryService keeps the latest as ``status``)."""

    @operation()
    async def status(self) -> MemoryStatus:
        """The store's status, as the status pane shows it (cheap: no thread, no model)."""
        raise NotImplementedError
