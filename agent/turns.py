"""One run of the graph for one turn: its events, its result, and what is saved when it stops.

The Companion decides when a turn may run (one at a time per thread, across processes) and hands
each run a ``TurnRun``; the run streams the graph, keeps the reply written so far, tells the
front end as soon as the reply is complete (the rest of the run only saves it), and, when
cancelled, saves what was written marked stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from .clock import utc_now_iso
from .context import TurnContext
from .errors import CorruptData
from .events import (
    MemoryOutcome,
    MemorySearched,
    ModelRouted,
    PlanDecided,
    SpeechDone,
    TextDelta,
    TurnEvent,
    TurnFailed,
    TurnFinished,
    TurnStarted,
    TurnTimings,
)
from .llm.errors import ModelError, NoModelAvailable
from .postgres import StoreUnavailable
from .serde import UnreadableCheckpoint
from .speech import TurnSpeech
from .state import GraphState, Message, Trigger
from .threads import ThreadStore, valid_thread_id

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class TurnOptions:
    """How one turn runs."""

    trigger: Trigger
    look: bool
    """Whether the eyes look at the screen for it."""
    speak: bool
    keep_audio: bool
    until_spoken: bool
    user_id: str
    """Whose turn it is: the thread's owner, whose memories are searched and updated."""
    images: tuple[bytes, ...] = ()
    """Pictures (JPEG) sent with the message, described for the turn."""
    voice: str | None = None
    """The voice to speak in (None: the voice service's own)."""
    language: str | None = None
    """The language the message was spoken in (a transcript's), or None."""


