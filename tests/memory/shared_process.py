"""A termmate process on a shared memory store (PostgreSQL), as a second server would be.

    TERMMATE_STORE__URL=postgresql://… python -m tests.memory.shared_process DATA_DIR

Opens the store itself (role "shared"), prints "ready", then "event ACTION ORIGIN ID TEXT" for
every change it hears of, its own and other processes'. Commands on standard input, one a line:

    remember TEXT        add a memory; prints "added ID"
    search TEXT          prints "found ID TEXT" (the best hit) or "found nothing"
    update ID TEXT       change a memory's text; prints "updated ID"
    churn STALE_IDS      keep adding "new memory number N" and, every third add, updating the
                         next of the comma-separated ids to "updated memory ID", until "stop"
    stop                 close the store; prints "closed"

Embeddings come from the word-overlap test double.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import agent.memory  # noqa: F401  (mem0's telemetry off before anything imports mem0)
from agent.memory.service import MemoryService
from tests.memory.conftest import USER, memory_settings
from tests.support.word_embedder import WordOverlapEmbedder


def say(line: str) -> None:
    print(line, flush=True)


async def churn(memory: MemoryService, stale: list[str], stopping: asyncio.Event) -> None:
    """Add memories without pause, updating a stale one every third add, until ``stopping``
    (each write finished and reported); "error …" for anything that fails."""
    try:
        for i in range(100_000):
            if stopping.is_set():
                return
            added = await memory.add(f"new memory number {i}", user_id=USER)
            say(f"added {added.record.id}")
            if i % 3 == 0 and stale:
                point_id = stale.pop(0)
                await memory.update(point_id, user_id=USER, text=f"updated memory {point_id}")
                say(f"updated {point_id}")
            await asyncio.sleep(0.002)
    except Exception as exc:
        say(f"error {exc!r}")
        raise


async def main(data_dir: Path) -> None:
    settings = memory_settings(data_dir, store={"url": os.environ["TERMMATE_STORE__URL"]})
    memory = MemoryService(settings, embedder=WordOverlapEmbedder())
    await memory.start()
    assert memory.role == "shared", memory.status

    async def report() -> None:
        async for change in memory.changes():
            say(f"event {change.action} {change.origin} {change.memory_id} {change.text}")

    reporter = asyncio.create_task(report())
    await asyncio.sleep(0)  # listening before anyone is told it is ready
    say("ready")
    background: asyncio.Task[None] | None = None
    stopping = asyncio.Event()
    while line := (await asyncio.to_thread(sys.stdin.readline)).strip():
        command, _, rest = line.partition(" ")
        if command == "stop":
            break
        if command == "remember":
            say(f"added {(await memory.add(rest, user_id=USER)).record.id}")
        elif command == "search":
            hits = (await memory.search(rest, user_id=USER)).hits
            say(f"found {hits[0].id} {hits[0].text}" if hits else "found nothing")
        elif command == "update":
            point_id, _, text = rest.partition(" ")
            await memory.update(point_id, user_id=USER, text=text)
            say(f"updated {point_id}")
        elif command == "churn":
            background = asyncio.create_task(churn(memory, rest.split(","), stopping))
    if background is not None:
        stopping.set()
        with contextlib.suppress(Exception):  # reported as "error …"
            await background
    reporter.cancel()
    await memory.aclose()
    say("closed")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
