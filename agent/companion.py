"""The Companion: built once per process, it owns the models, the threads and the graph.

Front ends call ``turn()`` and render the events it yields; they subscribe to ``updates()``
for what changes between turns (service status, downloads).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from config import Mode, Settings, private_dir

from .broadcast import Broadcast
from .clock import utc_now_iso
from .context import TurnContext
from .errors import CorruptData, StartupError
from .events import (
    MemoryChanged,
    MemoryOutcome,
    MemorySearched,
    ModelDownload,
    ModelRouted,
    Perceived,
    PerceptionFailed,
    PlanDecided,
    SentenceSpeaking,
    SpeechDone,
    SpeechFailed,
    SpeechFinished,
    SpeechStarted,
    StatusChanged,
    TextDelta,
    TurnEvent,
    TurnFailed,
    TurnFinished,
    TurnStarted,
    TurnTimings,
)
from .filelock import FileLock
from .jobs import AfterReply
from .llm.errors import ModelError, NoModelAvailable
from .llm.router import ModelRouter
from .llm.types import DownloadProgress
from .serde import UnreadableCheckpoint
from .speech import TurnSpeech
from .state import GraphState, Message, Trigger
from .status import AnsweringModel, CompanionStatus, ServiceStatus
from .threads import ThreadInfo, ThreadStore, new_thread_id, open_thread_store, valid_thread_id

log = logging.getLogger(__name__)

Update = (
    StatusChanged
    | ModelDownload
    | MemoryChanged
    | SpeechStarted
    | SentenceSpeaking
    | SpeechFailed
    | SpeechFinished
)


@dataclasses.dataclass(frozen=True, slots=True)
class _TurnOptions:
    trigger: Trigger
    look: bool
    speak: bool
    keep_audio: bool
    until_spoken: bool


# How long aclose() lets work queued after replies (memory updates) finish.
_DRAIN_TIMEOUT_S = 10.0


class Companion:
    """The one assembly point: ``await Companion.create(settings)``, then ``turn()`` away."""

    def __init__(
        self,
        settings: Settings,
        router: ModelRouter,
        graph: Any,
        threads: ThreadStore,
        conn: Any,
        memory: Any = None,
        eyes: Any = None,
        vision: Any = None,
        voice: Any = None,
    ) -> None:
        self.settings = settings
        self.router = router
        self.threads = threads
        self.memory = memory
        """Long-term memory (agent.memory.MemoryService), or None when switched off."""
        self._graph = graph
        self._conn = conn
        self._after_reply = AfterReply()
        self._context = TurnContext(
            settings=settings,
            router=router,
            memory=memory,
            eyes=eyes,
            after_reply=self._after_reply.submit,
        )
        self._background: set[asyncio.Task[None]] = set()
        self.eyes = eyes
        """vision.Eyes: captures and describes the screen, only while the eyes are on."""
        self.vision = vision
        """The vision model router (agent.llm.vision.VisionRouter)."""
        self.voice = voice
        """audio.VoiceService: speaks replies through Fish Speech (or is off, saying why)."""
        if voice is not None:
            voice.on_status = lambda _status: self._publish_status()
        self.eyes_on = settings.vision.enabled
        self._eyes_problem: str | None = None
        # The run on each thread now, and what started it (a user turn or watch mode).
        self._thread_runs: dict[str, tuple[Trigger, asyncio.Task[None]]] = {}
        self._glances: set[asyncio.Task[None]] = set()
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._runs: set[asyncio.Task[None]] = set()
        # Runs whose reply is complete; they are only saving it now and must not be cancelled.
        self._replied: set[asyncio.Task[None]] = set()
        self._updates: Broadcast[Update] = Broadcast()
        self._local_error: str | None = None
        self._download: DownloadProgress | None = None

    @classmethod
    async def create(cls, settings: Settings) -> Companion:
        """Open the thread store and wire the graph. Loads no model: that happens on first use."""
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
            companion: Companion
            router = ModelRouter(
                settings,
                progress=lambda p: companion._on_download(p),
                on_change=lambda: companion._publish_status(),
            )
            memory = None
            if settings.memory.enabled:
                from .memory import open_memory

                memory = open_memory(
                    settings,
                    router=router,
                    progress=lambda p: companion._on_download(p),
                    on_change=lambda: companion._publish_status(),
                )
            from vision import Eyes

            from .llm.vision import VisionRouter

            vision = VisionRouter(
                settings,
                progress=lambda p: companion._on_download(p),
                on_change=lambda: companion._publish_status(),
            )
            eyes = Eyes(settings.vision, vision)
            from audio import VoiceService

            voice = VoiceService.from_settings(settings)
            companion = cls(
                settings,
                router,
                build_graph(checkpointer),
                threads,
                conn,
                memory,
                eyes,
                vision,
                voice,
            )
        except BaseException:
            await conn.close()  # its thread would keep the process alive
            raise
        if memory is not None:
            # Opening a large store takes a while: turns go on without memories meanwhile.
            companion._spawn(memory.start())
            companion._spawn(companion._forward_memory_changes())
        return companion

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _forward_memory_changes(self) -> None:
        async for change in self.memory.changes():
            if change.user_id == self.settings.user_id:
                self._publish(change)

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
        options = _TurnOptions(
            trigger=trigger,
            look=self.eyes_on if look is None else look,
            speak=self.voice_available if speak is None else speak,
            keep_audio=keep_audio,
            until_spoken=until_spoken,
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

    async def _run_graph(
        self,
        thread_id: str,
        text: str | None,
        options: _TurnOptions,
        emit: Any,
        started: float,
    ) -> None:
        config = {"configurable": {"thread_id": thread_id}}
        speech = None
        if options.speak and self.voice is not None:

            def on_speech(event: Any) -> None:
                emit(event)
                self._publish(event)

            speech = TurnSpeech(
                self.voice, started_at=started, keep_audio=options.keep_audio, on_event=on_speech
            )
        context = dataclasses.replace(self._context, speech=speech)
        partial: list[str] = []
        routed: ModelRouted | None = None
        plan: PlanDecided | None = None
        first_token_ms: float | None = None
        memory_outcome: MemoryOutcome = "off"
        finished = False

        def finished_event(stopped: bool = False) -> TurnFinished:
            return TurnFinished(
                thread_id=thread_id,
                text="".join(partial),
                action=plan.action if plan else "respond",
                backend=routed.backend if routed else None,
                model=routed.model if routed else None,
                fallback_reason=routed.fallback_reason if routed else None,
                timings=TurnTimings(
                    first_token_ms=first_token_ms,
                    total_ms=(time.perf_counter() - started) * 1000,
                    plan_ms=plan.elapsed_ms if plan else 0.0,
                ),
                stopped=stopped,
                memory=memory_outcome,
            )

        try:
            # The saved conversation must be termmate's own messages before anything runs on it
            # (raises CorruptData otherwise): a crafted or damaged checkpoint stops here.
            await self.threads.messages(thread_id)
            await self.threads.touch(thread_id, text)
            emit(TurnStarted(thread_id, text))
            inputs: GraphState = {
                "messages": [Message(role="user", content=text, created_at=utc_now_iso())]
                if text
                else [],
                "user_id": self.settings.user_id,
                "trigger": options.trigger,
                "look": options.look,
                "visual_context": None,
                "memories": [],
                "action_plan": None,
            }
            async for mode, chunk in self._graph.astream(
                inputs,
                config,
                context=context,
                stream_mode=["custom", "updates"],
                durability="sync",
            ):
                if mode == "custom":
                    if isinstance(chunk, TextDelta):
                        if first_token_ms is None:
                            first_token_ms = (time.perf_counter() - started) * 1000
                        partial.append(chunk.text)
                    elif isinstance(chunk, ModelRouted):
                        routed = chunk
                        if chunk.restarted:
                            partial.clear()
                    elif isinstance(chunk, PlanDecided):
                        plan = chunk
                    elif isinstance(chunk, MemorySearched):
                        memory_outcome = chunk.outcome
                    elif isinstance(chunk, Perceived | PerceptionFailed):
                        self._note_sight(chunk)
                    emit(chunk)
                elif not finished and _reply_complete(chunk, plan):
                    # The reply is written; the rest of the run only saves it (and queues
                    # the memory update), so the user need not wait, and closing waits for it.
                    finished = True
                    await self.threads.finish_turn(thread_id)
                    emit(finished_event())
                    if (current := asyncio.current_task()) is not None:
                        self._replied.add(current)  # type: ignore[arg-type]
            if not finished:
                await self.threads.finish_turn(thread_id)
                emit(finished_event())
            if options.until_spoken:
                emit(SpeechDone(await speech.result() if speech is not None else None))
        except asyncio.CancelledError:
            if speech is not None:
                speech.cancel()
            if not finished:
                await self._save_stopped(config, "".join(partial), routed)
                await self.threads.finish_turn(thread_id)
                emit(finished_event(stopped=True))
            raise
        except BaseException:
            if speech is not None:
                speech.cancel()
            raise

    async def _run(
        self,
        thread_id: str,
        text: str | None,
        options: _TurnOptions,
        emit: Any,
        started: float,
    ) -> None:
        try:
            await self._run_graph(thread_id, text, options, emit, started)
        except asyncio.CancelledError:
            raise
        except NoModelAvailable as exc:
            self._local_error = exc.reason
            self._publish_status()
            emit(TurnFailed(thread_id, exc.reason, kind="no_model"))
        except ModelError as exc:
            emit(TurnFailed(thread_id, exc.reason, kind="model"))
        except UnreadableCheckpoint as exc:  # read by the graph itself
            emit(
                TurnFailed(thread_id, self.threads.unreadable(thread_id, exc.reason).reason, "data")
            )
        except CorruptData as exc:
            emit(TurnFailed(thread_id, exc.reason, "data"))
        except Exception as exc:
            log.exception("turn failed on thread %s", thread_id)
            emit(TurnFailed(thread_id, f"internal error: {type(exc).__name__}: {exc}", "internal"))

    async def _save_stopped(self, config: dict, text: str, routed: ModelRouted | None) -> None:
        if not text:
            return
        reply = Message(role="assistant", content=text, created_at=utc_now_iso(), stopped=True)
        if routed is not None:
            reply["backend"] = routed.backend
            reply["model"] = routed.model
        await self._graph.aupdate_state(config, {"messages": [reply]}, as_node="generate_response")

    # -- threads -------------------------------------------------------------------------------

    def new_thread_id(self) -> str:
        return new_thread_id()

    async def list_threads(self) -> list[ThreadInfo]:
        return await self.threads.list()

    async def last_thread(self) -> ThreadInfo | None:
        return await self.threads.last()

    async def thread_messages(self, thread_id: str) -> list[Message]:
        return await self.threads.messages(thread_id)

    # -- status ----------------------------------------------------------------------------------

    def status(self) -> CompanionStatus:
        router = self.router
        remote = router.remote_health
        local = router.local_health
        remote_state = {"disabled": "off", "unknown": "unknown"}.get(remote.state, remote.state)
        remote_detail = remote.reason if remote.state != "ok" else remote.url
        if remote.state == "not_configured":
            remote_detail = "set TERMMATE_LLM__URL"
        if self._download is not None:
            done, total = self._download.done, self._download.total
            share = f"{done * 100 // total}%" if total else f"{done // 1_000_000} MB"
            local_status = ServiceStatus("local model", "loading", f"downloading {share}")
        elif self._local_error is not None and not local.loaded:
            local_status = ServiceStatus("local model", "error", self._local_error)
        elif local.loaded:
            local_status = ServiceStatus("local model", "ok", local.model)
        else:
            local_status = ServiceStatus("local model", "off", f"{local.model}, loads on first use")
        if router.answering_backend() == "remote":
            answering = AnsweringModel(
                "remote", remote.model or "(server default)", remote.url, remote.last_latency_ms
            )
        else:
            answering = AnsweringModel(
                "local", local.model, None, local.last_latency_ms, router.fallback_reason
            )
        services = [ServiceStatus("remote model", remote_state, remote_detail), local_status]
        if self.memory is not None:
            services.append(self.memory.service_status())
        else:
            services.append(ServiceStatus("memory", "off", "memory.enabled is false"))
        services.append(self._eyes_status())
        services.append(self._voice_status())
        return CompanionStatus(mode=str(router.mode), answering=answering, services=tuple(services))

    # -- eyes ------------------------------------------------------------------------------------

    async def set_eyes(self, on: bool) -> None:
        """Turn screen capture on or off. Off forgets what was seen."""
        self.eyes_on = on
        self._eyes_problem = None
        if not on:
            for glance in self._glances:
                glance.cancel()
            if self.eyes is not None:
                self.eyes.forget()
        self._publish_status()

    def _note_sight(self, event: Perceived | PerceptionFailed) -> None:
        problem = event.status if isinstance(event, PerceptionFailed) else None
        if problem != self._eyes_problem:
            self._eyes_problem = problem
            self._publish_status()

    def glance(self) -> None:
        """Start looking now, ahead of a turn (the user began typing with the eyes on).

        The turn's own look then finds the same screen already described, or being described,
        and waits only for what is left of the model's answer. Does nothing with the eyes off.
        """
        if self.eyes_on and self.eyes is not None:
            glance = asyncio.create_task(self._glance())
            self._glances.add(glance)
            glance.add_done_callback(self._glances.discard)

    async def _glance(self) -> None:
        from vision import VisionError

        try:
            await self.eyes.look()
        except VisionError as exc:
            log.debug("glance: %s", exc.reason)  # the turn's own look reports it

    def note_eyes_problem(self, status: str | None) -> None:
        """Show (or clear, with None) a problem the eyes had outside a turn (watch mode)."""
        if status != self._eyes_problem:
            self._eyes_problem = status
            self._publish_status()

    def _eyes_status(self) -> ServiceStatus:
        if not self.eyes_on:
            return ServiceStatus("eyes", "off", "screen capture is off")
        if self._eyes_problem is not None:
            return ServiceStatus("eyes", "error", self._eyes_problem.removeprefix("eyes: "))
        label = self.vision.label if self.vision is not None else "?"
        return ServiceStatus("eyes", "active", f"ON, capturing the screen · {label}")

    # -- voice ------------------------------------------------------------------------------------

    @property
    def voice_available(self) -> bool:
        """Whether replies are spoken aloud (a TTS server is set, sound is on and playable)."""
        return self.voice is not None and self.voice.off_reason is None

    async def start_voice(self) -> None:
        """Check the sound output now (off the event loop), so the status is right early."""
        if self.voice is not None:
            await self.voice.start()

    def stop_speaking(self) -> None:
        """Barge-in: silence the voice now and drop everything queued to be said."""
        if self.voice is not None:
            self.voice.stop()

    def toggle_mute(self) -> bool:
        """Mute or unmute; returns whether the voice is now muted."""
        return self.voice.toggle_mute() if self.voice is not None else False

    def _voice_status(self) -> ServiceStatus:
        if self.voice is None:
            return ServiceStatus("voice", "off", "not available")
        status = self.voice.status
        muted = " · muted" if status.muted else ""
        if status.state == "off":
            return ServiceStatus("voice", "off", status.reason)
        if status.last_error:
            return ServiceStatus("voice", "error", f"last reply not spoken: {status.last_error}")
        if status.state == "speaking":
            return ServiceStatus("voice", "active", "speaking" + muted)
        return ServiceStatus("voice", "ok", "ready" + muted)

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

    def updates(self) -> AsyncIterator[Update]:
        """Status changes, downloads, memory changes and speech, as they happen (no polling)."""
        return self._updates.listen()

    def _publish(self, update: Update) -> None:
        self._updates.publish(update)

    def _publish_status(self) -> None:
        if self._updates.listening:
            self._publish(StatusChanged(self.status()))

    def _on_download(self, progress: DownloadProgress) -> None:
        previous = self._download
        whole = progress.total is not None and progress.done >= progress.total
        self._download = None if whole else progress
        step = (progress.total or 100 * 2**20) // 100
        if previous is None or whole or progress.done - previous.done >= step:
            self._publish(ModelDownload(progress.name, progress.done, progress.total))
            self._publish_status()
        else:
            self._download = previous  # report in steps of 1% so the UI is not flooded

    async def check_services(self) -> CompanionStatus:
        """Probe configured servers once, e.g. at start-up."""
        await self.router.check_remote()
        return self.status()

    async def set_mode(self, mode: Mode) -> None:
        await self.router.set_mode(mode)
        if self.vision is not None:
            await self.vision.set_mode(mode)
        if self.memory is not None:
            await self.memory.set_mode(mode)
        if self.voice is not None:
            self.voice.set_mode(mode)
        self._local_error = None
        self._publish_status()

    # -- shutdown --------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop replies in progress (saving what was written), let work queued after replies
        (memory updates) finish for a few seconds, then release every thread and connection."""
        for task in self._runs - self._replied:
            task.cancel()
        if self._runs:
            await asyncio.wait(set(self._runs))
        await self._after_reply.drain(_DRAIN_TIMEOUT_S)
        for task in self._background | self._glances:
            task.cancel()
        if self._background or self._glances:
            await asyncio.wait(self._background | self._glances)
        if self.memory is not None:
            await self.memory.aclose()
        if self.voice is not None:
            await self.voice.aclose()
        if self.eyes is not None:
            await self.eyes.aclose()
        if self.vision is not None:
            await self.vision.aclose()
        await self.router.aclose()
        with contextlib.suppress(Exception):
            await self._conn.close()


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


def _reply_complete(update: Any, plan: PlanDecided | None) -> bool:
    if not isinstance(update, dict):
        return False
    if "generate_response" in update:
        return True
    return "reason_and_plan" in update and plan is not None and plan.action == "silence"
