"""The remote chat backend: /v1/chat/completions on an OpenAI-compatible server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from config import LLMSettings

from .errors import BadResponse, RequestRejected
from .openai_http import OpenAIClient
from .types import BackendName, ChatRequest, JsonSchema

log = logging.getLogger(__name__)


class RemoteChat:
    """Streams chat completions from ``[llm] url``; discovers the model when none is set."""

    name: BackendName = "remote"

    def __init__(self, settings: LLMSettings, client: OpenAIClient | None = None) -> None:
        self.settings = settings
        self.client = client or OpenAIClient(
            settings, section="llm", max_retries=settings.max_retries
        )
        self._model = settings.model
        # Servers differ in how they take a JSON schema: OpenAI's json_schema (vLLM, llama.cpp's
        # server) or json_object + schema (llama-cpp-python's server). Learnt on first rejection.
        self._schema_dialect = "json_schema"

    @property
    def url(self) -> str:
        return self.client.base_url

    @property
    def model_label(self) -> str:
        return self._model or "(server default)"

    async def resolve_model(self) -> str:
        """The model to ask for: ``[llm] model``, else the first one the server lists."""
        if self._model is None:
            models = await self.client.list_models()
            if not models:
                raise BadResponse(f"{self.url}/models lists no models; set TERMMATE_LLM__MODEL")
            self._model = models[0]
        return self._model

    async def probe(self) -> None:
        """One cheap request (GET /v1/models, no retries) that raises when the server is not up."""
        await self.client.list_models(retries=0)

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        model = await self.resolve_model()
        body: dict[str, Any] = {
            "model": model,
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.json_schema is not None:
            body["response_format"] = self._response_format(request.json_schema)
        try:
            events = self.client.stream_events("/chat/completions", body)
            async for text in _deltas(events):
                yield text
        except RequestRejected as exc:
            if request.json_schema is None or self._schema_dialect != "json_schema":
                raise
            # vLLM-style servers answer 400/422; llama-cpp-python's a 500 naming the field.
            if exc.status_code not in (400, 422) and "response_format" not in exc.reason:
                raise
            log.info("server rejected response_format json_schema; trying json_object + schema")
            self._schema_dialect = "json_object"
            body["response_format"] = self._response_format(request.json_schema)
            async for text in _deltas(self.client.stream_events("/chat/completions", body)):
                yield text

    def _response_format(self, schema: JsonSchema) -> dict[str, Any]:
        if self._schema_dialect == "json_object":
            return {"type": "json_object", "schema": schema.schema}
        return {
            "type": "json_schema",
            "json_schema": {"name": schema.name, "schema": schema.schema, "strict": True},
        }

    async def aclose(self) -> None:
        await self.client.aclose()


async def _deltas(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[str]:
    async for event in events:
        try:
            choice = event["choices"][0] if event.get("choices") else None
        except (TypeError, KeyError):
            raise BadResponse("a stream event has no choices") from None
        if choice is None:
            continue  # usage-only events
        delta = choice.get("delta") or {}
        text = delta.get("content")
        if text:
            yield text
