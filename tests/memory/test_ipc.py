"""The wire between processes: a request given up half-way (a timeout, Esc, closing) leaves
every later answer where it belongs, and an answer that cannot be read is a MemoryStoreError."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from agent.memory import ipc
from agent.memory.client import RemoteMemory
from agent.memory.errors import InvalidMemoryInput, MemoryStoreError
from agent.memory.schemas import ImportItem
from agent.memory.service import MemoryService
from tests.memory.conftest import USER
from tests.support.word_embedder import WordOverlapEmbedder


class SlowQueryEmbedder(WordOverlapEmbedder):
    """Test double: embeds like WordOverlapEmbedder, but takes 2 s for texts saying "slowly"."""

    async def embed(self, texts: Sequence[str], kind: str) -> list[list[float]]:
        if any("slowly" in text for text in texts):
            await asyncio.sleep(2.0)
        return await super().embed(texts, kind)


@pytest.fixture
async def owner_and_client(settings) -> AsyncIterator[tuple[MemoryService, MemoryService]]:
    """The owner of the store and a client that reaches it over the real Unix socket."""
    owner = MemoryService(settings, embedder=SlowQueryEmbedder())
    await owner.start()
    client = MemoryService(settings, embedder=WordOverlapEmbedder())
    await client.start()
    assert (owner.role, client.role) == ("owner", "client")
    yield owner, client
    await client.aclose()
    await owner.aclose()


async def _give_up_by_timeout(call: Any) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(call, 0.2)


async def _give_up_by_cancelling(call: Any) -> None:
    task = asyncio.ensure_future(call)
    await asyncio.sleep(0.2)  # the request is sent; its answer has not come yet
    task.cancel()  # what Esc does to a turn
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("give_up", [_give_up_by_timeout, _give_up_by_cancelling])
async def test_answers_after_a_request_given_up_on_belong_to_their_requests(
    owner_and_client: tuple[MemoryService, MemoryService],
    give_up: Callable[[Any], Any],
) -> None:
    owner, client = owner_and_client
    tea = await owner.add("The user likes green tea", user_id=USER, category="food")
    await owner.add("The user has a cat", user_id=USER, category="pets")

    await give_up(client.search("what does the user slowly drink", user_id=USER))
    await asyncio.sleep(2.2)  # the owner has answered the abandoned search by now

    listed = await client.list(user_id=USER)
    assert sorted(r.text for r in listed) == ["The user has a cat", "The user likes green tea"]
    assert await client.categories() == await owner.categories()
    found = await client.search("green tea", user_id=USER, k=1)
    assert [hit.id for hit in found.hits] == [tea.record.id]
    record = await client.get(tea.record.id, user_id=USER)
    assert record is not None and record.text == "The user likes green tea"
    assert client.role == "client"  # the same owner answers: nobody took over


class ScriptedOwner:
    """A test double for the owning process: answers each request with ``answer(request)``
    (a list of lines, each a JSON object or raw bytes), over the real wire protocol."""

    def __init__(self, path: Path, answer: Callable[[dict[str, Any]], list[Any]]) -> None:
        self.path = path
        self.answer = answer
        self.connections = 0
        self._server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> ScriptedOwner:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while line := await reader.readline():
                for reply in self.answer(json.loads(line)):
                    writer.write(reply if isinstance(reply, bytes) else ipc.encode(reply))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def _ok(request: dict[str, Any], result: Any, *, id_offset: int = 0) -> dict[str, Any]:
    return {"id": request["id"] + id_offset, "ok": True, "result": result}


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda r: [_ok(r, {"hits": "not a list"})], id="wrong-shape"),
        pytest.param(lambda r: [b"{not json\n"], id="not-json"),
        pytest.param(lambda r: [_ok(r, [], id_offset=5)], id="id-from-the-future"),
        pytest.param(lambda r: [{"id": r["id"], "ok": False, "error": "x"}], id="bad-error"),
    ],
)
async def test_an_answer_that_cannot_be_read_is_a_memory_store_error(
    tmp_path: Path, answer: Callable[[dict[str, Any]], list[Any]]
) -> None:
    async with ScriptedOwner(tmp_path / "memory.sock", answer):
        remote = RemoteMemory(tmp_path / "memory.sock")
        await remote.connect()
        try:
            with pytest.raises(MemoryStoreError):
                await remote.list(user_id=USER)
        finally:
            await remote.aclose()


async def test_late_answers_to_earlier_requests_are_skipped(tmp_path: Path) -> None:
    def answer(request: dict[str, Any]) -> list[Any]:
        late = _ok(request, {"hits": [], "embed_ms": 0, "search_ms": 0}, id_offset=-1)
        return [late, _ok(request, ["food", "pets"])]

    async with ScriptedOwner(tmp_path / "memory.sock", answer):
        remote = RemoteMemory(tmp_path / "memory.sock")
        await remote.connect()
        try:
            await remote.categories()  # request 1: a "late answer" with id 0 comes first
            assert await remote.categories() == ["food", "pets"]
        finally:
            await remote.aclose()


async def test_a_connection_dropped_after_a_bad_answer_is_opened_again(tmp_path: Path) -> None:
    asked: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> list[Any]:
        asked.append(request)
        return [b"{not json\n"] if len(asked) == 1 else [_ok(request, ["food"])]

    async with ScriptedOwner(tmp_path / "memory.sock", answer) as owner:
        remote = RemoteMemory(tmp_path / "memory.sock")
        await remote.connect()
        try:
            with pytest.raises(MemoryStoreError, match="could not be read"):
                await remote.categories()
            assert await remote.categories() == ["food"]
            assert owner.connections == 2
        finally:
            await remote.aclose()


async def test_an_error_answer_without_an_id_answers_the_waiting_request(tmp_path: Path) -> None:
    asked: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> list[Any]:
        asked.append(request)
        if len(asked) == 1:  # what the owner says to a request it could not read
            return [ipc.bad_request("the request is over the limit", "InvalidMemoryInput")]
        return [_ok(request, ["food"])]

    async with ScriptedOwner(tmp_path / "memory.sock", answer) as owner:
        remote = RemoteMemory(tmp_path / "memory.sock")
        await remote.connect()
        try:
            with pytest.raises(InvalidMemoryInput, match="over the limit"):
                await remote.categories()
            assert await remote.categories() == ["food"]
            assert owner.connections == 1  # the connection went on
        finally:
            await remote.aclose()


async def test_a_request_over_the_limit_is_refused_before_it_is_sent(tmp_path: Path) -> None:
    asked: list[dict[str, Any]] = []
    items = [ImportItem(text="x" * 2000, category="bulk") for _ in range(ipc.REQUEST_LIMIT // 2000)]

    def answer(request: dict[str, Any]) -> list[Any]:
        asked.append(request)
        return [_ok(request, {"added": len(items), "skipped": 0})]

    async with ScriptedOwner(tmp_path / "memory.sock", answer):
        remote = RemoteMemory(tmp_path / "memory.sock")
        try:
            with pytest.raises(InvalidMemoryInput, match="over the limit of 16 MiB"):
                await remote.import_items(items=items, user_id=USER)
            assert asked == []
        finally:
            await remote.aclose()
