"""The companion as an HTTP service: ``termmate serve`` (FastAPI on uvicorn).

Layer 4 (interface), beside ``tui/``: a second front end over the same ``agent.Companion``,
for desktop apps, web pages and phones, and for many users. It imports ``agent`` and
``config`` (and the senses' picture and voice-sample checks), never ``textual`` or ``tui``.

Importing this package is cheap: FastAPI, uvicorn and the Companion load when ``serve()``
runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._runner import ServeRefused, serve

__all__ = ["ServeRefused", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _runner

        return getattr(_runner, name)
    raise AttributeError(f"module 'server' has no attribute {name!r}")
