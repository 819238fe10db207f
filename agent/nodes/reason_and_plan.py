"""reason_and_plan: decide whether and how to answer.

A message the user typed is always answered, so that decision costs nothing and the first token
is not delayed. A turn the companion starts on its own (watch mode) has a real choice, and asks
the model with a JSON schema: respond, or stay silent.
"""

from __future__ import annotations

import time
from typing import Literal

from langgraph.runtime import Runtime
from pydantic import BaseModel, Field

from ..context import TurnContext
from ..events import PlanDecided
from ..language import detect_language
from ..llm.structured import complete_json
from ..llm.types import ChatMessage
from ..prompt import history, system_prompt
from ..state import ActionPlan, GraphState

PROACTIVE_INSTRUCTIONS = (
    "You are deciding whether to speak up without being asked. The user did not say anything. "
    "Speak up ('respond') only if what you see calls for a short, useful or friendly remark; "
    "otherwise stay quiet ('silence'). Answer with JSON only."
)


class PlanChoice(BaseModel):
    """The model's decision for an unprompted turn."""

    action: Literal["respond", "silence"]
    reason: str = Field(max_length=120)


async def reason_and_plan(state: GraphState, runtime: Runtime[TurnContext]) -> dict:
    started = time.perf_counter()
    messages = state.get("messages", [])
    last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    spoken = state.get("language")
    # Heard speech carries the language it was recognised in; typed text is told by its script.
    language = spoken if spoken in ("ko", "en") else detect_language(last_user)
    if state.get("trigger", "user") == "user":
        plan = ActionPlan(action="respond", reason="the user spoke", language=language)
    else:
        plan = await _ask_model(state, runtime.context, language)
    elapsed_ms = (time.perf_counter() - started) * 1000
    runtime.stream_writer(PlanDecided(plan["action"], plan["reason"], elapsed_ms))
    return {"action_plan": plan}


async def _ask_model(
    state: GraphState, context: TurnContext, language: Literal["ko", "en"]
) -> ActionPlan:
    settings = context.settings.agent
    prompt: list[ChatMessage] = [
        {"role": "system", "content": system_prompt(state, settings)},
        *history(state.get("messages", []), min(settings.max_history_messages, 8)),
        {"role": "user", "content": PROACTIVE_INSTRUCTIONS},
    ]
    choice, _ = await complete_json(context.router, prompt, PlanChoice, max_tokens=192)
    return ActionPlan(action=choice.action, reason=choice.reason, language=language)


def route_after_plan(state: GraphState) -> Literal["respond", "silence"]:
    plan = state.get("action_plan")
    return "respond" if plan is None or plan["action"] == "respond" else "silence"
