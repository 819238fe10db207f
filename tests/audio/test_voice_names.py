"""A voice name is a name, never a path: every way a name comes in follows one rule."""

from __future__ import annotations

from contextlib import aclosing
from pathlib import Path

import pytest
from pydantic import ValidationError

from audio.errors import VoiceSampleError
from audio.fish_speech import FishSpeechClient
from audio.voices import LocalVoices, VoiceLibrary
from config import TTSSettings
from tests.audio.conftest import tone_file, tts_settings
from tests.support.cli import run_termmate
from tests.support.fish_speech_server import FishSpeechServer

# From data_dir/voices, two levels up is the data dir's parent: where the "secret" lies.
ESCAPE = "../../secret"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A WAV and transcript outside the voices folder (standing in for ~/.ssh/id_rsa)."""
    wav = tmp_path / "secret.wav"
    wav.write_bytes(tone_file(4.0))
    wav.with_suffix(".txt").write_text("not a voice", encoding="utf-8")
    return wav


@pytest.fixture
def voices(tmp_path: Path) -> LocalVoices:
    return LocalVoices(tmp_path / "data" / "voices")


def test_local_voices_refuse_a_path_on_load_and_delete(voices: LocalVoices, secret: Path) -> None:
    assert (voices.directory / ESCAPE).with_suffix(".wav").resolve() == secret  # the trap is set
    with pytest.raises(VoiceSampleError, match="cannot name a voice"):
        voices.load(ESCAPE)
    with pytest.raises(VoiceSampleError, match="cannot name a voice"):
        voices.delete(ESCAPE)
    assert secret.is_file() and secret.with_suffix(".txt").is_file()


async def test_speaking_in_a_path_sends_nothing(voices: LocalVoices, secret: Path) -> None:
    # A server without a references API gets a local voice inline: here the danger was real.
    with FishSpeechServer(references_api=False) as server:
        async with aclosing(FishSpeechClient(tts_settings(server))) as client:
            library = VoiceLibrary(client, voices)
            with pytest.raises(VoiceSampleError, match="cannot name a voice"):
                await library.choice(ESCAPE)
            with pytest.raises(VoiceSampleError, match="cannot name a voice"):
                await library.find(ESCAPE)
            with pytest.raises(VoiceSampleError, match="cannot name a voice"):
                await library.delete(ESCAPE)
    assert server.calls == []
    assert secret.is_file()


def test_the_settings_refuse_a_path_as_reference_id() -> None:
    with pytest.raises(ValidationError, match="cannot name a voice"):
        TTSSettings(reference_id="../../home/someone/.ssh/id_rsa")
    assert TTSSettings(reference_id=" my voice ").reference_id == "my voice"
    assert TTSSettings(reference_id="").reference_id is None


def test_voice_use_with_a_path_exits_2_and_saves_nothing(
    termmate_env: dict[str, str], secret: Path
) -> None:
    settings_file = Path(termmate_env["TERMMATE_CONFIG"])
    settings_file.write_text('# mine\nmode = "offline"\n', encoding="utf-8")
    before = settings_file.read_bytes()
    with FishSpeechServer(references_api=False) as server:
        env = {**termmate_env, "TERMMATE_TTS__URL": server.url}
        done = run_termmate(env, "voice", "use", "../../../../home/someone/.ssh/id_rsa")
    assert done.returncode == 2, done.stderr
    assert "'../../../../home/someone/.ssh/id_rsa' cannot name a voice" in done.stderr
    assert "Traceback" not in done.stderr
    assert settings_file.read_bytes() == before


def test_a_settings_file_naming_a_path_is_a_settings_error(
    termmate_env: dict[str, str],
) -> None:
    settings_file = Path(termmate_env["TERMMATE_CONFIG"])
    settings_file.write_text('[tts]\nreference_id = "../../secret"\n', encoding="utf-8")
    with FishSpeechServer(references_api=False) as server:
        env = {**termmate_env, "TERMMATE_TTS__URL": server.url}
        done = run_termmate(env, "voice", "list")
    assert done.returncode == 2
    assert f"{settings_file}: key 'reference_id' in [tts]" in done.stderr
    assert "cannot name a voice" in done.stderr and "Traceback" not in done.stderr
    assert server.calls == []
