"""The status pane: mode, the model that answers, and each service's state."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

_STATE_STYLE = {
    "ok": ("●", "green"),
    "active": ("●", "green"),
    "unreachable": ("●", "red"),
    "error": ("●", "red"),
    "loading": ("◌", "yellow"),
    "unknown": ("○", "dim"),
    "off": ("○", "dim"),
    "not_configured": ("○", "dim"),
}
_STATE_WORDS = {"not_configured": "not configured", "unknown": "not checked yet"}


def render_status(status: Any) -> Text:
    """Rich text for a CompanionStatus (kept apart from the widget so it is easy to test)."""
    text = Text()
    text.append("mode ", style="dim")
    text.append(f"{status.mode}\n", style="bold")
    answering = status.answering
    text.append("\nanswering\n", style="dim")
    if answering.backend == "remote":
        text.append(f"remote {answering.model}\n", style="bold")
        text.append(f"{answering.url}\n")
    else:
        text.append(f"local {answering.model}\n", style="bold")
    if answering.last_latency_ms is not None:
        text.append(f"last first-token {answering.last_latency_ms:,.0f} ms\n")
    if answering.fallback_reason:
        text.append("fallback: ", style="yellow")
        text.append(f"{answering.fallback_reason}\n")
    text.append("\nservices\n", style="dim")
    for service in status.services:
        dot, style = _STATE_STYLE.get(service.state, ("○", "dim"))
        text.append(f"{dot} ", style=style)
        text.append(f"{service.name}: ")
        text.append(_STATE_WORDS.get(service.state, service.state), style=style)
        if service.detail:
            text.append(f" ({service.detail})", style="dim")
        text.append("\n")
    return text


class StatusPane(Vertical):
    """Shows the companion's status, and a progress bar while a model downloads."""

    DEFAULT_CSS = """
    StatusPane { height: auto; padding: 0 1 1 1; }
    StatusPane > #download { display: none; }
    StatusPane > #download.active { display: block; }
    """

    def __init__(self) -> None:
        super().__init__(id="status")

    def compose(self):
        from textual.widgets import Label, ProgressBar

        yield Static("starting…", id="status-text")
        yield Label("", id="download-label")
        yield ProgressBar(id="download", show_eta=True)

    def show_status(self, status: Any) -> None:
        self.query_one("#status-text", Static).update(render_status(status))

    def show_download(self, name: str, done: int, total: int | None) -> None:
        from textual.widgets import Label, ProgressBar

        bar = self.query_one("#download", ProgressBar)
        label = self.query_one("#download-label", Label)
        finished = total is not None and done >= total
        bar.set_class(not finished, "active")
        label.update("" if finished else f"downloading {name}")
        bar.update(total=total, progress=done)
