"""SSE time to first token and to first audio: POST /v1/chat/stream against `termmate ask
--speak --json` in the same run, on the same scripted model and Fish Speech server (goal: the
stream ≤ +10 ms on each).

The stream is timed by its client, from sending the request to receiving the first ``token``
and the first ``audio`` event: everything HTTP and SSE add is in it. ``ask`` reports its own
first_token_ms and first_audio_ms, from the moment its turn began (a fresh process each run,
as a user runs it: its first turn also pays for a first connection and lazy imports, which a
running service paid once). So the stream's own cost is shown too: its client-side times
minus the times the service measured for the same turn. Neither plays sound: both synthesise
the reply for their answer only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.bench._stats import median, report, verdict
from tests.support.cli import run_termmate
from tests.support.fish_speech_server import FishSpeechServer
from tests.support.processes import terminate
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.served import service_env, sse_events, start_served

REPLY = "Here is the answer you asked for. It comes in three sentences. This is the last one."
GOAL_MS = 10.0


@dataclass(frozen=True)
class Streamed:
    """One streamed turn's first token and first audio: as its client saw them, and as the
    service measured them from the moment its turn began."""

    first_token_s: float
    first_audio_s: float
    served_first_token_s: float
    served_first_audio_s: float
    thread_id: str


async def stream_once(client: httpx.AsyncClient, thread_id: str | None) -> Streamed:
    """One streamed turn, timed by the client (and by the service, in its ``end``)."""
    body = {"user_id": "bench", "thread_id": thread_id, "message": "tell me"}
    first: dict[str, float] = {}
    timings: dict[str, float] = {}
    started = time.perf_counter()
    async with client.stream("POST", "/v1/chat/stream", json=body) as response:
        response.raise_for_status()
        block: list[str] = []
        async for line in response.aiter_lines():
            block.append(line)
            if line:
                continue
            arrived = time.perf_counter() - started  # an event is complete at its blank line
            for name, data in sse_events(iter(block)):
                first.setdefault(name, arrived)
                if name == "start":
                    thread_id = data["thread_id"]
                elif name == "end":
                    timings = data["timings"]
            block = []
    assert "token" in first and "audio" in first and timings, first
    return Streamed(
        first_token_s=first["token"],
        first_audio_s=first["audio"],
        served_first_token_s=timings["first_token_ms"] / 1000,
        served_first_audio_s=timings["first_audio_ms"] / 1000,
        thread_id=thread_id or "",
    )


def ask_once(env: dict[str, str]) -> tuple[float, float]:
    """(first token s, first audio s) as `termmate ask --speak --json` reports them."""
    run = run_termmate(env, "ask", "--speak", "--json", "tell me")
    assert run.returncode == 0, run.stderr
    timings = run.json()["timings"]
    return timings["first_token_ms"] / 1000, timings["first_audio_ms"] / 1000


async def run(runs: int, ttft_s: float, gap_s: float, rtf: float) -> None:
    reply = Reply.of(*words_of(REPLY), first_token_delay_s=ttft_s, token_delay_s=gap_s)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ScriptedOpenAI(default=reply) as model,
        FishSpeechServer(real_time_factor=rtf) as fish,
    ):
        voice = {"TTS__URL": fish.url, "AUDIO__ENABLED": "false"}
        service = start_served(service_env(Path(tmp) / "served", model.url, **voice))
        ask_env = service_env(Path(tmp) / "ask", model.url, **voice)
        try:
            async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
                thread_id = (await stream_once(client, None)).thread_id  # warm up
                streamed: list[Streamed] = []
                asked: list[tuple[float, float]] = []
                for _ in range(runs):
                    streamed.append(await stream_once(client, thread_id))
                    asked.append(ask_once(ask_env))
        finally:
            terminate(service.process, 30)

    lines = []
    verdicts = []
    for index, what in enumerate(("first token", "first audio")):
        client_side = [(s.first_token_s, s.first_audio_s)[index] for s in streamed]
        served = [(s.served_first_token_s, s.served_first_audio_s)[index] for s in streamed]
        ours = median(client_side) * 1000
        theirs = median([a[index] for a in asked]) * 1000
        added = median([c - s for c, s in zip(client_side, served, strict=True)]) * 1000
        verdicts.append(ours - theirs <= GOAL_MS)
        lines.append(
            f"{what:11}  SSE (client-side) {ours:7.1f} ms   ask --speak --json {theirs:7.1f} ms"
            f"   {ours - theirs:+6.1f} ms   (HTTP + SSE within the stream: {added:+.1f} ms)"
        )
    lines.append(f"goal ≤ +{GOAL_MS:g} ms on each: {verdict(all(verdicts))}")
    report(
        f"SSE first token and first audio ({runs} runs; model {ttft_s * 1000:.0f} ms to first "
        f"token, words {gap_s * 1000:.0f} ms apart; TTS real-time factor {rtf})",
        lines,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--ttft-ms", type=float, default=100)
    parser.add_argument("--gap-ms", type=float, default=20)
    parser.add_argument("--rtf", type=float, default=0.1)
    args = parser.parse_args()
    asyncio.run(run(args.runs, args.ttft_ms / 1000, args.gap_ms / 1000, args.rtf))
    return 0


if __name__ == "__main__":
    sys.exit(main())
