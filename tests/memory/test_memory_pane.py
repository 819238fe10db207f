"""The memory pane, driven with Textual's Pilot over a real store."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Input

from agent.memory.schemas import ImportItem
from agent.memory.service import MemoryService
from tests.memory.conftest import USER
from tests.support.waiting import settled
from tui.widgets.memory import MAX_ROWS, ConfirmDelete, EditMemory, MemoryPane, MemoryTable


class PaneApp(App[None]):
    def __init__(self, memory: MemoryService) -> None:
        super().__init__()
        self.memory = memory

    def compose(self) -> ComposeResult:
        yield MemoryPane(self.memory, USER)


def texts(pane: MemoryPane) -> list[str]:
    table = pane.table
    return [str(table.get_row_at(i)[2]) for i in range(table.row_count)]


async def test_lists_filters_edits_and_deletes(service: MemoryService) -> None:
    await service.add("The user likes green tea", user_id=USER, category="food")
    await service.add("The user's cat is called Nabi", user_id=USER, category="pets")
    await service.add("Jane likes coffee", user_id="jane", category="food")
    app = PaneApp(service)
    async with app.run_test() as pilot:
        pane = app.query_one(MemoryPane)
        await settled(pilot, lambda: pane.table.row_count == 2)
        row = pane.table.get_row_at(pane.table.get_row_index(pane.records[0].id))
        assert [str(cell) for cell in row[:2]] == ["fresh", pane.records[0].category]
        assert "2 memories" in str(pane.query_one("#memory-info").render())

        pane.query_one("#memory-filter", Input).focus()
        await pilot.press(*"nabi")
        assert texts(pane) == ["The user's cat is called Nabi"]
        await pilot.press("backspace", "backspace", "backspace", "backspace", *"PETS cat")
        assert texts(pane) == ["The user's cat is called Nabi"]
        pane.query_one("#memory-filter", Input).value = ""
        await pilot.pause()
        assert len(texts(pane)) == 2

        table = pane.query_one(MemoryTable)
        table.focus()
        table.move_cursor(row=texts(pane).index("The user likes green tea"))
        await pilot.press("e")
        assert isinstance(app.screen, EditMemory)
        app.screen.query_one(Input).value = "The user likes oolong tea"
        await pilot.press("enter")
        await settled(pilot, lambda: "The user likes oolong tea" in texts(pane))

        table.move_cursor(row=texts(pane).index("The user's cat is called Nabi"))
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDelete)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert len(await service.list(user_id=USER)) == 2
        table.move_cursor(row=texts(pane).index("The user's cat is called Nabi"))
        await pilot.press("d", "y")
        await settled(pilot, lambda: texts(pane) == ["The user likes oolong tea"])
    stored = [r.text for r in await service.list(user_id=USER)]
    assert stored == ["The user likes oolong tea"]


async def test_refreshes_by_itself_when_memory_changes_elsewhere(service: MemoryService) -> None:
    app = PaneApp(service)
    async with app.run_test() as pilot:
        pane = app.query_one(MemoryPane)
        await settled(
            pilot, lambda: "Nothing remembered" in str(pane.query_one("#memory-info").render())
        )
        await asyncio.sleep(0.05)
        added = await service.add("The user runs on Sundays", user_id=USER, category="sport")
        await settled(pilot, lambda: texts(pane) == ["The user runs on Sundays"])
        await service.delete(added.record.id, user_id=USER)
        await settled(pilot, lambda: texts(pane) == [])


class CountingMemory:
    """Passes every call to the real service, counting how often the pane reads the list."""

    def __init__(self, memory: MemoryService) -> None:
        self._memory = memory
        self.lists = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._memory, name)

    async def list(self, **kwargs: Any) -> Any:
        self.lists += 1
        return await self._memory.list(**kwargs)


def info(pane: MemoryPane) -> str:
    return str(pane.query_one("#memory-info").render())


async def test_an_import_is_one_reload_and_the_table_shows_at_most_max_rows(
    service: MemoryService,
) -> None:
    counting = CountingMemory(service)
    app = PaneApp(counting)  # type: ignore[arg-type]
    async with app.run_test() as pilot:
        pane = app.query_one(MemoryPane)
        await settled(pilot, lambda: "Nothing remembered" in info(pane))
        assert counting.lists == 1
        colours = ("red", "orange", "yellow", "green", "blue", "lilac", "violet")
        items = [
            ImportItem(text=f"memory {i}: {colours[i % 7]}", category="c") for i in range(1000)
        ]
        report = await service.import_items(items, user_id=USER)
        assert report.added == 1000
        await settled(pilot, lambda: len(pane.records) == 1000, timeout_s=15)
        await pilot.pause(pane.refresh_delay_s * 2)
        assert counting.lists == 2  # the whole import: one reload

        assert pane.table.row_count == MAX_ROWS == 500
        assert "showing the first 500 of 1,000 memories (500 more)" in info(pane)

        pane.query_one("#memory-filter", Input).focus()
        await pilot.press(*"GREEN")
        assert pane.table.row_count == len(range(3, 1000, 7)) == 143
        assert "143 of 1,000 memories match" in info(pane)
        assert all("green" in text for text in texts(pane))
        await pilot.press("backspace", "backspace", "backspace", "backspace", "backspace", "l")
        with_l = sum(1 for i in range(1000) if "l" in colours[i % 7])
        assert pane.table.row_count == 500 < with_l
        assert f"showing the first 500 of {with_l} matches ({with_l - 500} more)" in info(pane)
        assert counting.lists == 2  # filtering reads nothing again

        await service.add("Jane likes coffee", user_id="jane")  # another user's change
        await pilot.pause(pane.refresh_delay_s * 2)
        assert counting.lists == 2
