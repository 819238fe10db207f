"""The remote embedding model: POST /v1/embeddings on an OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Sequence

from config import EmbedSettings

from .errors import BadResponse
from .remote_model import RemoteModel


class RemoteEmbedder(RemoteModel):
    """``[embed] url`` (vLLM, llama.cpp server, ...): a fallback.RemoteBackend."""

    def __init__(self, settings: EmbedSettings) -> None:
        super().__init__(settings, section="embed", max_retries=settings.max_retries)

    @property
    def label(self) -> str:
        return f"remote {super().label}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        model = await self.resolve_model()
        body = {"model": model, "input": list(texts), "encoding_format": "float"}
        data = await self.client.post_json("/embeddings", body)
        where = f"{self.url}/embeddings"
        try:
            items = sorted(data["data"], key=lambda item: item.get("index", 0))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise BadResponse(f"{where} did not answer with embeddings") from None
        if len(vectors) != len(texts):
            raise BadResponse(f"{where} sent {len(vectors)} embeddings for {len(texts)} texts")
        return vectors
