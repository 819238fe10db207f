"""The companion's LangGraph: one turn, from the user's words to the reply.

    START ─► reason_and_plan ─┬─► generate_response ─► END
                              └─(silence)───────────► END

perceive_environment and query_memory join as parallel branches from START (fan-in at
reason_and_plan), and update_memory runs after the reply; see DESIGN.md.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from .context import TurnContext
from .nodes import generate_response, reason_and_plan, route_after_plan
from .state import GraphState


def build_graph(checkpointer: Any) -> Any:
    """Compile the turn graph with ``checkpointer`` persisting each thread."""
    graph = StateGraph(GraphState, context_schema=TurnContext)
    graph.add_node("reason_and_plan", reason_and_plan)
    graph.add_node("generate_response", generate_response)
    graph.add_edge(START, "reason_and_plan")
    graph.add_conditional_edges(
        "reason_and_plan", route_after_plan, {"respond": "generate_response", "silence": END}
    )
    graph.add_edge("generate_response", END)
    return graph.compile(checkpointer=checkpointer)
