"""Drive a real terminal program through tmux (send-keys, capture-pane)."""

from __future__ import annotations

import shlex
import subprocess
import time
import uuid
from collections.abc import Callable

from tests.support.system import require_executable


class TmuxSession:
    """A detached tmux session running one command in a fixed-size window."""

    def __init__(self, command: list[str], env: dict[str, str], width: int = 120, height: int = 36):
        self.tmux = require_executable("tmux", "the end-to-end TUI test runs termmate in tmux")
        self.name = f"termmate-test-{uuid.uuid4().hex[:8]}"
        self.socket = f"/tmp/{self.name}.sock"
        self.env = env
        exported = " ".join(
            f"{k}={shlex.quote(v)}"
            for k, v in env.items()
            if k.startswith(("TERMMATE_", "HF_", "MEM0_", "PULSE_", "DISPLAY"))
        )
        shell = f"env {exported} {shlex.join(command)}; echo __EXIT_CODE=$?; sleep 600"
        self._run("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), shell)

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [self.tmux, "-S", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            env={**self.env, "TERM": "xterm-256color"},
        )
        if result.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {result.stderr.strip()}")
        return result.stdout

    def send(self, *keys: str, literal: bool = False) -> None:
        self._run("send-keys", "-t", self.name, *(["-l"] if literal else []), *keys)

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", self.name)

    def wait_for(
        self, predicate: Callable[[str], bool], timeout: float = 60, what: str = ""
    ) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; screen:\n{text}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(
            [self.tmux, "-S", self.socket, "kill-server"], capture_output=True, timeout=30
        )
