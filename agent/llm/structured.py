"""Answers that must be JSON: send the schema, constrain the model, validate with pydantic."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from .chat import ChatModels, complete_chat
from .errors import StructuredOutputError
from .types import ChatMessage, ChatRequest, JsonSchema, ModelRouted

T = TypeVar("T", bound=BaseModel)


def schema_for(model: type[BaseModel]) -> JsonSchema:
    """The JSON schema for a pydantic model, inlined (grammar converters dislike $ref)."""
    schema = model.model_json_schema(mode="validation")
    return JsonSchema(name=model.__name__, schema=_inline_refs(schema))


async def complete_json(
    models: ChatModels,
    messages: list[ChatMessage],
    model: type[T],
    *,
    max_tokens: int = 256,
    temperature: float = 0.2,
) -> tuple[T, ModelRouted]:
    """Ask for JSON matching ``model``; return the parsed value and who answered.

    Raises StructuredOutputError (the one error path) when the answer does not validate.
    """
    request = ChatRequest(
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature,
        json_schema=schema_for(model),
    )
    answer, routed = await complete_chat(models, request)
    text = answer.strip()
    shown = text if len(text) <= 200 else text[:200] + "…"
    try:
        # strict=False: llama.cpp's JSON grammar lets raw control characters (a newline, say)
        # into strings; strict JSON parsing would throw away an otherwise valid answer.
        value = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        raise StructuredOutputError(
            f"the {routed.backend} model's answer is not valid JSON for {model.__name__}: "
            f"{exc.msg} at character {exc.pos} (got {shown!r})"
        ) from exc
    try:
        return model.model_validate(value), routed
    except ValidationError as exc:
        raise StructuredOutputError(
            f"the {routed.backend} model's answer is not a valid {model.__name__}: "
            f"{exc.errors()[0]['msg']} (got {shown!r})"
        ) from exc


def _inline_refs(schema: dict) -> dict:
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            # "title" annotations only add tokens; a property named "title" is a dict and stays.
            return {
                k: resolve(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))
            }
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)
