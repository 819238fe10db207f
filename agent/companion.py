"""The Companion: built once per process, it assembles the parts and runs turns.

Front ends call ``turn()`` and render the events it yields; they subscribe to ``updates()``
for what changes between turns (service status, downloads, memory, speech). Each part reports
its own status; the Companion only puts the lines together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from config import Mode, Settings, private_dir

from .context import TurnContext
from .errors import StartupError
from .events import SpeechDone, TurnEvent, TurnFailed, TurnFinished
from .filelock import FileLock
from .jobs import AfterReply
from .llm.chat import ChatModels, chat_models
from .llm.downloads import Downloads
from .llm.vision import SightModel, VisionModels, vision_models
from .parts import EyesPart, MemoryPart, VoicePart
from .state import Trigger
from .status import AnsweringModel, CompanionStatus, ServiceStatus
from .threads import ThreadStore, open_thread_store, valid_thread_id
from .turns import TurnOptions, TurnRun
from .updates import Update, Updates

log = logging.getLogger(__name__)

# How long aclose() lets work queued after replies (memory updates) finish.
_DRAIN_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Parts:
    """Everything a Companion runs on, built before it (see ``Companion.create``)."""

    settings: Settings
    threads: ThreadStore
    graph: Any
    chat: ChatModels
    vision: VisionModels | None
    eyes: EyesPart | None
    voice: VoicePart | None
    memory: MemoryPart | None
    updates: Updates
    close_store: Any
    """Closes the thread store's connection (its thread would keep the process alive)."""


