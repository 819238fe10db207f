"""The remote chat backend: /v1/chat/completions on an OpenAI-compatible server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from config import LLMSettings

from .errors import BadResponse, RequestRejected
from .openai_http import OpenAIClient
from .remote_model import RemoteModel
from .types import ChatRequest, JsonSchema

log = logging.getLogger(__name__)


class RemoteChat(RemoteModel):
    """Streams chat completions from ``[llm] url``; discovers the model when none is set
    (a fallback.RemoteBackend)."""

    def __init__(self, settings: LLMSettings, client: OpenAIClient | None = None) -> None:
        super().__init__(settings, section="llm", max_retries=settings.max_retries, client=client)
        # Servers differ in how they take a JSON schema: OpenAI's json_schema (vLLM, llama.cpp's
        # server) or json_object + schema (llama-cpp-python's server). Learnt on first rejection.
        self._schema_dialect = "json_schema"

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
