"""Audio a recogniser cannot use is refused with a clear reason before any model is asked."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from agent.llm.hearing import BadAudio, speech_models, transcribe
from config import Settings
from tests.support.scripted_asr import Heard, ScriptedASR


def flac(seconds: float, rate: int = 44100) -> bytes:
    buffer = io.BytesIO()
    tone = 0.3 * np.sin(2 * np.pi * 300 * np.arange(int(seconds * rate)) / rate)
    soundfile.write(buffer, tone, rate, format="FLAC")
    return buffer.getvalue()


async def refused(tmp_path: Path, audio: Any, **listen: Any) -> tuple[BadAudio, ScriptedASR]:
    with ScriptedASR() as asr:
        settings = Settings(
            data_dir=tmp_path / "data", mode="online", asr={"url": asr.url}, listen=listen
        )
        models = speech_models(settings)
        try:
            with pytest.raises(BadAudio) as caught:
                await transcribe(models, audio)
        finally:
            await models.aclose()
    assert asr.paths == [], "nothing reached the recogniser"
    return caught.value, asr


async def test_a_text_file_is_not_audio(tmp_path: Path) -> None:
    error, _ = await refused(tmp_path, b"just some words\n" * 40)
    assert error.kind == "not_audio"
    assert error.reason.startswith("this is not audio termmate can read (WAV, FLAC, OGG or MP3)")


async def test_empty_files_and_empty_recordings_are_refused(tmp_path: Path) -> None:
    error, _ = await refused(tmp_path, b"")
    assert (error.kind, error.reason) == ("empty", "the audio file is empty (0 bytes)")

    header_only = io.BytesIO()
    soundfile.write(header_only, np.zeros(0, np.float32), 16000, format="WAV")
    error, _ = await refused(tmp_path, header_only.getvalue())
    assert (error.kind, error.reason) == ("empty", "the audio file holds no sound (0 samples)")

    error, _ = await refused(tmp_path, np.zeros(0, np.float32))
    assert (error.kind, error.reason) == ("empty", "the recording holds no sound (0 samples)")


async def test_audio_longer_than_max_file_s_is_refused_saying_which_setting(
    tmp_path: Path,
) -> None:
    error, _ = await refused(tmp_path, flac(3.0), max_file_s=2.5)
    assert error.kind == "too_long"
    assert error.reason == (
        "the audio is 3.0 s long, longer than listen.max_file_s (2.5 s); cut it, or raise "
        "TERMMATE_LISTEN__MAX_FILE_S"
    )
    error, _ = await refused(tmp_path, np.zeros(16000 * 3, np.float32), max_file_s=2.5)
    assert error.kind == "too_long"


async def test_samples_must_be_mono_numbers(tmp_path: Path) -> None:
    error, _ = await refused(tmp_path, np.zeros((2, 2, 2), np.float32))
    assert error.kind == "not_audio" and "shape (2, 2, 2)" in error.reason
    error, _ = await refused(tmp_path, np.array([0.1, np.nan], np.float32))
    assert error.kind == "not_audio" and "NaN" in error.reason


async def test_other_formats_are_uploaded_as_they_are(tmp_path: Path) -> None:
    audio = flac(1.0)
    with ScriptedASR(Heard("a tone")) as asr:
        settings = Settings(data_dir=tmp_path / "data", mode="online", asr={"url": asr.url})
        models = speech_models(settings)
        try:
            transcript = await transcribe(models, audio)
        finally:
            await models.aclose()
        [sent] = asr.transcriptions
    assert transcript.text == "a tone" and transcript.duration_s == pytest.approx(1.0)
    assert (sent.audio, sent.filename, sent.content_type) == (audio, "speech.flac", "audio/flac")


async def test_a_language_whisper_does_not_know_is_refused(tmp_path: Path) -> None:
    with ScriptedASR() as asr:
        models = speech_models(Settings(data_dir=tmp_path, mode="online", asr={"url": asr.url}))
        try:
            with pytest.raises(ValueError, match="'xx' is not a language Whisper knows"):
                await transcribe(models, np.ones(800, np.float32), language="xx")
        finally:
            await models.aclose()
        assert asr.paths == []
