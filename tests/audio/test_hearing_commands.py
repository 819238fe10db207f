"""`termmate transcribe` and `termmate ask --listen`, as a user runs them: a recording or the
microphone (PulseAudio's null sink is the default source's monitor, so a WAV played into the
sink is speech into the microphone), a scripted recogniser with exact words, or the real
faster-whisper on the tiny model offline."""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile

from tests.support.cli import ROOT, TERMMATE, run_termmate
from tests.support.network_audit import (
    TERMMATE_MAIN,
    AuditedRun,
    audited_termmate,
    start_audited,
)
from tests.support.pulse import PulseServer, play_into
from tests.support.scripted_asr import Heard, ScriptedASR
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.speech import SpeechSamples, joined

WORDS = "what is the weather like today"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def asr() -> Iterator[ScriptedASR]:
    with ScriptedASR(default=Heard(WORDS)) as server:
        yield server


@pytest.fixture
def hearing_env(termmate_env: dict[str, str], asr: ScriptedASR, pulse: PulseServer) -> dict:
    return {
        **termmate_env,
        "TERMMATE_MODE": "online",
        "TERMMATE_ASR__URL": asr.url,
        "PULSE_SERVER": pulse.server,
    }


def test_transcribe_a_file_prints_the_words_or_json(
    hearing_env: dict[str, str], asr: ScriptedASR, speech: SpeechSamples
) -> None:
    plain = run_termmate(hearing_env, "transcribe", str(speech.english))
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == WORDS + "\n"

    as_json = run_termmate(hearing_env, "transcribe", str(speech.korean), "--json")
    assert as_json.returncode == 0, as_json.stderr
    answer = as_json.json()
    assert set(answer) == {"text", "language", "duration_s", "backend", "model", "timings"}
    assert set(answer["timings"]) == {"total_ms"}
    assert (answer["text"], answer["backend"], answer["model"]) == (
        WORDS,
        "remote",
        "scripted-whisper",
    )
    assert answer["duration_s"] == pytest.approx(soundfile.info(speech.korean).duration, abs=0.05)
    sent = asr.transcriptions[-1]
    assert sent.audio.startswith(b"RIFF") and sent.fields["response_format"] == "json"

    fixed = run_termmate(hearing_env, "transcribe", str(speech.korean), "--language", "ko")
    assert fixed.returncode == 0 and asr.transcriptions[-1].fields["language"] == "ko"


def test_transcribe_offline_uses_the_local_model(
    termmate_env: dict[str, str], tiny_whisper: Path, speech: SpeechSamples
) -> None:
    env = {**termmate_env, "TERMMATE_LOCAL__ASR_MODEL": str(tiny_whisper)}
    run = run_termmate(env, "transcribe", str(speech.english), "--json")
    # The tiny model's words are nonsense (maybe none): either way the local model ran.
    if run.returncode == 0:
        assert run.json()["backend"] == "local" and run.json()["model"] == "tiny-whisper"
    else:
        assert run.returncode == 1 and "heard nothing" in run.stderr


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda folder: folder / "missing.wav", "no file"),
        (lambda folder: _written(folder / "notes.txt", b"just some notes\n"), "not audio"),
        (lambda folder: _written(folder / "empty.wav", b""), "empty"),
    ],
    ids=["missing", "text-file", "empty"],
)
def test_what_is_not_a_recording_is_a_usage_error(
    hearing_env: dict[str, str], tmp_path: Path, make, says: str
) -> None:
    run = run_termmate(hearing_env, "transcribe", str(make(tmp_path)))
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith("termmate: ") and says in run.stderr.lower()
    assert "Traceback" not in run.stderr


def test_a_recording_longer_than_allowed_is_a_usage_error(
    hearing_env: dict[str, str], speech: SpeechSamples
) -> None:
    run = run_termmate(
        {**hearing_env, "TERMMATE_LISTEN__MAX_FILE_S": "1"}, "transcribe", str(speech.english)
    )
    assert run.returncode == 2 and "listen.max_file_s" in run.stderr


