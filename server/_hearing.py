"""POST /v1/transcribe, and hearing a spoken chat message (``audio_b64``).

Both go through the companion's ears (agent.ears.Ears: the remote recogniser or the local one,
by the one remote→local policy) and answer their problems alike: 400 for audio that is not
audio, empty or too long, 413 over the upload cap, 503 when no recogniser can listen.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, UploadFile

from ._limits import read_upload
from ._models import ErrorResponse, TranscribeResponse
from ._service import Service, ServiceDep

router = APIRouter(tags=["hearing"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "Invalid audio file format: not audio, empty, or longer than "
        "[listen] max_file_s; or an unknown language",
    },
    413: {"model": ErrorResponse, "description": "Over [server] max_upload_mb"},
    503: {"model": ErrorResponse, "description": "No speech recogniser can listen"},
}


@router.post(
    "/v1/transcribe",
    response_model=TranscribeResponse,
    summary="What an audio file says",
    responses=ERRORS,
)
async def transcribe(
    audio_file: Annotated[
        UploadFile, File(description="Speech: WAV (FLAC, OGG or MP3 also work).")
    ],
    service: ServiceDep,
    language: Annotated[
        str | None,
        Form(description="The language spoken (ko, en, ...); left out: as [asr] language says."),
    ] = None,
) -> TranscribeResponse:
    """Transcribe ``audio_file`` with the server's speech recogniser. Nothing is kept: not the
    audio, not the text. Audio without speech answers an empty ``text``."""
    data = await read_upload(audio_file, service.settings.server.max_upload_bytes)
    heard = await hear(service, data, language)
    return TranscribeResponse(
        text=heard.text, language=heard.language, duration_s=round(heard.duration_s, 3)
    )


async def hear(service: Service, audio: bytes, language: str | None) -> Any:
    """What ``audio`` says (agent.llm.hearing.Transcript); HTTPException for what is wrong."""
    from agent.llm.errors import ModelError, NoModelAvailable
    from agent.llm.hearing import BadAudio

    ears = service.companion.ears
    if ears is None:
        raise HTTPException(status_code=503, detail="hearing is off in this server")
    try:
        return await ears.transcribe(audio, language=language)
    except BadAudio as exc:
        raise HTTPException(
            status_code=400, detail=f"Invalid audio file format: {exc.reason}"
        ) from None
    except NoModelAvailable as exc:
        raise HTTPException(status_code=503, detail=exc.reason) from None
    except ModelError as exc:
        raise HTTPException(
            status_code=503, detail=f"the speech recogniser failed: {exc.reason}"
        ) from None
    except ValueError as exc:  # a language Whisper does not know
        raise HTTPException(status_code=400, detail=str(exc)) from None


async def hear_message(service: Service, audio_b64: str, language: str | None) -> Any:
    """The Transcript of a chat request's ``audio_b64``; 400 when it holds no words (a spoken
    message that said nothing is never an empty turn)."""
    try:
        audio = base64.b64decode("".join(audio_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(
            status_code=400, detail="audio_b64 is not base64 (a WAV file, base64-encoded)"
        ) from None
    heard = await hear(service, audio, language)
    if not heard.heard_anything:
        raise HTTPException(
            status_code=400, detail="no speech was heard in audio_b64; nothing was asked"
        )
    return heard
