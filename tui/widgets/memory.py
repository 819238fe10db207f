"""The memory pane: what termmate remembers about the user, to filter, edit and delete.

Give it the MemoryService (``companion.memory``) and the user id. It lists every memory (tier,
category, text, updated_at), filters as you type, edits with ``e``, deletes with ``d`` after a
confirmation, and refreshes by itself whenever memory changes, from any process.

Stores grow to tens of thousands of memories, so the pane reads them only when they change,
filters the copy it holds as you type, shows at most ``max_rows`` of the matches, and reads
them once per burst of changes (an import of a thousand lines is one refresh, not a thousand).
"""

from __future__ import annotations

import time
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

REFRESH_DELAY_S = 0.5
"""Changes closer together than this are one burst: the pane reads the memories once after it."""
MAX_ROWS = 500
"""Most rows the table shows; the info line says how many more match (narrow the filter)."""


def searchable(record: MemoryRecord) -> str:
    """What the filter looks in: text, category and tier, case-folded."""
    return f"{record.text} {record.category} {record.tier}".casefold()


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

    def __init__(
        self,
        memory: Any,
        user_id: str,
        *,
        id: str | None = "memory",
        max_rows: int = MAX_ROWS,
        refresh_delay_s: float = REFRESH_DELAY_S,
    ) -> None:
        super().__init__(id=id)
        self.memory = memory
        self.user_id = user_id
        self.max_rows = max_rows
        self.refresh_delay_s = refresh_delay_s
        self.records: list[MemoryRecord] = []
        self._haystacks: list[str] = []
        self._shown: list[str] | None = None
        """The ids in the table, in order, to leave it alone when a keystroke changes nothing
        (None: redraw it)."""
        self._refresh_timer: Any = None
        self._last_change = 0.0

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
        if self.memory.status.state == "starting":
            self._info(f"memory is starting: {self.memory.status.detail}…")
        await self.memory.ready()
        try:
            records = await self.memory.list(user_id=self.user_id, tier="all")
        except Exception as exc:
            self._info(f"memory unavailable: {getattr(exc, 'reason', exc)}")
            return
        self._hold(records)
        self.show()

    def _hold(self, records: list[MemoryRecord]) -> None:
        """Keep ``records`` as the ones to filter and show (the table is redrawn next show)."""
        self.records = records
        self._haystacks = [searchable(record) for record in records]
        self._shown = None

    def matching(self) -> tuple[list[MemoryRecord], int]:
        """The first ``max_rows`` memories that fit the filter (every word, case-insensitive,
        in text, category or tier), and how many fit in all."""
        words = self.filter_text.casefold().split()
        if not words:
            return self.records[: self.max_rows], len(self.records)
        found: list[MemoryRecord] = []
        count = 0
        for record, haystack in zip(self.records, self._haystacks, strict=True):
            if all(word in haystack for word in words):
                count += 1
                if count <= self.max_rows:
                    found.append(record)
        return found, count

    def show(self) -> None:
        """Show the memories that fit the filter (from those held: nothing is read again)."""
        shown, count = self.matching()
        ids = [record.id for record in shown]
        if ids != self._shown:
            self._fill(shown)
        self._shown = ids
        total = len(self.records)
        status = self.memory.status
        hint = " · e edit · d delete"
        if not total and status.state in ("off", "error"):
            self._info(f"memory {status.state}: {status.detail}")
        elif not total:
            self._info("Nothing remembered yet.")
        elif count > len(shown):
            what = "memories" if count == total else "matches"
            self._info(
                f"showing the first {len(shown):,} of {count:,} {what} ({count - len(shown):,} "
                f"more): type to narrow{hint}"
            )
        elif count == total:
            self._info(f"{total:,} memories{hint}")
        else:
            self._info(f"{count:,} of {total:,} memories match{hint}")

    def _fill(self, shown: list[MemoryRecord]) -> None:
        table = self.table
        selected = self.selected_id()
        table.clear()
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
        async for change in self.memory.changes():
            if change.user_id == self.user_id:
                self._changed()

    def _changed(self) -> None:
        """Read the memories again once changes stop for ``refresh_delay_s``."""
        self._last_change = time.monotonic()
        if self._refresh_timer is None:
            self._refresh_timer = self.set_timer(self.refresh_delay_s, self._refresh_due)

    def _refresh_due(self) -> None:
        quiet_for = time.monotonic() - self._last_change
        if quiet_for < self.refresh_delay_s:  # the burst goes on: wait for its end
            self._refresh_timer = self.set_timer(
                self.refresh_delay_s - quiet_for, self._refresh_due
            )
            return
        self._refresh_timer = None
        self.reload()

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
            outcome = await self.memory.update(record.id, user_id=self.user_id, text=text)
        except Exception as exc:
            self.notify(f"could not edit: {getattr(exc, 'reason', exc)}", severity="error")
            return
        # Shown at once; the change it announces brings the rest (e.g. the new time) in order.
        self._hold([outcome.record if r.id == record.id else r for r in self.records])
        self.show()

    @work(group="memory-write", exit_on_error=False)
    async def _delete(self, record: MemoryRecord, confirmed: bool | None) -> None:
        if not confirmed:
            return
        try:
            await self.memory.delete(record.id, user_id=self.user_id)
        except Exception as exc:
            self.notify(f"could not delete: {getattr(exc, 'reason', exc)}", severity="error")
            return
        self._hold([r for r in self.records if r.id != record.id])
        self.show()
