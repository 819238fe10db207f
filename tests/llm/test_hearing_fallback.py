"""Hearing's side of the one remote→local policy (the policy itself, the same for all four
kinds of model, is driven in test_fallback_policy.py): a server error falls back for that same
transcription, in the language the audio is in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.llm.hearing import SpeechModels, speech_models, transcribe
from config import Settings
from tests.support.scripted_asr import Heard, ScriptedASR
from tests.support.speech import SpeechSamples

WORDS = "what is on my screen"


def settings(tmp_path: Path, url: str, tiny_whisper: Path, **values: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        local={"asr_model": str(tiny_whisper)},
        asr={"url": url, "retry_remote_after_s": 0.2, "max_retries": 0, "connect_timeout_s": 2},
        **values,
    )


@pytest.fixture
async def auto_models(tmp_path: Path, tiny_whisper: Path) -> Any:
    with ScriptedASR(default=Heard(WORDS)) as asr:
        models = speech_models(settings(tmp_path, asr.url, tiny_whisper, mode="auto"))
        try:
            yield asr, models
        finally:
            await models.aclose()


async def test_a_server_error_falls_back_for_that_same_call(
    auto_models: tuple[ScriptedASR, SpeechModels], speech: SpeechSamples
) -> None:
    asr, models = auto_models
    asr.script(Heard.failure(500, "CUDA out of memory"))
    transcript = await transcribe(models, speech.korean.read_bytes())
    assert transcript.backend == "local" and transcript.language in ("ko", "en")
    assert "HTTP 500: CUDA out of memory" in (transcript.fallback_reason or "")
    assert len(asr.transcriptions) == 1  # asked once, then answered here
