"""The graph's state: what one conversation (thread) carries from node to node and turn to turn."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langgraph.channels.untracked_value import UntrackedValue

Trigger = Literal["user", "watch"]


class Message(TypedDict):
    """A message as checkpointed: plain data, so threads stay readable without our code."""

    role: Literal["user", "assistant"]
    content: str
    created_at: str
    """UTC ISO 8601."""
    backend: NotRequired[str]
    model: NotRequired[str]
    stopped: NotRequired[bool]
    """The user stopped this reply before it was complete."""


class ActionPlan(TypedDict):
    """What reason_and_plan decided."""

    action: Literal["respond", "silence"]
    reason: str
    language: Literal["ko", "en"]


class GraphState(TypedDict, total=False):
    """State of one thread. ``messages`` accumulates; the rest is set afresh each turn."""

    messages: Annotated[list[Message], operator.add]
    user_id: str
    trigger: Trigger
    look: bool
    language: str | None
    """The language the message was spoken in (speech recognition said so), or None."""
    """Whether the eyes are on for this turn (perceive_environment captures the screen)."""
    visual_context: Annotated[str | None, UntrackedValue(object)]
    """What the screen shows (perceive_environment), or None when the eyes are off.
    Never checkpointed: what was on the screen is not kept once the turn is over."""
    images: Annotated[list[bytes], UntrackedValue(object)]
    """Pictures (JPEG) a front end sent with the message, for the vision model to describe.
    Never checkpointed, like what the screen showed."""
    pictures_seen: Annotated[str | None, UntrackedValue(object)]
    """What those pictures show (perceive_environment), or None. Never checkpointed."""
    memories: Annotated[list[dict[str, Any]], UntrackedValue(object)]
    """Long-term memories found for this turn (query_memory). Never checkpointed: a memory
    the user deletes must not live on in the conversation's history."""
    action_plan: ActionPlan | None
