"""Conversations outlive the process: `ask --thread` resumes them, `threads` and `show` list them,
and a SIGKILL in the middle of a reply loses no completed turn."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from pathlib import Path

from agent.events import TextDelta, TurnFinished
from tests.support.cli import ROOT, TERMMATE, run_termmate
from tests.support.processes import read_until
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.stores import Store, postgres_only

ANSWERS = ["Paris is the capital.", "It has about two million people.", "Yes, the Seine."]
QUESTIONS = ["What is the capital of France?", "How many people live there?", "A river?"]


def _conversation(messages: list[dict]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]


def test_turns_survive_the_process_and_ask_thread_resumes_with_every_turn(
    backend: Store, scripted: ScriptedOpenAI, remote_env: dict[str, str]
) -> None:
    scripted.script(*(Reply(words=words_of(a)) for a in ANSWERS))
    first = run_termmate(remote_env, "ask", "--json", QUESTIONS[0])
    assert first.returncode == 0, first.stderr
    thread_id = first.json()["thread_id"]
    assert first.json()["text_response"] == ANSWERS[0]

    for question in QUESTIONS[1:]:
        run = run_termmate(remote_env, "ask", "--thread", thread_id, question)
        assert run.returncode == 0, run.stderr
        assert "Traceback" not in run.stderr

    # Each process sent every completed turn of the conversation before the new question.
    prompts = [_conversation(r.messages) for r in scripted.chat_requests]
    assert prompts == [
        [("user", QUESTIONS[0])],
        [("user", QUESTIONS[0]), ("assistant", ANSWERS[0]), ("user", QUESTIONS[1])],
        [
            ("user", QUESTIONS[0]),
            ("assistant", ANSWERS[0]),
            ("user", QUESTIONS[1]),
            ("assistant", ANSWERS[1]),
            ("user", QUESTIONS[2]),
        ],
    ]
    assert scripted.chat_requests[0].messages[0]["role"] == "system"

    shown = run_termmate(remote_env, "show", thread_id, "--json")
    assert shown.returncode == 0, shown.stderr
    document = shown.json()
    assert set(document) == {"thread_id", "title", "messages"}
    assert document["thread_id"] == thread_id and document["title"] == QUESTIONS[0]
    assert all(set(m) == {"role", "content", "created_at"} for m in document["messages"])
    assert [(m["role"], m["content"]) for m in document["messages"]] == [
        pair
        for q, a in zip(QUESTIONS, ANSWERS, strict=True)
        for pair in (("user", q), ("assistant", a))
    ]
    times = [m["created_at"] for m in document["messages"]]
    assert times == sorted(times) and all(t.endswith("+00:00") or t.endswith("Z") for t in times)

    listed = run_termmate(remote_env, "threads", "--json")
    assert listed.returncode == 0
    [thread] = listed.json()
    assert thread["id"] == thread_id and thread["turns"] == 3 and thread["title"] == QUESTIONS[0]

    text = run_termmate(remote_env, "show", thread_id)
    assert text.returncode == 0 and ANSWERS[2] in text.stdout and QUESTIONS[0] in text.stdout


def test_sigkill_in_the_middle_of_a_reply_loses_no_completed_turn(
    backend: Store, scripted: ScriptedOpenAI, remote_env: dict[str, str], tmp_path: Path
) -> None:
    scripted.script(Reply(words=words_of(ANSWERS[0])))
    first = run_termmate(remote_env, "ask", "--json", QUESTIONS[0])
    assert first.returncode == 0, first.stderr
    thread_id = first.json()["thread_id"]

    # The second reply streams slowly; the process is killed once its first words are out.
    slow = Reply(words=words_of("Slowly " + "and surely " * 30), token_delay_s=0.1)
    scripted.script(slow)
    with (tmp_path / "stderr.txt").open("wb") as stderr:
        process = subprocess.Popen(
            [*TERMMATE, "ask", "--thread", thread_id, QUESTIONS[1]],
            cwd=ROOT,
            env=remote_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        try:
            read_until(process, b"Slowly", timeout_s=60)
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=10) == -signal.SIGKILL
        finally:
            if process.poll() is None:
                process.kill()
            process.stdout.close()  # type: ignore[union-attr]

    listed = run_termmate(remote_env, "threads", "--json")
    assert listed.returncode == 0, listed.stderr
    [thread] = listed.json()
    assert thread["id"] == thread_id and thread["turns"] == 1  # only the completed turn counts

    shown = run_termmate(remote_env, "show", thread_id, "--json")
    assert shown.returncode == 0, shown.stderr
    messages = [(m["role"], m["content"]) for m in shown.json()["messages"]]
    assert messages[:2] == [("user", QUESTIONS[0]), ("assistant", ANSWERS[0])]
    assert messages[2:] == [("user", QUESTIONS[1])], "the question was kept; no half reply"

    scripted.script(Reply(words=words_of(ANSWERS[2])))
    resumed = run_termmate(remote_env, "ask", "--thread", thread_id, "--json", QUESTIONS[2])
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.json()["text_response"] == ANSWERS[2]
    prompt = _conversation(scripted.chat_requests[-1].messages)
    assert prompt[:2] == [("user", QUESTIONS[0]), ("assistant", ANSWERS[0])]
    # The unanswered question and the new one reach the model together, in order.
    assert prompt[2:] == [("user", f"{QUESTIONS[1]}\n\n{QUESTIONS[2]}")]

    shown = run_termmate(remote_env, "show", thread_id, "--json").json()
    assert [(m["role"], m["content"]) for m in shown["messages"]][-2:] == [
        ("user", QUESTIONS[2]),
        ("assistant", ANSWERS[2]),
    ]


def test_ask_json_has_exactly_the_documented_keys(
    scripted: ScriptedOpenAI, remote_env: dict[str, str]
) -> None:
    scripted.script(Reply.of("Hi", " there", first_token_delay_s=0.05))
    run = run_termmate(remote_env, "ask", "--json", "hello")
    assert run.returncode == 0, run.stderr
    answer = run.json()
    assert set(answer) == {
        "thread_id",
        "text_response",
        "backend",
        "model",
        "fallback_reason",
        "memory",
        "stopped",
        "timings",
    }
    assert set(answer["timings"]) == {"first_token_ms", "total_ms"}
    assert answer["text_response"] == "Hi there"
    assert answer["memory"] == "off" and answer["stopped"] is False  # memory is off here
    assert (answer["backend"], answer["model"], answer["fallback_reason"]) == (
        "remote",
        scripted.model,  # discovered from /v1/models: no model is set
        None,
    )
    first, total = answer["timings"]["first_token_ms"], answer["timings"]["total_ms"]
    assert 50 <= first <= total
    assert run.stdout.count("\n") == 1, "one JSON object and nothing else on stdout"


def test_ask_json_reports_the_fallback(
    scripted: ScriptedOpenAI, remote_env: dict[str, str]
) -> None:
    scripted.stop()
    run = run_termmate(remote_env, "ask", "--json", "hello")
    assert run.returncode == 0, run.stderr
    answer = run.json()
    assert (answer["backend"], answer["model"]) == ("local", "tiny-chat.gguf")
    assert "connection refused" in answer["fallback_reason"]
    assert answer["text_response"].strip()
    assert "answering with the local model tiny-chat.gguf" in run.stderr


async def test_turn_finished_means_the_reply_is_saved(
    backend: Store, termmate_env: dict[str, str]
) -> None:
    from agent import Companion
    from config import load_settings

    companion = await Companion.create(load_settings())
    try:
        async for event in companion.turn("t-saved", "hello"):
            last = event
        saved = await companion.threads.messages("t-saved")
    finally:
        await companion.aclose()
    assert [m["role"] for m in saved] == ["user", "assistant"]
    assert saved[-1]["content"] == last.text  # type: ignore[attr-defined]


@postgres_only
async def test_turn_finished_waits_for_the_reply_to_land_even_when_writing_is_slow(
    backend: Store, remote_env: dict[str, str], scripted: ScriptedOpenAI, monkeypatch
) -> None:
    """LangGraph saves a node's output in the background while it streams it on: the turn
    says "finished" only once the reply is written, however slow writing is."""
    from agent import Companion
    from agent.threads import open_threads
    from config import load_settings

    for key in ("TERMMATE_MODE", "TERMMATE_LLM__URL"):
        monkeypatch.setenv(key, remote_env[key])
    scripted.script(Reply.of("Saved", " at", " last.", token_delay_s=0.3))
    writes = _SlowWrites(backend)
    companion = await Companion.create(load_settings())
    reader = await open_threads(load_settings())  # another process's view: its own connections
    seen_at_finish = None
    try:
        async for event in companion.turn("t-slow-write", "hello"):
            if isinstance(event, TextDelta) and not writes.started:
                await asyncio.to_thread(writes.hold)  # the reply's write will have to wait
            if isinstance(event, TurnFinished):
                seen_at_finish = _conversation(await reader.messages("t-slow-write"))
    finally:
        writes.stop()
        await reader.aclose()
        await companion.aclose()
    assert seen_at_finish == [("user", "hello"), ("assistant", "Saved at last.")]


class _SlowWrites:
    """Holds LangGraph's checkpoint tables locked against writes (reads go on) until a write of
    termmate's has been seen waiting for a while, as a busy database would."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.started = False
        self._locked = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def hold(self) -> None:
        self.started = True
        self._thread.start()
        assert self._locked.wait(30)

    def stop(self) -> None:
        if self.started:
            self._thread.join(60)

    def _run(self) -> None:
        import psycopg

        assert self._store.url is not None
        with psycopg.connect(self._store.url) as conn:  # one transaction until commit
            # The reply goes into checkpoint_writes, and then into the next checkpoint.
            conn.execute(
                "LOCK TABLE checkpoint_writes, checkpoint_blobs, checkpoints IN EXCLUSIVE MODE"
            )
            self._locked.set()
            deadline = time.monotonic() + 30
            waited = 0
            while waited < 5 and time.monotonic() < deadline:  # seen waiting on 5 polls
                waited = waited + 1 if self._store.termmate_sessions(waiting_for_a_lock=True) else 0
                time.sleep(0.05)
            conn.commit()