def test_no_recogniser_is_exit_3_saying_what_to_set(
    termmate_env: dict[str, str], speech: SpeechSamples
) -> None:
    run = run_termmate(
        {**termmate_env, "TERMMATE_MODE": "online"}, "transcribe", str(speech.english)
    )
    assert run.returncode == 3 and "TERMMATE_ASR__URL" in run.stderr


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _listening(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*TERMMATE, *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _say_into_the_microphone(pulse: PulseServer, wav: Path) -> None:
    player = play_into(pulse, wav)
    assert player.wait(timeout=30) == 0


def test_transcribe_mic_hears_one_utterance_and_ends_by_itself(
    hearing_env: dict[str, str],
    asr: ScriptedASR,
    pulse: PulseServer,
    speech: SpeechSamples,
    tmp_path: Path,
) -> None:
    # Speech starts 1.5 s in (the microphone is open by then) and is followed by silence.
    said = joined([speech.english], 1.5, tmp_path / "said.wav")
    process = _listening(hearing_env, "transcribe", "--mic", "--json")
    started = time.monotonic()
    _say_into_the_microphone(pulse, said)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert json.loads(out)["text"] == WORDS
    assert time.monotonic() - started < soundfile.info(said).duration + 10
    [sent] = asr.transcriptions
    heard_s = soundfile.info(io.BytesIO(sent.audio)).duration
    spoken_s = soundfile.info(speech.english).duration
    assert spoken_s <= heard_s <= spoken_s + 2.0  # the utterance, its pre-roll and end silence


def test_silence_only_is_heard_nothing_and_asks_nothing(
    hearing_env: dict[str, str], asr: ScriptedASR, scripted: ScriptedOpenAI
) -> None:
    env = {
        **hearing_env,
        "TERMMATE_LISTEN__START_TIMEOUT_S": "2",
        "TERMMATE_LLM__URL": scripted.url,
    }
    transcribed = run_termmate(env, "transcribe", "--mic")
    assert transcribed.returncode == 1 and "heard nothing" in transcribed.stderr
    asked = run_termmate(env, "ask", "--listen", "--json")
    assert asked.returncode == 1 and "heard nothing" in asked.stderr
    assert asr.transcriptions == [] and scripted.chat_requests == []  # never an empty turn


def test_ask_listen_asks_what_was_heard_in_its_language(
    hearing_env: dict[str, str],
    asr: ScriptedASR,
    scripted: ScriptedOpenAI,
    pulse: PulseServer,
    speech: SpeechSamples,
    tmp_path: Path,
) -> None:
    asr.script(Heard("오늘 날씨 어때요"))
    scripted.script(Reply.of("맑아요."))
    said = joined([speech.korean], 1.5, tmp_path / "said.wav")
    env = {**hearing_env, "TERMMATE_LLM__URL": scripted.url}
    process = _listening(env, "ask", "--listen", "--json")
    _say_into_the_microphone(pulse, said)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    answer = json.loads(out)
    assert answer["heard"] == "오늘 날씨 어때요" and answer["text_response"] == "맑아요."
    assert answer["timings"]["asr_ms"] > 0
    prompt = scripted.chat_requests[0].messages
    assert prompt[-1] == {"role": "user", "content": "오늘 날씨 어때요"}
    assert "Reply in Korean." in prompt[0]["content"]


def test_offline_transcribe_and_ask_listen_open_no_connection(
    termmate_env: dict[str, str],
    tiny_whisper: Path,
    asr: ScriptedASR,
    scripted: ScriptedOpenAI,
    pulse: PulseServer,
    speech: SpeechSamples,
    tmp_path: Path,
) -> None:
    # Remote servers configured and up, yet offline: the local models only, no connection at
    # all (the audit hook sees every socket connect and name lookup the process attempts).
    env = {
        **termmate_env,
        "TERMMATE_ASR__URL": asr.url,
        "TERMMATE_LLM__URL": scripted.url,
        "TERMMATE_LOCAL__ASR_MODEL": str(tiny_whisper),
        "PULSE_SERVER": pulse.server,
    }
    (tmp_path / "file").mkdir()
    from_file = audited_termmate(
        tmp_path / "file", "transcribe", str(speech.english), "--json", env=env
    )
    _heard_locally_or_nothing(from_file)
    assert from_file.network == []

    (tmp_path / "mic").mkdir()
    listening = start_audited(TERMMATE_MAIN, tmp_path / "mic", "ask", "--listen", "--json", env=env)
    _wait_until_listening(listening.process)
    _say_into_the_microphone(pulse, joined([speech.english], 0.5, tmp_path / "said.wav"))
    asked = listening.finish(timeout_s=90)
    answer = _heard_locally_or_nothing(asked)
    if answer is not None:  # the tiny model heard words: the local chat model answered them
        assert answer["backend"] == "local" and answer["heard"]
    assert asked.network == []
    assert asr.paths == [] and scripted.chat_requests == []


def _heard_locally_or_nothing(run: AuditedRun) -> dict | None:
    """The tiny model's words are nonsense, maybe none: either it heard some, locally, or it
    says it heard nothing. Its --json answer, or None."""
    if run.returncode != 0:
        assert run.returncode == 1 and "heard nothing" in run.stderr, run.stderr
        return None
    answer = json.loads(run.stdout)
    assert answer.get("model") == "tiny-whisper" or answer.get("backend") == "local", answer
    return answer


def _wait_until_listening(process: subprocess.Popen[str]) -> None:
    """Read stderr until ``ask --listen`` says the microphone is open (a hang is the test's
    timeout; an exit is an empty line)."""
    assert process.stderr is not None
    for line in iter(process.stderr.readline, ""):
        if "listening" in line:
            return
    raise AssertionError("termmate ended before it was listening")
