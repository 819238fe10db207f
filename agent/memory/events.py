"""What memory tells the front ends when it changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

MemoryAction = Literal["added", "updated", "deleted", "moved"]
Tier = Literal["fresh", "old"]
"""Where a memory lives: "fresh" (searched first) or "old" (not updated for memory.fresh_days)."""
Origin = Literal["turn", "user", "cleanup"]
"""Who made a change: the agent after a reply ("turn"), the user through the CLI, the memory
pane or an import ("user"), or a move between tiers ("cleanup")."""
ORIGINS: tuple[Origin, ...] = ("turn", "user", "cleanup")

_VERBS: dict[str, str] = {
    "added": "remembered",
    "updated": "updated memory",
    "deleted": "forgot",
    "moved": "archived",
}


@dataclass(frozen=True, slots=True)
class MemoryChanged:
    """A memory was added, updated, deleted or moved between tiers.

    The chat pane shows it as a quiet line (``describe()``) when ``origin`` is "turn"; the
    memory pane refreshes.
    """

    action: MemoryAction
    memory_id: str
    text: str
    category: str
    tier: Tier
    user_id: str
    origin: Origin

    def describe(self) -> str:
        """The quiet line: "remembered: …", "forgot: …"."""
        if self.action == "moved":
            return f"moved to {self.tier} memories: {self.text}"
        return f"{_VERBS[self.action]}: {self.text}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "memory_id": self.memory_id,
            "text": self.text,
            "category": self.category,
            "tier": self.tier,
            "user_id": self.user_id,
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryChanged:
        return cls(
            action=data["action"],
            memory_id=data["memory_id"],
            text=data["text"],
            category=data["category"],
            tier=data["tier"],
            user_id=data["user_id"],
            origin=data["origin"],
        )
