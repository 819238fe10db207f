"""The memory pane, driven with Textual's Pilot over a real store."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from textual.widgets import Input

from agent.memory.service import MemoryService
from tests.memory.conftest import USER
from tui.widgets.memory import ConfirmDelete, EditMemory, MemoryPane, MemoryTable


class PaneApp(App[None]):
    def __init__(self, memory: MemoryService) -> None:
        super().__init__()
        self.memory = memory

    def compose(self) -> ComposeResult:
        yield MemoryPane(self.memory, USER)


def texts(pane: MemoryPane) -> list[str]:
    table = pane.table
    return [str(table.get_row_at(i)[2]) for i in range(table.row_count)]


async def until(pilot, condition, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


async def test_lists_filters_edits_and_deletes(service: MemoryService) -> None:
    await service.add("The user likes green tea", user_id=USER, category="food")
    await service.add("The user's cat is called Nabi", user_id=USER, category="pets")
    await service.add("Jane likes coffee", user_id="jane", category="food")
    app = PaneApp(service)
    async with app.run_test() as pilot:
        pane = app.query_one(MemoryPane)
        await until(pilot, lambda: pane.table.row_count == 2)
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
        await until(pilot, lambda: "The user likes oolong tea" in texts(pane))

        table.move_cursor(row=texts(pane).index("The user's cat is called Nabi"))
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmDelete)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert len(await service.list(user_id=USER)) == 2
        table.move_cursor(row=texts(pane).index("The user's cat is called Nabi"))
        await pilot.press("d", "y")
        await until(pilot, lambda: texts(pane) == ["The user likes oolong tea"])
    stored = [r.text for r in await service.list(user_id=USER)]
    assert stored == ["The user likes oolong tea"]


async def test_refreshes_by_itself_when_memory_changes_elsewhere(service: MemoryService) -> None:
    app = PaneApp(service)
    async with app.run_test() as pilot:
        pane = app.query_one(MemoryPane)
        await until(
            pilot, lambda: "Nothing remembered" in str(pane.query_one("#memory-info").render())
        )
        await asyncio.sleep(0.05)
        added = await service.add("The user runs on Sundays", user_id=USER, category="sport")
        await until(pilot, lambda: texts(pane) == ["The user runs on Sundays"])
        await service.delete(added.record.id, user_id=USER)
        await until(pilot, lambda: texts(pane) == [])
