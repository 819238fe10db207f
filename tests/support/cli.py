"""Run `termmate ARGS` (or any Python) in a fresh process, as a user at a shell would.

A fresh process is the point: exit codes, what reaches stdout and stderr, and which modules a
clean start imports can only be checked there. Each run starts in the repository root, reads
nothing from stdin (/dev/null: a command that waits for input fails instead of hanging) and
returns its exit code and output.

    run = run_termmate(env, "ask", "--json", "hello")
    assert run.returncode == 0, run.stderr
    assert run.json()["text_response"]
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
"""The repository root."""

TERMMATE = (sys.executable, "-m", "tui.cli")
"""The `termmate` command, as this interpreter runs it (the same as the installed script)."""


@dataclass(frozen=True)
class Run:
    """A finished process: its exit code (negative: killed by that signal) and its output."""

    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout decoded as JSON (for the ``--json`` commands)."""
        return json.loads(self.stdout)

    def error_line(self, *, never: str) -> str:
        """The one ``termmate: …`` line a failed command printed on stderr, after checking
        there is no traceback and ``never`` (a password) appears nowhere in the output."""
        assert "Traceback" not in self.stderr + self.stdout, self.stderr
        assert never not in self.stderr + self.stdout
        lines = [line for line in self.stderr.splitlines() if line.startswith("termmate: ")]
        assert len(lines) == 1, self.stderr
        return lines[0]


def run_python(*args: str, env: Mapping[str, str] | None = None, timeout_s: float = 120) -> Run:
    """``python ARGS`` (e.g. ``"-c", code``) in a fresh process; ``env`` None: this one's."""
    return _run([sys.executable, *args], env, timeout_s)


def run_termmate(env: Mapping[str, str], *args: str, timeout_s: float = 120) -> Run:
    """``termmate ARGS`` in a fresh process with exactly the environment ``env``."""
    return _run([*TERMMATE, *args], env, timeout_s)


def _run(argv: list[str], env: Mapping[str, str] | None, timeout_s: float) -> Run:
    done = subprocess.run(
        argv,
        cwd=ROOT,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
    )
    return Run(done.returncode, done.stdout, done.stderr)
