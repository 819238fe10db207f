"""What every route works with: the one Companion, the settings and the turn slots."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from config import Settings

from ._admission import TurnSlots


@dataclass
class Service:
    """The service's state, one per process (``app.state.service``)."""

    companion: Any
    """The agent.Companion every request goes to."""
    settings: Settings
    slots: TurnSlots
    decoding: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(min(4, os.cpu_count() or 1))
    )
    """Pictures decoded at once. A request decodes its pictures before it waits for a turn
    slot, and a picture may take a few hundred MB while it is decoded: without a bound, many
    requests at once would take the memory (and the CPU gains nothing past its cores)."""
    new_threads: dict[str, str] = field(default_factory=dict)
    """Thread ids this server handed out (id -> user) whose first turn is still running:
    the conversation is not saved yet, but its user may already send the next message."""

    @classmethod
    def of(cls, companion: Any, settings: Settings) -> Service:
        """The service for ``companion``, with ``[server]``'s turn slots."""
        server = settings.server
        slots = TurnSlots(
            server.max_concurrent_turns, server.queue_timeout_s, stop_reply=companion.stop
        )
        return cls(companion, settings, slots)


def service_of(request: Request) -> Service:
    """FastAPI dependency: the service of the app handling ``request``."""
    return request.app.state.service  # type: ignore[no-any-return]


ServiceDep = Annotated[Service, Depends(service_of)]
"""A route's parameter for the service."""


def check_user_id(user_id: str) -> str:
    """``user_id``, or 400 when it is not an id (the thread ids' rule: it names files)."""
    from agent.threads import valid_thread_id

    if not valid_thread_id(user_id):
        raise HTTPException(
            status_code=400,
            detail=f"invalid user_id {_shown(user_id)}: use 1–64 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit",
        )
    return user_id


async def check_thread(service: Service, thread_id: str, user_id: str) -> None:
    """404 unless ``thread_id`` is a conversation of ``user_id`` started here (another
    user's is answered exactly like one that does not exist); 400 for a malformed id."""
    from agent.threads import valid_thread_id

    if not valid_thread_id(thread_id):
        raise HTTPException(
            status_code=400,
            detail=f"invalid thread_id {_shown(thread_id)}: use letters, digits, '.', '_' or "
            "'-' (max 64)",
        )
    if service.new_threads.get(thread_id) == user_id:
        return
    if await service.companion.threads.get(thread_id, user_id=user_id) is None:
        raise not_found(thread_id)


def not_found(thread_id: str) -> HTTPException:
    """The one answer for a conversation that is not the caller's."""
    return HTTPException(
        status_code=404,
        detail=f"no conversation {thread_id!r} for this user; leave thread_id out to start one",
    )


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 70 else text[:69] + "…"
