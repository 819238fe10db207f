"""A TEST DOUBLE for an embedding model that a test can stop mid-way (see HoldingEmbedder)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from tests.support.word_embedder import WordOverlapEmbedder


@dataclass
class Hold:
    """One held word: ``entered`` is set when an embedding waits on it, ``release()`` lets it go."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


class HoldingEmbedder(WordOverlapEmbedder):
    """Test double: embeds like WordOverlapEmbedder, but a document embedding of any text that
    holds a word passed to ``hold()`` waits until the test releases it. So a test can have a
    write, or a reindex, stand still in the middle of embedding."""

    def __init__(self, dims: int = 256) -> None:
        super().__init__(dims)
        self._holds: dict[str, Hold] = {}

    def hold(self, word: str) -> Hold:
        hold = self._holds[word] = Hold()
        return hold

    async def embed(self, texts: Sequence[str], kind: str) -> list[list[float]]:
        if kind == "document":
            for word, hold in list(self._holds.items()):
                if any(word in text for text in texts):
                    hold.entered.set()
                    await hold.released.wait()
        return await super().embed(texts, kind)
