"""Two `termmate serve` processes (different data dirs) on one PostgreSQL, as behind a load
balancer: one set of conversations and memories, turns on a thread in order whichever server
takes them, never two at once, and a server killed mid-turn loses no completed turn."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.served import Served, served, service_env
from tests.support.word_embedder import WordOverlapEmbedder

SLOW = "Slowly " + "and surely " * 20


@pytest.fixture
def two_servers(
    pg_url: str, scripted: ScriptedOpenAI, tmp_path: Path
) -> Iterator[tuple[Served, Served]]:
    """Two services, each with its own data dir, both on the test's database."""
    envs = [service_env(tmp_path / name, scripted.url, STORE__URL=pg_url) for name in "ab"]
    with served(envs[0], stderr_dir=tmp_path) as a, served(envs[1], stderr_dir=tmp_path) as b:
        yield a, b


def _chat(service: Served, message: str, thread_id: str | None = None) -> str:
    body = {"user_id": "ada", "message": message, "thread_id": thread_id}
    response = httpx.post(f"{service.url}/v1/chat", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["thread_id"]


def _shown(service: Served, thread_id: str) -> list[tuple[str, str]]:
    response = httpx.get(f"{service.url}/v1/threads/{thread_id}", params={"user_id": "ada"})
    assert response.status_code == 200, response.text
    return [(m["role"], m["content"]) for m in response.json()["messages"]]


def _answered(requests: list) -> int:
    """How many chat requests reached the model."""
    return len([r for r in requests if r.path.endswith("/chat/completions")])


def _prompt(request: object) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in request.messages[1:]]  # type: ignore[attr-defined]


def test_requests_alternating_between_servers_keep_every_turn_in_order(
    two_servers: tuple[Served, Served], scripted: ScriptedOpenAI
) -> None:
    a, b = two_servers
    scripted.script(*(Reply.of(f"Answer {n}.") for n in range(6)))
    thread = None
    for n in range(6):
        thread = _chat((a, b)[n % 2], f"Question {n}", thread)
    assert thread is not None

    turns = [(("user", f"Question {n}"), ("assistant", f"Answer {n}.")) for n in range(6)]
    for n, request in enumerate(scripted.chat_requests):
        history = [message for turn in turns[:n] for message in turn]
        assert _prompt(request) == [*history, ("user", f"Question {n}")]
    whole = [message for turn in turns for message in turn]
    assert _shown(a, thread) == _shown(b, thread) == whole
    for service in (a, b):
        listed = httpx.get(f"{service.url}/v1/threads", params={"user_id": "ada"}).json()
        assert [(t["id"], t["turns"]) for t in listed["threads"]] == [(thread, 6)]


def test_two_servers_never_answer_on_one_thread_at_once(
    two_servers: tuple[Served, Served], scripted: ScriptedOpenAI
) -> None:
    a, b = two_servers
    scripted.script(
        Reply.of("Hello."), Reply(words=words_of(SLOW), token_delay_s=0.05), Reply.of("Done.")
    )
    thread = _chat(a, "hello")
    slow = threading.Thread(target=_chat, args=(a, "tell me slowly", thread))
    slow.start()
    try:
        scripted.wait_for(lambda requests: _answered(requests) == 2, 30)
        # Server A is writing its reply; B's turn on the same thread waits for it.
        _chat(b, "and now?", thread)
    finally:
        slow.join(60)
    assert _prompt(scripted.chat_requests[2]) == [
        ("user", "hello"),
        ("assistant", "Hello."),
        ("user", "tell me slowly"),
        ("assistant", SLOW),
        ("user", "and now?"),
    ]
    assert _shown(b, thread)[-2:] == [("user", "and now?"), ("assistant", "Done.")]


