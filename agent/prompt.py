"""Turn the graph state into the chat prompt the model sees."""

from __future__ import annotations

from collections.abc import Sequence

from config import AgentSettings

from .llm.types import ChatMessage
from .state import GraphState, Message

LANGUAGE_NAMES = {"ko": "Korean", "en": "English"}


def system_prompt(state: GraphState, agent: AgentSettings) -> str:
    """Persona, then what the companion knows this turn: language, memories, the screen."""
    parts = [agent.system_prompt.strip()]
    plan = state.get("action_plan")
    if plan:
        parts.append(f"Reply in {LANGUAGE_NAMES[plan['language']]}.")
    memories = state.get("memories") or []
    if memories:
        lines = "\n".join(f"- {m['text']}" for m in memories)
        parts.append(f"What you remember about the user (use it when relevant):\n{lines}")
    visual = state.get("visual_context")
    if visual:
        parts.append(f"What is on the user's screen right now:\n{visual}")
    pictures = state.get("pictures_seen")
    if pictures:
        parts.append(f"What the pictures the user sent with this message show:\n{pictures}")
    return "\n\n".join(parts)


def history(
    messages: Sequence[Message], limit: int, max_chars: int | None = None
) -> list[ChatMessage]:
    """The last ``limit`` messages (and at most ``max_chars`` of them), same roles merged.

    Merging keeps strict chat templates happy when a turn was cut off before its reply
    (e.g. the process was killed) and two user messages follow each other.
    """
    recent = list(messages[-limit:])
    if max_chars is not None:
        total = 0
        for index in range(len(recent) - 1, -1, -1):
            total += len(recent[index]["content"])
            if total > max_chars and index < len(recent) - 1:
                recent = recent[index + 1 :]
                break
    merged: list[ChatMessage] = []
    for message in recent:
        content = message["content"]
        if not content.strip():
            continue
        if merged and merged[-1]["role"] == message["role"]:
            merged[-1] = {
                "role": message["role"],
                "content": merged[-1]["content"] + "\n\n" + content,
            }
        else:
            merged.append({"role": message["role"], "content": content})
    while merged and merged[0]["role"] == "assistant":
        merged.pop(0)  # templates expect the conversation to open with the user
    return merged


def chat_prompt(state: GraphState, agent: AgentSettings) -> list[ChatMessage]:
    prompt: list[ChatMessage] = [{"role": "system", "content": system_prompt(state, agent)}]
    prompt += history(
        state.get("messages", []), agent.max_history_messages, agent.max_history_chars
    )
    return prompt
