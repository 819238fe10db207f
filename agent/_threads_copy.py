"""Saving a conversation's checkpoints, read from one store, into another.

Through the checkpointer, not table to table: the two backends lay checkpoints out
differently (one blob per checkpoint in SQLite, a blob per channel version in PostgreSQL),
and each checkpointer knows its own layout. Every checkpoint and write has its own key and
saving it again replaces it with itself, so copying twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


async def put_checkpoints(checkpointer: Any, checkpoints: Iterable[Any]) -> None:
    """Save ``checkpoints`` (LangGraph ``CheckpointTuple``s, oldest first) with their
    pending writes through ``checkpointer``."""
    for saved in checkpoints:
        await checkpointer.aput(
            _parent_config(saved),
            saved.checkpoint,
            saved.metadata,
            dict(saved.checkpoint["channel_versions"]),  # every channel's value, as it was
        )
        for task_id, writes in _writes_by_task(saved.pending_writes or ()):
            await checkpointer.aput_writes(saved.config, writes, task_id)


def _parent_config(saved: Any) -> dict[str, Any]:
    """The config ``aput`` takes to save ``saved`` under its parent checkpoint."""
    own = saved.config["configurable"]
    configurable = {"thread_id": own["thread_id"], "checkpoint_ns": own.get("checkpoint_ns", "")}
    if saved.parent_config is not None:
        configurable["checkpoint_id"] = saved.parent_config["configurable"]["checkpoint_id"]
    return {"configurable": configurable}


def _writes_by_task(pending: Sequence[Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """Pending writes (task_id, channel, value), grouped by task in their saved order."""
    tasks: dict[str, list[tuple[str, Any]]] = {}
    for task_id, channel, value in pending:
        tasks.setdefault(task_id, []).append((channel, value))
    return list(tasks.items())
