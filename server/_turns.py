"""How a chat request becomes a Companion turn, and the turn's events an answer.

``prepare`` checks everything about the request that can be checked before anything runs
(ids, the thread's owner, the message, sight, the pictures) and answers 4xx for what is
wrong. ``slot`` holds one of the service's turn slots for it, ``run`` iterates
``Companion.turn``, and ``Reply`` collects the events into the JSON answer or the stream's
last event.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException

from ._admission import HeldTurn
from ._errors import STORE_RETRY_AFTER
from ._hearing import hear_message
from ._models import MAX_IMAGE_BYTES, MAX_IMAGES, ChatRequest, ChatResponse, Heard, Timings
from ._service import Service, check_thread, check_user_id, not_found

_DATA_URI = re.compile(r"data:image/[A-Za-z0-9.+-]+(;[^,]*)?;base64,", re.ASCII)


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """A checked chat request, ready to run."""

    user_id: str
    thread_id: str
    text: str
    images: tuple[bytes, ...]
    """JPEG, as vision.prepare_picture makes them."""
    look: bool
    speak: bool
    """Synthesise the reply (it is never played here)."""
    speech_off: str | None
    """Why the reply is not synthesised although speech was asked for (None: it was not
    asked for, or it is)."""
    heard: Any = None
    """agent.llm.hearing.Transcript of a spoken message (audio_b64); None for a typed one."""


async def prepare(service: Service, body: ChatRequest) -> TurnRequest:
    """``body`` as a turn; HTTPException (400, 403, 404) for what is wrong with it."""
    from agent.companion import check_turn_input
    from agent.threads import new_thread_id

    settings = service.settings
    user_id = check_user_id(body.user_id)
    if body.thread_id is None:
        thread_id = new_thread_id()  # a client never picks the id of a new conversation
    else:
        thread_id = body.thread_id
        await check_thread(service, thread_id, user_id)
    heard = None
    if body.audio_b64 is not None:
        heard = await hear_message(service, body.audio_b64, body.language)
    text = heard.text if heard is not None else body.message
    try:
        check_turn_input(thread_id, text, settings.agent.max_message_chars)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    if body.look and not settings.vision.enabled:
        raise HTTPException(
            status_code=403,
            detail="look needs sight turned on in the server's own settings ([vision] enabled "
            "= true, or TERMMATE_VISION__ENABLED=true); a caller cannot switch on screen "
            "capture. Send pictures in images instead",
        )
    look = settings.vision.enabled if body.look is None else body.look
    images = await _pictures(body.images or [], service)
    speak, speech_off = _speech(service, body.speak)
    if body.thread_id is None:
        service.new_threads[thread_id] = user_id
    return TurnRequest(user_id, thread_id, text, images, look, speak, speech_off, heard)


def _speech(service: Service, asked: bool | None) -> tuple[bool, str | None]:
    voice = service.companion.voice
    can = voice is not None and voice.can_synthesise
    if asked is False:
        return False, None
    if can:
        return True, None
    if asked is None:
        return False, None  # not asked for: no voice is no error
    return False, (voice.off_reason if voice is not None else None) or "no voice is available"


async def _pictures(encoded: list[str], service: Service) -> tuple[bytes, ...]:
    if len(encoded) > MAX_IMAGES:
        raise HTTPException(
            status_code=400,
            detail=f"{len(encoded)} images; at most {MAX_IMAGES} go with one message",
        )
    return tuple([await _picture(index, text, service) for index, text in enumerate(encoded)])


async def _picture(index: int, text: str, service: Service) -> bytes:
    import vision

    where = f"images[{index}]"
    data = _decode_base64(where, text)
    settings = service.settings.vision
    try:
        # Decoding and shrinking a picture takes milliseconds of CPU: not on the event loop,
        # and only a few at once (Service.decoding).
        async with service.decoding:
            return await asyncio.to_thread(
                vision.prepare_picture,
                data,
                max_side=settings.max_side,
                quality=settings.jpeg_quality,
            )
    except vision.BadPicture as exc:
        raise HTTPException(status_code=400, detail=f"{where}: {exc.reason}") from None


def _decode_base64(where: str, text: str) -> bytes:
    match = _DATA_URI.match(text)
    payload = text[match.end() :] if match else text
    if len(payload) > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        raise HTTPException(
            status_code=400,
            detail=f"{where} is larger than {MAX_IMAGE_BYTES // 1024 // 1024} MB; "
            "send a smaller picture",
        )
    try:
        data = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(
            status_code=400,
            detail=f"{where} is neither base64 nor a data: URI "
            "(e.g. data:image/png;base64,iVBORw0…)",
        ) from None
    if not data:
        raise HTTPException(status_code=400, detail=f"{where} is empty")
    return data


# -- running -----------------------------------------------------------------------------------


async def run(service: Service, turn: TurnRequest, held: HeldTurn) -> AsyncIterator[Any]:
    """The turn's events; ``held`` is its slot (see ``slot``)."""
    from agent.events import TurnStarted
    from agent.threads import ThreadNotFound

    events = service.companion.turn(
        turn.thread_id,
        turn.text,
        user_id=turn.user_id,
        images=turn.images,
        look=turn.look,
        speak=turn.speak,
        keep_audio=turn.speak,  # never played here: synthesised for the answer only
        until_spoken=turn.speak,
        language=turn.heard.language if turn.heard is not None else None,
    )
    try:
        async with contextlib.aclosing(events):
            async for event in events:
                if isinstance(event, TurnStarted):
                    service.slots.started(held)
                yield event
    except ThreadNotFound:
        raise not_found(turn.thread_id) from None
    except ValueError as exc:  # the Companion's own input check (the same as prepare's)
        raise HTTPException(status_code=400, detail=str(exc)) from None


