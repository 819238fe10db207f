"""The brain: the Companion, its events, the graph and the model backends.

Importing this package is cheap: the Companion (and with it LangGraph) loads on first access,
so a front end can paint before the heavy libraries arrive. Never imports Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .companion import Companion

__all__ = ["Companion"]


def __getattr__(name: str) -> Any:
    if name == "Companion":
        from .companion import Companion

        return Companion
    raise AttributeError(f"module 'agent' has no attribute {name!r}")
