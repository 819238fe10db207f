"""Many callers at once: turns on different threads overlap, turns on one thread keep their
order, nothing is lost; past max_concurrent_turns a request waits for its turn, up to a bound,
then gets 429 with Retry-After."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import httpx

from tests.support.scripted_openai import Reply, ScriptedOpenAI
from tests.support.served import served, service_env

THREADS = 4
PER_THREAD = 5


async def test_twenty_concurrent_requests_over_four_threads_are_all_answered_in_order(
    tmp_path: Path,
) -> None:
    reply = Reply.of("Noted", " and", " answered.", first_token_delay_s=0.05, token_delay_s=0.02)
    with ScriptedOpenAI(default=reply) as model, served(service_env(tmp_path, model.url)) as svc:
        async with httpx.AsyncClient(base_url=svc.url, timeout=120) as client:
            firsts = await asyncio.gather(
                *(
                    client.post("/v1/chat", json={"user_id": f"user{t}", "message": f"t{t} m0"})
                    for t in range(THREADS)
                )
            )
            threads = [first.json()["thread_id"] for first in firsts]
            model.clear_requests()

            async def ask(t: int, n: int) -> httpx.Response:
                body = {"user_id": f"user{t}", "thread_id": threads[t], "message": f"t{t} m{n}"}
                return await client.post("/v1/chat", json=body)

            answers = await asyncio.gather(
                *(ask(t, n) for n in range(1, PER_THREAD + 1) for t in range(THREADS))
            )
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
            shown = [
                (await client.get(f"/v1/threads/{thread}", params={"user_id": f"user{t}"})).json()
                for t, thread in enumerate(threads)
            ]

    for t, conversation in enumerate(shown):
        messages = conversation["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"] * (PER_THREAD + 1)
        assert all(m["content"] == "Noted and answered." for m in messages[1::2])
        assert not any(m.get("stopped") for m in messages)
        # Each message is on its own thread, once; the order is whatever order they came in.
        said = [m["content"] for m in messages[::2]]
        assert said[0] == f"t{t} m0"
        assert sorted(said[1:]) == [f"t{t} m{n}" for n in range(1, PER_THREAD + 1)]
    # Turns on one thread ran one after another: each prompt holds every exchange before it.
    for request in model.chat_requests:
        users = [m["content"] for m in request.messages if m["role"] == "user"]
        thread = {re.match(r"t(\d) ", text).group(1) for text in users}  # type: ignore[union-attr]
        assert len(thread) == 1, users  # never another thread's message
        assert len(users) == len(set(users))
        assistants = [m for m in request.messages if m["role"] == "assistant"]
        assert len(assistants) == len(users) - 1  # every earlier message was answered first
    assert sorted(len(r.messages) for r in model.chat_requests) == sorted(
        [1 + 2 * n + 1 for n in range(1, PER_THREAD + 1)] * THREADS
    )


def test_past_the_turn_slots_a_request_waits_then_gets_429_with_retry_after(
    tmp_path: Path,
) -> None:
    slow = Reply.of("Slowly", " now.", first_token_delay_s=3.0)
    with ScriptedOpenAI(slow, default=Reply.of("Quick.")) as model:
        env = service_env(
            tmp_path,
            model.url,
            SERVER__MAX_CONCURRENT_TURNS="1",
            SERVER__QUEUE_TIMEOUT_S="0.5",
        )
        with served(env) as service:
            results: dict[str, httpx.Response] = {}

            def ask(name: str) -> None:
                results[name] = httpx.post(
                    f"{service.url}/v1/chat",
                    json={"user_id": "ada", "message": name},
                    timeout=60,
                )

            holder = threading.Thread(target=ask, args=("slow",))
            holder.start()
            model.wait_for(lambda requests: any(r.path.endswith("/completions") for r in requests))
            ask("refused")
            holder.join(60)
            ask("after")
    refused = results["refused"]
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "1"
    assert "max_concurrent_turns" in refused.json()["detail"]
    assert results["slow"].status_code == 200 and results["after"].status_code == 200
    assert results["after"].json()["text_response"] == "Quick."
