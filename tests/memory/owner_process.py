"""A process that owns a memory store (as the TUI would) and keeps adding memories.

    python -m tests.memory.owner_process DATA_DIR STALE

Seeds STALE memories last updated 40+ days ago, prints "ready", then adds a memory every few
milliseconds until a line arrives on standard input, and closes the store. It prints
"event ACTION ID" for every change to the store (its own and other processes'), in order.
Embeddings come from the word-overlap test double.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import timedelta
from pathlib import Path

import agent.memory  # noqa: F401
from agent.memory.service import MemoryService
from agent.memory.timestamps import format_utc, now_utc
from tests.memory.conftest import USER, memory_settings
from tests.support.word_embedder import WordOverlapEmbedder


async def main(data_dir: Path, stale: int) -> None:
    memory = MemoryService(memory_settings(data_dir), embedder=WordOverlapEmbedder())
    await memory.start()
    assert memory.role == "owner", memory.status
    for i in range(stale):
        when = format_utc(now_utc() - timedelta(days=40 + i))
        await memory.add(f"old memory number {i}", user_id=USER, updated_at=when)

    async def report() -> None:
        async for event in memory.changes():
            print(f"event {event.action} {event.memory_id}", flush=True)

    async def keep_adding() -> None:
        for i in range(100_000):
            await memory.add(f"new memory number {i}", user_id=USER)
            await asyncio.sleep(0.005)

    reporter = asyncio.create_task(report())
    await asyncio.sleep(0)
    print("ready", flush=True)
    adder = asyncio.create_task(keep_adding())
    await asyncio.to_thread(sys.stdin.readline)
    adder.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await adder
    await asyncio.sleep(0.1)
    reporter.cancel()
    await memory.aclose()
    print("closed", flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
