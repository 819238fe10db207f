"""Settings for hearing: [asr], [listen], local.asr_* and the two keys, read from the file and
the environment like every other section, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import SettingsError, load_settings


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "settings.toml"
    monkeypatch.setenv("TERMMATE_CONFIG", str(path))
    return path


def test_the_file_and_the_environment_set_hearing(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_file.write_text(
        '[asr]\nurl = "http://gpu-box:8000/v1/"\nlanguages = ["ja", "EN"]\n'
        '[listen]\nend_silence_ms = 900\nsave_dir = "~/heard"\n'
        '[keys]\nlisten = "f9"\n'
    )
    monkeypatch.setenv("TERMMATE_ASR__API_KEY", "sk-secret")
    monkeypatch.setenv("TERMMATE_ASR__LANGUAGE", "Ko")
    monkeypatch.setenv("TERMMATE_LOCAL__ASR_MODEL", "/models/whisper-small-ct2")
    monkeypatch.setenv("TERMMATE_LOCAL__ASR_COMPUTE_TYPE", "INT8_float32")
    settings = load_settings()

    assert settings.asr.url == "http://gpu-box:8000/v1"
    assert settings.asr.api_key is not None
    assert settings.asr.api_key.get_secret_value() == "sk-secret"
    assert (settings.asr.language, settings.asr.fixed_language) == ("ko", "ko")
    assert settings.asr.languages == ["ja", "en"]
    assert settings.listen.end_silence_ms == 900 and settings.listen.save_dir == Path("~/heard")
    assert settings.local.asr_model == "/models/whisper-small-ct2"
    assert settings.local.asr_compute_type == "int8_float32"
    assert settings.keys.keymap()["listen"] == "f9"
    assert settings.keys.keymap()["hands_free"] == "f6"


def test_languages_from_the_environment_may_be_comma_separated(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMMATE_ASR__LANGUAGES", "ko, en,ko")
    assert load_settings().asr.languages == ["ko", "en"]
    monkeypatch.setenv("TERMMATE_ASR__LANGUAGES", '["yue", "zh"]')
    settings = load_settings()
    assert settings.asr.languages == ["yue", "zh"] and settings.asr.fixed_language is None


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TERMMATE_ASR__LANGUAGE", "klingon", "'klingon' is not a language Whisper knows"),
        ("TERMMATE_ASR__LANGUAGES", "ko,xx", "'xx' is not a language Whisper knows"),
        ("TERMMATE_ASR__LANGUAGES", "[ko", "expected language codes, e.g. ko,en"),
        ("TERMMATE_LOCAL__ASR_DEVICE", "tpu", "'auto', 'cpu' or 'cuda'"),
        ("TERMMATE_LOCAL__ASR_COMPUTE_TYPE", "int4", "expected one of auto, bfloat16, default"),
        ("TERMMATE_LISTEN__END_SILENCE_MS", "50", "greater than or equal to 100"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_is_expected(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"environment variable {variable} = '{value}'" in message
    assert expected in message


def test_no_languages_at_all_is_refused(settings_file: Path) -> None:
    settings_file.write_text("[asr]\nlanguages = []\n")
    with pytest.raises(SettingsError, match=r"languages.*at least 1 item"):
        load_settings()
