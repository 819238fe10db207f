"""The graph's nodes, one module each."""

from .generate_response import generate_response
from .perceive_environment import perceive_environment
from .query_memory import query_memory
from .reason_and_plan import reason_and_plan, route_after_plan
from .update_memory import update_memory

__all__ = [
    "generate_response",
    "perceive_environment",
    "query_memory",
    "reason_and_plan",
    "route_after_plan",
    "update_memory",
]
