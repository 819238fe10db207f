"""Load held on shared stores: 64 clients for 60 s over two `termmate serve` processes on one
PostgreSQL, against one server alone on a database of its own, in the same run.

Each client keeps one conversation and sends turn after turn, alternating between the servers
as a round-robin load balancer would (so consecutive turns of a conversation land on different
servers). The model is the scripted one, answering in 300 ms. Reported: turns/s, latency
p50/p95, requests that failed, and lost turns: turns answered 200 that the conversation, read
back afterwards, does not hold (goal 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.bench._stats import median, percentile, report, verdict
from tests.support.postgres import postgres_server
from tests.support.processes import terminate
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.served import Served, service_env, start_served


@dataclass
class Load:
    """What the clients saw."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    answered: dict[str, int] = field(default_factory=dict)
    """Conversation id → turns answered 200."""
    lost: int = 0


async def hold(urls: Sequence[str], clients: int, seconds: float) -> Load:
    """``clients`` conversations, turn after turn for ``seconds``, round-robin over ``urls``."""
    import httpx

    load = Load()
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:

        async def client(number: int) -> None:
            user, thread, turn = f"client{number}", None, 0
            while time.perf_counter() < deadline:
                url = urls[(number + turn) % len(urls)]
                body = {"user_id": user, "thread_id": thread, "message": f"turn {turn}"}
                started = time.perf_counter()
                try:
                    response = await http.post(f"{url}/v1/chat", json=body)
                except httpx.HTTPError as exc:
                    load.failed.append(f"{type(exc).__name__}: {exc}")
                    continue
                turn += 1
                if response.status_code != 200:
                    load.failed.append(f"{response.status_code} {response.text[:200]}")
                    continue
                load.latencies.append(time.perf_counter() - started)
                thread = response.json()["thread_id"]
                load.answered[thread] = load.answered.get(thread, 0) + 1
            if thread is not None:
                users[thread] = user

        users: dict[str, str] = {}
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(client(n) for n in range(clients)))
        load.seconds = time.perf_counter() - started
        for thread, answered in load.answered.items():
            shown = await http.get(
                f"{urls[0]}/v1/threads/{thread}", params={"user_id": users[thread]}
            )
            replies = [m for m in shown.json()["messages"] if m["role"] == "assistant"]
            load.lost += max(0, answered - len(replies))
    return load


@contextlib.contextmanager
def servers(folder: Path, model_url: str, database: str, count: int, clients: int):
    """``count`` services on ``database``, each with its own data dir; their URLs."""
    started: list[Served] = []
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for number in range(count):
            env = service_env(
                folder / f"server{number}",
                model_url,
                STORE__URL=database,
                SERVER__MAX_CONCURRENT_TURNS=str(clients),
                SERVER__QUEUE_TIMEOUT_S="120",
            )
            started.append(start_served(env, stderr_dir=folder))
        yield [service.url for service in started]
    finally:
        for service in started:
            terminate(service.process, 60)


def line(name: str, load: Load) -> str:
    turns = sum(load.answered.values())
    return (
        f"{name:<26} {turns / load.seconds:6.1f} turns/s, latency p50 "
        f"{median(load.latencies) * 1000:5.0f} ms p95 {percentile(load.latencies, 95) * 1000:5.0f} "
        f"ms; {turns} turns, {len(load.failed)} failed, {load.lost} lost"
    )


async def run(clients: int, seconds: float, reply_s: float) -> int:
    reply = Reply.of("All", " right", ",", " noted", ".", first_token_delay_s=reply_s)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ScriptedOpenAI(default=reply) as model,
        postgres_server() as postgres,
    ):
        folder = Path(tmp)
        with servers(folder / "two", model.url, postgres.new_database("two"), 2, clients) as urls:
            await hold(urls, 4, 2)  # warm up both (imports, pools, first connections)
            two = await hold(urls, clients, seconds)
        with servers(folder / "one", model.url, postgres.new_database("one"), 1, clients) as urls:
            await hold(urls, 4, 2)
            one = await hold(urls, clients, seconds)
    report(
        f"load held on one PostgreSQL ({clients} clients × {seconds:g} s, one conversation "
        f"each, model replies in {reply_s * 1000:.0f} ms)",
        [
            line("one server alone", one),
            line("two servers, round-robin", two),
            f"lost turns: {two.lost + one.lost} (goal 0: {verdict(two.lost + one.lost == 0)})",
            *[f"failure: {failure}" for failure in (two.failed + one.failed)[:5]],
        ],
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--reply-ms", type=float, default=300)
    args = parser.parse_args()
    return asyncio.run(run(args.clients, args.seconds, args.reply_ms / 1000))


if __name__ == "__main__":
    sys.exit(main())
