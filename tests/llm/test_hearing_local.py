"""The local speech recogniser: the real faster-whisper running the tiny random Whisper on real
speech (espeak-ng). Its words are nonsense; the plumbing, the language rule and the errors are
real."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.llm.errors import NoModelAvailable
from agent.llm.hearing import Transcript, speech_models, transcribe
from audio.pcm import decode_audio
from config import Settings
from tests.support.speech import SpeechSamples
from tests.support.tiny_whisper import WORDS


def offline(tmp_path: Path, model: Path | str, **asr: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", mode="offline", local={"asr_model": str(model)}, asr=asr
    )


async def hear(settings: Settings, audio: Any, **options: Any) -> Transcript:
    models = speech_models(settings)
    try:
        return await transcribe(models, audio, **options)
    finally:
        await models.aclose()


async def test_speech_is_transcribed_in_one_of_the_allowed_languages(
    tmp_path: Path, tiny_whisper: Path, speech: SpeechSamples
) -> None:
    transcript = await hear(offline(tmp_path, tiny_whisper), speech.english.read_bytes())

    assert (transcript.backend, transcript.model) == ("local", "tiny-whisper")
    assert transcript.fallback_reason is None
    # The tiny model writes a few of its whole-word tokens, whatever was said.
    assert transcript.text and set(transcript.text.split()) <= set(WORDS)
    # Its own detection picks a random language of Whisper's hundred; the rule keeps to ours.
    assert transcript.language in ("ko", "en")
    spoken = decode_audio(speech.english.read_bytes())
    assert transcript.duration_s == pytest.approx(spoken.duration_s)
    assert transcript.timings["total_ms"] >= transcript.timings["recognise_ms"] > 0


async def test_the_language_rule_follows_the_settings_and_the_call(
    tmp_path: Path, tiny_whisper: Path, speech: SpeechSamples
) -> None:
    wav = speech.korean.read_bytes()
    assert (await hear(offline(tmp_path, tiny_whisper, languages=["en"]), wav)).language == "en"
    assert (await hear(offline(tmp_path, tiny_whisper, languages=["ja"]), wav)).language == "ja"
    fixed = offline(tmp_path, tiny_whisper, language="ko", languages=["en"])
    assert (await hear(fixed, wav)).language == "ko"
    assert (await hear(fixed, wav, language="en")).language == "en"


async def test_samples_from_the_microphone_are_heard_as_they_are(
    tmp_path: Path, tiny_whisper: Path, speech: SpeechSamples
) -> None:
    from audio.pcm import resample

    clip = decode_audio(speech.english.read_bytes())
    samples = resample(clip.samples, clip.sample_rate, 16000)
    transcript = await hear(offline(tmp_path, tiny_whisper), samples)
    assert transcript.text and transcript.duration_s == pytest.approx(len(samples) / 16000)


async def test_the_model_runs_on_a_thread_of_its_own_which_closing_ends(
    tmp_path: Path, tiny_whisper: Path, speech: SpeechSamples
) -> None:
    models = speech_models(offline(tmp_path, tiny_whisper))
    try:
        assert not models.local.loaded
        await transcribe(models, speech.english.read_bytes())
        assert models.local.loaded and models.local.device == "cpu"
        assert "termmate-whisper" in {t.name.rsplit("_", 1)[0] for t in threading.enumerate()}
        assert models.statuses()[1].state == "ok"
    finally:
        await models.aclose()
    assert not [t for t in threading.enumerate() if t.name.startswith("termmate-whisper")]


async def test_a_folder_without_its_tokenizer_is_refused_rather_than_fetched(
    tmp_path: Path, tiny_whisper: Path, speech: SpeechSamples
) -> None:
    folder = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_whisper, folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(NoModelAvailable) as caught:
        await hear(offline(tmp_path, folder), speech.english.read_bytes())
    assert caught.value.reason == (
        f"local.asr_model: {folder} has no tokenizer.json, which faster-whisper would download "
        "at run time; put the Whisper model's tokenizer.json in that folder"
    )


async def test_a_folder_that_is_no_model_says_what_to_set(
    tmp_path: Path, speech: SpeechSamples
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NoModelAvailable, match=r"no model\.bin"):
        await hear(offline(tmp_path, empty), speech.english.read_bytes())
    with pytest.raises(NoModelAvailable) as caught:
        await hear(offline(tmp_path, tmp_path / "nowhere"), speech.english.read_bytes())
    assert caught.value.reason.startswith(f"local.asr_model: no model folder at {tmp_path}")
    assert "TERMMATE_LOCAL__ASR_MODEL" in caught.value.reason


async def test_a_model_file_that_is_not_a_model_gives_a_reason(
    tmp_path: Path, tiny_whisper: Path, speech: SpeechSamples
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_whisper, broken)
    (broken / "model.bin").write_bytes(b"not a model at all")
    with pytest.raises(NoModelAvailable) as caught:
        await hear(offline(tmp_path, broken), speech.english.read_bytes())
    reason = caught.value.reason
    assert reason.startswith(f"local.asr_model: faster-whisper could not load {broken}")


async def test_offline_without_a_local_model_says_what_to_set(
    tmp_path: Path, speech: SpeechSamples
) -> None:
    with pytest.raises(NoModelAvailable) as caught:
        await hear(offline(tmp_path, ""), speech.english.read_bytes())
    assert caught.value.reason == (
        "offline mode needs a local speech recogniser: set TERMMATE_LOCAL__ASR_MODEL"
    )


async def test_a_device_this_machine_lacks_says_which_settings_to_change(
    tmp_path: Path, tiny_whisper: Path, speech: SpeechSamples
) -> None:
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("this machine has a CUDA GPU: asking for it works")
    settings = offline(tmp_path, tiny_whisper)
    settings.local.asr_device = "cuda"
    with pytest.raises(NoModelAvailable) as caught:
        await hear(settings, speech.english.read_bytes())
    reason = caught.value.reason
    assert reason.startswith(f"local.asr_model: faster-whisper could not load {tiny_whisper}")
    assert "on cuda as float16" in reason
    assert "TERMMATE_LOCAL__ASR_DEVICE / TERMMATE_LOCAL__ASR_COMPUTE_TYPE" in reason

    # auto: the CPU, with int8 unless told otherwise.
    settings.local.asr_device = "auto"
    settings.local.asr_compute_type = "float32"
    models = speech_models(settings)
    try:
        assert (await transcribe(models, speech.english.read_bytes())).text
        assert models.local.device == "cpu"
    finally:
        await models.aclose()
