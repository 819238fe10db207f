"""Time to first audio for a five-sentence reply, against scripted servers.

The model streams at a fixed time to first token and tokens/s; the Fish Speech test server
synthesises at a fixed real-time factor; playback goes to a PulseAudio null sink. Measured in
the same run:

- the bound: time to first token + the first sentence's tokens + the first sentence's
  synthesis (measured alone). Goal: termmate ≤ 1.15× the bound.
- the seed's /v1/chat flow: write the whole reply, then synthesise it, then play. Goal:
  termmate's first audio ≥ 3× sooner.
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
from tests.bench._stats import median, report, verdict
from tests.bench.bench_turn_overhead import raw_stream
from tests.support.fish_speech_server import FishSpeechServer
from tests.support.pulse import start_pulse, use_for_sounddevice
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of

REPLY = (
    "I looked at the failing test for you. The fixture opens the database twice. "
    "Closing the first connection fixes it. The rest of the suite is green. "
    "Shall I write the patch?"
)


async def synth_seconds(tts, text: str) -> float:
    started = time.perf_counter()
    await tts.synthesize(text)
    return time.perf_counter() - started


async def run(runs: int, ttft_s: float, token_s: float, rtf: float) -> None:
    import httpx

    from agent import Companion
    from agent.events import SpeechStarted
    from audio import FishSpeechClient, split_sentences
    from config import TTSSettings, load_settings

    words = words_of(REPLY)
    sentences = split_sentences(REPLY)
    first_sentence_tokens = len(words_of(sentences[0]))
    reply = Reply.of(*words, first_token_delay_s=ttft_s, token_delay_s=token_s)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ScriptedOpenAI(default=reply) as chat,
        FishSpeechServer(real_time_factor=rtf, seconds_per_char=0.06) as fish,
    ):
        pulse = start_pulse(Path(tmp) / "pulse")
        use_for_sounddevice(pulse)
        os.environ.update(
            {
                "TERMMATE_DATA_DIR": str(Path(tmp) / "data"),
                "TERMMATE_CONFIG": str(Path(tmp) / "settings.toml"),
                "TERMMATE_MODE": "online",
                "TERMMATE_LLM__URL": chat.url,
                "TERMMATE_TTS__URL": fish.url,
                "TERMMATE_MEMORY__ENABLED": "false",
            }
        )
        companion = await Companion.create(load_settings())
        tts = FishSpeechClient(TTSSettings(url=fish.url))
        client = httpx.AsyncClient(timeout=60)
        try:
            await companion.voice.start()
            ours, first_synth, whole = [], [], []
            for i in range(runs + 1):
                first_audio = None
                async for event in companion.turn(new_thread_id(), f"run {i}", until_spoken=True):
                    if isinstance(event, SpeechStarted):
                        first_audio = event.first_audio_ms / 1000
                first_synth.append(await synth_seconds(tts, sentences[0]))
                whole.append(
                    await raw_stream(client, chat.url, chat.model)
                    + await synth_seconds(tts, " ".join(sentences))
                )
                if i:  # the first run warms connections and the audio device
                    assert first_audio is not None, "no audio"
                    ours.append(first_audio)
        finally:
            await client.aclose()
            await tts.aclose()
            await companion.aclose()
            pulse.stop()
    bound = ttft_s + first_sentence_tokens * token_s + median(first_synth)
    ratio = median(ours) / bound
    sooner = median(whole) / median(ours)
    report(
        f"time to first audio ({runs} runs; model {ttft_s * 1000:.0f} ms to first token, "
        f"{1 / token_s:.0f} tokens/s; TTS real-time factor {rtf})",
        [
            f"bound (TTFT + first sentence's {first_sentence_tokens} tokens + its synthesis) "
            f"{bound * 1000:7.0f} ms",
            f"whole reply first, then synthesis (seed /v1/chat)    median "
            f"{median(whole) * 1000:7.0f} ms",
            f"termmate first audio                                  median "
            f"{median(ours) * 1000:7.0f} ms",
            f"vs bound {ratio:.2f}× (goal ≤ 1.15×: {verdict(ratio <= 1.15)}); "
            f"{sooner:.1f}× sooner than whole-reply-first (goal ≥ 3×: {verdict(sooner >= 3)})",
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--ttft-ms", type=float, default=300)
    parser.add_argument("--tokens-per-s", type=float, default=25)
    parser.add_argument("--rtf", type=float, default=0.3)
    args = parser.parse_args()
    asyncio.run(run(args.runs, args.ttft_ms / 1000, 1 / args.tokens_per_s, args.rtf))
    return 0


if __name__ == "__main__":
    sys.exit(main())
