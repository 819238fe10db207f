"""How turns, updates and saved conversations look in the chat and status panes.

The Companion yields typed events; these functions turn them into what the widgets show (the
streamed reply, the quiet line of details under it, notices, the status). Kept apart from the
app, which only decides when to call them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .widgets import AssistantMessage, ChatPane, Notice, StatusPane, UserMessage

if TYPE_CHECKING:
    from textual.widget import Widget

SHOWN_MESSAGES = 60
"""How many messages of a conversation to draw when opening it."""


async def show_event(event: Any, reply: AssistantMessage) -> None:
    """Render one turn event into ``reply``."""
    from agent.events import ModelRouted, TextDelta, TurnFailed, TurnFinished

    if isinstance(event, TextDelta):
        await reply.append(event.text)
    elif isinstance(event, ModelRouted):
        if event.restarted:
            await reply.restart(
                f"remote lost mid-reply ({event.fallback_reason}); answering locally…"
            )
        reply.set_meta(route_line(event.backend, event.model, event.fallback_reason))
    elif isinstance(event, TurnFinished):
        await reply.finish_stream()
        reply.set_meta(finished_line(event) + (" · stopped" if event.stopped else ""))
        if event.action == "silence":
            reply.set_pending("(nothing to say)")
    elif isinstance(event, TurnFailed):
        await reply.mark_failed(event.message)


async def show_unprompted(events: AsyncIterator[Any], chat: ChatPane) -> None:
    """Render watch mode's unprompted turns: a reply appears only when the plan is to speak."""
    from agent.events import PlanDecided, TurnFinished

    reply: AssistantMessage | None = None
    async for event in events:
        if isinstance(event, PlanDecided) and event.action == "respond":
            reply = await chat.add(AssistantMessage(meta="speaking up unasked"))
        elif reply is not None and reply.is_attached:
            await show_event(event, reply)
        if isinstance(event, TurnFinished):
            reply = None


async def show_update(update: Any, chat: ChatPane, status: StatusPane) -> None:
    """Render what changed between turns: status, downloads, memory the companion changed,
    speech that failed."""
    from agent.events import MemoryChanged, ModelDownload, SpeechFailed, StatusChanged

    if isinstance(update, StatusChanged):
        status.show_status(update.status)
    elif isinstance(update, MemoryChanged) and update.origin == "turn":
        # What the companion itself remembered or forgot after a reply; edits made in the
        # memory pane or with `termmate memory` show in the pane, not here.
        await chat.add(Notice(update.describe()))
    elif isinstance(update, SpeechFailed):
        await chat.add(Notice(f"voice: {update.reason}", error=True))
    elif isinstance(update, ModelDownload):
        status.show_download(update.name, update.done, update.total)


def conversation_widgets(thread_id: str, messages: list[Any]) -> list[Widget]:
    """The last SHOWN_MESSAGES messages of a conversation, with a note on what is left out."""
    widgets: list[Widget] = []
    hidden = len(messages) - SHOWN_MESSAGES
    if hidden > 0:
        widgets.append(
            Notice(f"… {hidden} earlier messages (termmate show {thread_id} prints them all)")
        )
    widgets += [message_widget(m) for m in messages[-SHOWN_MESSAGES:]]
    if not messages:
        widgets.append(Notice(f"New conversation ({thread_id}). Say hello!"))
    return widgets


def message_widget(message: dict[str, Any]) -> Widget:
    """A saved message as the chat pane shows it (a stopped reply says so)."""
    if message["role"] == "user":
        return UserMessage(message["content"])
    meta = message.get("model", "")
    if message.get("stopped"):
        meta = f"{meta} · stopped" if meta else "stopped"
    widget = AssistantMessage(message["content"], meta=meta)
    if message.get("stopped"):
        widget.add_class("stopped")
    return widget


def route_line(backend: str, model: str, fallback_reason: str | None) -> str:
    """The details line while a reply streams: which model answers, and why if in fallback."""
    line = f"{backend} · {model}"
    return f"{line} · fallback: {fallback_reason}" if fallback_reason else line


def finished_line(event: Any) -> str:
    """The details line of a finished reply: model, memory, first token, total, fallback."""
    parts = [event.backend or "", event.model or ""]
    timings = event.timings
    if event.memory != "off":
        parts.append(f"memory {event.memory}")
    if timings.first_token_ms is not None:
        parts.append(f"first token {timings.first_token_ms:,.0f} ms")
    parts.append(f"{timings.total_ms / 1000:,.1f} s")
    if event.fallback_reason:
        parts.append(f"fallback: {event.fallback_reason}")
    return " · ".join(p for p in parts if p)
