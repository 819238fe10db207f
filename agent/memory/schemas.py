"""Pydantic schemas: the memory tools' arguments and results, and what the store hands out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .events import Tier
from .timestamps import normalize_utc

TIERS: tuple[Tier, ...] = ("fresh", "old")
TierChoice = Literal["fresh", "old", "all"]

MAX_TEXT_CHARS = 2000
"""Longest memory text."""
MAX_CATEGORY_CHARS = 48
"""Longest category name."""
MAX_QUERY_CHARS = 4000
"""Longest search query (longer ones are cut, not refused: they come from conversations)."""
DEFAULT_CATEGORY = "general"


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _clean_text(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _utc(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize_utc(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 timestamp") from None


class MemoryMetadata(_Schema):
    """What every stored memory carries besides its text."""

    category: str = Field(DEFAULT_CATEGORY, min_length=1, max_length=MAX_CATEGORY_CHARS)
    """A term of the controlled vocabulary (normalised: trimmed, lowercase, single spaces)."""
    updated_at: str | None = None
    """UTC ISO 8601. On writes: when the fact was observed; the newer one wins a conflict."""

    _updated_at = field_validator("updated_at")(lambda cls, v: _utc(v))


class MemoryRecord(_Schema):
    """One memory as the store hands it out."""

    id: str
    text: str
    category: str
    tier: Tier
    updated_at: str
    created_at: str | None = None

    @property
    def metadata(self) -> MemoryMetadata:
        return MemoryMetadata(category=self.category, updated_at=self.updated_at)

    def as_json(self) -> dict[str, Any]:
        """The shape of ``termmate memory list --json``."""
        return {
            "id": self.id,
            "text": self.text,
            "category": self.category,
            "tier": self.tier,
            "updated_at": self.updated_at,
        }


class MemoryHit(MemoryRecord):
    """A memory found by a search, with its similarity to the query."""

    score: float

    def as_json(self) -> dict[str, Any]:
        return {**super().as_json(), "score": round(self.score, 4)}

    def as_state(self) -> dict[str, Any]:
        """The form query_memory puts into ``state["memories"]``."""
        return self.as_json()


# -- the memory tools -------------------------------------------------------------------------


class AddMemoryArgs(_Schema):
    """add_memory(content, user_id, metadata) -> memory_id"""

    content: str = Field(max_length=MAX_TEXT_CHARS)
    user_id: str = Field(min_length=1, max_length=128)
    metadata: MemoryMetadata = Field(default_factory=MemoryMetadata)

    _content = field_validator("content")(lambda cls, v: _clean_text(v))


class AddMemoryResult(_Schema):
    memory_id: str
    created: bool
    """False when the user's memories already held exactly this text (nothing was added)."""


class UpdateMemoryArgs(_Schema):
    """update_memory(memory_id, content=None, metadata=None)"""

    memory_id: str = Field(min_length=1, max_length=64)
    content: str | None = Field(None, max_length=MAX_TEXT_CHARS)
    metadata: MemoryMetadata | None = None

    _content = field_validator("content")(lambda cls, v: None if v is None else _clean_text(v))

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateMemoryArgs:
        if self.content is None and self.metadata is None:
            raise ValueError("give content or metadata to change")
        return self


class UpdateMemoryResult(_Schema):
    memory_id: str
    applied: bool
    """False when the stored memory was newer than this update (the newer one wins)."""
    reason: str | None = None


class DeleteMemoryArgs(_Schema):
    """delete_memory(memory_id)"""

    memory_id: str = Field(min_length=1, max_length=64)


class DeleteMemoryResult(_Schema):
    memory_id: str
    deleted: bool


class SearchMemoryArgs(_Schema):
    """search_memory(query, user_id, k)"""

    query: str
    user_id: str = Field(min_length=1, max_length=128)
    k: int = Field(5, ge=1, le=50)

    @field_validator("query")
    @classmethod
    def _query(cls, value: str) -> str:
        return _clean_text(value)[:MAX_QUERY_CHARS]


class SearchMemoryResult(_Schema):
    hits: list[MemoryHit]
    embed_ms: float = 0.0
    """Time spent embedding the query."""
    search_ms: float = 0.0
    """Time spent searching the store, embedding excluded."""


# -- maintenance -------------------------------------------------------------------------------


class ImportItem(_Schema):
    """One line of an import file (the lines ``termmate memory export`` writes)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    text: str = Field(max_length=MAX_TEXT_CHARS)
    category: str = Field(min_length=1, max_length=MAX_CATEGORY_CHARS)
    updated_at: str | None = None
    tier: Tier | None = None
    id: str | None = Field(None, max_length=64)

    _text = field_validator("text")(lambda cls, v: _clean_text(v))
    _updated_at = field_validator("updated_at")(lambda cls, v: _utc(v))


class ImportReport(_Schema):
    added: int
    skipped: int
    """Lines whose memory was already there (same id, or the same text)."""

    @classmethod
    def total(cls, reports: Sequence[ImportReport]) -> ImportReport:
        """One report for an import that went to the store in parts."""
        return cls(added=sum(r.added for r in reports), skipped=sum(r.skipped for r in reports))


class CleanupReport(_Schema):
    moved: int
    """Memories moved from fresh to old by this run."""
    kept: int
    """Fresh memories updated recently enough to stay fresh."""
    days: int
    cutoff: str


class ReindexReport(_Schema):
    count: int
    dims: int
    model: str


class MemoryStatus(_Schema):
    """What the status pane shows for memory."""

    state: Literal["starting", "ok", "off", "error"]
    detail: str
    role: Literal["owner", "client", "shared", "none"] = "none"
    """Whether this process owns the store, reaches it through the process that does, or
    (in PostgreSQL) opens it as every other process does."""


class AddOutcome(_Schema):
    record: MemoryRecord
    created: bool
    """False when exactly this text was already remembered (the existing memory is returned)."""


class UpdateOutcome(_Schema):
    record: MemoryRecord
    applied: bool
    """False when the stored memory is newer than the change (the newer one wins)."""
    reason: str | None = None
