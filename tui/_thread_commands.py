"""``termmate threads`` and ``termmate show``: read conversations without loading any model."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from typing import Any

from config import Settings

from . import _exit


def _run(settings: Settings, work: Any) -> Any:
    """Run ``work(store)``; a database that cannot be read is a clear error, not a traceback."""
    try:
        return asyncio.run(_with_store(settings, work))
    except (OSError, sqlite3.Error) as exc:
        print(
            f"termmate: cannot read conversations from {settings.threads_db}: {exc}",
            file=sys.stderr,
        )
        raise SystemExit(_exit.FAILURE) from None


async def _with_store(settings: Settings, work: Any) -> Any:
    from agent.threads import open_thread_store

    if not settings.threads_db.exists():
        return await work(None)
    store, _, conn = await open_thread_store(settings.threads_db)
    try:
        return await work(store)
    finally:
        await conn.close()


def run_threads(settings: Settings, *, as_json: bool) -> int:
    async def work(store: Any) -> list[Any]:
        return await store.list() if store else []

    threads = _run(settings, work)
    if as_json:
        print(json.dumps([t.as_dict() for t in threads], ensure_ascii=False, indent=2))
        return _exit.OK
    if not threads:
        print("No conversations yet. Start one with: termmate  (or termmate ask TEXT)")
        return _exit.OK
    width = max(len(t.thread_id) for t in threads)
    for t in threads:
        when = t.updated_at.replace("T", " ")[:16]
        turns = f"{t.turns} turn" + ("" if t.turns == 1 else "s")
        print(f"{t.thread_id:<{width}}  {when}  {turns:>9}  {t.title}")
    return _exit.OK


def run_show(settings: Settings, thread_id: str, *, as_json: bool) -> int:
    async def work(store: Any) -> tuple[Any, list[Any]]:
        if store is None:
            return None, []
        return await store.get(thread_id), await store.messages(thread_id)

    info, messages = _run(settings, work)
    if info is None:
        print(
            f"termmate: no conversation {thread_id!r}; `termmate threads` lists them",
            file=sys.stderr,
        )
        return _exit.USAGE
    if as_json:
        payload = {
            "thread_id": thread_id,
            "title": info.title,
            "messages": [
                {"role": m["role"], "content": m["content"], "created_at": m["created_at"]}
                | ({"stopped": True} if m.get("stopped") else {})
                for m in messages
            ],
        }
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return _exit.OK
    print(f"# {info.title}  ({thread_id})\n")
    for m in messages:
        who = "you" if m["role"] == "user" else "termmate"
        stopped = "  [stopped]" if m.get("stopped") else ""
        print(f"[{m['created_at'].replace('T', ' ')[:19]}] {who}{stopped}:\n{m['content']}\n")
    return _exit.OK