def test_a_server_killed_mid_turn_leaves_the_thread_to_the_other_with_every_completed_turn(
    two_servers: tuple[Served, Served], scripted: ScriptedOpenAI
) -> None:
    a, b = two_servers
    scripted.script(
        Reply.of("First", " answer."),
        Reply(words=words_of(SLOW), token_delay_s=0.2),
        Reply.of("Still", " here."),
    )
    thread = _chat(a, "first question")
    cut: list[BaseException] = []

    def ask_a() -> None:
        try:
            _chat(a, "second question", thread)
        except (httpx.HTTPError, AssertionError) as exc:  # the server dies under it
            cut.append(exc)

    asking = threading.Thread(target=ask_a)
    asking.start()
    scripted.wait_for(lambda requests: _answered(requests) == 2, 30)
    a.signal(signal.SIGKILL)
    assert a.wait(30) == -signal.SIGKILL
    asking.join(30)
    assert cut, "the request to the killed server cannot have been answered"

    _chat(b, "third question", thread)
    assert _prompt(scripted.chat_requests[-1]) == [
        ("user", "first question"),
        ("assistant", "First answer."),
        ("user", "second question\n\nthird question"),  # the unanswered one is kept
    ]
    assert _shown(b, thread) == [
        ("user", "first question"),
        ("assistant", "First answer."),
        ("user", "second question"),
        ("user", "third question"),
        ("assistant", "Still here."),
    ]


def test_a_database_that_goes_away_is_503_naming_it_and_the_service_comes_back_with_it(
    pg_url: str, scripted: ScriptedOpenAI, tmp_path: Path
) -> None:
    import psycopg

    database = pg_url.split("?")[0].rsplit("/", 1)[1]
    env = service_env(tmp_path, scripted.url, STORE__URL=pg_url, STORE__CONNECT_TIMEOUT_S="2")
    admin = pg_url.replace(f"/{database}?", "/postgres?")
    with (
        served(env, stderr_dir=tmp_path) as service,
        psycopg.connect(admin, autocommit=True) as conn,
    ):
        listing = f"{service.url}/v1/threads"
        assert httpx.get(listing, params={"user_id": "ada"}).status_code == 200
        conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database,),
        )
        down = httpx.get(listing, params={"user_id": "ada"}, timeout=30)
        assert down.status_code == 503, down.text
        assert f"database {database}" in down.json()["detail"]
        # A turn finds out only once it runs: the same 503, never a 500.
        asked = httpx.post(
            f"{service.url}/v1/chat", json={"user_id": "ada", "message": "hello?"}, timeout=30
        )
        assert asked.status_code == 503, asked.text
        assert asked.headers["Retry-After"] and f"database {database}" in asked.json()["detail"]
        assert "Traceback" not in service.stderr()
        conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        # The pools retry with growing delays (psycopg_pool's), so back within seconds.
        deadline = time.monotonic() + 60
        while (
            back := httpx.get(listing, params={"user_id": "ada"}, timeout=30)
        ).status_code != 200:
            assert back.status_code == 503 and time.monotonic() < deadline, back.text
            time.sleep(0.5)
        again = httpx.post(
            f"{service.url}/v1/chat", json={"user_id": "ada", "message": "hello?"}, timeout=30
        )
        assert again.status_code == 200, again.text


def test_a_memory_learnt_through_one_server_is_found_through_the_other(
    pg_url: str, tmp_path: Path
) -> None:
    fact = "The user keeps bees on the roof"
    question = "Do you remember the bees on the roof?"
    with ScriptedOpenAI(
        Reply.of("Bees", " are", " lovely."),
        Reply.of_json({"facts": [{"text": fact, "category": "hobbies"}]}),  # update_memory's
        embedder=WordOverlapEmbedder().vector,
    ) as model:
        envs = [
            service_env(
                tmp_path / name,
                model.url,
                STORE__URL=pg_url,
                EMBED__URL=model.url,
                MEMORY__ENABLED="true",
            )
            for name in "ab"
        ]
        with served(envs[0], stderr_dir=tmp_path) as a, served(envs[1], stderr_dir=tmp_path) as b:
            _chat(a, "I keep bees on my roof")
            # B has no memory of its own: only the shared store can put A's fact in B's prompt.
            deadline = time.monotonic() + 60
            while True:
                _chat(b, question)
                prompt = [r for r in model.chat_requests if r.messages[-1]["content"] == question]
                if fact in prompt[-1].messages[0]["content"]:
                    break
                assert time.monotonic() < deadline, "A's memory never reached B's prompt"
                time.sleep(0.2)
