"""The memory pane: what termmate remembers about the user, to filter, edit and delete.

Give it the MemoryService (``companion.memory``) and the user id. It lists every memory (tier,
category, text, updated_at), filters as you type, edits with ``e``, deletes with ``d`` after a
confirmation, and refreshes by itself whenever memory changes, from any process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static

if TYPE_CHECKING:
    from agent.memory.schemas import MemoryRecord

_REFRESH_DELAY_S = 0.2


def matches(record: MemoryRecord, needle: str) -> bool:
    """Whether a memory fits the filter (every word, case-insensitive, in text or category)."""
    haystack = f"{record.text} {record.category} {record.tier}".casefold()
    return all(word in haystack for word in needle.casefold().split())


class MemoryTable(DataTable):
    """The list; ``e`` and ``d`` act on the highlighted memory."""

    BINDINGS = [
        Binding("e", "edit", "Edit", id="memory_edit"),
        Binding("d", "delete", "Delete", id="memory_delete"),
    ]

    def action_edit(self) -> None:
        self.post_message(MemoryPane.Act("edit"))

    def action_delete(self) -> None:
        self.post_message(MemoryPane.Act("delete"))


class EditMemory(ModalScreen[str | None]):
    """Change a memory's text: Enter saves, Escape cancels."""

    DEFAULT_CSS = """
    EditMemory { align: center middle; }
    EditMemory > Vertical {
        width: 80%; max-width: 100; height: auto; border: round $primary; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, record: MemoryRecord) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Edit memory [{self.record.category}] · Enter saves, Esc cancels")
            yield Input(self.record.text, id="memory-edit-text")

    @on(Input.Submitted)
    def _save(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        self.dismiss(text if text and text != self.record.text else None)


class ConfirmDelete(ModalScreen[bool]):
    """Ask before forgetting a memory: y forgets, n or Escape keeps it."""

    DEFAULT_CSS = """
    ConfirmDelete { align: center middle; }
    ConfirmDelete > Vertical {
        width: 80%; max-width: 100; height: auto; border: round $error; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("y", "dismiss(True)", "Forget"),
        Binding("n,escape", "dismiss(False)", "Keep"),
    ]

    def __init__(self, record: MemoryRecord) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Forget this memory?  y: forget · n: keep")
            yield Static(self.record.text, markup=False)


class MemoryPane(Vertical):
    """Every memory of one user, newest first, kept up to date."""

    DEFAULT_CSS = """
    MemoryPane { height: 1fr; padding: 0 1; }
    MemoryPane > #memory-filter { margin: 0 0 1 0; }
    MemoryPane > MemoryTable { height: 1fr; }
    MemoryPane > #memory-info { color: $text-muted; height: auto; }
    """

    class Act(Message):
        """The table asks the pane to edit or delete the highlighted memory."""

        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

    def __init__(self, memory: Any, user_id: str, *, id: str | None = "memory") -> None:
        super().__init__(id=id)
        self.memory = memory
        self.user_id = user_id
        self.records: list[MemoryRecord] = []
        self._refresh_timer: Any = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Filter memories…", id="memory-filter")
        table = MemoryTable(id="memory-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("tier", "category", "memory", "updated")
        yield table
        yield Static("loading…", id="memory-info", markup=False)

    @property
    def table(self) -> MemoryTable:
        return self.query_one(MemoryTable)

    @property
    def filter_text(self) -> str:
        return self.query_one("#memory-filter", Input).value

    def on_mount(self) -> None:
        self.reload()
        self._follow_changes()

    # -- loading and showing ------------------------------------------------------------------

    @work(exclusive=True, group="memory-load", exit_on_error=False)
    async def reload(self) -> None:
        """Read the memories again and redraw (keeps the filter and the highlighted row)."""
        try:
            self.records = await self.memory.list(user_id=self.user_id, tier="all")
        except Exception as exc:
            self._info(f"memory unavailable: {getattr(exc, 'reason', exc)}")
            return
        self.show()

    def show(self) -> None:
        table = self.table
        selected = self.selected_id()
        table.clear()
        shown = [r for r in self.records if matches(r, self.filter_text)]
        for record in shown:
            tier_style = "green" if record.tier == "fresh" else "dim"
            table.add_row(
                Text(record.tier, style=tier_style),
                Text(record.category, style="cyan"),
                Text(record.text),
                Text(record.updated_at.replace("T", " ")[:16], style="dim"),
                key=record.id,
            )
        if selected is not None and any(r.id == selected for r in shown):
            table.move_cursor(row=table.get_row_index(selected))
        total = len(self.records)
        if not total:
            self._info("Nothing remembered yet.")
        elif len(shown) == total:
            self._info(f"{total} memories · e edit · d delete")
        else:
            self._info(f"{len(shown)} of {total} memories match · e edit · d delete")

    def _info(self, text: str) -> None:
        self.query_one("#memory-info", Static).update(text)

    def selected_id(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return key.value

    def selected(self) -> MemoryRecord | None:
        selected = self.selected_id()
        return next((r for r in self.records if r.id == selected), None)

    @on(Input.Changed, "#memory-filter")
    def _filter(self) -> None:
        self.show()

    # -- live refresh ---------------------------------------------------------------------------

    @work(group="memory-changes", exit_on_error=False)
    async def _follow_changes(self) -> None:
        async for _ in self.memory.changes():
            if self._refresh_timer is not None:
                self._refresh_timer.stop()
            self._refresh_timer = self.set_timer(_REFRESH_DELAY_S, self.reload)

    # -- edit and delete ------------------------------------------------------------------------

    @on(Act)
    async def _act(self, message: Act) -> None:
        record = self.selected()
        if record is None:
            return
        if message.action == "edit":
            self.app.push_screen(EditMemory(record), lambda text: self._edit(record, text))
        else:
            self.app.push_screen(ConfirmDelete(record), lambda yes: self._delete(record, yes))

    @work(group="memory-write", exit_on_error=False)
    async def _edit(self, record: MemoryRecord, text: str | None) -> None:
        if not text:
            return
        try:
            await self.memory.update(record.id, user_id=self.user_id, text=text)
        except Exception as exc:
            self.notify(f"could not edit: {getattr(exc, 'reason', exc)}", severity="error")
            return
        self.reload()

    @work(group="memory-write", exit_on_error=False)
    async def _delete(self, record: MemoryRecord, confirmed: bool | None) -> None:
        if not confirmed:
            return
        try:
            await self.memory.delete(record.id, user_id=self.user_id)
        except Exception as exc:
            self.notify(f"could not delete: {getattr(exc, 'reason', exc)}", severity="error")
            return
        self.reload()
