"""Settings for the model servers termmate talks to over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_COMPUTE_TYPES = frozenset(
    {
        "default",
        "auto",
        "int8",
        "int8_float32",
        "int8_float16",
        "int8_bfloat16",
        "int16",
        "float16",
        "bfloat16",
        "float32",
    }
)
"""What CTranslate2 accepts as a compute type (``default`` is ours: int8 on CPU, float16 on GPU)."""


class SectionModel(BaseModel):
    """Base of every settings section: unknown keys are errors, so typos never pass silently.

    A key renamed in a release keeps working for one more under its old name (``RENAMED``):
    its value moves to the new name, and the loader tells the user to rename it
    (``config.deprecated_keys``).
    """

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, use_attribute_docstrings=True
    )

    RENAMED: ClassVar[Mapping[str, str]] = {}
    """Old key -> new key, for keys renamed in the last release."""

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, values: Any) -> Any:
        if not cls.RENAMED or not isinstance(values, Mapping):
            return values
        values = dict(values)
        for old, new in cls.RENAMED.items():
            if old not in values:
                continue
            value = values.pop(old)
            values.setdefault(new, value)  # the new name wins when both are given
        return values


class EndpointSettings(SectionModel):
    """An OpenAI-compatible server (vLLM, llama.cpp server, ...)."""

    url: str | None = None
    """Base URL ending in /v1, e.g. http://gpu-box:8000/v1. Unset: no remote server. A
    user:password@ in it is sent as Basic auth (unless api_key is set) and never shown."""
    model: str | None = None
    """Model name to request. Unset: the first model the server lists at /v1/models."""
    api_key: SecretStr | None = None
    """Bearer token, if the server wants one. Never logged or shown."""
    connect_timeout_s: float = Field(3.0, gt=0)
    """Seconds to wait for a TCP connection before calling the server unreachable."""
    timeout_s: float = Field(60.0, gt=0)
    """Seconds to wait for the next byte of a response (between streamed chunks)."""
    retry_remote_after_s: float = Field(30.0, gt=0)
    """In auto mode, after the remote failed and the local model took over: how often a cheap
    request checks whether the remote is back (nothing is sent while the remote is healthy)."""

    @field_validator("url")
    @classmethod
    def _openai_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = value.strip().rstrip("/")
        if not url.startswith(("http://", "https://")) or not url.endswith("/v1"):
            raise ValueError(
                "expected an OpenAI-compatible base URL starting with http:// or https:// "
                "and ending in /v1, e.g. http://gpu-box:8000/v1"
            )
        return url

    @property
    def configured(self) -> bool:
        """Whether a server URL is set."""
        return self.url is not None


class LLMSettings(EndpointSettings):
    """The remote chat model."""

    RENAMED: ClassVar[Mapping[str, str]] = {"probe_interval_s": "retry_remote_after_s"}

    max_retries: int = Field(3, ge=0, le=10)
    """Retries on connection errors, 5xx and 429 (with exponential backoff and jitter)."""
    retry_remote_after_s: float = Field(15.0, gt=0)
    """In auto mode, after the remote failed and the local model took over: how often a cheap
    request checks whether the remote is back (nothing is sent while the remote is healthy).
    Formerly probe_interval_s."""


class LocalSettings(SectionModel):
    """In-process models (llama-cpp-python, faster-whisper) for offline mode and the auto-mode
    fallback."""

    chat_model: str = "hf:bartowski/Qwen2.5-1.5B-Instruct-GGUF/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"
    """A GGUF file path, or hf:OWNER/REPO/FILE.gguf (downloaded once into data_dir/models)."""
    embed_model: str = "hf:jc-lab/multilingual-e5-small-ko-v2-gguf/ggml-model-f16.gguf"
    """The embedding model for long-term memory: a GGUF path or hf:OWNER/REPO/FILE.gguf. The
    default is multilingual-e5-small tuned for Korean and English (384 dimensions, ~240 MB)."""
    n_ctx: int = Field(8192, ge=256)
    """Context window in tokens."""
    n_gpu_layers: int = Field(0, ge=-1)
    """Layers to offload to a GPU (-1: all). 0 runs on the CPU."""
    threads: int | None = Field(None, ge=1)
    """CPU threads for generation. Unset: llama.cpp's own choice."""
    vision_model: str | None = None
    """The local vision-language model (offline sight, auto-mode fallback): a GGUF path or
    hf:OWNER/REPO/FILE.gguf, e.g. Qwen2.5-VL-3B-Instruct. Unset: no local sight."""
    vision_mmproj: str | None = None
    """The vision projector that belongs to vision_model (its mmproj GGUF): a path or
    hf:OWNER/REPO/FILE.gguf. Required when vision_model is set."""
    asr_model: str = "hf:Systran/faster-whisper-small"
    """The in-process speech recogniser (faster-whisper): a CTranslate2 Whisper model folder,
    or hf:OWNER/REPO (the whole repository, downloaded once into data_dir/models). The default,
    Whisper small (multilingual, about 480 MB), is the smallest Whisper that hears Korean well
    (tiny and base make many more mistakes in Korean) and still answers a spoken sentence
    within a second or two on a laptop CPU with int8; medium and large are more accurate but
    several times slower there. Unset (""): no local recogniser."""
    asr_device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where the local recogniser runs: auto (a CUDA GPU when CTranslate2 sees one, else the
    CPU), cpu or cuda."""
    asr_compute_type: str = "default"
    """CTranslate2 compute type of the local recogniser: default (int8 on the CPU, float16 on
    a GPU), or one of int8, int8_float32, int8_float16, int8_bfloat16, int16, float16,
    bfloat16, float32."""

    @field_validator("asr_compute_type")
    @classmethod
    def _compute_type(cls, value: str) -> str:
        kind = value.strip().lower()
        if kind not in _COMPUTE_TYPES:
            raise ValueError(f"expected one of {', '.join(sorted(_COMPUTE_TYPES))}")
        return kind
