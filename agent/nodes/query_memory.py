"""query_memory: search long-term memory before reasoning (Search-Before-Act).

Runs on every turn as a branch from START, joined at reason_and_plan; its hits go into
``state["memories"]``, which the prompt shows the model. Search-Before-Act holds on every turn,
the first of a process too: a store that is still opening is waited for, bounded by
``memory.search_timeout_s`` (counted once, for opening and searching together). Only when that
runs out, or memory is off or broken, does the turn go on without memories, and it says so with
a MemorySearched event (whose outcome TurnFinished carries to the front ends).
"""

from __future__ import annotations

import asyncio
import logging
import time

from langgraph.runtime import Runtime

from ..context import TurnContext
from ..events import MemorySearched
from ..memory.errors import MemoryStoreError
from ..memory.schemas import MAX_QUERY_CHARS
from ..memory.tools import MemoryTools
from ..state import GraphState

log = logging.getLogger(__name__)


def memory_query(state: GraphState) -> str:
    """What to search with: the user's latest message (for an unprompted turn too).

    The screen is being looked at in parallel, so its description is not known yet here.
    """
    messages = state.get("messages", [])
    last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return last_user.strip()[:MAX_QUERY_CHARS]


async def query_memory(state: GraphState, runtime: Runtime[TurnContext]) -> dict:
    context = runtime.context
    memory = context.memory
    query = memory_query(state)
    if memory is None or not query:
        runtime.stream_writer(MemorySearched("off"))
        return {"memories": []}
    settings = context.settings.memory
    user_id = state.get("user_id") or context.settings.user_id
    started = time.perf_counter()

    def outcome(kind: str, reason: str | None = None, hits: int = 0) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        runtime.stream_writer(MemorySearched(kind, hits, elapsed_ms, reason))  # type: ignore[arg-type]

    try:
        async with asyncio.timeout(settings.search_timeout_s):
            status = await memory.ready()
            if not memory.usable:
                log.info("answering without memories: %s", status.detail)
                outcome("failed", status.detail)
                return {"memories": []}
            result = await MemoryTools(memory).search_memory(query, user_id, settings.search_k)
    except TimeoutError:
        if not memory.started:
            reason = (
                f"the memory store was still opening after {settings.search_timeout_s:g} s "
                "(memory.search_timeout_s)"
            )
            log.warning("answering without memories: %s", reason)
            outcome("not ready", reason)
        else:
            reason = f"the memory search took over {settings.search_timeout_s:g} s"
            log.warning("answering without memories: %s (memory.search_timeout_s)", reason)
            outcome("failed", reason)
        return {"memories": []}
    except MemoryStoreError as exc:
        log.info("answering without memories: %s", exc.reason)
        outcome("failed", exc.reason)
        return {"memories": []}
    except Exception as exc:
        log.exception("memory search failed; answering without memories")
        outcome("failed", f"{type(exc).__name__}: {exc}")
        return {"memories": []}
    log.debug(
        "memory search: %d hits, embed %.1f ms, search %.1f ms",
        len(result.hits),
        result.embed_ms,
        result.search_ms,
    )
    outcome("searched", hits=len(result.hits))
    return {"memories": [hit.as_state() for hit in result.hits]}
