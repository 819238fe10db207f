"""End of speech → transcript with a remote recogniser: termmate's overhead beyond the server.

What push-to-talk and hands-free do once the listener has cut an utterance (16 kHz float32
samples, here a real espeak-ng sentence): check the audio, choose the backend by the one
policy, encode a WAV, POST it to ``/v1/audio/transcriptions``, read the answer and build the
Transcript. The server is the scripted recogniser with a fixed latency (its "model time").
Same-run baseline: the same WAV POSTed with a bare httpx client (one reused connection) to the
same server. Both take turns, request by request; medians and p95.

Overhead = termmate's time minus the server's fixed latency (parsing the upload on the server
counts against termmate, so this is an upper bound). Goal p50 ≤ 30 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile

from tests.bench._stats import median, percentile, report, verdict
from tests.support.scripted_asr import ScriptedASR
from tests.support.speech import ENGLISH, speak_to_wav

LATENCY_S = 0.2
GOAL_MS = 30.0


def utterance_samples(wav: Path) -> np.ndarray:
    """The WAV as the listener hands an utterance over: 16 kHz mono float32."""
    data, rate = soundfile.read(str(wav), dtype="float32")
    positions = np.arange(0, len(data), rate / 16000)
    return np.interp(positions, np.arange(len(data)), data).astype(np.float32)


async def measure(url: str, samples: np.ndarray, runs: int) -> tuple[list[float], list[float]]:
    """Seconds per transcription: (bare httpx, termmate), taking turns."""
    import io

    import httpx

    from agent.llm.hearing import speech_models, transcribe
    from config import Settings

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), mode="online", asr={"url": url})
        models = speech_models(settings)
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, 16000, format="WAV", subtype="PCM_16")
        wav = buffer.getvalue()
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:

            async def bare() -> float:
                started = time.perf_counter()
                response = await client.post(
                    "/audio/transcriptions",
                    files={"file": ("speech.wav", wav, "audio/wav")},
                    data={"model": "whisper", "response_format": "json"},
                )
                response.raise_for_status()
                response.json()["text"]
                return time.perf_counter() - started

            async def ours() -> float:
                started = time.perf_counter()
                transcript = await transcribe(models, samples)
                assert transcript.backend == "remote", transcript
                return time.perf_counter() - started

            await bare(), await ours()  # connect and warm up both
            base: list[float] = []
            mine: list[float] = []
            try:
                for turn in range(runs):
                    pair = (bare, ours) if turn % 2 else (ours, bare)
                    for run in pair:
                        (base if run is bare else mine).append(await run())
            finally:
                await models.aclose()
    return base, mine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=40, help="transcriptions each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples = utterance_samples(speak_to_wav(ENGLISH, "en", Path(tmp) / "english.wav"))
        with ScriptedASR(latency_s=LATENCY_S) as server:
            base, ours = asyncio.run(measure(server.url, samples, args.runs))
    latency_ms = LATENCY_S * 1000
    over = [t * 1000 - latency_ms for t in ours]
    bare_over = [t * 1000 - latency_ms for t in base]
    p50 = median(over)
    report(
        f"end of speech → transcript, remote ({len(samples) / 16000:.1f} s utterance, "
        f"server latency {latency_ms:.0f} ms)",
        [
            f"bare httpx POST   overhead p50 {median(bare_over):6.1f} ms, "
            f"p95 {percentile(bare_over, 95):6.1f} ms (baseline)",
            f"termmate          overhead p50 {p50:6.1f} ms, p95 {percentile(over, 95):6.1f} ms",
            f"beyond the bare client: p50 {p50 - median(bare_over):+.1f} ms; goal p50 ≤ "
            f"{GOAL_MS:.0f} ms: {verdict(p50 <= GOAL_MS)}; {len(ours)} transcriptions each",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
