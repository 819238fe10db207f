"""The graph's nodes, one module each."""

from .generate_response import generate_response
from .reason_and_plan import reason_and_plan, route_after_plan

__all__ = ["generate_response", "reason_and_plan", "route_after_plan"]
