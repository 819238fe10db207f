"""A TEST DOUBLE for an embedding model: texts that share words get similar vectors.

Real embedding models cannot be downloaded here and the tiny random GGUF gives vectors with no
meaning, so retrieval tests use this: each word adds a fixed pseudo-random direction, so the
cosine similarity of two texts grows with the words they share (and is ~0 when they share none).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)


class WordOverlapEmbedder:
    """Test double: bag-of-words vectors (``dims`` wide) in place of a real embedding model."""

    def __init__(self, dims: int = 256) -> None:
        self.dims = dims
        self.calls = 0
        self.texts: list[str] = []

    @property
    def label(self) -> str:
        return f"test word-overlap embedder ({self.dims}-d)"

    def vector(self, text: str) -> list[float]:
        total = np.zeros(self.dims, dtype=np.float64)
        for word in _WORD.findall(text.lower()):
            seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
            total += np.random.default_rng(seed).standard_normal(self.dims)
        norm = np.linalg.norm(total)
        if norm == 0:
            total[0] = 1.0
            norm = 1.0
        return (total / norm).tolist()

    async def embed(self, texts: Sequence[str], kind: str) -> list[list[float]]:
        self.calls += 1
        self.texts.extend(texts)
        return [self.vector(text) for text in texts]

    async def aclose(self) -> None:
        return None
