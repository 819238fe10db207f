"""Run a graph node on its own, with the runtime LangGraph would give it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime

from agent.clock import utc_now_iso
from agent.state import GraphState, Message
from config import Settings


@dataclass
class NodeContext:
    """What TurnContext holds for these nodes: settings, the model router, the memory."""

    settings: Settings
    router: Any
    memory: Any
    after_reply: Any = None
    """None: update_memory does its work before it returns (as TurnContext's default)."""


async def run_node(node: Any, state: GraphState, context: NodeContext) -> tuple[dict, list]:
    """The node's state update and the events it streamed."""
    events: list[Any] = []
    update = await node(state, Runtime(context=context, stream_writer=events.append))
    return update, events


def turn(user: str, reply: str = "", *, at: str | None = None) -> GraphState:
    messages = [Message(role="user", content=user, created_at=at or utc_now_iso())]
    if reply:
        messages.append(Message(role="assistant", content=reply, created_at=utc_now_iso()))
    return {"messages": messages, "user_id": "minsu", "trigger": "user", "memories": []}
