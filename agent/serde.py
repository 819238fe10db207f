"""How checkpoints are (de)serialised: plain data only, and damage reported, not raised raw.

LangGraph's default serializer rebuilds arbitrary Python objects from msgpack extension types
(a module, a name and arguments), so a crafted ``threads.sqlite`` could run code when a
conversation is read. termmate's state is plain data (dicts, lists, strings, numbers), so the
serializer is limited to the types LangGraph itself needs; anything else is left as the plain
data it holds, never constructed. A blob that cannot be read at all becomes CorruptData.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from .errors import CorruptData


class UnreadableCheckpoint(CorruptData):
    """A checkpoint blob that does not deserialise (damaged or not written by termmate)."""


class PlainDataSerializer(JsonPlusSerializer):
    """JsonPlusSerializer with no Python objects rebuilt beyond LangGraph's own safe types,
    no pickle, and damage raised as UnreadableCheckpoint."""

    def __init__(self) -> None:
        super().__init__(
            pickle_fallback=False, allowed_json_modules=None, allowed_msgpack_modules=None
        )

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        try:
            return super().loads_typed(data)
        except Exception as exc:
            raise UnreadableCheckpoint(
                f"its saved state is damaged ({type(exc).__name__}: {exc})"
            ) from exc
