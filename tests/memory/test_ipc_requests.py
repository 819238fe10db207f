"""The owner answers a request it cannot read with an error, and keeps the connection; an
import too big for one request goes in chunks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.memory import ipc
from agent.memory.schemas import ImportItem
from agent.memory.service import MemoryService
from tests.memory.conftest import USER
from tests.support.word_embedder import WordOverlapEmbedder

TOO_BIG = (
    b'{"id": 1, "op": "status", "args": {"pad": "' + b"x" * (ipc.REQUEST_LIMIT + 10) + b'"}}\n'
)


class RawPeer:
    """A connection to the owner's socket that sends bytes as given and reads answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def ask(self, line: bytes) -> dict[str, Any]:
        self.writer.write(line)
        await self.writer.drain()
        answer = await asyncio.wait_for(self.reader.readline(), 30)
        assert answer, "the owner hung up"
        return json.loads(answer)


@pytest.fixture
async def peer(service: MemoryService) -> AsyncIterator[RawPeer]:
    reader, writer = await asyncio.open_unix_connection(
        str(service.paths.socket), limit=ipc.ANSWER_LIMIT
    )
    yield RawPeer(reader, writer)
    writer.close()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param(b"{not json\n", "not JSON", id="not-json"),
        pytest.param(b"\xff\xfe\n", "not JSON", id="not-utf8"),
        pytest.param(b"[" * 200_000 + b"\n", "nested too deeply", id="deeply-nested"),
        pytest.param(b"[1, 2]\n", "must be a JSON object, not list", id="an-array"),
        pytest.param(b"{}\n", "unknown memory operation", id="an-empty-object"),
        pytest.param(TOO_BIG, "over the limit of 16 MiB", id="over-the-limit"),
    ],
)
async def test_a_request_that_cannot_be_read_is_answered_and_the_connection_goes_on(
    peer: RawPeer, line: bytes, reason: str
) -> None:
    answer = await peer.ask(line)
    assert answer["id"] is None and answer["ok"] is False
    assert reason in answer["error"]["message"]

    status = await peer.ask(ipc.encode({"id": 7, "op": "status"}))
    assert status["id"] == 7 and status["ok"] is True
    assert status["result"]["state"] == "ok"


@pytest.mark.parametrize(
    ("op", "args", "reason"),
    [
        pytest.param("add", {"text": 5, "user_id": USER}, "memory add: text:", id="wrong-type"),
        pytest.param("list", {}, "memory list: user_id: Field required", id="missing"),
        pytest.param(
            "cleanup",
            {"user_id": USER, "progress": "print"},
            "memory cleanup: progress: Extra inputs are not permitted",
            id="in-process-only",
        ),
        pytest.param(
            "delete", [1], "memory delete: the arguments must be", id="args-not-an-object"
        ),
    ],
)
async def test_a_request_whose_arguments_do_not_fit_its_operation_is_refused(
    peer: RawPeer, service: MemoryService, op: str, args: Any, reason: str
) -> None:
    answer = await peer.ask(ipc.encode({"id": 3, "op": op, "args": args}))
    assert answer["id"] == 3 and answer["ok"] is False
    assert answer["error"]["message"].startswith(reason)
    assert await service.list(user_id=USER) == []

    status = await peer.ask(ipc.encode({"id": 4, "op": "status"}))
    assert status["id"] == 4 and status["result"]["state"] == "ok"


async def test_a_too_big_request_is_skipped_to_its_end_when_it_comes_in_pieces(
    peer: RawPeer,
) -> None:
    # Sent in pieces with the next request right behind it: only the big one is dropped.
    pieces = [TOO_BIG[i : i + 3_000_000] for i in range(0, len(TOO_BIG), 3_000_000)]
    for piece in pieces:
        peer.writer.write(piece)
        await peer.writer.drain()
    peer.writer.write(ipc.encode({"id": 8, "op": "categories"}))
    refused = json.loads(await asyncio.wait_for(peer.reader.readline(), 30))
    answered = json.loads(await asyncio.wait_for(peer.reader.readline(), 30))
    assert refused["ok"] is False and "over the limit" in refused["error"]["message"]
    assert answered == {"id": 8, "ok": True, "result": []}


def _big_items(count: int) -> list[ImportItem]:
    # 2,000 characters of 4 UTF-8 bytes each: about 8 KB per item on the wire.
    return [
        ImportItem(text="\U00020000" * 1990 + f"{i:06d}", category="bulk") for i in range(count)
    ]


async def test_an_import_bigger_than_one_request_goes_through_a_client_in_chunks(
    settings,
) -> None:
    items = _big_items(2200)
    whole = ipc.encode({"id": 1, "op": "import_items", "args": {"items": ipc.to_wire(items)}})
    assert len(whole) > ipc.REQUEST_LIMIT  # as one request, the owner would refuse it

    owner = MemoryService(settings, embedder=WordOverlapEmbedder(32))
    await owner.start()
    client = MemoryService(settings, embedder=WordOverlapEmbedder(32))
    await client.start()
    try:
        assert (owner.role, client.role) == ("owner", "client")
        report = await client.import_items(items, user_id=USER)
        assert (report.added, report.skipped) == (len(items), 0)
        again = await client.import_items(items[:1500], user_id=USER)
        assert (again.added, again.skipped) == (0, 1500)
        stored = [record.text for record in await owner.list(user_id=USER)]
        assert sorted(stored) == sorted(item.text for item in items)  # each exactly once
    finally:
        await client.aclose()
        await owner.aclose()
