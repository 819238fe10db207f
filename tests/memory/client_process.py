"""A termmate process that reaches the memory store through its owner, as a second TUI would.

    python -m tests.memory.client_process DATA_DIR

Prints "ready" once it is the owner's client, then "event ACTION ORIGIN TEXT" for every change
it hears of, from any process. A line "remember TEXT" on standard input is written with
MemoryTools (origin "turn", as update_memory writes after a reply); "stop" ends it.
Embeddings come from the word-overlap test double.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import agent.memory  # noqa: F401  (mem0's telemetry off before anything imports mem0)
from agent.memory.service import MemoryService
from agent.memory.tools import MemoryTools
from tests.memory.conftest import USER, memory_settings
from tests.support.word_embedder import WordOverlapEmbedder


async def main(data_dir: Path) -> None:
    memory = MemoryService(memory_settings(data_dir), embedder=WordOverlapEmbedder())
    await memory.start()
    assert memory.role == "client", memory.status

    async def report() -> None:
        async for change in memory.changes():
            print(f"event {change.action} {change.origin} {change.text}", flush=True)

    reporter = asyncio.create_task(report())
    await asyncio.sleep(0)  # listening before anyone is told it is ready
    print("ready", flush=True)
    tools = MemoryTools(memory)
    while (line := (await asyncio.to_thread(sys.stdin.readline)).strip()) != "stop" and line:
        command, _, text = line.partition(" ")
        if command == "remember":
            await tools.add_memory(text, USER)
    reporter.cancel()
    await memory.aclose()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
