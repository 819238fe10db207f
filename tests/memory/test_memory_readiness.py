"""Search-Before-Act holds on every turn, a process's first included: a turn waits for the store
to open (within memory.search_timeout_s) and says how the search went ("memory" in `ask --json`
and in the TUI's quiet line under the reply)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.memory.conftest import both_backends
from tests.support.cli import run_termmate
from tests.support.processes import read_until, terminate
from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.stores import Store
from tests.support.waiting import settled
from tests.support.word_embedder import WordOverlapEmbedder
from tui.app import TermmateApp
from tui.widgets import AssistantMessage

MEMORY = "The user takes their coffee black"


@pytest.fixture
def server() -> Iterator[ScriptedOpenAI]:
    """A chat and embedding server (the embeddings: the word-overlap test double)."""
    with ScriptedOpenAI(embedder=WordOverlapEmbedder().vector) as scripted:
        yield scripted


@pytest.fixture
def memory_env(
    termmate_env: dict[str, str], server: ScriptedOpenAI, backend: Store
) -> dict[str, str]:
    """The environment for `termmate` with memory on (the test's ``backend`` store)."""
    return {
        **termmate_env,
        "TERMMATE_MODE": "online",
        "TERMMATE_LLM__URL": server.url,
        "TERMMATE_EMBED__URL": server.url,
        "TERMMATE_MEMORY__ENABLED": "true",
        # The test double scores by shared words, lower than a real model would.
        "TERMMATE_MEMORY__SCORE_THRESHOLD": "0.1",
    }


@both_backends
def test_ask_searches_memory_before_it_answers_even_as_the_first_turn_of_a_process(
    memory_env: dict[str, str], server: ScriptedOpenAI
) -> None:
    added = run_termmate(memory_env, "memory", "add", MEMORY, "--category", "preferences")
    assert added.returncode == 0, added.stderr
    server.script(Reply.of("Black", ",", " as", " always."))

    asked = run_termmate(memory_env, "ask", "--json", "how do I take my coffee?")
    assert asked.returncode == 0, asked.stderr
    assert asked.json()["memory"] == "searched"
    system_prompt = server.chat_requests[0].messages[0]["content"]
    assert MEMORY in system_prompt  # the memory reached the model with the question


def test_a_store_that_does_not_open_in_time_is_not_ready_and_the_turn_goes_on(
    memory_env: dict[str, str], server: ScriptedOpenAI, tmp_path: Path
) -> None:
    # Another process holds the store and never answers (hung): the store cannot open.
    lock = Path(memory_env["TERMMATE_DATA_DIR"]) / "memory" / "owner.lock"
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"f = open({str(lock)!r}, 'w'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            "print('held', flush=True); time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        read_until(holder, b"held", timeout_s=30)
        server.script(Reply.of("Hello", " anyway."))
        env = {**memory_env, "TERMMATE_MEMORY__SEARCH_TIMEOUT_S": "1"}
        asked = run_termmate(env, "ask", "--json", "how do I take my coffee?", timeout_s=60)
    finally:
        terminate(holder, timeout_s=5)
        holder.stdout.close()  # type: ignore[union-attr]
    assert asked.returncode == 0, asked.stderr
    answer = asked.json()
    assert answer["memory"] == "not ready"
    assert answer["text_response"] == "Hello anyway."
    assert answer["timings"]["first_token_ms"] >= 1000  # it waited for the store first


@both_backends
def test_a_failing_embedding_server_is_failed_not_silence(
    memory_env: dict[str, str], server: ScriptedOpenAI
) -> None:
    added = run_termmate(memory_env, "memory", "add", MEMORY, "--category", "preferences")
    assert added.returncode == 0, added.stderr
    server.script(Reply.of("Hello", "."))
    env = {**memory_env, "TERMMATE_EMBED__URL": "http://127.0.0.1:9/v1"}  # nothing listens
    asked = run_termmate(env, "ask", "--json", "how do I take my coffee?")
    assert asked.returncode == 0, asked.stderr
    assert asked.json()["memory"] == "failed"


async def test_the_tui_shows_how_memory_went_under_the_reply(
    termmate_env: dict[str, str], tiny_embed_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMMATE_MEMORY__ENABLED", "true")
    monkeypatch.setenv("TERMMATE_LOCAL__EMBED_MODEL", str(tiny_embed_gguf))
    app = TermmateApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot, app.companion_ready.is_set, what="the companion")
        for key in "hello":
            await pilot.press(key)
        await pilot.press("enter")

        def meta() -> str:
            replies = list(app.query(AssistantMessage))
            return replies[-1].meta_text if replies else ""

        await settled(pilot, lambda: "first token" in meta(), what="the reply")
        assert "memory searched" in meta()
