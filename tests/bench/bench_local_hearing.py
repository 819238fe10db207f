"""Local recognition: termmate's local speech recogniser vs raw faster-whisper, same run.

Same CTranslate2 Whisper (random weights, big enough that a transcription costs real compute:
the encoder reads a full 30 s window whatever the audio's length), same espeak-ng sentence as
WAV bytes, the same language (en) and decoding options, int8 on two CPU threads. Raw
faster-whisper decodes the WAV and transcribes it; termmate checks the audio, chooses the
backend by the one policy (offline mode), decodes and transcribes on its recogniser's thread,
and hands back a Transcript. Both run in one process (each with its own copy of the model),
taking turns transcription by transcription, so a busy machine slows both alike; medians.
Goal ≥ 0.95× the raw speed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench._stats import median, report, verdict
from tests.support.speech import ENGLISH, speak_to_wav
from tests.support.tiny_whisper import TinyWhisperSpec, write_tiny_whisper

SPEC = TinyWhisperSpec(d_model=384, heads=6, encoder_layers=4, decoder_layers=2, ffn=1536, seed=11)
THREADS = 2
ROOT = Path(__file__).resolve().parents[2]


def raw_transcriber(model: Path) -> Callable[[bytes], str]:
    """Raw faster-whisper: WAV bytes in, the text out (what termmate's local backend wraps)."""
    from faster_whisper import WhisperModel

    from agent.llm.asr_local import TRANSCRIBE_OPTIONS

    whisper = WhisperModel(str(model), device="cpu", compute_type="int8", cpu_threads=THREADS)

    def transcribe(data: bytes) -> str:
        segments, _ = whisper.transcribe(io.BytesIO(data), language="en", **TRANSCRIBE_OPTIONS)
        return "".join(segment.text for segment in segments)

    return transcribe


async def measure(model: Path, wav: Path, runs: int) -> tuple[list[float], list[float]]:
    """Seconds per transcription: (raw, termmate), taking turns."""
    from agent.llm.hearing import speech_models, transcribe
    from config import Settings

    settings = Settings(
        data_dir=model.parent / "data",
        mode="offline",
        local={"asr_model": str(model), "asr_compute_type": "int8", "threads": THREADS},
        asr={"language": "en"},
    )
    models = speech_models(settings)
    raw = raw_transcriber(model)
    data = wav.read_bytes()

    def raw_once() -> float:
        started = time.perf_counter()
        raw(data)
        return time.perf_counter() - started

    async def termmate_once() -> float:
        started = time.perf_counter()
        await transcribe(models, data)
        return time.perf_counter() - started

    raw_once(), await termmate_once()  # load and warm up
    base: list[float] = []
    ours: list[float] = []
    try:
        for turn in range(runs):
            if turn % 2:  # who goes first alternates too
                base.append(raw_once())
                ours.append(await termmate_once())
            else:
                ours.append(await termmate_once())
                base.append(raw_once())
    finally:
        await models.aclose()
    return base, ours


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="transcriptions each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = write_tiny_whisper(Path(tmp) / "bench-whisper", SPEC)
        wav = speak_to_wav(ENGLISH, "en", Path(tmp) / "english.wav")
        base, ours = asyncio.run(measure(model, wav, args.runs))
    ratio = median(base) / median(ours)  # speed: the inverse of the time
    report(
        f"local recognition (faster-whisper, same model and WAV, int8, {THREADS} threads)",
        [
            f"raw faster-whisper        median {median(base) * 1000:8.1f} ms per transcription",
            f"termmate LocalRecogniser  median {median(ours) * 1000:8.1f} ms per transcription",
            f"speed ratio {ratio:.3f}× (goal ≥ 0.95×: {verdict(ratio >= 0.95)}), "
            f"{len(base)} transcriptions each, taking turns",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
