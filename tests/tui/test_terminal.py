"""End to end: the real `termmate` command in a real terminal (tmux)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.cli import run_termmate
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.tmux import TmuxSession

TERMMATE = str(Path(sys.executable).with_name("termmate"))


def test_termmate_in_tmux_chats_switches_threads_and_quits(
    termmate_env: dict[str, str],
) -> None:
    session = TmuxSession([TERMMATE], termmate_env)
    try:
        session.wait_for(lambda s: "Say something" in s and "^q Quit" in s, what="first paint")
        session.wait_for(lambda s: "New conversation" in s, what="start-up to finish")
        session.send("hello from tmux", literal=True)
        session.send("Enter")
        screen = session.wait_for(lambda s: "first token" in s, what="the reply")
        assert "hello from tmux" in screen
        assert "local · tiny-chat.gguf" in screen

        session.send("C-n")
        screen = session.wait_for(
            lambda s: "hello from tmux" not in s and "New conversation" in s, what="Ctrl+N"
        )
        session.send("C-q")
        screen = session.wait_for(lambda s: "__EXIT_CODE=" in s, what="exit")
        assert "__EXIT_CODE=0" in screen
    finally:
        session.close()

    # The conversation survived the process: `termmate threads` lists it.
    import subprocess

    listed = subprocess.run(
        [TERMMATE, "threads"], env=termmate_env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0
    assert "hello from tmux" in listed.stdout


def _online_env(termmate_env: dict[str, str], server: ScriptedOpenAI) -> dict[str, str]:
    return {
        **termmate_env,
        "TERMMATE_MODE": "online",
        "TERMMATE_LLM__URL": server.url,
        "TERMMATE_LLM__MAX_RETRIES": "0",
    }


def _shown(env: dict[str, str], thread_id: str) -> list[dict]:
    shown = run_termmate(env, "show", thread_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return shown.json()["messages"]


def test_a_message_sent_while_starting_stays_queued_and_is_answered_in_the_resumed_thread(
    termmate_env: dict[str, str], scripted: ScriptedOpenAI
) -> None:
    env = _online_env(termmate_env, scripted)
    scripted.script(Reply.of("Earlier", " answer."), Reply.of("Queued", " and", " answered."))
    first = run_termmate(env, "ask", "--json", "an earlier question")
    assert first.returncode == 0, first.stderr
    thread_id = first.json()["thread_id"]

    session = TmuxSession([TERMMATE], env)
    try:
        session.wait_for(lambda s: "Say something" in s, what="first paint")
        painted = time.monotonic()
        session.send("hello", literal=True)
        session.send("Enter")
        sent_after_s = time.monotonic() - painted
        # Sent before start-up finished: the message is on screen, its reply waiting.
        session.wait_for(lambda s: "your message is queued" in s, timeout=10, what="queued")
        screen = session.wait_for(lambda s: "Queued and answered." in s, what="the reply")
        # The message stayed on screen, below the conversation that opened meanwhile.
        assert "hello" in screen
        assert screen.index("an earlier question") < screen.index("hello")
        session.send("C-q")
        session.wait_for(lambda s: "__EXIT_CODE=0" in s, what="exit")
    finally:
        session.close()
    assert sent_after_s < 0.5

    messages = [(m["role"], m["content"]) for m in _shown(env, thread_id)]
    assert messages == [
        ("user", "an earlier question"),
        ("assistant", "Earlier answer."),
        ("user", "hello"),
        ("assistant", "Queued and answered."),
    ]


def _termmate_pid(session: TmuxSession) -> int:
    shell = session._run("display-message", "-p", "-t", session.name, "#{pane_pid}").strip()
    found = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True, timeout=10)
    return int(found.stdout.split()[0])


def _start_a_slow_reply(termmate_env: dict[str, str], server: ScriptedOpenAI) -> tuple:
    env = _online_env(termmate_env, server)
    server.script(Reply(words=words_of("Slowly " + "and surely " * 60), token_delay_s=0.1))
    session = TmuxSession([TERMMATE], env)
    session.wait_for(lambda s: "New conversation" in s, what="start-up to finish")
    thread_id = session.screen().split("New conversation (")[1].split(")")[0]
    session.send("tell me slowly", literal=True)
    session.send("Enter")
    session.wait_for(lambda s: s.count("surely") >= 3, what="the reply to stream")
    return env, session, thread_id


def _assert_saved_stopped(env: dict[str, str], thread_id: str) -> None:
    messages = _shown(env, thread_id)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1].get("stopped") is True
    assert messages[1]["content"].startswith("Slowly and surely")


def test_sigterm_stops_the_tui_like_esc_saves_the_reply_and_exits_143(
    termmate_env: dict[str, str], scripted: ScriptedOpenAI
) -> None:
    env, session, thread_id = _start_a_slow_reply(termmate_env, scripted)
    try:
        os.kill(_termmate_pid(session), signal.SIGTERM)
        session.wait_for(lambda s: "__EXIT_CODE=" in s, what="exit")
        assert "__EXIT_CODE=143" in session.screen()
    finally:
        session.close()
    _assert_saved_stopped(env, thread_id)


def test_a_terminal_that_hangs_up_saves_the_reply_and_ends_the_tui(
    termmate_env: dict[str, str], scripted: ScriptedOpenAI
) -> None:
    env, session, thread_id = _start_a_slow_reply(termmate_env, scripted)
    pid = _termmate_pid(session)
    session.close()  # the terminal goes away: the kernel sends SIGHUP
    deadline = time.monotonic() + 30
    while _alive(pid):
        assert time.monotonic() < deadline, "termmate outlived its terminal"
        time.sleep(0.1)
    _assert_saved_stopped(env, thread_id)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has ended; only its parent (gone with the terminal) has not reaped it yet.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[1].split()[0] != "Z"
