"""SIGTERM (`kill`) and SIGHUP (a dropped SSH session) end `termmate ask` like Ctrl+C would:
the reply stops, what was written is saved marked stopped, queued memory updates get their few
seconds, and the exit status is 128 + the signal."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import ROOT, TERMMATE, run_termmate
from tests.support.processes import read_until
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.word_embedder import WordOverlapEmbedder

SLOW_ANSWER = "Slowly " + "and surely " * 40


def _ask(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*TERMMATE, "ask", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_mid_reply_saves_it_marked_stopped_and_exits_128_plus_the_signal(
    scripted: ScriptedOpenAI, remote_env: dict[str, str], signum: signal.Signals
) -> None:
    scripted.script(Reply(words=words_of(SLOW_ANSWER), token_delay_s=0.1))
    process = _ask(remote_env, "--thread", "t-signalled", "tell me slowly")
    try:
        streamed = read_until(process, b"surely", timeout_s=60)
        process.send_signal(signum)
        code = process.wait(timeout=30)
        stderr = process.stderr.read().decode()  # type: ignore[union-attr]
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]
    assert code == 128 + signum, stderr
    assert "Traceback" not in stderr

    shown = run_termmate(remote_env, "show", "t-signalled", "--json")
    assert shown.returncode == 0, shown.stderr
    messages = shown.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    reply = messages[1]
    assert reply.get("stopped") is True
    # What was written is kept: at least what had reached stdout, and never the whole answer.
    assert reply["content"].startswith(streamed.decode().strip()[:10])
    assert "surely" in reply["content"] and reply["content"] != SLOW_ANSWER


def test_ask_json_stopped_by_sigterm_still_prints_its_answer_marked_stopped(
    scripted: ScriptedOpenAI, remote_env: dict[str, str]
) -> None:
    scripted.script(Reply(words=words_of(SLOW_ANSWER), token_delay_s=0.1))
    process = _ask(remote_env, "--json", "tell me slowly")
    try:
        scripted.wait_for(
            lambda requests: any(r.path.endswith("/chat/completions") for r in requests)
        )
        # Let a few words stream (the JSON comes only at the end).
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1.0)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, err.decode()
    answer = json.loads(out)
    assert answer["stopped"] is True
    assert answer["text_response"].startswith("Slowly")
    assert answer["text_response"] != SLOW_ANSWER


def test_a_signal_after_the_reply_lets_the_queued_memory_update_finish(
    termmate_env: dict[str, str], tmp_path: Path
) -> None:
    """The reply is complete; the memory update queued after it is still waiting for the model
    when SIGTERM arrives. It gets its few seconds: the fact is remembered."""
    fact = {"facts": [{"text": "The user keeps bees on the roof", "category": "hobbies"}]}
    with ScriptedOpenAI(embedder=WordOverlapEmbedder().vector) as server:
        server.script(
            Reply.of("Bees", " are", " lovely."),
            Reply.of_json(fact, first_token_delay_s=1.5),  # the extraction, after the reply
        )
        env = {
            **termmate_env,
            "TERMMATE_MODE": "online",
            "TERMMATE_LLM__URL": server.url,
            "TERMMATE_EMBED__URL": server.url,
            "TERMMATE_MEMORY__ENABLED": "true",
        }
        process = _ask(env, "I keep bees on my roof")
        try:
            server.wait_for(
                lambda requests: len([r for r in requests if r.path.endswith("/completions")]) == 2,
                timeout_s=60,
            )
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
            err = process.stderr.read().decode()  # type: ignore[union-attr]
        finally:
            if process.poll() is None:
                process.kill()
            process.stdout.close()  # type: ignore[union-attr]
            process.stderr.close()  # type: ignore[union-attr]
        assert code == 128 + signal.SIGTERM, err

        remembered = run_termmate(env, "memory", "list", "--json")
    assert remembered.returncode == 0, remembered.stderr
    assert [m["text"] for m in remembered.json()] == ["The user keeps bees on the roof"]
