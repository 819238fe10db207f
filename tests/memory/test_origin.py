"""Every change says where it came from: "turn" (the agent after a reply, through MemoryTools),
"user" (the CLI, the memory pane, an import) or "cleanup" (a move between tiers), in this
process and in every other one."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from datetime import timedelta

import pytest

from agent.memory.events import MemoryChanged
from agent.memory.schemas import ImportItem
from agent.memory.service import MemoryService
from agent.memory.timestamps import format_utc, now_utc
from agent.memory.tools import MemoryTools
from tests.memory.conftest import USER, subprocess_env
from tests.support.cli import ROOT
from tests.support.processes import read_until, terminate
from tests.support.waiting import eventually
from tests.support.word_embedder import WordOverlapEmbedder


def test_a_change_reads_back_from_its_wire_form_origin_and_all() -> None:
    change = MemoryChanged(
        action="added",
        memory_id="m1",
        text="The user likes tea",
        category="food",
        tier="fresh",
        user_id=USER,
        origin="turn",
    )
    assert MemoryChanged.from_dict(change.as_dict()) == change
    assert change.as_dict()["origin"] == "turn"
    assert not hasattr(change, "__dict__")  # slots
    with pytest.raises(dataclasses.FrozenInstanceError):
        change.origin = "user"  # type: ignore[misc]


async def _collect(memory: MemoryService, into: list[tuple[str, str, str]]) -> None:
    async for change in memory.changes():
        into.append((change.action, change.text, change.origin))


async def test_changes_carry_their_origin_to_every_process(settings) -> None:
    owner = MemoryService(settings, embedder=WordOverlapEmbedder())
    await owner.start()
    client = MemoryService(settings, embedder=WordOverlapEmbedder())
    await client.start()
    seen_by_owner: list[tuple[str, str, str]] = []
    seen_by_client: list[tuple[str, str, str]] = []
    watchers = [
        asyncio.create_task(_collect(owner, seen_by_owner)),
        asyncio.create_task(_collect(client, seen_by_client)),
    ]
    try:
        assert (owner.role, client.role) == ("owner", "client")
        await asyncio.sleep(0.05)

        tools = MemoryTools(client)  # as the agent's nodes use them
        await tools.add_memory("The user likes tea", USER)
        found = await tools.search_memory("The user likes tea", USER)
        await tools.update_memory(found.hits[0].id, content="The user likes green tea")
        cat = await client.add("The user has a cat", user_id=USER, category="pets")
        await client.update(cat.record.id, user_id=USER, text="The user has two cats")
        long_ago = format_utc(now_utc() - timedelta(days=90))
        await client.import_items(
            [ImportItem(text="The user once lived in Paris", category="past", updated_at=long_ago)],
            user_id=USER,
        )
        await client.add("The user went to Jeju", user_id=USER, updated_at=long_ago)
        await client.cleanup(user_id=USER, days=30)
        await tools.delete_memory(found.hits[0].id)
        await client.delete(cat.record.id, user_id=USER)
        await asyncio.sleep(0.2)

        expected = [
            ("added", "The user likes tea", "turn"),
            ("updated", "The user likes green tea", "turn"),
            ("added", "The user has a cat", "user"),
            ("updated", "The user has two cats", "user"),
            ("added", "The user once lived in Paris", "user"),
            ("added", "The user went to Jeju", "user"),
            ("moved", "The user went to Jeju", "cleanup"),
            ("deleted", "The user likes green tea", "turn"),
            ("deleted", "The user has two cats", "user"),
        ]
        assert seen_by_owner == seen_by_client == expected
        assert [c.origin for c in tools.changes] == ["turn", "turn", "turn"]
        assert MemoryTools(client, origin="user").origin == "user"
    finally:
        for watcher in watchers:
            watcher.cancel()
        await client.aclose()
        await owner.aclose()


def _start_client(settings) -> subprocess.Popen[bytes]:
    """A client process of the store (tests/memory/client_process.py), ready and listening."""
    client = subprocess.Popen(
        [sys.executable, "-m", "tests.memory.client_process", str(settings.data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=subprocess_env(settings),
    )
    read_until(client, b"ready\n", 60)
    return client


async def test_the_origin_of_a_change_arrives_in_the_other_process(settings) -> None:
    owner = MemoryService(settings, embedder=WordOverlapEmbedder())
    await owner.start()
    seen_by_owner: list[tuple[str, str, str]] = []
    watcher = asyncio.create_task(_collect(owner, seen_by_owner))
    client = await asyncio.to_thread(_start_client, settings)
    try:
        assert owner.role == "owner"
        assert client.stdin is not None
        # The agent in the other process remembers something after a reply: "turn".
        client.stdin.write(b"remember The user likes barley tea\n")
        client.stdin.flush()
        await eventually(
            lambda: ("added", "The user likes barley tea", "turn") in seen_by_owner,
            timeout_s=30,
            what="the other process's change to arrive here",
        )
        # This process's changes reach the other one with theirs: "user", then "cleanup".
        long_ago = format_utc(now_utc() - timedelta(days=90))
        await owner.add("The user went to Jeju", user_id=USER, updated_at=long_ago)
        await owner.cleanup(user_id=USER, days=30)
        heard = await asyncio.to_thread(
            read_until, client, b"event moved cleanup The user went to Jeju\n", 30
        )
    finally:
        watcher.cancel()
        if client.stdin is not None:
            client.stdin.close()  # the client stops at the end of its input
        await asyncio.to_thread(terminate, client, 30)
        await owner.aclose()

    assert heard.decode().splitlines() == [
        "event added turn The user likes barley tea",
        "event added user The user went to Jeju",
        "event moved cleanup The user went to Jeju",
    ]
    assert seen_by_owner == [
        ("added", "The user likes barley tea", "turn"),
        ("added", "The user went to Jeju", "user"),
        ("moved", "The user went to Jeju", "cleanup"),
    ]
