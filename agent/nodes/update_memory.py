"""update_memory: after the reply, remember what the turn said about the user.

One JSON-schema-constrained model call extracts new or changed facts and explicit requests to
forget; each is written after a search (Read-then-Write). Each change reaches the front
ends through MemoryService.changes() (origin "turn": the chat's quiet "remembered …" line).
The work is queued to run after the turn (TurnContext.after_reply), so neither the reply nor
the next message waits for it; its failures are logged, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import time

from langgraph.runtime import Runtime

from ..context import TurnContext
from ..llm.errors import ModelError
from ..memory.errors import MemoryStoreError
from ..memory.extraction import apply_turn_memories, extract_turn_memories
from ..memory.tools import MemoryTools
from ..state import GraphState, Message

log = logging.getLogger(__name__)

# How long a memory update waits for a store that is still opening (it runs after the reply).
_OPEN_WAIT_S = 60.0


def _this_turn(messages: list[Message]) -> tuple[Message | None, str]:
    """The user's last message and the reply that followed it (empty when there was none)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["role"] == "user":
            replies = [m["content"] for m in messages[index + 1 :] if m["role"] == "assistant"]
            return messages[index], "\n".join(replies)
    return None, ""


async def update_memory(state: GraphState, runtime: Runtime[TurnContext]) -> dict:
    context = runtime.context
    memory = getattr(context, "memory", None)
    if memory is None or state.get("trigger", "user") != "user":
        return {}
    user_message, reply = _this_turn(state.get("messages", []))
    if user_message is None or not user_message["content"].strip():
        return {}
    job = _remember(
        context,
        memory,
        user_id=state.get("user_id") or context.settings.user_id,
        user_message=user_message,
        reply=reply,
        found=list(state.get("memories") or []),
    )
    if context.after_reply is not None:
        context.after_reply(job)  # the next message need not wait for this model call
    else:
        await job
    return {}


async def _remember(
    context: TurnContext,
    memory: object,
    *,
    user_id: str,
    user_message: Message,
    reply: str,
    found: list,
) -> None:
    started = time.perf_counter()
    try:
        # After the reply nothing waits for this job, so a store still opening is waited for.
        async with asyncio.timeout(_OPEN_WAIT_S):
            status = await memory.ready()  # type: ignore[attr-defined]
        if not memory.usable:  # type: ignore[attr-defined]
            log.info("not updating memory after this turn: %s", status.detail)
            return
        categories = await memory.categories()  # type: ignore[attr-defined]
        extracted = await extract_turn_memories(
            context.router, user_message["content"], reply, categories, found
        )
        changes = await apply_turn_memories(
            MemoryTools(memory, origin="turn"),
            extracted,
            user_id=user_id,
            observed_at=user_message.get("created_at"),
            user_text=user_message["content"],
            settings=context.settings.memory,
        )
    except TimeoutError:
        log.warning("not updating memory: the store did not open within %.0f s", _OPEN_WAIT_S)
        return
    except (ModelError, MemoryStoreError) as exc:
        log.warning("could not update memory after this turn: %s", exc.reason)
        return
    except Exception:
        log.exception("updating memory after this turn failed")
        return
    log.info(
        "memory updated after the turn in %.0f ms: %d change(s)",
        (time.perf_counter() - started) * 1000,
        len(changes),
    )
