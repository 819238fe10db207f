"""The service's requests and responses (pydantic): what /docs and /openapi.json show.

Field names follow the backend PRD's contract (§3); every model carries an example.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.events import MemoryOutcome

MAX_IMAGES = 4
"""Most pictures one chat request may carry."""
MAX_IMAGE_BYTES = 8 * 1024 * 1024
"""Largest picture (decoded) one chat request may carry."""

ModuleState = Literal["ready", "loading", "error", "off"]
"""How one module is doing: ``off`` means not configured, which is not an error."""


def _example(**example: object) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class ChatRequest(BaseModel):
    """One message from a user; the reply continues ``thread_id``, or starts a conversation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"user_id": "alice", "thread_id": None, "message": "지금 화면에 뭐가 보여?"},
                {
                    "user_id": "alice",
                    "thread_id": "t-1a2b3c4d5e",
                    "message": "What is in this picture?",
                    "speak": False,
                    "images": ["data:image/png;base64,iVBORw0KGgo..."],
                },
            ]
        },
    )

    user_id: str = Field(
        description="Whose conversation and memories: 1–64 letters, digits, "
        "'.', '_' or '-', starting with a letter or digit."
    )
    thread_id: str | None = Field(
        None,
        description="A conversation this user started here; null (or left out) starts a new "
        "one. The answer says which id to send next time.",
    )
    message: str | None = Field(
        None,
        description="What the user says (not empty; at most agent.max_message_chars "
        "characters). Send it or audio_b64, not both.",
    )
    audio_b64: str | None = Field(
        None,
        description="What the user says, spoken: a base64 WAV (FLAC, OGG or MP3 also work), "
        "instead of message. It is transcribed first; the answer's `heard` says what was "
        "heard.",
    )
    language: str | None = Field(
        None,
        description="The language spoken in audio_b64 (a Whisper code: ko, en, ...); null: "
        "as [asr] language says (by default detected among [asr] languages).",
    )
    speak: bool | None = Field(
        None,
        description="Synthesise the reply as speech (audio_response_b64). Null: when a voice "
        "is available. False: text only.",
    )
    look: bool | None = Field(
        None,
        description="Capture the server's own screen for this turn. Allowed only when the "
        "server's settings turn sight on ([vision] enabled); null: as they say.",
    )
    images: list[str] | None = Field(
        None,
        description=f"Pictures the front end took itself, for this turn only: base64 PNG or "
        f"JPEG, or data: URIs; at most {MAX_IMAGES}, each at most "
        f"{MAX_IMAGE_BYTES // 1024 // 1024} MB.",
    )

    @model_validator(mode="after")
    def _one_message(self) -> ChatRequest:
        if (self.message is None) == (self.audio_b64 is None):
            raise ValueError("send either message (text) or audio_b64 (speech), exactly one")
        return self


class Heard(BaseModel):
    """What was heard in a spoken message (audio_b64)."""

    model_config = _example(text="지금 화면에 뭐가 보여?", language="ko")

    text: str = Field(description="The words, as the turn's message.")
    language: str = Field(description="The language they were spoken in (ko, en, ...).")


class TranscribeResponse(BaseModel):
    """What an audio file says."""

    model_config = _example(text="지금 화면에 뭐가 보여?", language="ko", duration_s=2.4)

    text: str = Field(description='The words ("" when the audio held no speech).')
    language: str = Field(description="The language spoken (a Whisper code: ko, en, ...).")
    duration_s: float = Field(description="How long the audio is, in seconds.")


class Timings(BaseModel):
    """How long the turn took, in milliseconds from the moment it began."""

    model_config = _example(first_token_ms=212.4, total_ms=1630.2, first_audio_ms=655.0)

    first_token_ms: float | None = Field(description="The first word of the reply.")
    total_ms: float = Field(description="The whole written reply.")
    first_audio_ms: float | None = Field(
        None, description="The first spoken sentence (null when nothing was spoken)."
    )


