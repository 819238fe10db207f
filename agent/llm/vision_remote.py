"""The remote vision model: /v1/chat/completions with the frame as a base64 data URI."""

from __future__ import annotations

import logging
from typing import Any

from config import VLMSettings
from vision import jpeg_data_uri

from .errors import BadResponse
from .openai_http import OpenAIClient
from .remote_model import RemoteModel

log = logging.getLogger(__name__)


class RemoteVision(RemoteModel):
    """Describes frames with ``[vlm] url`` (vLLM, llama.cpp server, ...); raises ModelError.

    The image goes as an ``image_url`` part holding a ``data:image/jpeg;base64,…`` URI: vLLM
    accepts no other form for local images, and every OpenAI-compatible server takes it.
    """

    def __init__(
        self, settings: VLMSettings, *, max_tokens: int, client: OpenAIClient | None = None
    ) -> None:
        super().__init__(settings, section="vlm", max_retries=settings.max_retries, client=client)
        self.max_tokens = max_tokens

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
