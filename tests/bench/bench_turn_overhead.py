"""Per-turn overhead: a turn's wall time minus the model's own time (goal p50 ≤ 15 ms).

The model is the scripted loopback server with a fixed latency (time to first token, then a
fixed gap between words). The baseline, measured in the same run and alternating with the
turns, is the same request streamed with a bare httpx client: that is "the model's own time".
Each turn's overhead is its wall time minus the baseline median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from agent.threads import new_thread_id
from tests.bench._stats import median, percentile, report, verdict
from tests.support.scripted_openai import Reply, ScriptedOpenAI

WORDS = tuple(f" word{i}" for i in range(20))


async def raw_stream(client, url: str, model: str) -> float:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "hello"}],
        "stream": True,
    }
    started = time.perf_counter()
    async with client.stream("POST", f"{url}/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if line == "data: [DONE]":
                break
    return time.perf_counter() - started


async def run(turns: int, ttft_s: float, gap_s: float, memory: bool) -> None:
    import httpx

    from agent import Companion
    from agent.events import TurnFinished
    from config import load_settings

    reply = Reply.of(*WORDS, first_token_delay_s=ttft_s, token_delay_s=gap_s)
    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAI(default=reply) as server:
        os.environ.update(
            {
                "TERMMATE_DATA_DIR": str(Path(tmp) / "data"),
                "TERMMATE_CONFIG": str(Path(tmp) / "settings.toml"),
                "TERMMATE_MODE": "online",
                "TERMMATE_LLM__URL": server.url,
                "TERMMATE_MEMORY__ENABLED": "true" if memory else "false",
            }
        )
        companion = await Companion.create(load_settings())
        client = httpx.AsyncClient(timeout=30)  # kept alive, as termmate's own pool is
        try:
            thread = new_thread_id()
            await raw_stream(client, server.url, server.model)  # warm connections and imports
            async for _ in companion.turn(thread, "warm up"):
                pass
            raw, walls = [], []
            for i in range(turns):
                raw.append(await raw_stream(client, server.url, server.model))
                started = time.perf_counter()
                async for event in companion.turn(thread, f"message {i}"):
                    if isinstance(event, TurnFinished):
                        walls.append(time.perf_counter() - started)
        finally:
            await client.aclose()
            await companion.aclose()
    model_s = median(raw)
    overhead_ms = [(w - model_s) * 1000 for w in walls]
    p50 = percentile(overhead_ms, 50)
    report(
        f"per-turn overhead ({turns} turns, scripted model: {ttft_s * 1000:.0f} ms to first "
        f"token, {len(WORDS)} words {gap_s * 1000:.0f} ms apart"
        + (", memory on" if memory else "")
        + ")",
        [
            f"model's own time (bare httpx stream)  median {model_s * 1000:7.1f} ms",
            f"termmate turn wall time               median {median(walls) * 1000:7.1f} ms",
            f"overhead p50 {p50:6.1f} ms  p95 {percentile(overhead_ms, 95):6.1f} ms "
            f"(goal p50 ≤ 15 ms: {verdict(p50 <= 15)})",
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--ttft-ms", type=float, default=100)
    parser.add_argument("--gap-ms", type=float, default=10)
    parser.add_argument("--memory", action="store_true", help="with long-term memory on")
    args = parser.parse_args()
    asyncio.run(run(args.turns, args.ttft_ms / 1000, args.gap_ms / 1000, args.memory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
