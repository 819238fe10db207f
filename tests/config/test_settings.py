"""Settings: precedence (flag > env > file > default) and every malformed-file case."""

from __future__ import annotations

import os
import stat
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from config import Mode, SettingsError, load_settings, save_setting
from tests.support.cli import run_python, run_termmate


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "settings.toml"
    monkeypatch.setenv("TERMMATE_CONFIG", str(path))
    return path


def test_defaults_when_nothing_is_set(settings_file: Path) -> None:
    settings = load_settings()
    assert settings.mode is Mode.AUTO
    assert settings.llm.url is None
    assert settings.user_id  # the OS user name
    assert settings.config_file == settings_file


def test_precedence_flag_over_env_over_file_over_default(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_file.write_text(
        'mode = "online"\nuser_id = "from-file"\n[llm]\nmodel = "file-model"\ntimeout_s = 5\n'
    )
    monkeypatch.setenv("TERMMATE_USER_ID", "from-env")
    monkeypatch.setenv("TERMMATE_LLM__MODEL", "env-model")
    monkeypatch.setenv("TERMMATE_MODE", "offline")

    settings = load_settings(overrides={"mode": "auto"})

    assert settings.mode is Mode.AUTO  # flag beats env and file
    assert settings.user_id == "from-env"  # env beats file
    assert settings.llm.model == "env-model"
    assert settings.llm.timeout_s == 5  # file beats default, merged with env in the same section
    assert settings.llm.max_retries == 3  # default


def test_env_names_use_double_underscore_for_sections(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMMATE_LLM__URL", "http://gpu-box:8000/v1/")
    monkeypatch.setenv("TERMMATE_LLM__API_KEY", "sk-secret")
    monkeypatch.setenv("TERMMATE_LOCAL__CHAT_MODEL", "/models/x.gguf")
    monkeypatch.setenv("TERMMATE_DATA_DIR", "/tmp/somewhere")
    settings = load_settings()
    assert settings.llm.url == "http://gpu-box:8000/v1"  # trailing slash normalised
    assert settings.llm.api_key is not None
    assert settings.llm.api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(settings)  # never shown
    assert settings.local.chat_model == "/models/x.gguf"
    assert settings.data_dir == Path("/tmp/somewhere")


def test_explicit_config_path_wins_over_env(settings_file: Path, tmp_path: Path) -> None:
    settings_file.write_text('mode = "online"\n')
    other = tmp_path / "other.toml"
    other.write_text('mode = "offline"\n')
    assert load_settings(other).mode is Mode.OFFLINE


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("mode = \n", ["is not valid TOML", "line 1"]),
        ('mode = "sometimes"\n', ["key 'mode'", "'auto', 'online' or 'offline'"]),
        ('[llm]\ntimeout_s = "soon"\n', ["key 'timeout_s' in [llm]", "valid number"]),
        ('[llm]\nurll = "http://x/v1"\n', ["unknown key 'urll'", "expected one of", "url"]),
        ("colour = 3\n", ["unknown key 'colour'", "expected one of"]),
        ('[llm]\nurl = "gpu-box:8000"\n', ["key 'url' in [llm]", "ending in /v1"]),
        ("llm = 5\n", ["key 'llm'", "valid dictionary"]),
    ],
    ids=[
        "bad-toml",
        "invalid-mode",
        "wrong-type",
        "unknown-key",
        "unknown-top-key",
        "bad-url",
        "section-not-table",
    ],
)
def test_malformed_file_names_path_key_and_expectation(
    settings_file: Path, content: str, expected: list[str]
) -> None:
    settings_file.write_text(content)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert str(settings_file) in message
    for part in expected:
        assert part in message


