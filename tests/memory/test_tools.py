"""The memory tools: pydantic-checked arguments, and no update or delete without a search."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.memory.errors import ReadBeforeWriteError
from agent.memory.schemas import MemoryMetadata
from agent.memory.service import MemoryService
from agent.memory.tools import MemoryTools
from tests.memory.conftest import USER
from tests.support.recording_memory import RecordingMemory


async def test_update_and_delete_need_a_search_that_found_the_memory(
    service: MemoryService,
) -> None:
    memory_id = (await service.add("The user likes tea", user_id=USER)).record.id
    recording = RecordingMemory(service)
    tools = MemoryTools(recording)  # type: ignore[arg-type]

    with pytest.raises(ReadBeforeWriteError, match="Read-then-Write"):
        await tools.update_memory(memory_id, content="The user likes green tea")
    with pytest.raises(ReadBeforeWriteError):
        await tools.delete_memory(memory_id)
    assert recording.calls == []  # refused before anything reached the store

    found = await tools.search_memory("tea", USER, k=3)
    assert [hit.id for hit in found.hits] == [memory_id]
    result = await tools.update_memory(memory_id, content="The user likes green tea")
    assert result.applied
    assert (await tools.delete_memory(memory_id)).deleted
    assert recording.writes_followed_searches()
    assert [c.describe() for c in tools.changes] == [
        "updated memory: The user likes green tea",
        "forgot: The user likes green tea",
    ]


async def test_a_search_for_one_user_does_not_open_another_users_memories(
    service: MemoryService,
) -> None:
    theirs = (await service.add("The user likes tea", user_id="jane")).record.id
    tools = MemoryTools(service)
    await tools.search_memory("tea", USER, k=3)
    with pytest.raises(ReadBeforeWriteError):
        await tools.delete_memory(theirs)


async def test_add_memory_returns_the_id_and_files_it_under_its_category(
    service: MemoryService,
) -> None:
    tools = MemoryTools(service)
    result = await tools.add_memory(
        "The user's dog is called Bori", USER, MemoryMetadata(category="Pets")
    )
    again = await tools.add_memory("The user's dog is called Bori", USER)
    assert result.created and not again.created and again.memory_id == result.memory_id
    record = await service.get(result.memory_id, user_id=USER)
    assert record is not None and record.category == "pets"
    assert [c.action for c in tools.changes] == ["added"]


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("add_memory", ("", USER)),
        ("add_memory", ("text", "")),
        ("search_memory", ("  ", USER)),
        ("search_memory", ("tea", USER, 99)),
        ("update_memory", ("some-id",)),
    ],
)
async def test_bad_arguments_fail_validation(service: MemoryService, tool: str, args) -> None:
    with pytest.raises(ValidationError):
        await getattr(MemoryTools(service), tool)(*args)
