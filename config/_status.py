"""How one service is doing, as the status pane (and `termmate serve`'s /health) shows it.

Every part of termmate that can be up, down, loading or off — a model router, memory, the eyes,
the voice — reports its own ServiceStatus; front ends only render them. It lives here, in the
bottom layer, so the senses (vision, audio) can report theirs without importing the agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ServiceState = Literal[
    "ok", "unreachable", "not_configured", "off", "unknown", "loading", "error", "active"
]


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One service: ``ok``, ``unreachable`` (with ``detail`` saying why), ``not_configured`` …"""

    name: str
    state: ServiceState
    detail: str | None = None
