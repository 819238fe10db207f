"""generate_response: stream the reply, token by token, to the front end."""

from __future__ import annotations

from langgraph.runtime import Runtime

from ..clock import utc_now_iso
from ..context import TurnContext
from ..events import SentenceReady, TextDelta
from ..llm.chat import stream_chat
from ..llm.types import ChatRequest, ModelRouted, Token
from ..prompt import chat_prompt
from ..state import GraphState, Message

UNPROMPTED_NUDGE = (
    "(The user said nothing; you decided to speak up about what you see. "
    "Say it in one or two short sentences.)"
)


async def generate_response(state: GraphState, runtime: Runtime[TurnContext]) -> dict:
    context = runtime.context
    write = runtime.stream_writer
    prompt = chat_prompt(state, context.settings.agent)
    if state.get("trigger", "user") != "user":
        prompt.append({"role": "user", "content": UNPROMPTED_NUDGE})
    request = ChatRequest(
        messages=prompt,
        max_tokens=context.settings.agent.max_reply_tokens,
        temperature=context.settings.agent.temperature,
    )
    speech = context.speech
    parts: list[str] = []
    routed: ModelRouted | None = None
    async for event in stream_chat(context.router, request):
        if isinstance(event, Token):
            parts.append(event.text)
            write(TextDelta(event.text))
            if speech is not None:
                for sentence in speech.feed(event.text):
                    write(SentenceReady(sentence))
        else:
            routed = event
            if event.restarted:
                parts.clear()
                if speech is not None:
                    speech.restart()
            write(event)
    if speech is not None:
        for sentence in speech.close():
            write(SentenceReady(sentence))
    reply = Message(role="assistant", content="".join(parts), created_at=utc_now_iso())
    if routed is not None:
        reply["backend"] = routed.backend
        reply["model"] = routed.model
    return {"messages": [reply]}