class ChatResponse(BaseModel):
    """The companion's reply."""

    model_config = _example(
        thread_id="t-1a2b3c4d5e",
        text_response="화면 중앙에 터미널이 열려 있어요.",
        audio_response_b64="UklGRiQAAABXQVZFZm10IBAAAAABAAEA...",
        audio_error=None,
        backend="remote",
        model="Qwen/Qwen2.5-7B-Instruct",
        fallback_reason=None,
        memory="searched",
        stopped=False,
        timings={"first_token_ms": 212.4, "total_ms": 1630.2, "first_audio_ms": 655.0},
    )

    thread_id: str = Field(description="Send this with the next message to continue.")
    text_response: str
    audio_response_b64: str | None = Field(
        description="The whole spoken reply as a base64 WAV; null when it was not spoken."
    )
    audio_error: str | None = Field(
        None, description="Why the reply was not spoken although speech was asked for."
    )
    backend: Literal["remote", "local"] | None = Field(description="Which model answered.")
    model: str | None
    fallback_reason: str | None = Field(
        description="Why the local model answered although a remote one is set."
    )
    memory: MemoryOutcome = Field(
        description="How Search-Before-Act went: searched, not ready, off or failed."
    )
    stopped: bool = Field(
        False,
        description="The reply was stopped (barge-in, shutdown); what was written is "
        "saved, marked stopped.",
    )
    timings: Timings
    heard: Heard | None = Field(
        None, description="What was heard, when the message came as audio_b64."
    )


class ErrorResponse(BaseModel):
    """What went wrong, in words a person can act on."""

    model_config = _example(detail="the message is empty")

    detail: str


class VoiceResponse(BaseModel):
    """The uploaded voice is this user's voice from now on."""

    model_config = _example(
        status="success", message="Voice reference updated successfully.", voice="alice"
    )

    status: Literal["success"]
    message: str
    voice: str = Field(description="The name the user gave the voice.")


class Modules(BaseModel):
    """Each module: ready, loading (downloading or loading a model), error, or off (not
    configured: not an error)."""

    model_config = _example(agent="ready", vlm="off", tts="ready", memory="loading")

    agent: ModuleState = Field(description="The chat model that answers turns.")
    vlm: ModuleState = Field(description="The vision-language model (pictures, the screen).")
    tts: ModuleState = Field(description="The Fish Speech server (spoken replies).")
    memory: ModuleState = Field(description="Long-term memory.")


class HealthResponse(BaseModel):
    """``ok`` when a turn can be answered now."""

    model_config = _example(
        status="ok", modules={"agent": "ready", "vlm": "off", "tts": "ready", "memory": "ready"}
    )

    status: Literal["ok", "error"]
    modules: Modules


class ThreadSummary(BaseModel):
    """One conversation, as ``termmate threads --json`` lists it."""

    model_config = _example(
        id="t-1a2b3c4d5e",
        title="지금 화면에 뭐가 보여?",
        created_at="2025-10-15T09:12:03+00:00",
        updated_at="2025-10-15T09:14:41+00:00",
        turns=3,
    )

    id: str
    title: str
    created_at: str
    updated_at: str
    turns: int


class ThreadList(BaseModel):
    """A user's conversations, the most recent first."""

    model_config = _example(
        threads=[
            {
                "id": "t-1a2b3c4d5e",
                "title": "지금 화면에 뭐가 보여?",
                "created_at": "2025-10-15T09:12:03+00:00",
                "updated_at": "2025-10-15T09:14:41+00:00",
                "turns": 3,
            }
        ]
    )

    threads: list[ThreadSummary]


class ThreadMessage(BaseModel):
    """One message; ``stopped`` appears (true) only on a reply that was cut short."""

    model_config = _example(
        role="assistant",
        content="Hi! How can",
        created_at="2025-10-15T09:12:04+00:00",
        stopped=True,
    )

    role: Literal["user", "assistant"]
    content: str
    created_at: str
    stopped: bool | None = None


class ThreadDetail(BaseModel):
    """One conversation, exactly as ``termmate show --json`` prints it."""

    model_config = _example(
        thread_id="t-1a2b3c4d5e",
        title="Hello",
        messages=[
            {"role": "user", "content": "Hello", "created_at": "2025-10-15T09:12:03+00:00"},
            {
                "role": "assistant",
                "content": "Hi! How can",
                "created_at": "2025-10-15T09:12:04+00:00",
                "stopped": True,
            },
        ],
    )

    thread_id: str
    title: str
    messages: list[ThreadMessage]


class StopResponse(BaseModel):
    """Whether a reply was being written there (and is now stopped and saved)."""

    model_config = _example(stopped=True)

    stopped: bool


class DeleteResponse(BaseModel):
    """The conversation, its checkpoints and its metadata are gone."""

    model_config = _example(deleted="t-1a2b3c4d5e")

    deleted: str
