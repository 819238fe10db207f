"""After a reply: learn what the turn said about the user, in one JSON-constrained model call,
then write it with Read-then-Write (search first; then add, update, or leave it).

Every string and list in the schema is bounded, so even a model with random weights ends its
answer: the grammar built from the schema allows nothing longer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from config import MemorySettings

from ..llm.chat import ChatModels
from ..llm.structured import complete_json
from ..llm.types import ChatMessage
from .errors import InvalidMemoryInput
from .events import MemoryChanged
from .intent import asks_to_forget
from .schemas import MemoryMetadata
from .tools import MemoryTools

log = logging.getLogger(__name__)

MAX_FACTS = 3
MAX_FORGET = 2
FACT_CHARS = 150
CATEGORY_CHARS = 32
_SHOWN_MEMORIES = 8
_TURN_CHARS = 2000

INSTRUCTIONS = """\
You keep the long-term memory of a companion app about its user.
From the conversation turn below, list:
- "facts": new or changed facts about the user worth remembering for days or months (name, \
preferences, habits, plans, people and things that matter to them). Each one short sentence \
in the language the user wrote in, about the user in the third person ("The user …", \
"사용자는 …"). Leave out small talk, questions, and what is already remembered unchanged.
- "category" of each fact: one or two words. Reuse one of these when one fits: {categories}.
- "forget": only when the user explicitly asked you to forget something, what to forget.
Answer with JSON only; empty lists when there is nothing to remember or forget."""


class LearnedFact(BaseModel):
    """One fact about the user."""

    text: str = Field(max_length=FACT_CHARS)
    category: str = Field(max_length=CATEGORY_CHARS)


class ForgetRequest(BaseModel):
    """Something the user asked to forget."""

    about: str = Field(max_length=FACT_CHARS)


class TurnMemories(BaseModel):
    """What one turn taught about the user."""

    facts: list[LearnedFact] = Field(default_factory=list, max_length=MAX_FACTS)
    forget: list[ForgetRequest] = Field(default_factory=list, max_length=MAX_FORGET)


def extraction_prompt(
    user_text: str,
    reply_text: str,
    categories: Sequence[str],
    remembered: Sequence[dict[str, Any]],
) -> list[ChatMessage]:
    known = ", ".join(categories) if categories else "(none yet)"
    turn = f"User: {user_text[:_TURN_CHARS]}"
    if reply_text:
        turn += f"\nAssistant: {reply_text[:_TURN_CHARS]}"
    if remembered:
        lines = "\n".join(f"- {m['text']}" for m in remembered[:_SHOWN_MEMORIES])
        turn += f"\n\nAlready remembered about the user:\n{lines}"
    return [
        {"role": "system", "content": INSTRUCTIONS.format(categories=known)},
        {"role": "user", "content": turn},
    ]


async def extract_turn_memories(
    models: ChatModels,
    user_text: str,
    reply_text: str,
    categories: Sequence[str],
    remembered: Sequence[dict[str, Any]] = (),
) -> TurnMemories:
    """The one model call of update_memory."""
    prompt = extraction_prompt(user_text, reply_text, categories, remembered)
    extracted, _ = await complete_json(
        models, prompt, TurnMemories, max_tokens=768, temperature=0.1
    )
    return extracted


def _same_text(a: str, b: str) -> bool:
    def canonical(text: str) -> str:
        return re.sub(r"\s+", " ", text.casefold()).strip(" .!?。")

    return canonical(a) == canonical(b)


async def apply_turn_memories(
    tools: MemoryTools,
    extracted: TurnMemories,
    *,
    user_id: str,
    observed_at: str | None,
    user_text: str,
    settings: MemorySettings,
) -> list[MemoryChanged]:
    """Write what the turn taught, each change after a search (Read-then-Write).

    A fact already remembered word for word changes nothing; one close to a remembered memory
    (similarity ≥ memory.same_fact_threshold) updates it, unless that memory was updated after
    ``observed_at`` (the newer one wins); anything else is added. Memories are deleted only when
    the user's own words asked to forget.
    """
    threshold = settings.same_fact_threshold
    for fact in extracted.facts:
        text = fact.text.strip()
        if not text:
            continue
        category = fact.category.strip() or "general"
        try:
            metadata = MemoryMetadata(category=category, updated_at=observed_at)
        except ValueError:
            metadata = MemoryMetadata(updated_at=observed_at)
        found = await tools.search_memory(text, user_id, k=3)
        if any(_same_text(hit.text, text) for hit in found.hits):
            continue
        close = [hit for hit in found.hits if hit.score >= threshold]
        try:
            if close:
                await tools.update_memory(close[0].id, content=text, metadata=metadata)
            else:
                await tools.add_memory(text, user_id, MemoryMetadata(category=metadata.category))
        except InvalidMemoryInput as exc:
            log.info("not remembering %r: %s", text, exc.reason)
    if extracted.forget and asks_to_forget(user_text):
        for request in extracted.forget:
            about = request.about.strip()
            if not about:
                continue
            found = await tools.search_memory(about, user_id, k=3)
            for hit in found.hits:
                if hit.score >= threshold:
                    await tools.delete_memory(hit.id)
    elif extracted.forget:
        log.info("ignoring %d forget request(s): the user did not ask", len(extracted.forget))
    return list(tools.changes)
