"""HTTP overhead per turn: POST /v1/chat against Companion.turn called directly (goal: p50 of
the difference ≤ 5 ms).

Both answer from the same scripted model (fixed time to first token, fixed gap between words)
in the same run, alternating: a bare httpx stream to the model (the model's own time), a
direct ``Companion.turn`` in this process, and a ``/v1/chat`` to `termmate serve` in a
subprocess (a kept-alive connection, as a front end keeps one). Each turn's overhead is its
wall time minus the median model time; the HTTP overhead is the difference of the two medians.
Beside it, what each request adds to its own turn (its wall time minus the ``total_ms`` the
service measured): HTTP without the noise of where the turn ran.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from tests.bench._stats import median, percentile, report, verdict
from tests.bench.bench_turn_overhead import WORDS, raw_stream
from tests.support.processes import terminate
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.served import service_env, start_served

GOAL_MS = 5.0


async def run(turns: int, ttft_s: float, gap_s: float) -> None:
    import httpx

    from agent import Companion
    from agent.events import TurnFinished
    from agent.threads import new_thread_id
    from config import load_settings

    reply = Reply.of(*WORDS, first_token_delay_s=ttft_s, token_delay_s=gap_s)
    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAI(default=reply) as model:
        folder = Path(tmp)
        service = start_served(service_env(folder / "served", model.url), stderr_dir=folder)
        os.environ.update(service_env(folder / "direct", model.url))
        companion = await Companion.create(load_settings())
        raw_client = httpx.AsyncClient(timeout=30)
        api = httpx.AsyncClient(base_url=service.url, timeout=30)
        try:
            direct_thread = new_thread_id()

            async def direct(text: str) -> float:
                started = time.perf_counter()
                wall = None
                async for event in companion.turn(direct_thread, text):
                    if isinstance(event, TurnFinished):
                        wall = time.perf_counter() - started
                assert wall is not None, "the turn did not finish"
                # The run saves its checkpoints after TurnFinished: let it, or that work would
                # land on the HTTP client sharing this process and be counted against HTTP.
                while companion.busy(direct_thread):  # noqa: ASYNC110 (no event to await)
                    await asyncio.sleep(0.001)
                return wall

            thread_id: str | None = None
            within: list[float] = []  # each request's wall time minus its turn's own

            async def over_http(text: str) -> float:
                nonlocal thread_id
                body = {"user_id": "bench", "thread_id": thread_id, "message": text}
                started = time.perf_counter()
                response = await api.post("/v1/chat", json=body)
                wall = time.perf_counter() - started
                response.raise_for_status()
                answer = response.json()
                thread_id = answer["thread_id"]
                within.append(wall - answer["timings"]["total_ms"] / 1000)
                return wall

            await raw_stream(raw_client, model.url, model.model)  # warm connections, imports
            await direct("warm up")
            await over_http("warm up")
            within.clear()
            raw, walls, https = [], [], []
            for i in range(turns):
                raw.append(await raw_stream(raw_client, model.url, model.model))
                walls.append(await direct(f"message {i}"))
                https.append(await over_http(f"message {i}"))
        finally:
            await raw_client.aclose()
            await api.aclose()
            await companion.aclose()
            terminate(service.process, 30)

    model_s = median(raw)
    direct_ms = [(w - model_s) * 1000 for w in walls]
    http_ms = [(w - model_s) * 1000 for w in https]
    added = percentile(http_ms, 50) - percentile(direct_ms, 50)
    report(
        f"HTTP overhead per turn ({turns} turns, scripted model: {ttft_s * 1000:.0f} ms to first "
        f"token, {len(WORDS)} words {gap_s * 1000:.0f} ms apart)",
        [
            f"model's own time (bare httpx stream)   median {model_s * 1000:7.1f} ms",
            f"Companion.turn, direct: overhead       p50 {percentile(direct_ms, 50):6.1f} ms  "
            f"p95 {percentile(direct_ms, 95):6.1f} ms",
            f"POST /v1/chat (termmate serve): overhead p50 {percentile(http_ms, 50):6.1f} ms  "
            f"p95 {percentile(http_ms, 95):6.1f} ms",
            f"added by HTTP: p50 {added:+.1f} ms (goal ≤ +{GOAL_MS:g} ms: "
            f"{verdict(added <= GOAL_MS)})",
            f"within each request (wall − the turn's own total_ms): "
            f"p50 {percentile(within, 50) * 1000:.1f} ms",
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--ttft-ms", type=float, default=100)
    parser.add_argument("--gap-ms", type=float, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.turns, args.ttft_ms / 1000, args.gap_ms / 1000))
    return 0


if __name__ == "__main__":
    sys.exit(main())
