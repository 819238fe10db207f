"""`termmate` exit codes: 0 ok, 2 usage or settings, 3 no model (saying what to set), 1 else.

A user's mistake is a message, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Run, run_termmate
from tests.support.llama_server import free_port
from tests.support.scripted_openai import Reply, ScriptedOpenAI


def _no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout, run.stderr
    assert run.stderr.startswith("termmate: ") or run.stderr.startswith("usage: "), run.stderr


def test_ok_is_0(termmate_env: dict[str, str]) -> None:
    run = run_termmate(termmate_env, "ask", "hello")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()


def test_a_malformed_settings_file_is_2_and_names_the_file(
    termmate_env: dict[str, str],
) -> None:
    config = Path(termmate_env["TERMMATE_CONFIG"])
    config.write_text('mode = "auto"\n[llm\nurl = 1\n')
    run = run_termmate(termmate_env, "ask", "hello")
    assert run.returncode == 2
    _no_traceback(run)
    assert str(config) in run.stderr and "TOML" in run.stderr


def test_a_wrong_value_in_the_settings_file_is_2_and_says_what_is_expected(
    termmate_env: dict[str, str],
) -> None:
    env = {k: v for k, v in termmate_env.items() if k != "TERMMATE_MODE"}
    config = Path(env["TERMMATE_CONFIG"])
    config.write_text('mode = "sometimes"\n')
    run = run_termmate(env, "ask", "hello")
    assert run.returncode == 2
    _no_traceback(run)
    assert str(config) in run.stderr and "mode" in run.stderr and "offline" in run.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("ask", "--thread", "no spaces allowed!", "hello"), "invalid thread id"),
        (("ask", "   "), "empty"),
        (("ask", "--mode", "sometimes", "hello"), "invalid choice"),
        (("show", "t-nowhere"), "no conversation 't-nowhere'"),
        (("frobnicate",), "invalid choice"),
    ],
    ids=["bad-thread-id", "empty-message", "bad-mode-flag", "unknown-thread", "unknown-command"],
)
def test_usage_errors_are_2(termmate_env: dict[str, str], args: tuple[str, ...], says: str) -> None:
    run = run_termmate(termmate_env, *args)
    assert run.returncode == 2
    _no_traceback(run)
    assert says in run.stderr


def test_no_local_model_in_offline_mode_is_3_and_says_what_to_set(
    termmate_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**termmate_env, "TERMMATE_LOCAL__CHAT_MODEL": str(tmp_path / "missing.gguf")}
    run = run_termmate(env, "ask", "hello")
    assert run.returncode == 3
    _no_traceback(run)
    assert "TERMMATE_LOCAL__CHAT_MODEL" in run.stderr and "missing.gguf" in run.stderr


def test_online_mode_without_a_url_is_3_and_says_what_to_set(
    termmate_env: dict[str, str],
) -> None:
    run = run_termmate({**termmate_env, "TERMMATE_MODE": "online"}, "ask", "hello")
    assert run.returncode == 3
    _no_traceback(run)
    assert "TERMMATE_LLM__URL" in run.stderr


def test_auto_with_neither_model_is_3_and_names_both(
    termmate_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **termmate_env,
        "TERMMATE_MODE": "auto",
        "TERMMATE_LLM__URL": f"http://127.0.0.1:{free_port()}/v1",
        "TERMMATE_LLM__MAX_RETRIES": "0",
        "TERMMATE_LOCAL__CHAT_MODEL": str(tmp_path / "missing.gguf"),
    }
    run = run_termmate(env, "ask", "hello")
    assert run.returncode == 3
    _no_traceback(run)
    assert "connection refused" in run.stderr and "TERMMATE_LOCAL__CHAT_MODEL" in run.stderr


def test_a_model_error_in_online_mode_is_1(
    scripted: ScriptedOpenAI, remote_env: dict[str, str]
) -> None:
    scripted.script(Reply.failure(400, error="context length exceeded"))
    run = run_termmate({**remote_env, "TERMMATE_MODE": "online"}, "ask", "hello")
    assert run.returncode == 1
    _no_traceback(run)
    assert "HTTP 400" in run.stderr and "context length exceeded" in run.stderr


def test_a_data_dir_that_cannot_be_used_is_2_without_a_traceback(
    termmate_env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    run = run_termmate({**termmate_env, "TERMMATE_DATA_DIR": str(blocker)}, "ask", "hello")
    _no_traceback(run)
    assert run.returncode == 2 and str(blocker) in run.stderr
