"""The companion's LangGraph: one turn, from the user's words to the reply.

    START ─┬─► perceive_environment ─┐
           └─► query_memory ─────────┴─► reason_and_plan ─┬─► generate_response ─► update_memory
                                                          └─(silence)────────────► update_memory
    update_memory ─► END

Memory is searched before every reasoning step (Search-Before-Act), while the screen is looked
at in parallel; both join at reason_and_plan, so a turn waits for the slower, not the sum.
update_memory runs after the reply, so it never delays it; see DESIGN.md.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from .context import TurnContext
from .nodes import (
    generate_response,
    perceive_environment,
    query_memory,
    reason_and_plan,
    route_after_plan,
    update_memory,
)
from .state import GraphState


def build_graph(checkpointer: Any) -> Any:
    """Compile the turn graph with ``checkpointer`` persisting each thread."""
    graph = StateGraph(GraphState, context_schema=TurnContext)
    graph.add_node("perceive_environment", perceive_environment)
    graph.add_node("query_memory", query_memory)
    graph.add_node("reason_and_plan", reason_and_plan)
    graph.add_node("generate_response", generate_response)
    graph.add_node("update_memory", update_memory)
    graph.add_edge(START, "perceive_environment")
    graph.add_edge(START, "query_memory")
    graph.add_edge(["perceive_environment", "query_memory"], "reason_and_plan")
    graph.add_conditional_edges(
        "reason_and_plan",
        route_after_plan,
        {"respond": "generate_response", "silence": "update_memory"},
    )
    graph.add_edge("generate_response", "update_memory")
    graph.add_edge("update_memory", END)
    return graph.compile(checkpointer=checkpointer)
