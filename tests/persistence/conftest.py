"""Run the real `termmate` command as a subprocess, against a scripted remote model."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.scripted_openai import ScriptedOpenAI

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "tui.cli"]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def termmate(env: dict[str, str], *args: str, timeout_s: float = 120) -> Run:
    """``termmate ARGS`` in a fresh process; its exit code and output."""
    done = subprocess.run(
        [*COMMAND, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        stdin=subprocess.DEVNULL,
    )
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def scripted() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI() as server:
        yield server


@pytest.fixture
def remote_env(termmate_env: dict[str, str], scripted: ScriptedOpenAI) -> dict[str, str]:
    """termmate in auto mode with the scripted server as its remote model."""
    return {
        **termmate_env,
        "TERMMATE_MODE": "auto",
        "TERMMATE_LLM__URL": scripted.url,
        "TERMMATE_LLM__MAX_RETRIES": "0",
        "TERMMATE_LLM__TIMEOUT_S": "10",
    }
