"""A shared store that cannot be used is a clear start-up error from every command: the host
named, the password never shown, exit 1 when the database cannot be reached and 2 when
store.url itself is wrong. The embedded stores never load psycopg."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.cli import Run, run_python, run_termmate
from tests.support.llama_server import free_port
from tests.support.tmux import TmuxSession

PASSWORD = "hunter2-secret"
COMMANDS = [("ask", "hello"), ("threads",), ("show", "t-x"), ("serve", "--port", "0")]
IDS = ["ask", "threads", "show", "serve"]


def _one_line_error(run: Run) -> str:
    return run.error_line(never=PASSWORD)


@pytest.fixture
def unreachable(termmate_env: dict[str, str]) -> tuple[dict[str, str], str]:
    """termmate pointed at a PostgreSQL that does not answer (a port nothing listens on)."""
    port = free_port()
    url = f"postgresql://alice:{PASSWORD}@127.0.0.1:{port}/termmate"
    return {**termmate_env, "TERMMATE_STORE__URL": url}, f"database termmate on 127.0.0.1:{port}"


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_an_unreachable_database_is_exit_1_naming_the_host(
    unreachable: tuple[dict[str, str], str], command: tuple[str, ...]
) -> None:
    env, where = unreachable
    run = run_termmate(env, *command, timeout_s=60)
    assert run.returncode == 1, run.stderr
    line = _one_line_error(run)
    assert f"cannot connect to the {where}" in line and "Connection refused" in line
    assert "TERMMATE_STORE__URL" in line  # what to check


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_a_malformed_store_url_is_exit_2_without_the_password(
    termmate_env: dict[str, str], command: tuple[str, ...]
) -> None:
    url = f"postgresql://alice:{PASSWORD}@db.example:notaport/termmate"
    run = run_termmate({**termmate_env, "TERMMATE_STORE__URL": url}, *command, timeout_s=60)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and PASSWORD not in run.stderr + run.stdout
    assert "TERMMATE_STORE__URL" in run.stderr and "not a URL" in run.stderr


def test_the_tui_with_an_unreachable_database_exits_1_saying_why(
    unreachable: tuple[dict[str, str], str],
) -> None:
    env, where = unreachable
    termmate = str(Path(sys.executable).with_name("termmate"))
    session = TmuxSession([termmate], env)
    try:
        screen = session.wait_for(lambda s: "__EXIT_CODE=" in s, what="the TUI to give up")
    finally:
        session.close()
    assert "__EXIT_CODE=1" in screen
    assert f"cannot connect to the {where}" in " ".join(screen.split())
    assert PASSWORD not in screen and "Traceback" not in screen


EMBEDDED_TURN = """
import asyncio, sys
from agent import Companion
from config import load_settings

async def main():
    companion = await Companion.create(load_settings())
    try:
        async for event in companion.turn("t-local", "hello"):
            pass
        print(type(event).__name__)
    finally:
        await companion.aclose()

asyncio.run(main())
print(sorted(m for m in sys.modules if m.split(".")[0] in ("psycopg", "psycopg_pool")))
"""


def test_the_embedded_stores_never_load_psycopg(termmate_env: dict[str, str]) -> None:
    done = run_python("-c", EMBEDDED_TURN, env=termmate_env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["TurnFinished", "[]"]
