"""End to end: the real `termmate` command in a real terminal (tmux)."""

from __future__ import annotations

import sys
from pathlib import Path

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