class Companion:
    """The one assembly point: ``await Companion.create(settings)``, then ``turn()`` away."""

    def __init__(self, parts: Parts) -> None:
        self.settings = parts.settings
        self.threads = parts.threads
        """Conversations: list(), last(), get(), messages() (agent.threads.ThreadStore)."""
        self.router = parts.chat
        """The chat models (remote, local, the one policy between them)."""
        self.vision = parts.vision
        """The vision models."""
        self.eyes = parts.eyes
        """Screen capture and description (vision.Eyes): on or off, it reports its status."""
        self.voice = parts.voice
        """Speaks replies through Fish Speech (audio.VoiceService), or is off saying why."""
        self.memory = parts.memory
        """Long-term memory (agent.memory.MemoryService), or None when switched off."""
        self._parts = parts
        self._updates = parts.updates
        self._updates.report_status(self.status)
        for part in (self.eyes, self.voice):
            if part is not None:
                part.on_status = self._updates.status_changed
        self._after_reply = AfterReply()
        self._context = TurnContext(
            settings=self.settings,
            router=self.router,
            memory=self.memory,
            eyes=self.eyes,
            after_reply=self._after_reply.submit,
        )
        self._background: set[asyncio.Task[None]] = set()
        # The run on each thread now, and what started it (a user turn or watch mode).
        self._thread_runs: dict[str, tuple[Trigger, asyncio.Task[None]]] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._runs: set[asyncio.Task[None]] = set()
        # Runs whose reply is complete; they are only saving it now and must not be cancelled.
        self._replied: set[asyncio.Task[None]] = set()
        if self.memory is not None:
            # Opening a large store takes a while; a turn waits for it within
            # memory.search_timeout_s (query_memory).
            self._spawn(self.memory.start())
            self._spawn(self._forward_memory_changes())

    @classmethod
    async def create(cls, settings: Settings) -> Companion:
        """Open the thread store, build the parts and wire the graph. Loads no model: that
        happens on first use."""
        from audio import VoiceService
        from vision import Eyes

        from .graph import build_graph

        try:
            private_dir(settings.data_dir)  # conversations are the user's alone: 0700
            threads, checkpointer, conn = await open_thread_store(settings.threads_db)
        except (OSError, sqlite3.Error) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise StartupError(
                f"cannot use the data directory {settings.data_dir} ({why}); set "
                "TERMMATE_DATA_DIR (or data_dir in the settings file) to a writable directory"
            ) from exc
        try:
            updates = Updates()
            changed = updates.status_changed
            downloads = Downloads(publish=updates.download)
            chat = chat_models(settings, downloads=downloads, on_change=changed)
            vision = vision_models(settings, downloads=downloads, on_change=changed)
            memory = None
            if settings.memory.enabled:
                from .memory import open_memory

                memory = open_memory(settings, router=chat, downloads=downloads, on_change=changed)
            parts = Parts(
                settings=settings,
                threads=threads,
                graph=build_graph(checkpointer),
                chat=chat,
                vision=vision,
                eyes=Eyes(settings.vision, SightModel(vision)),
                voice=VoiceService.from_settings(settings),
                memory=memory,
                updates=updates,
                close_store=conn.close,
            )
        except BaseException:
            await conn.close()  # its thread would keep the process alive
            raise
        return cls(parts)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _forward_memory_changes(self) -> None:
        assert self.memory is not None
        async for change in self.memory.changes():
            if change.user_id == self.settings.user_id:
                self._updates.publish(change)

    # -- turns -------------------------------------------------------------------------------

    async def turn(
        self,
        thread_id: str,
        text: str | None,
        *,
        trigger: Trigger = "user",
        look: bool | None = None,
        speak: bool | None = None,
        keep_audio: bool = False,
        until_spoken: bool = False,
    ) -> AsyncIterator[TurnEvent]:
        """Run one turn on ``thread_id`` and yield its events, ending with TurnFinished/Failed.

        Turns on one thread run one after another; a turn the user starts stops an unprompted
        (watch) turn still running there. Closing or cancelling the iteration stops the reply;
        what was written so far is saved, marked as stopped.

        ``look``: the eyes are on for this turn (default: as the user set them). ``speak``: say
        the reply aloud (default: when a voice is available). ``keep_audio``: keep the whole
        spoken reply as one WAV. ``until_spoken``: go on past TurnFinished until the reply has
        been spoken, ending with SpeechDone.
        """
        check_turn_input(thread_id, text, self.settings.agent.max_message_chars)
        started = time.perf_counter()
        lock = self._locks[thread_id]
        if trigger == "user":
            self.stop_unprompted(thread_id)  # the user always goes first
        elif lock.locked():
            return  # an unprompted turn never waits: something is happening already
        await lock.acquire()
        # Another termmate process may be on this thread too (`ask --thread` beside the TUI):
        # turns on one thread must not interleave, or one would overwrite the other.
        shared = FileLock(self.settings.data_dir / "locks" / f"{thread_id}.lock")
        try:
            await shared.acquire()
        except BaseException:
            lock.release()
            raise
        queue: asyncio.Queue[TurnEvent] = asyncio.Queue()
        options = TurnOptions(
            trigger=trigger,
            look=(self.eyes is not None and self.eyes.on) if look is None else look,
            speak=self.voice_available if speak is None else speak,
            keep_audio=keep_audio,
            until_spoken=until_spoken,
            user_id=self.settings.user_id,
        )
        task = asyncio.create_task(self._run(thread_id, text, options, queue.put_nowait, started))
        self._thread_runs[thread_id] = (trigger, task)
        task.add_done_callback(lambda t: _forget_run(self._thread_runs, thread_id, t))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        task.add_done_callback(self._replied.discard)
        task.add_done_callback(lambda _: (shared.release(), lock.release()))
        ended = False
        try:
            while not ended:
                event = await queue.get()
                ended = isinstance(event, TurnFailed | SpeechDone) or (
                    # A stopped reply is not spoken any further: nothing more will come.
                    isinstance(event, TurnFinished) and (not until_spoken or event.stopped)
                )
                yield event
        finally:
            if not ended and not task.done():
                task.cancel()
                # Wait for the stopped reply to be saved, even if we are being cancelled too.
                await asyncio.shield(asyncio.wait({task}))

    async def _run(
        self, thread_id: str, text: str | None, options: TurnOptions, emit: Any, started: float
    ) -> None:
        task = asyncio.current_task()

        def on_speech(event: Any) -> None:
            emit(event)
            self._updates.publish(event)

        run = TurnRun(
            graph=self._parts.graph,
            threads=self.threads,
            context=self._context,
            voice=self.voice,
            thread_id=thread_id,
            text=text,
            options=options,
            emit=emit,
            on_speech=on_speech,
            started=started,
            replied=lambda: self._replied.add(task),  # type: ignore[arg-type]
        )
        await run.run()

    def stop_unprompted(self, thread_id: str) -> None:
        """Stop an unprompted (watch-mode) reply running on ``thread_id``, if any."""
        trigger, _ = self._thread_runs.get(thread_id, ("user", None))
        if trigger != "user":
            self.stop(thread_id)

    def stop(self, thread_id: str) -> bool:
        """Stop the reply being written on ``thread_id`` (Esc, a signal, a front end's stop
        button). What was written is saved, marked stopped, and the turn's iterator ends with
        TurnFinished(stopped=True). False when no reply was being written there."""
        _, task = self._thread_runs.get(thread_id, ("user", None))
        if task is None or task.done() or task in self._replied:
            return False
        task.cancel()
        return True

    def busy(self, thread_id: str) -> bool:
        """Whether a turn is running (or saving) on ``thread_id``."""
        lock = self._locks.get(thread_id)
        return lock is not None and lock.locked()

    # -- status ----------------------------------------------------------------------------------

    def status(self) -> CompanionStatus:
        """Mode, the chat model the next turn goes to, and every part's status lines."""
        lines: list[ServiceStatus] = [*self.router.statuses()]
        if self.vision is not None:
            lines += self.vision.statuses()
        if self.memory is not None:
            lines += self.memory.statuses()
        else:
            lines.append(ServiceStatus("memory", "off", "memory.enabled is false"))
        for name, part, off in (
            ("eyes", self.eyes, "screen capture is off"),
            ("voice", self.voice, "not available"),
        ):
            lines.append(
                part.service_status() if part is not None else ServiceStatus(name, "off", off)
            )
        return CompanionStatus(str(self.router.mode), self._answering(), tuple(lines))

    def _answering(self) -> AnsweringModel:
        chat = self.router
        if chat.answering() == "remote":
            assert chat.remote is not None
            remote = chat.remote
            return AnsweringModel("remote", remote.label, remote.url, chat.remote_health.latency_ms)
        return AnsweringModel(
            "local", chat.local.label, None, chat.local_latency_ms, chat.fallback_reason
        )

    def updates(self) -> AsyncIterator[Update]:
        """Status changes, downloads, memory changes and speech, as they happen (no polling)."""
        return self._updates.listen()

    async def check_services(self) -> CompanionStatus:
        """Probe configured servers once, e.g. at start-up."""
        await self.router.check()
        return self.status()

    async def set_mode(self, mode: Mode) -> None:
        await self.router.set_mode(mode)
        if self.vision is not None:
            await self.vision.set_mode(mode)
        if self.memory is not None:
            await self.memory.set_mode(mode)
        if self.voice is not None:
            self.voice.set_mode(mode)
        self._updates.status_changed()

    # -- voice ------------------------------------------------------------------------------------

    @property
    def voice_available(self) -> bool:
        """Whether replies are spoken aloud (a TTS server is set, sound is on and playable)."""
        return self.voice is not None and self.voice.off_reason is None

    def stop_speaking(self) -> None:
        """Barge-in: silence the voice now and drop everything queued to be said."""
        if self.voice is not None:
            self.voice.stop()

    # -- shutdown --------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop replies in progress (saving what was written), let work queued after replies
        (memory updates) finish for a few seconds, then release every thread and connection."""
        for task in self._runs - self._replied:
            task.cancel()
        if self._runs:
            await asyncio.wait(set(self._runs))
        await self._after_reply.drain(_DRAIN_TIMEOUT_S)
        for task in self._background:
            task.cancel()
        if self._background:
            await asyncio.wait(self._background)
        for part in (self.memory, self.voice, self.eyes, self.vision, self.router):
            if part is not None:
                await part.aclose()
        with contextlib.suppress(Exception):
            await self._parts.close_store()


def _forget_run(
    runs: dict[str, tuple[Trigger, asyncio.Task[None]]], thread_id: str, task: Any
) -> None:
    if thread_id in runs and runs[thread_id][1] is task:
        del runs[thread_id]


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
