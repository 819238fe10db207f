"""Bad input gets a one-line answer and the right exit code, and crafted files do no harm:
a damaged or foreign threads.sqlite, a crafted checkpoint, text that is not UTF-8, a section of
the settings given as malformed JSON, and escape sequences in what reaches the terminal."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import msgpack
import pytest

from tests.support.cli import ROOT, TERMMATE, Run, run_termmate
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.stores import Store


def _one_line_error(run: Run) -> str:
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("termmate: "), run.stderr
    return lines[0]


def _threads_db(env: dict[str, str]) -> Path:
    return Path(env["TERMMATE_DATA_DIR"]) / "threads.sqlite"


@pytest.mark.parametrize("command", [("threads",), ("show", "t-x"), ("ask", "hello")])
def test_a_threads_file_that_is_no_database_is_exit_1_at_once_and_kept(
    termmate_env: dict[str, str], command: tuple[str, ...]
) -> None:
    db = _threads_db(termmate_env)
    db.parent.mkdir(parents=True, exist_ok=True)
    garbage = bytes(range(256)) * 64
    db.write_bytes(garbage)
    started = time.monotonic()
    run = run_termmate(termmate_env, *command, timeout_s=30)
    elapsed = time.monotonic() - started
    assert run.returncode == 1
    line = _one_line_error(run)
    assert str(db) in line and "Move it aside" in line
    assert db.read_bytes() == garbage  # never deleted or rewritten
    assert elapsed < 10  # it used to hang for ever on aiosqlite's thread


def _thread_with_a_turn(env: dict[str, str]) -> str:
    run = run_termmate(env, "ask", "--json", "hello")
    assert run.returncode == 0, run.stderr
    return run.json()["thread_id"]


def test_a_crafted_checkpoint_cannot_run_code_and_is_reported_as_damaged(
    backend: Store, termmate_env: dict[str, str], tmp_path: Path
) -> None:
    thread_id = _thread_with_a_turn(termmate_env)
    marker = tmp_path / "pwned"
    # LangGraph's msgpack extension 0: "call module.name(arg)" when the blob is read.
    payload = msgpack.packb(["os", "system", f"touch {marker}"], use_bin_type=True)
    backend.edit_saved_messages(
        termmate_env, thread_id, lambda messages: [*messages, msgpack.ExtType(0, payload)]
    )

    shown = run_termmate(termmate_env, "show", thread_id)
    assert not marker.exists(), "reading the conversation ran the command in the checkpoint"
    assert shown.returncode == 1
    line = _one_line_error(shown)
    assert thread_id in line and "cannot be read" in line

    asked = run_termmate(termmate_env, "ask", "--thread", thread_id, "again")
    assert not marker.exists()
    assert asked.returncode == 1
    assert thread_id in _one_line_error(asked)


def test_a_checkpoint_of_random_bytes_is_exit_1_with_one_line(
    backend: Store, termmate_env: dict[str, str]
) -> None:
    thread_id = _thread_with_a_turn(termmate_env)
    backend.edit_saved_messages(termmate_env, thread_id, lambda _: b"\xc1\xff" * 100)
    for command in (("show", thread_id), ("show", thread_id, "--json")):
        run = run_termmate(termmate_env, *command)
        assert run.returncode == 1
        assert "cannot be read" in _one_line_error(run)


def test_an_argument_that_is_not_utf8_is_a_usage_error(termmate_env: dict[str, str]) -> None:
    done = subprocess.run(
        [*TERMMATE, "ask", b"caf\xe9 au lait"],  # Latin-1, not UTF-8
        cwd=ROOT,
        env=termmate_env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr
    assert stderr.startswith("termmate: argument 2 is not valid UTF-8")


def test_standard_input_that_is_not_utf8_is_a_usage_error(termmate_env: dict[str, str]) -> None:
    done = subprocess.run(
        [*TERMMATE, "ask", "-"],
        cwd=ROOT,
        env=termmate_env,
        input=b"caf\xe9 au lait\n",
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    stderr = done.stderr.decode()
    assert "Traceback" not in stderr
    assert stderr.startswith("termmate: standard input is not UTF-8 text")


def test_a_section_given_as_malformed_json_names_the_variable(
    termmate_env: dict[str, str],
) -> None:
    run = run_termmate({**termmate_env, "TERMMATE_LLM": '{"url": '}, "threads")
    assert run.returncode == 2
    line = _one_line_error(run)
    assert "TERMMATE_LLM " in line and "TERMMATE_LLM__URL" in line


@pytest.mark.parametrize(
    "thread_id",
    ["evil\n", "evil\nt-x", "../x", "a" * 65],
    ids=["newline", "two-lines", "path", "65-chars"],
)
def test_thread_ids_must_match_in_full(termmate_env: dict[str, str], thread_id: str) -> None:
    run = run_termmate(termmate_env, "ask", "--thread", thread_id, "hello")
    assert run.returncode == 2
    assert "invalid thread id" in _one_line_error(run)
    assert (
        not _threads_db(termmate_env).exists()
        or "evil" not in run_termmate(termmate_env, "threads").stdout
    )


HOSTILE = "Hi\x1b]0;pwned\x07 there\x1b[2J\x9b31m\r\x08!\tok\n"


def test_control_characters_never_reach_the_terminal_but_json_keeps_them(
    scripted: ScriptedOpenAI, remote_env: dict[str, str]
) -> None:
    scripted.script(Reply.of(HOSTILE), Reply.of(HOSTILE))
    asked = run_termmate(remote_env, "ask", "--thread", "t-hostile", "hello")
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout == "Hi]0;pwned there[2J31m!\tok\n"

    shown = run_termmate(remote_env, "show", "t-hostile")
    assert shown.returncode == 0
    assert "Hi]0;pwned there[2J31m!\tok" in shown.stdout
    assert not any(ch in shown.stdout for ch in "\x1b\x07\x9b\r\x08")

    as_json = run_termmate(remote_env, "ask", "--json", "--thread", "t-hostile", "again")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout)["text_response"] == HOSTILE  # exact, escaped by JSON
