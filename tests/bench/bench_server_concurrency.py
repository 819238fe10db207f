"""Concurrency: 32 clients × 4 turns, each client on its own conversation, against a scripted
model whose replies take 300 ms (goal: throughput ≥ 0.8 × 32 / 0.3 s, i.e. the turns overlap
and nothing serialises them).

Same-run baselines: the model alone (32 clients × 4 bare streams straight to it), and the
Companion alone (32 callers × 4 turns of ``Companion.turn`` in this process: what the agent
itself allows, before any HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from tests.bench._stats import median, report, verdict
from tests.bench.bench_turn_overhead import raw_stream
from tests.support.processes import terminate
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.served import service_env, start_served


async def companion_alone(folder: Path, model_url: str, clients: int, turns: int) -> float:
    """Seconds for ``clients`` × ``turns`` direct Companion turns, each caller on its own
    conversation."""
    import os

    from agent import Companion
    from agent.threads import new_thread_id
    from config import load_settings

    os.environ.update(service_env(folder, model_url))
    companion = await Companion.create(load_settings())
    try:

        async def caller(number: int) -> None:
            thread_id = new_thread_id()
            for turn in range(turns):
                async for _ in companion.turn(thread_id, f"turn {turn}", user_id=f"c{number}"):
                    pass

        await caller(-1)  # warm up
        started = time.perf_counter()
        await asyncio.gather(*(caller(n) for n in range(clients)))
        return time.perf_counter() - started
    finally:
        await companion.aclose()


async def run(clients: int, turns: int, reply_s: float) -> None:
    import httpx

    reply = Reply.of("All", " right", ",", " done", ".", first_token_delay_s=reply_s)
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAI(default=reply) as model:
        env = service_env(Path(tmp), model.url, SERVER__MAX_CONCURRENT_TURNS=str(clients))
        service = start_served(env, stderr_dir=Path(tmp))
        try:
            async with (
                httpx.AsyncClient(timeout=60, limits=limits) as raw_client,
                httpx.AsyncClient(base_url=service.url, timeout=60, limits=limits) as api,
            ):

                async def bare_client() -> None:
                    for _ in range(turns):
                        await raw_stream(raw_client, model.url, model.model)

                latencies: list[float] = []

                async def api_client(number: int) -> None:
                    thread_id = None
                    for turn in range(turns):
                        body = {
                            "user_id": f"client{number}",
                            "thread_id": thread_id,
                            "message": f"turn {turn}",
                        }
                        started = time.perf_counter()
                        response = await api.post("/v1/chat", json=body)
                        latencies.append(time.perf_counter() - started)
                        response.raise_for_status()
                        thread_id = response.json()["thread_id"]

                await api_client(-1)  # warm up the service (imports, first connection)
                latencies.clear()
                started = time.perf_counter()
                await asyncio.gather(*(bare_client() for _ in range(clients)))
                bare_s = time.perf_counter() - started
                started = time.perf_counter()
                await asyncio.gather(*(api_client(n) for n in range(clients)))
                served_s = time.perf_counter() - started
        finally:
            terminate(service.process, 30)
        direct_s = await companion_alone(Path(tmp) / "direct", model.url, clients, turns)

    total = clients * turns
    goal = 0.8 * clients / reply_s
    throughput = total / served_s
    report(
        f"concurrency ({clients} clients × {turns} turns, distinct conversations, "
        f"model replies in {reply_s * 1000:.0f} ms)",
        [
            f"model alone (bare streams)   {total / bare_s:6.1f} turns/s ({bare_s:5.2f} s)",
            f"Companion.turn, in-process   {total / direct_s:6.1f} turns/s ({direct_s:5.2f} s)",
            f"termmate serve, /v1/chat     {throughput:6.1f} turns/s ({served_s:5.2f} s), "
            f"median latency {median(latencies) * 1000:.0f} ms",
            f"goal ≥ {goal:.1f} turns/s (0.8 × {clients} / {reply_s:g} s): "
            f"{verdict(throughput >= goal)}",
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--reply-ms", type=float, default=300)
    args = parser.parse_args()
    asyncio.run(run(args.clients, args.turns, args.reply_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