class TurnRun:
    """The graph's run for one turn on ``thread_id``; ``run()`` emits its events."""

    def __init__(
        self,
        *,
        graph: Any,
        threads: ThreadStore,
        context: TurnContext,
        voice: Any,
        thread_id: str,
        text: str | None,
        options: TurnOptions,
        emit: Callable[[TurnEvent], None],
        on_speech: Callable[[Any], None],
        started: float,
        replied: Callable[[], None],
    ) -> None:
        """``replied`` is called once the reply is complete (the run only saves it after)."""
        self._graph = graph
        self._threads = threads
        self._thread_id = thread_id
        self._text = text
        self._options = options
        self._emit = emit
        self._started = started
        self._replied = replied
        self._speech: TurnSpeech | None = None
        if options.speak and voice is not None:
            self._speech = TurnSpeech(
                voice,
                started_at=started,
                keep_audio=options.keep_audio,
                on_event=on_speech,
                voice_name=options.voice,
            )
        self._context = dataclasses.replace(context, speech=self._speech)
        self._partial: list[str] = []
        self._routed: ModelRouted | None = None
        self._plan: PlanDecided | None = None
        self._first_token_ms: float | None = None
        self._memory: MemoryOutcome = "off"
        self._finished = False

    async def run(self) -> None:
        """Run the turn; a failure ends it with TurnFailed, a cancellation saves what was
        written (then propagates)."""
        thread_id = self._thread_id
        emit = self._emit
        try:
            await self._run_graph()
        except asyncio.CancelledError:
            raise
        except NoModelAvailable as exc:
            emit(TurnFailed(thread_id, exc.reason, kind="no_model"))
        except ModelError as exc:
            emit(TurnFailed(thread_id, exc.reason, kind="model"))
        except UnreadableCheckpoint as exc:  # read by the graph itself
            emit(
                TurnFailed(
                    thread_id, self._threads.unreadable(thread_id, exc.reason).reason, "data"
                )
            )
        except CorruptData as exc:
            emit(TurnFailed(thread_id, exc.reason, "data"))
        except StoreUnavailable as exc:  # the shared database went away: this turn fails
            emit(TurnFailed(thread_id, exc.reason, "unavailable"))
        except Exception as exc:
            log.exception("turn failed on thread %s", thread_id)
            emit(TurnFailed(thread_id, f"internal error: {type(exc).__name__}: {exc}", "internal"))

    @property
    def _config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self._thread_id}}

    def _inputs(self) -> GraphState:
        text = self._text
        return {
            "messages": [Message(role="user", content=text, created_at=utc_now_iso())]
            if text
            else [],
            "user_id": self._options.user_id,
            "trigger": self._options.trigger,
            "look": self._options.look,
            "language": self._options.language,
            "visual_context": None,
            "images": list(self._options.images),
            "pictures_seen": None,
            "memories": [],
            "action_plan": None,
        }

    async def _run_graph(self) -> None:
        threads, thread_id, emit = self._threads, self._thread_id, self._emit
        try:
            # The saved conversation must be termmate's own messages before anything runs on it
            # (raises CorruptData otherwise): a crafted or damaged checkpoint stops here.
            await threads.messages(thread_id)
            await threads.touch(thread_id, self._text, self._options.user_id)
            emit(TurnStarted(thread_id, self._text))
            async for mode, chunk in self._graph.astream(
                self._inputs(),
                self._config,
                context=self._context,
                stream_mode=["custom", "updates"],
                durability="sync",
            ):
                if mode == "custom":
                    self._note(chunk)
                    emit(chunk)
                elif not self._finished and _reply_complete(chunk, self._plan):
                    # The reply is written; the rest of the run only saves it (and queues the
                    # memory update), so the user need not wait, and closing waits for it.
                    # From here on a stop has nothing left to stop.
                    self._replied()
                    await self._finish()
            if not self._finished:
                await self._finish()
            if self._options.until_spoken:
                speech = self._speech
                emit(SpeechDone(await speech.result() if speech is not None else None))
        except asyncio.CancelledError:
            if self._speech is not None:
                self._speech.cancel()
            if not self._finished:
                await self._save_stopped()
                await self._finish(stopped=True)
            raise
        except BaseException:
            if self._speech is not None:
                self._speech.cancel()
            raise

    def _note(self, event: Any) -> None:
        """Keep what the finished event will say."""
        if isinstance(event, TextDelta):
            if self._first_token_ms is None:
                self._first_token_ms = (time.perf_counter() - self._started) * 1000
            self._partial.append(event.text)
        elif isinstance(event, ModelRouted):
            self._routed = event
            if event.restarted:
                self._partial.clear()
        elif isinstance(event, PlanDecided):
            self._plan = event
        elif isinstance(event, MemorySearched):
            self._memory = event.outcome

    async def _finish(self, *, stopped: bool = False) -> None:
        self._finished = True
        await self._threads.finish_turn(self._thread_id)
        routed, plan = self._routed, self._plan
        self._emit(
            TurnFinished(
                thread_id=self._thread_id,
                text="".join(self._partial),
                action=plan.action if plan else "respond",
                backend=routed.backend if routed else None,
                model=routed.model if routed else None,
                fallback_reason=routed.fallback_reason if routed else None,
                timings=TurnTimings(
                    first_token_ms=self._first_token_ms,
                    total_ms=(time.perf_counter() - self._started) * 1000,
                    plan_ms=plan.elapsed_ms if plan else 0.0,
                ),
                stopped=stopped,
                memory=self._memory,
            )
        )

    async def _save_stopped(self) -> None:
        text = "".join(self._partial)
        if not text:
            return
        reply = Message(role="assistant", content=text, created_at=utc_now_iso(), stopped=True)
        if self._routed is not None:
            reply["backend"] = self._routed.backend
            reply["model"] = self._routed.model
        await self._graph.aupdate_state(
            self._config, {"messages": [reply]}, as_node="generate_response"
        )


def _reply_complete(update: Any, plan: PlanDecided | None) -> bool:
    if not isinstance(update, dict):
        return False
    if "generate_response" in update:
        return True
    return "reason_and_plan" in update and plan is not None and plan.action == "silence"


def check_turn_input(thread_id: str, text: str | None, max_chars: int) -> None:
    """Refuse input no turn could use, before anything is saved (ValueError says why)."""
    if not valid_thread_id(thread_id):
        raise ValueError(
            f"invalid thread id {thread_id!r}: use letters, digits, '.', '_' or '-' (max 64)"
        )
    if text is not None and not text.strip():
        raise ValueError("the message is empty")
    if text is not None and len(text) > max_chars:
        raise ValueError(
            f"the message is {len(text):,} characters long; the limit is {max_chars:,} "
            "(agent.max_message_chars)"
        )
