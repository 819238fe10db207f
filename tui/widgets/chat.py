"""The chat pane: the user's turns, the companion's streamed Markdown replies, quiet notices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.widgets import Markdown


class UserMessage(Static):
    """What the user said."""

    DEFAULT_CSS = """
    UserMessage {
        margin: 1 0 0 8;
        padding: 0 1;
        background: $primary 15%;
        border-left: thick $primary;
        color: $text;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__(text, markup=False)
        self.border_title = "you"


class _Line(Static):
    """A line of plain text that takes no room while empty."""

    def __init__(self, text: str, *, classes: str) -> None:
        super().__init__(text, markup=False, classes=classes)
        self.set_class(not text, "empty")

    def show(self, text: str) -> None:
        self.update(text)
        self.set_class(not text, "empty")


class AssistantMessage(Vertical):
    """A reply from the companion: Markdown streamed in, then a quiet line of details."""

    DEFAULT_CSS = """
    AssistantMessage {
        height: auto;
        margin: 1 8 0 0;
        padding: 0 1;
        border-left: thick $success;
        background: $success 8%;
    }
    AssistantMessage Markdown { margin: 0; padding: 0; background: transparent; }
    AssistantMessage .pending { color: $text-muted; text-style: italic; }
    AssistantMessage .meta { color: $text-muted; }
    AssistantMessage .empty { display: none; }
    AssistantMessage.stopped { border-left: thick $warning; }
    AssistantMessage.failed { border-left: thick $error; }
    """

    def __init__(self, text: str = "", *, meta: str = "") -> None:
        super().__init__()
        self._initial = text
        self._meta_text = meta
        self.text = text
        self._stream: Any = None

    def compose(self):
        from textual.widgets import Markdown

        yield Markdown(self._initial)
        pending = "…" if not self._initial and not self._meta_text else ""
        yield _Line(pending, classes="pending")
        yield _Line(self._meta_text, classes="meta")

    @property
    def markdown(self) -> Markdown:
        from textual.widgets import Markdown

        return self.query_one(Markdown)

    async def append(self, fragment: str) -> None:
        """Add streamed text (rendered as Markdown as it arrives)."""
        if self._stream is None:
            from textual.widgets import Markdown

            self.set_pending("")
            self._stream = Markdown.get_stream(self.markdown)
        self.text += fragment
        await self._stream.write(fragment)

    async def restart(self, note: str) -> None:
        """Drop what was streamed so far (the answer starts over, e.g. on another model)."""
        await self.finish_stream()
        self.text = ""
        await self.markdown.update("")
        self.set_pending(note)

    async def finish_stream(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    @property
    def meta_text(self) -> str:
        """The quiet line under the reply (model, timings, stopped)."""
        return str(self.query_one(".meta", _Line).content)

    def set_meta(self, text: str) -> None:
        self.query_one(".meta", _Line).show(text)

    def set_pending(self, text: str) -> None:
        self.query_one(".pending", _Line).show(text)

    async def mark_stopped(self) -> None:
        await self.finish_stream()
        self.add_class("stopped")
        self.set_pending("")

    async def mark_failed(self, message: str) -> None:
        await self.finish_stream()
        self.add_class("failed")
        self.set_pending(message)


class Notice(Static):
    """A quiet line in the conversation (a mode change, something remembered, an error)."""

    DEFAULT_CSS = """
    Notice { margin: 1 0 0 0; color: $text-muted; text-style: italic; }
    Notice.error { color: $error; text-style: none; }
    """

    def __init__(self, text: str, *, error: bool = False) -> None:
        super().__init__(text, markup=False, classes="error" if error else "")


class ChatPane(VerticalScroll):
    """The conversation, newest at the bottom; follows new text unless the user scrolled up."""

    DEFAULT_CSS = """
    ChatPane { height: 1fr; padding: 0 1; scrollbar-size-vertical: 1; }
    ChatPane > #empty { color: $text-muted; margin: 1 0; }
    """

    def on_mount(self) -> None:
        self.anchor()

    async def clear(self, keep: Sequence[Widget] = ()) -> None:
        """Remove every message but those in ``keep``."""
        await self.remove_children([child for child in self.children if child not in keep])

    async def add(self, widget: Any) -> Any:
        await self.mount(widget)
        return widget
