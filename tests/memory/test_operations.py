"""Each memory operation is declared once (agent/memory/operations.py): the engine implements
every one as declared, MemoryService and RemoteMemory take them with the declared signatures and
check their arguments, and an operation added in one place reaches another process."""

from __future__ import annotations

import asyncio
import inspect
import json
from pathlib import Path

import pytest

from agent.memory.client import RemoteMemory
from agent.memory.declare import mismatches, operations_of
from agent.memory.engine import MemoryEngine
from agent.memory.errors import InvalidMemoryInput
from agent.memory.events import Origin
from agent.memory.schemas import MemoryRecord, SearchMemoryResult
from agent.memory.service import MemoryService
from tests.memory.conftest import USER, both_backends, memory_settings, subprocess_env
from tests.memory.counting import CountingMemory, CountingOperations
from tests.support.cli import Run, run_python
from tests.support.word_embedder import WordOverlapEmbedder


def test_the_engine_implements_every_declared_operation_as_declared() -> None:
    assert mismatches(MemoryEngine) == []
    assert set(operations_of(MemoryEngine)) == set(operations_of(RemoteMemory))
    assert set(operations_of(MemoryService)) == set(operations_of(RemoteMemory)) - {"status"}


class _Careless(MemoryEngine, CountingOperations):
    """An engine whose search forgets the offline flag, whose delete changes a default, and
    which does not implement count."""

    async def search(  # type: ignore[override]
        self, query: str, *, user_id: str, k: int | None = None
    ) -> SearchMemoryResult:
        raise AssertionError("never called")

    async def delete(  # type: ignore[override]
        self, memory_id: str, *, user_id: str, origin: Origin = "turn"
    ) -> MemoryRecord:
        raise AssertionError("never called")


def test_an_implementation_that_does_not_fit_its_declarations_is_told_what_is_wrong() -> None:
    problems = mismatches(_Careless)
    assert "count: not implemented" in problems
    assert any(p.startswith("search: takes (query, user_id, k), not (") for p in problems)
    assert "delete: origin is keyword-only = 'turn', declared keyword-only = 'user'" in problems
    assert len(problems) == 3


@pytest.mark.parametrize("kind", [MemoryService, RemoteMemory])
def test_callers_take_each_operation_with_its_declared_signature(kind: type) -> None:
    for name, op in operations_of(kind).items():
        method = getattr(kind, name)
        assert inspect.signature(method) == op.signature, name
        assert method.__doc__, f"{kind.__name__}.{name} says nothing of what it does"


@both_backends
async def test_arguments_that_do_not_fit_are_refused_before_they_reach_the_store(
    service: MemoryService, embedder: WordOverlapEmbedder
) -> None:
    with pytest.raises(InvalidMemoryInput, match=r"^memory search: k: Input should be a valid"):
        await service.search("tea", user_id=USER, k="many")  # type: ignore[arg-type]
    with pytest.raises(InvalidMemoryInput, match=r"^memory add: tier: Input should be 'fresh'"):
        await service.add("The user likes tea", user_id=USER, tier="warm")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        await service.add("The user likes tea", user_id=USER, colour="green")  # type: ignore[call-arg]
    assert embedder.calls == 1  # the store's own probe when it opened, nothing since
    assert await service.list(user_id=USER) == []


def _count_from_another_process(settings, tier: str = "all") -> Run:
    return run_python(
        "-m", "tests.memory.counting", str(settings.data_dir), tier, env=subprocess_env(settings)
    )


async def test_an_operation_declared_in_one_place_reaches_another_process(tmp_path: Path) -> None:
    settings = memory_settings(tmp_path / "data")
    owner = CountingMemory(settings, embedder=WordOverlapEmbedder())
    await owner.start()
    try:
        assert owner.role == "owner", owner.status
        for text in ("The user likes tea", "The user has a cat", "The user lives in Seoul"):
            await owner.add(text, user_id=USER)
        await owner.add("Someone else's memory", user_id="jane")
        assert await owner.count(user_id=USER) == 3

        run = await asyncio.to_thread(_count_from_another_process, settings)
        old = await asyncio.to_thread(_count_from_another_process, settings, "old")
    finally:
        await owner.aclose()

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"role": "client", "count": 3}
    assert json.loads(old.stdout) == {"role": "client", "count": 0}


async def test_an_owner_that_does_not_implement_an_operation_refuses_it_by_name(
    tmp_path: Path,
) -> None:
    settings = memory_settings(tmp_path / "data")
    owner = MemoryService(settings, embedder=WordOverlapEmbedder())  # no count here
    await owner.start()
    try:
        run = await asyncio.to_thread(_count_from_another_process, settings)
    finally:
        await owner.aclose()
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "role": "client",
        "error": "unknown memory operation 'count'",
    }


def test_an_operation_declared_on_a_subclass_stays_with_the_classes_built_on_it() -> None:
    assert "count" in operations_of(CountingMemory)
    for kind in (MemoryService, RemoteMemory, MemoryEngine):
        assert "count" not in operations_of(kind)
        assert not hasattr(kind, "count")