def test_bad_environment_value_names_the_variable(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMMATE_MODE", "never")
    with pytest.raises(SettingsError, match="environment variable TERMMATE_MODE"):
        load_settings()


def test_api_key_is_never_echoed_in_errors(settings_file: Path) -> None:
    settings_file.write_text("[llm]\napi_key = 12345\n")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "12345" not in str(caught.value)
    assert "<hidden>" in str(caught.value)


def test_cli_exits_2_with_the_reason_and_no_traceback(settings_file: Path) -> None:
    settings_file.write_text('mode = "sometimes"\n')
    env = {**os.environ, "TERMMATE_CONFIG": str(settings_file)}
    for argv in (["threads"], ["ask", "hi"], []):
        result = run_termmate(env, *argv, timeout_s=60)
        assert result.returncode == 2, (argv, result.stderr)
        assert str(settings_file) in result.stderr + result.stdout
        assert "Traceback" not in result.stderr


def test_saved_setting_keeps_comments_and_is_private(settings_file: Path) -> None:
    settings_file.write_text('# my settings\nmode = "auto"  # the default\n[llm]\nmodel = "m"\n')
    save_setting(settings_file, "mode", "offline")
    save_setting(settings_file, "tts.reference_id", "my-voice")
    text = settings_file.read_text()
    assert "# my settings" in text and "# the default" in text
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    settings = load_settings()
    assert settings.mode is Mode.OFFLINE
    assert settings.llm.model == "m"
    assert settings.tts.reference_id == "my-voice"


def test_saving_creates_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "settings.toml"
    save_setting(path, "mode", "online")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_settings(path).mode is Mode.ONLINE


def test_mode_cycle_order() -> None:
    assert [Mode.AUTO.next(), Mode.ONLINE.next(), Mode.OFFLINE.next()] == [
        Mode.ONLINE,
        Mode.OFFLINE,
        Mode.AUTO,
    ]


SAVE_MANY = """
import sys
from pathlib import Path
from config import save_setting

path, writer, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for index in range(count):
    save_setting(path, f"{writer}.key_{index}", index)
"""


def test_processes_saving_at_once_lose_nothing(tmp_path: Path) -> None:
    # e.g. Ctrl+O in the TUI while `termmate voice use` runs: each save reads, changes and
    # replaces the file, so without taking turns one would overwrite the other's change.
    path = tmp_path / "settings.toml"
    count = 60
    names = ("tui", "cli", "other")
    with ThreadPoolExecutor(len(names)) as pool:
        runs = list(
            pool.map(lambda name: run_python("-c", SAVE_MANY, str(path), name, str(count)), names)
        )
    assert [run.returncode for run in runs] == [0, 0, 0], [run.stderr for run in runs]
    saved = tomllib.loads(path.read_text())
    for name in names:
        assert saved[name] == {f"key_{index}": index for index in range(count)}, name


def test_a_renamed_key_still_works_for_a_release_and_says_its_new_name(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_file.write_text("[llm]\nprobe_interval_s = 7\n")
    monkeypatch.setenv("TERMMATE_EMBED__PROBE_INTERVAL_S", "9")
    settings = load_settings()
    assert settings.llm.retry_remote_after_s == 7
    assert settings.embed.retry_remote_after_s == 9
    notes = settings.deprecated
    assert len(notes) == 2
    assert any(str(settings_file) in n and "'probe_interval_s' in [llm]" in n for n in notes)
    assert any(
        "TERMMATE_EMBED__PROBE_INTERVAL_S" in n and "RETRY_REMOTE_AFTER_S" in n for n in notes
    )

    # The new name wins when both are given.
    settings_file.write_text("[llm]\nprobe_interval_s = 7\nretry_remote_after_s = 3\n")
    assert load_settings().llm.retry_remote_after_s == 3


def test_the_command_line_warns_about_a_renamed_key(
    settings_file: Path, termmate_env: dict[str, str]
) -> None:
    settings_file.write_text("[llm]\nprobe_interval_s = 7\n")
    run = run_termmate({**termmate_env, "TERMMATE_CONFIG": str(settings_file)}, "threads")
    assert run.returncode == 0, run.stderr
    assert run.stderr.startswith("termmate: warning: ")
    assert "rename it 'retry_remote_after_s'" in run.stderr
