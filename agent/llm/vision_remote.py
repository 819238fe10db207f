"""The remote vision model: /v1/chat/completions with the frame as a base64 data URI."""

from __future__ import annotations

import logging
from typing import Any

from config import VLMSettings
from vision import jpeg_data_uri

from .errors import BadResponse
from .openai_http import OpenAIClient
from .types import BackendName

log = logging.getLogger(__name__)


class RemoteVision:
    """Describes frames with ``[vlm] url`` (vLLM, llama.cpp server, ...); raises ModelError.

    The image goes as an ``image_url`` part holding a ``data:image/jpeg;base64,…`` URI: vLLM
    accepts no other form for local images, and every OpenAI-compatible server takes it.
    """

    name: BackendName = "remote"

    def __init__(
        self, settings: VLMSettings, *, max_tokens: int, client: OpenAIClient | None = None
    ) -> None:
        self.settings = settings
        self.max_tokens = max_tokens
        self.client = client or OpenAIClient(
            settings, section="vlm", max_retries=settings.max_retries
        )
        self._model = settings.model

    @property
    def url(self) -> str:
        return self.client.base_url

    @property
    def label(self) -> str:
        return self._model or "(server default)"

    async def resolve_model(self) -> str:
        """The model to ask for: ``[vlm] model``, else the first one the server lists."""
        if self._model is None:
            models = await self.client.list_models()
            if not models:
                raise BadResponse(f"{self.url}/models lists no models; set TERMMATE_VLM__MODEL")
            self._model = models[0]
        return self._model

    async def describe(self, jpeg: bytes, prompt: str) -> str:
        """The server's answer to ``prompt`` about the JPEG ``jpeg``."""
        body: dict[str, Any] = {
            "model": await self.resolve_model(),
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": jpeg_data_uri(jpeg)}},
                        {"type": "text", "text": prompt},
                    ],
                }
            ],
            "max_tokens": self.max_tokens,
            "temperature": 0.2,
            "stream": False,
        }
        data = await self.client.post_json("/chat/completions", body)
        return _answer_text(data, f"{self.url}/chat/completions")

    async def aclose(self) -> None:
        await self.client.aclose()


def _answer_text(data: Any, where: str) -> str:
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise BadResponse(f"{where} answered without choices[0].message.content") from None
    if isinstance(content, list):  # some servers answer in content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        raise BadResponse(f"{where} answered with content that is not text")
    return content
