"""POST /v1/chat, POST /v1/chat/stream and POST /v1/threads/{thread_id}/stop."""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from . import _sse
from ._admission import HeldTurn
from ._errors import unexpected_detail
from ._models import ChatRequest, ChatResponse, ErrorResponse, StopResponse
from ._service import Service, ServiceDep, check_thread, check_user_id
from ._turns import Reply, TurnRequest, answer, prepare, run, slot

log = logging.getLogger(__name__)

router = APIRouter(tags=["chat"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "A bad id, an empty or too long message, a picture that is not a PNG "
        "or JPEG, audio_b64 that is not audio or holds no speech",
    },
    403: {"model": ErrorResponse, "description": "look without sight on in the server's settings"},
    404: {"model": ErrorResponse, "description": "No such conversation for this user"},
    413: {"model": ErrorResponse, "description": "The body is over [server] max_upload_mb"},
    429: {"model": ErrorResponse, "description": "Every turn slot is busy (see Retry-After)"},
}


@router.post(
    "/v1/chat",
    response_model=ChatResponse,
    summary="Send a message, get the whole reply",
    responses={
        **_ERRORS,
        500: {"model": ErrorResponse, "description": "Error processing request: …"},
        503: {
            "model": ErrorResponse,
            "description": "No model can answer; detail says what to set",
        },
    },
)
async def chat(body: ChatRequest, service: ServiceDep) -> ChatResponse:
    """Run one turn: the companion searches its memory, looks at the pictures (or the screen),
    answers, and, when a voice is available and ``speak`` is not false, speaks the reply as
    one WAV. Multi-turn context comes from the saved conversation: send only the new message,
    with the ``thread_id`` of the previous answer."""
    turn = await prepare(service, body)
    return await answer(service, turn)


@router.post(
    "/v1/chat/stream",
    summary="Send a message, get the reply as server-sent events",
    description=_sse.DESCRIPTION,
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The turn as server-sent events",
            "content": {_sse.MEDIA_TYPE: {"example": _sse.EXAMPLE}},
        },
        **_ERRORS,
    },
)
async def chat_stream(body: ChatRequest, service: ServiceDep) -> StreamingResponse:
    turn = await prepare(service, body)
    resources = contextlib.AsyncExitStack()
    held = await resources.enter_async_context(slot(service, turn))  # 429: still HTTP
    events = _events(service, turn, held)
    return _TurnStream(events, cleanup=lambda: _close(events, resources))


async def _events(service: Service, turn: TurnRequest, held: HeldTurn) -> AsyncIterator[bytes]:
    from agent.events import ModelRouted, SentenceAudio, TextDelta

    heard = Reply(turn).heard()
    if heard is not None:  # a spoken message: what was heard comes first
        yield _sse.encode("heard", heard.model_dump())
    yield _sse.encode("start", {"thread_id": turn.thread_id})
    reply = Reply(turn)
    try:
        async for event in run(service, turn, held):
            reply.take(event)
            if isinstance(event, TextDelta):
                yield _sse.encode("token", {"text": event.text})
            elif isinstance(event, ModelRouted):
                yield _sse.encode("routed", _routed(event))
            elif isinstance(event, SentenceAudio):
                yield _sse.encode("audio", _audio(event))
    except HTTPException as exc:  # the response has begun: errors become the last event
        kind = "not_found" if exc.status_code == 404 else "internal"
        yield _sse.encode("error", {"detail": exc.detail, "kind": kind})
        return
    except Exception as exc:
        log.error("a streamed turn failed", exc_info=exc)
        yield _sse.encode("error", {"detail": unexpected_detail(exc), "kind": "internal"})
        return
    yield _sse.encode(*reply.last_event())


def _routed(event: Any) -> dict[str, Any]:
    return {
        "backend": event.backend,
        "model": event.model,
        "fallback_reason": event.fallback_reason,
        "restarted": event.restarted,
    }


def _audio(event: Any) -> dict[str, Any]:
    return {
        "sequence": event.index,
        "text": event.text,
        "audio_b64": base64.b64encode(event.wav).decode("ascii"),
    }


async def _close(events: AsyncIterator[bytes], resources: contextlib.AsyncExitStack) -> None:
    try:
        await events.aclose()  # type: ignore[attr-defined]
    finally:
        await resources.aclose()


class _TurnStream(StreamingResponse):
    """An event stream that gives its turn slot back however it ends: finished, the client
    gone (the reply is stopped and saved), or never started at all."""

    def __init__(
        self, content: AsyncIterator[bytes], *, cleanup: Callable[[], Awaitable[None]]
    ) -> None:
        super().__init__(content, media_type=_sse.MEDIA_TYPE, headers=_sse.HEADERS)
        self._cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._cleanup()


@router.post(
    "/v1/threads/{thread_id}/stop",
    response_model=StopResponse,
    tags=["threads"],
    summary="Stop the reply being written on a conversation",
    responses={400: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)
async def stop(
    thread_id: str,
    user_id: Annotated[str, Query(description="Whose conversation it is.")],
    service: ServiceDep,
) -> StopResponse:
    """Barge-in from another connection (a front end's stop button): the reply being written
    stops, what was written is saved marked stopped, and its own request ends with it
    (``stopped: true``). ``stopped`` is false when no reply was being written."""
    check_user_id(user_id)
    await check_thread(service, thread_id, user_id)
    return StopResponse(stopped=service.slots.stop(thread_id))
