"""GET /health: can a turn be answered now, and how is each module doing.

Cheap on purpose: it reads the states the Companion already tracks (its status lines) and
calls no model. ``Companion.recheck()`` lets models known to be down be probed again in the
background, so a server that comes back is seen even when no turn asks for it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ._models import HealthResponse, Modules, ModuleState
from ._service import ServiceDep

router = APIRouter(tags=["health"])

# A status line's state as a module state. "unknown" is a remote not asked yet: it is
# expected to answer until it has failed once.
_LINE_STATE: dict[str, ModuleState] = {
    "ok": "ready",
    "active": "ready",
    "unknown": "ready",
    "loading": "loading",
    "error": "error",
    "unreachable": "error",
    "off": "off",
    "not_configured": "off",
}


@router.get(
    "/health",
    response_model=HealthResponse,
    summary="Whether a turn can be answered, module by module",
    responses={503: {"model": HealthResponse, "description": "The agent cannot answer"}},
)
async def health(service: ServiceDep) -> JSONResponse:
    """200 ``{"status": "ok"}`` when a turn can be answered now; 503 ``{"status": "error"}``
    when the agent cannot answer. Each module is ready, loading (downloading or loading a
    model), error, or off (not configured: not an error). No token needed."""
    companion = service.companion
    companion.recheck()
    modules = modules_of(companion.status(), companion.voice)
    ok = modules.agent == "ready"
    body = HealthResponse(status="ok" if ok else "error", modules=modules)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


def modules_of(status: Any, voice: Any) -> Modules:
    """The four modules from agent.status.CompanionStatus (and the voice, see _tts)."""
    lines = {line.name: line.state for line in status.services}
    return Modules(
        agent=_model_pair(lines, "model", status.mode, needed=True),
        vlm=_model_pair(lines, "vision model", status.mode, needed=False),
        tts=_tts(voice),
        memory=_memory(lines, status.mode),
    )


def _model_pair(lines: dict[str, str], noun: str, mode: str, *, needed: bool) -> ModuleState:
    """One remote/local pair (agent.llm.fallback): ready when the model the mode allows can
    answer. ``needed``: having no model at all is an error (the chat model), else off."""
    remote = lines.get(f"remote {noun}", "not_configured")
    local = lines.get(f"local {noun}", "not_configured")
    # A local model that is configured but not loaded yet says "off": it loads on first use.
    local_state: ModuleState = "ready" if local == "off" else _LINE_STATE.get(local, "error")
    remote_state = _LINE_STATE.get(remote, "error")
    if mode == "online":
        candidates = [remote_state]
    elif mode == "offline":
        candidates = [local_state]
    else:
        candidates = [remote_state, local_state]
    for state in ("ready", "loading", "error"):
        if state in candidates:
            return state  # type: ignore[return-value]
    return "error" if needed else "off"


def _tts(voice: Any) -> ModuleState:
    # The service never plays sound, so the voice's status line says "off" (no playback);
    # what matters here is whether speech can be synthesised.
    if voice is None or not voice.can_synthesise:
        return "off"
    return "error" if voice.status.last_error else "ready"


def _memory(lines: dict[str, str], mode: str) -> ModuleState:
    state = _LINE_STATE.get(lines.get("memory", "off"), "error")
    if state != "ready" or "remote embedding model" not in lines:
        return state
    # This process owns the store: its embedding models must answer too.
    embedder = _model_pair(lines, "embedding model", mode, needed=True)
    return "ready" if embedder == "ready" else embedder
