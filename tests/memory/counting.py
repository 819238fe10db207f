"""An operation declared outside agent/memory: ``count``. It has a declaration and an engine
that implements it, and nothing else: service.py, client.py and server.py know nothing of it.

    python -m tests.memory.counting DATA_DIR [TIER]

runs a process that reaches the store through its owner (a client) and prints the JSON of
``{"role": ..., "count": N}``, or ``{"role": ..., "error": "..."}`` when the owner refuses.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import agent.memory  # noqa: F401  (mem0's telemetry off before anything imports mem0)
from agent.memory.declare import operation
from agent.memory.engine import MemoryEngine
from agent.memory.errors import MemoryStoreError
from agent.memory.operations import MemoryOperations
from agent.memory.schemas import TierChoice
from agent.memory.service import MemoryService
from tests.memory.conftest import USER, memory_settings
from tests.support.word_embedder import WordOverlapEmbedder


class CountingOperations(MemoryOperations):
    """The memory operations, and one more."""

    @operation()
    async def count(self, *, user_id: str, tier: TierChoice = "all") -> int:
        """How many memories the user has (in ``tier``)."""
        raise NotImplementedError


class CountingEngine(MemoryEngine, CountingOperations):
    """A store that implements ``count``."""

    async def count(self, *, user_id: str, tier: TierChoice = "all") -> int:
        return len(await self.list(user_id=user_id, tier=tier))


class CountingMemory(CountingOperations, MemoryService):
    """MemoryService with ``count``; as the owner it opens a CountingEngine."""

    engine_class = CountingEngine


async def main(data_dir: Path, tier: TierChoice) -> None:
    memory = CountingMemory(memory_settings(data_dir), embedder=WordOverlapEmbedder())
    await memory.start()
    try:
        try:
            answer: dict[str, object] = {"count": await memory.count(user_id=USER, tier=tier)}
        except MemoryStoreError as exc:
            answer = {"error": exc.reason}
        print(json.dumps({"role": memory.role, **answer}), flush=True)
    finally:
        await memory.aclose()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "all"))  # type: ignore[arg-type]
