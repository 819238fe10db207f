"""POST /v1/voice: a user uploads a voice sample; their replies are spoken in it from then on.

The sample goes through the same checks and cloning as ``termmate voice add``. Voice names
are shared by everyone on the TTS server, so the name a voice is stored under carries its
user (``u`` + a digest of the user id): one user can never overwrite another's voice.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile

from ._limits import read_upload
from ._models import ErrorResponse, VoiceResponse
from ._service import Service, ServiceDep, check_user_id

router = APIRouter(tags=["voice"])

_PREFIX_LENGTH = len("u0123456789ab-")
MAX_NAME_LENGTH = 64 - _PREFIX_LENGTH
"""Longest name a user may give a voice (the stored name adds the user's prefix)."""
DEFAULT_NAME = "voice"


def stored_name(user_id: str, name: str) -> str:
    """The name ``user_id``'s voice ``name`` is kept under, on the TTS server and on disk."""
    digest = hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:12]
    return f"u{digest}-{name}"


@router.post(
    "/v1/voice",
    response_model=VoiceResponse,
    summary="Upload a voice sample; replies to this user are spoken in it",
    responses={
        400: {
            "model": ErrorResponse,
            "description": "Invalid audio file format: …, or a missing text or bad name",
        },
        413: {"model": ErrorResponse, "description": "Over [server] max_upload_mb"},
        503: {"model": ErrorResponse, "description": "No TTS server"},
    },
)
async def upload_voice(
    audio_file: Annotated[
        UploadFile,
        File(description="3–30 s of one person speaking (WAV; FLAC, OGG or MP3 also work)."),
    ],
    user_id: Annotated[str, Form(description="Whose voice it becomes.")],
    service: ServiceDep,
    name: Annotated[
        str | None,
        Form(
            description=f"What to call it (default {DEFAULT_NAME!r}; "
            f"1–{MAX_NAME_LENGTH} letters, digits, spaces, '-' or '_')."
        ),
    ] = None,
    text: Annotated[
        str | None,
        Form(
            description="Exactly what is said in the sample. Left out: the server's speech "
            "recogniser hears it (400 when it has none)."
        ),
    ] = None,
) -> VoiceResponse:
    """Clone the voice in ``audio_file`` (zero-shot, Fish Speech) and make it ``user_id``'s:
    their spoken replies use it from now on. Other users keep theirs; uploading again
    replaces it."""
    from audio import TTSError, VoiceExists, VoiceSampleError

    check_user_id(user_id)
    voice = service.companion.voice
    if voice is None or not voice.can_synthesise:
        reason = voice.off_reason if voice is not None else None
        raise HTTPException(status_code=503, detail=f"cannot clone voices: {reason or 'no voice'}")
    given = _checked_name(name)
    sample = await read_upload(audio_file, service.settings.server.max_upload_bytes)
    transcript = (text or "").strip() or await _words_in(service, sample)
    stored = stored_name(user_id, given)
    try:
        await voice.clone_voice_from_audio(sample, transcript, stored, replace=True)
    except VoiceSampleError as exc:
        raise HTTPException(
            status_code=400, detail=f"Invalid audio file format: {exc.reason}"
        ) from None
    except VoiceExists as exc:  # replace=True: only a race with another upload gets here
        raise HTTPException(status_code=409, detail=exc.reason) from None
    except TTSError as exc:
        raise HTTPException(
            status_code=503, detail=f"the TTS server could not take the voice: {exc.reason}"
        ) from None
    await asyncio.to_thread(service.companion.user_voices.set, user_id, stored)
    return VoiceResponse(
        status="success", message="Voice reference updated successfully.", voice=given
    )


async def _words_in(service: Service, sample: bytes) -> str:
    """What is said in ``sample``, heard by the server's speech recogniser (a cloned voice
    follows its sample only with the sample's transcript)."""
    from ._hearing import hear

    try:
        heard = await hear(service, sample, None)
    except HTTPException as exc:
        if exc.status_code != 503:
            raise
        raise HTTPException(
            status_code=400,
            detail="the text field is needed: the exact words spoken in audio_file (this "
            f"server has no speech recogniser to hear them: {exc.detail})",
        ) from None
    if not heard.heard_anything:
        raise HTTPException(
            status_code=400, detail="Invalid audio file format: no speech was heard in it"
        )
    return heard.text


def _checked_name(name: str | None) -> str:
    from config import check_voice_name

    if name is None or not name.strip():
        return DEFAULT_NAME
    try:
        cleaned = check_voice_name(name)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=f"invalid voice name: {exc}") from None
    if len(cleaned) > MAX_NAME_LENGTH:
        raise HTTPException(
            status_code=400,
            detail=f"invalid voice name: at most {MAX_NAME_LENGTH} characters here",
        )
    return cleaned
