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
from collections.abc import AsyncIterator, Sequence
from typing import Any

from config import Mode, Settings, private_dir

from .context import TurnContext
from .ears import Ears
from .errors import StartupError
from .events import SentenceAudio, SpeechDone, TurnEvent, TurnFailed, TurnFinished
from .jobs import AfterReply
from .llm.chat import chat_models
from .llm.downloads import Downloads
from .llm.vision import SightModel, vision_models
from .parts import Parts
from .postgres import StoreUnavailable
from .state import Trigger
from .status import CompanionStatus, ServiceStatus, answering_model
from .threads import open_threads
from .turn_locks import TurnLocks
from .turns import TurnOptions, TurnRun, check_turn_input
from .updates import Update, Updates
from .user_voices import UserVoices

log = logging.getLogger(__name__)

# How long aclose() lets work queued after replies (memory updates) finish.
_DRAIN_TIMEOUT_S = 10.0
_RUN_ENDED = object()
"""Put on a turn's queue when its run ends, after every event it emitted."""


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
        self.ears = parts.ears
        """Hearing (agent.ears.Ears): the speech recognisers and the microphone."""
        self._parts = parts
        self.user_voices = UserVoices(self.settings.data_dir / "voices")
        """The voice each user of a shared companion speaks in (`termmate serve`)."""
        self._updates = parts.updates
        self._updates.report_status(self.status)
        for part in (self.eyes, self.voice, self.ears):
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
        # Turn order between processes is the thread store's: a flock beside threads.sqlite,
        # or an advisory lock in the shared database.
        self._locks = TurnLocks(self.threads.turn_lock)
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
            threads = await open_threads(settings)
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
                graph=build_graph(threads.checkpointer),
                chat=chat,
                vision=vision,
                eyes=Eyes(settings.vision, SightModel(vision)),
                voice=VoiceService.from_settings(settings),
                ears=Ears.from_settings(settings, downloads=downloads, on_change=changed),
                memory=memory,
                updates=updates,
                close_store=threads.aclose,
            )
        except BaseException:
            await threads.aclose()  # an aiosqlite thread would keep the process alive
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
        user_id: str | None = None,
        images: Sequence[bytes] = (),
        voice: str | None = None,
        language: str | None = None,
    ) -> AsyncIterator[TurnEvent]:
        """Run one turn on ``thread_id`` and yield its events, ending with TurnFinished/Failed.

        Turns on one thread run one after another; a turn the user starts stops an unprompted
        (watch) turn still running there. Closing or cancelling the iteration stops the reply;
        what was written so far is saved, marked as stopped.

        ``look``: the eyes are on for this turn (default: as the user set them). ``speak``: say
        the reply aloud (default: when a voice is available). ``keep_audio``: keep the whole
        spoken reply as one WAV. ``until_spoken``: go on past TurnFinished until the reply has
        been spoken, ending with SpeechDone. ``user_id``: whose turn it is (default: the
        configured user); a thread of another user is ThreadNotFound, raised before anything
        runs. ``images``: pictures (JPEG, see vision.prepare_picture) sent with the message.
        ``voice``: the voice to speak in (default: ``user_id``'s own, else the service's).
        ``language``: the language the message was spoken in (a transcript's).
        """
        check_turn_input(thread_id, text, self.settings.agent.max_message_chars)
        user_id = user_id or self.settings.user_id
        started = time.perf_counter()
        try:
            await self.threads.check_owner(thread_id, user_id)
            if trigger == "user":
                self.stop_unprompted(thread_id)  # the user always goes first
            elif self._locks.busy(thread_id):
                return  # an unprompted turn never waits: something is happening already
            held = await self._locks.acquire(thread_id)
        except StoreUnavailable as exc:  # the shared database: this turn fails, not the process
            yield TurnFailed(thread_id, exc.reason, "unavailable")
            return
        queue: asyncio.Queue[Any] = asyncio.Queue()
        options = TurnOptions(
            trigger=trigger,
            look=(self.eyes is not None and self.eyes.on) if look is None else look,
            speak=self.voice_available if speak is None else speak,
            keep_audio=keep_audio,
            until_spoken=until_spoken,
            user_id=user_id,
            images=tuple(images),
            voice=voice or self.user_voices.get(user_id),
            language=language,
        )
        # The run happens in the lock's context (on PostgreSQL it writes through the locked
        # session) and releases the lock when it ends.
        task = held.run(self._run(thread_id, text, options, queue.put_nowait, started))
        self._thread_runs[thread_id] = (trigger, task)
        task.add_done_callback(lambda t: _forget_run(self._thread_runs, thread_id, t))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        task.add_done_callback(self._replied.discard)
        # Whatever ends the run, the caller is never left waiting for a last event.
        task.add_done_callback(lambda _: queue.put_nowait(_RUN_ENDED))
        ended = False
        try:
            while not ended:
                event = await queue.get()
                if event is _RUN_ENDED:
                    log.error("the turn on %s ended without its last event", thread_id)
                    event = TurnFailed(thread_id, "the turn ended before it finished", "internal")
                ended = isinstance(event, TurnFailed | SpeechDone) or (
                    # A stopped reply is not spoken any further: nothing more will come.
                    isinstance(event, TurnFinished) and (not until_spoken or event.stopped)
                )
                yield event
        finally:
            if not ended and not task.done():
                if not task.cancelling():  # stop() may have cancelled it already
                    task.cancel()
                # Wait for the stopped reply to be saved, even if we are being cancelled too.
                await asyncio.shield(asyncio.wait({task}))

    async def _run(
        self, thread_id: str, text: str | None, options: TurnOptions, emit: Any, started: float
    ) -> None:
        task = asyncio.current_task()

        def on_speech(event: Any) -> None:
            emit(event)
            if not isinstance(event, SentenceAudio):  # audio is for this turn's caller only
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
        if task is None or task.done() or task in self._replied or task.cancelling():
            # A second cancel would interrupt the first one's saving of the stopped reply.
            return False
        task.cancel()
        return True

    def busy(self, thread_id: str) -> bool:
        """Whether a turn is running (or saving) on ``thread_id``."""
        return self._locks.busy(thread_id)

    async def delete_thread(self, thread_id: str, *, wait_s: float = 2.0) -> bool:
        """Delete a conversation (its checkpoints and metadata) unless a turn runs on it, in
        this process or any other sharing the store: False then (after ``wait_s`` for a turn
        elsewhere to end). The caller has checked whose conversation it is."""
        if self._locks.busy(thread_id):
            return False
        try:
            held = await asyncio.wait_for(self._locks.acquire(thread_id), wait_s)
        except TimeoutError:
            return False
        await held.run(self.threads.delete(thread_id))  # under the lock; released after
        return True

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
        if self.ears is not None:
            lines += self.ears.statuses()
        for name, part, off in (
            ("eyes", self.eyes, "screen capture is off"),
            ("voice", self.voice, "not available"),
        ):
            lines.append(
                part.service_status() if part is not None else ServiceStatus(name, "off", off)
            )
        return CompanionStatus(str(self.router.mode), answering_model(self.router), tuple(lines))

    def updates(self) -> AsyncIterator[Update]:
        """Status changes, downloads, memory changes and speech, as they happen (no polling)."""
        return self._updates.listen()

    def recheck(self) -> None:
        """Let the models known to be unreachable be probed again soon, in the background (at
        most every retry_remote_after_s): a health check stays cheap and still sees a server
        come back, even in online mode, where nothing else would ask."""
        for part in (self.router, self.vision, self.ears):
            if part is not None:
                part.recheck()

    async def check_services(self) -> CompanionStatus:
        """Probe configured servers once, e.g. at start-up."""
        await self.router.check()
        return self.status()

    async def set_mode(self, mode: Mode) -> None:
        await self.router.set_mode(mode)
        if self.vision is not None:
            await self.vision.set_mode(mode)
        for part in (self.memory, self.ears):
            if part is not None:
                await part.set_mode(mode)
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
            if not task.cancelling():  # a second cancel would interrupt saving the first's
                task.cancel()
        if self._runs:
            await asyncio.wait(set(self._runs))
        await self._after_reply.drain(_DRAIN_TIMEOUT_S)
        for task in self._background:
            task.cancel()
        if self._background:
            await asyncio.wait(self._background)
        for part in (self.memory, self.voice, self.ears, self.eyes, self.vision, self.router):
            if part is not None:
                await part.aclose()
        await self._locks.aclose()  # the last turns' locks go back before their connections
        with contextlib.suppress(Exception):
            await self._parts.close_store()


def _forget_run(
    runs: dict[str, tuple[Trigger, asyncio.Task[None]]], thread_id: str, task: Any
) -> None:
    if thread_id in runs and runs[thread_id][1] is task:
        del runs[thread_id]