@contextlib.asynccontextmanager
async def slot(service: Service, turn: TurnRequest) -> AsyncIterator[HeldTurn]:
    """Hold a turn slot for ``turn`` (429 when none frees up in time, 503 while shutting
    down); afterwards a new conversation is saved, or never will be."""
    try:
        async with service.slots.slot(turn.thread_id) as held:
            yield held
    finally:
        if service.new_threads.get(turn.thread_id) == turn.user_id:
            del service.new_threads[turn.thread_id]


@dataclass
class Reply:
    """A turn's events, collected into its answer."""

    turn: TurnRequest
    finished: Any = None
    """agent.events.TurnFinished, once the reply is complete (or stopped)."""
    failed: Any = None
    """agent.events.TurnFailed, when the turn could not be answered."""
    spoken: Any = None
    """audio.SpeechResult, once the reply has been synthesised."""
    speech_errors: list[str] = field(default_factory=list)

    def take(self, event: Any) -> None:
        """Note what ``event`` says about the answer."""
        from agent.events import SpeechDone, SpeechFailed, TurnFailed, TurnFinished

        if isinstance(event, TurnFinished):
            self.finished = event
        elif isinstance(event, TurnFailed):
            self.failed = event
        elif isinstance(event, SpeechDone):
            self.spoken = event.result
        elif isinstance(event, SpeechFailed):
            self.speech_errors.append(event.reason)

    @property
    def audio_wav(self) -> bytes | None:
        return getattr(self.spoken, "audio_wav", None) or None

    @property
    def audio_error(self) -> str | None:
        """Why the reply was not spoken although speech was asked for (or tried)."""
        if self.turn.speech_off is not None:
            return self.turn.speech_off
        if not self.turn.speak or self.audio_wav is not None:
            return None
        if self.finished is not None and self.finished.stopped:
            return "the reply was stopped before it was spoken"
        error = getattr(self.spoken, "error", None)
        return error or (self.speech_errors[0] if self.speech_errors else "nothing was spoken")

    def timings(self) -> Timings:
        finished = self.finished
        first_audio = getattr(self.spoken, "first_audio_ms", None)
        return Timings(
            first_token_ms=_round(finished.timings.first_token_ms),
            total_ms=_round(finished.timings.total_ms) or 0.0,
            first_audio_ms=_round(first_audio) if self.audio_wav is not None else None,
        )

    def error(self) -> HTTPException:
        """The HTTP error for a turn that failed, or that ended without an answer."""
        failed = self.failed
        if failed is None:
            return HTTPException(
                status_code=500, detail="Error processing request: the turn ended without a reply"
            )
        if failed.kind == "no_model":
            return HTTPException(status_code=503, detail=failed.message)
        if failed.kind == "unavailable":  # the shared database: worth trying again shortly
            return HTTPException(
                status_code=503, detail=failed.message, headers={"Retry-After": STORE_RETRY_AFTER}
            )
        return HTTPException(status_code=500, detail=f"Error processing request: {failed.message}")

    def response(self) -> ChatResponse:
        """The answer to POST /v1/chat (HTTPException when there is none)."""
        finished = self.finished
        if finished is None:
            raise self.error()
        audio = self.audio_wav
        return ChatResponse(
            thread_id=self.turn.thread_id,
            text_response=finished.text,
            audio_response_b64=base64.b64encode(audio).decode("ascii") if audio else None,
            audio_error=self.audio_error,
            backend=finished.backend,
            model=finished.model,
            fallback_reason=finished.fallback_reason,
            memory=finished.memory,
            stopped=finished.stopped,
            timings=self.timings(),
            heard=self.heard(),
        )

    def heard(self) -> Heard | None:
        """What was heard in a spoken message (None for a typed one)."""
        heard = self.turn.heard
        return None if heard is None else Heard(text=heard.text, language=heard.language)

    def last_event(self) -> tuple[str, dict[str, Any]]:
        """The stream's last event: ``end`` with the answer, or ``error``."""
        finished = self.finished
        if finished is None:
            error = self.error()
            kind = self.failed.kind if self.failed is not None else "internal"
            return "error", {"detail": error.detail, "kind": kind}
        return "end", {
            "text_response": finished.text,
            "timings": self.timings().model_dump(),
            "stopped": finished.stopped,
            "memory": finished.memory,
            "audio_error": self.audio_error,
        }


async def answer(service: Service, turn: TurnRequest) -> ChatResponse:
    """POST /v1/chat: run the turn to its end and answer with the whole reply."""
    reply = Reply(turn)
    async with slot(service, turn) as held:
        async for event in run(service, turn, held):
            reply.take(event)
    return reply.response()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
