"""query_memory: search long-term memory before reasoning (Search-Before-Act).

Runs on every turn as a branch from START, joined at reason_and_plan; its hits go into
``state["memories"]``, which the prompt shows the model. It never fails or stalls a turn: when
memory is off, slow or broken, the turn goes on without memories.
"""

from __future__ import annotations

import asyncio
import logging

from langgraph.runtime import Runtime

from ..context import TurnContext
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
    memory = getattr(context, "memory", None)
    query = memory_query(state)
    if memory is None or not memory.usable or not query:
        return {"memories": []}
    settings = context.settings.memory
    user_id = state.get("user_id") or context.settings.user_id
    tools = MemoryTools(memory)
    try:
        result = await asyncio.wait_for(
            tools.search_memory(query, user_id, settings.search_k), settings.search_timeout_s
        )
    except TimeoutError:
        log.warning(
            "memory search took over %.1f s (memory.search_timeout_s); answering without it",
            settings.search_timeout_s,
        )
        return {"memories": []}
    except MemoryStoreError as exc:
        log.info("answering without memories: %s", exc.reason)
        return {"memories": []}
    except Exception:
        log.exception("memory search failed; answering without memories")
        return {"memories": []}
    log.debug(
        "memory search: %d hits, embed %.1f ms, search %.1f ms",
        len(result.hits),
        result.embed_ms,
        result.search_ms,
    )
    return {"memories": [hit.as_state() for hit in result.hits]}
