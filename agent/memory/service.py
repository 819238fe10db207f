"""MemoryService: the one handle the agent, the TUI and the CLI use for long-term memory.

Qdrant local lets one process open a store. So the first termmate process to take the lock
``data_dir/memory/owner.lock`` opens it and serves the others over a Unix socket; every other
process (``termmate memory …`` while the TUI runs, a second TUI) becomes its client. When the
owner quits, a client takes the lock and carries on as the owner. All writes go through the one
owner, one at a time, so nothing a process writes can be lost to another.

With ``[store] url`` set, the store is in PostgreSQL and every process opens it itself: no
lock, no socket, no relay (role "shared"); writes and a reindex take turns across processes in
the database, and changes reach every process through it (pg_store.py).

Opening a store can take long (a first-run model download, a big store). Until ``start()`` is
done every operation raises MemoryUnavailable at once and ``usable`` is False; callers that need
memory await ``ready()`` first (a turn, bounded by ``memory.search_timeout_s``; the CLI).

The operations (add, search, …) are generated from their declarations in operations.py, the
same for an owner and a client. Every operation that embeds text carries whether its caller is
in offline mode, so an owner in auto or online mode embeds an offline process's text with the
local model, never the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError

from config import Mode, Settings

from ..broadcast import Broadcast
from ..llm.chat import ChatModels, complete_chat
from ..llm.downloads import Downloads
from ..llm.embeddings import Embedder, Embeddings
from ..llm.types import ChatRequest
from ..status import ServiceStatus
from .client import OwnerGone, RemoteMemory
from .declare import Caller, Operation
from .errors import MemoryStoreError, MemoryUnavailable
from .events import MemoryChanged
from .operations import MemoryOperations
from .paths import StorePaths
from .schemas import MemoryStatus

if TYPE_CHECKING:
    from .engine import MemoryEngine

log = logging.getLogger(__name__)

OWNER_WAIT_S = 60.0
"""How long a client waits for a starting owner before giving up."""
_RETRY_S = 0.05
_STATE_TO_SERVICE = {"starting": "loading", "ok": "ok", "off": "off", "error": "error"}


class MemoryService(Caller, MemoryOperations):
    """Long-term memory for one process, whether it owns the store or reaches it remotely.

    Build it at once (cheap), ``await start()`` in the background, ``await aclose()`` at exit.
    """

    engine_class: ClassVar[type[MemoryEngine] | None] = None
    """What opens the store when this process owns it (None: MemoryEngine)."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        router: ChatModels | None = None,
        downloads: Downloads | None = None,
        on_change: Callable[[], None] | None = None,
        respect_enabled: bool = True,
        owner_wait_s: float = OWNER_WAIT_S,
    ) -> None:
        self.settings = settings
        self.paths = StorePaths(settings.data_dir / "memory")
        self._embedder = embedder
        self._router = router
        self._downloads = downloads
        self._on_change = on_change or (lambda: None)
        self._owner_wait_s = owner_wait_s
        self._disabled = respect_enabled and not settings.memory.enabled
        self._mode = settings.mode
        self._backend: MemoryEngine | RemoteMemory | None = None
        self._engine: MemoryEngine | None = None
        self._server: Any = None
        self._lock_fd: int | None = None
        self._elect_lock = asyncio.Lock()
        self._started = asyncio.Event()
        self._changes: Broadcast[MemoryChanged] = Broadcast()
        self._pump: asyncio.Task[None] | None = None
        self._closed = False
        if self._disabled:
            self._status = MemoryStatus(state="off", detail="memory.enabled is false")
            self._started.set()
        else:
            self._status = MemoryStatus(state="starting", detail="opening the memory store")

    # -- state ---------------------------------------------------------------------------------

    @property
    def status(self) -> MemoryStatus:
        return self._status

    @property
    def started(self) -> bool:
        """Whether ``start()`` has finished (the store is open, or failed to open)."""
        return self._started.is_set()

    @property
    def usable(self) -> bool:
        """Whether memory answers now: started (or taken over), and working."""
        return self._started.is_set() and self._status.state == "ok"

    async def ready(self) -> MemoryStatus:
        """Wait until ``start()`` (run elsewhere) has finished; the status it ended in.

        The CLI awaits it before anything else; a turn awaits it within
        ``memory.search_timeout_s`` (query_memory). Until then, calls raise
        MemoryUnavailable("memory is still starting: …").
        """
        await self._started.wait()
        return self._status

    @property
    def role(self) -> str:
        return self._status.role

    def service_status(self) -> ServiceStatus:
        """The status pane's "memory" line."""
        state = _STATE_TO_SERVICE[self._status.state]
        return ServiceStatus("memory", state, self._status.detail)  # type: ignore[arg-type]

    def statuses(self) -> tuple[ServiceStatus, ...]:
        """The memory line, and, in the process that owns the store, its embedding models'."""
        embedder = self._engine.embedder if self._engine is not None else None
        models = getattr(embedder, "statuses", None)  # a test double may have none
        return (self.service_status(), *(models() if models is not None else ()))

    def _set_status(self, status: MemoryStatus) -> None:
        if status != self._status:
            self._status = status
            self._on_change()

    # -- starting, electing an owner, closing ---------------------------------------------------

    async def start(self) -> None:
        """Open the store here, or connect to the process that has it open."""
        if self._disabled:
            return
        try:
            await self._elect()
        except Exception as exc:
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            log.warning("memory could not start: %s", reason)
            self._set_status(MemoryStatus(state="error", detail=reason))
        finally:
            self._started.set()

    async def _elect(self) -> None:
        async with self._elect_lock:
            if self._backend is not None or self._closed:
                return
            if self.settings.store.shared:
                await self._open_here(serve=False)  # every process opens the database itself
                return
            self.paths.ensure()
            deadline = time.monotonic() + self._owner_wait_s
            while True:
                if self._take_lock():
                    await self._open_here(serve=True)
                    return
                remote = RemoteMemory(self.paths.socket)
                try:
                    await remote.connect()
                except OSError:
                    if time.monotonic() > deadline:
                        raise MemoryUnavailable(
                            f"the memory store is held by {self._owner_pid()}, which does not "
                            f"answer on {self.paths.socket}"
                        ) from None
                    await asyncio.sleep(_RETRY_S)
                    continue
                await self._become_client(remote)
                return

    def _take_lock(self) -> bool:
        fd = os.open(self.paths.owner_lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        return True

    def _owner_pid(self) -> str:
        try:
            pid = self.paths.owner_lock.read_text().strip()
        except OSError:
            pid = ""
        return f"process {pid}" if pid else "another process"

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def _open_here(self, *, serve: bool) -> None:
        """Open the store in this process; ``serve`` it to the others (the store on disk)."""
        from .engine import MemoryEngine

        embedder = self._embedder
        if embedder is None:
            embedder = Embeddings.from_settings(
                self.settings, mode=self._mode, downloads=self._downloads, on_change=self._on_change
            )
        engine_class = self.engine_class or MemoryEngine
        engine = engine_class(self.settings, embedder, chat=self._chat if self._router else None)
        server = await self._serve(engine) if serve else None
        engine.add_listener(self._fanout)
        try:
            await engine.open()
        except BaseException as exc:
            # Give the store up entirely, so that another process (or a retry) can have it.
            if server is not None:
                server.engine_opened(exc)
                await server.aclose()
            with contextlib.suppress(Exception):
                await engine.aclose()
            self._release_lock()
            raise
        self._engine, self._server = engine, server
        if server is not None:
            server.engine_opened()
        self._backend = engine
        self._set_status(engine.status_now())
        how = "owns the store" if serve else "opened the shared store"
        log.info("memory: this process %s (%s)", how, self._status.detail)

    async def _serve(self, engine: MemoryEngine) -> Any:
        """The server for other processes (None when it cannot start: this one still works)."""
        from .server import MemoryServer

        try:
            server = MemoryServer(engine, self.paths.socket)
            await server.start()
        except (OSError, MemoryUnavailable) as exc:
            why = getattr(exc, "reason", None) or exc
            log.warning("cannot serve memory to other processes (%s); serving this one only", why)
            return None
        return server

    async def _become_client(self, remote: RemoteMemory) -> None:
        self._backend = remote
        self._set_status(await remote.status())
        self._pump = asyncio.create_task(self._pump_events(remote), name="termmate-memory-events")
        log.info("memory: using the store of %s", self._owner_pid())

    async def _pump_events(self, remote: RemoteMemory) -> None:
        try:
            async for event in remote.events():
                self._fanout(event)
        except OwnerGone:
            if not self._closed:
                await self._lost_owner(remote)
        except MemoryUnavailable as exc:  # e.g. another user's process answers on the socket
            log.warning("memory changes from the owner stopped: %s", exc.reason)
            self._set_status(MemoryStatus(state="error", detail=exc.reason))

    async def _lost_owner(self, remote: RemoteMemory) -> None:
        if self._backend is remote:
            self._backend = None
            # Not usable while taking over: the graph goes on without memory meanwhile.
            self._set_status(MemoryStatus(state="starting", detail="taking over the memory store"))
            await remote.aclose()
            try:
                await self._elect()
            except Exception as exc:
                reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
                self._set_status(MemoryStatus(state="error", detail=reason))
            if self._backend is not None:
                await self._refresh_status()

    async def _backend_for_call(self) -> MemoryEngine | RemoteMemory:
        if not self._started.is_set():
            raise MemoryUnavailable(f"memory is still starting: {self._status.detail}")
        if self._disabled:
            raise MemoryUnavailable("memory is turned off (memory.enabled = false)")
        if self._backend is None:
            await self._elect()
        if self._backend is None:
            raise MemoryUnavailable(f"memory is unavailable: {self._status.detail}")
        return self._backend

    async def perform(self, op: Operation, arguments: dict[str, Any]) -> Any:
        """Carry out ``op`` on the store, here or in the owning process (every operation
        method, see operations.py, comes here with its checked arguments)."""
        if op.flags.embeds:
            arguments = {**arguments, "offline": self._offline}
        chunked = op.flags.chunked
        if chunked is not None:
            # Bounded requests, however long the sequence; each part is safe to repeat.
            results = []
            for part in chunked.split(arguments[chunked.argument]):
                results.append(await self._on_backend(op, {**arguments, chunked.argument: part}))
            result = chunked.merge(results)
        else:
            result = await self._on_backend(op, arguments)
        if op.flags.refreshes_status:
            await self._refresh_status()
        return result

    async def _on_backend(self, op: Operation, arguments: dict[str, Any]) -> Any:
        for _ in range(2):
            backend = await self._backend_for_call()
            try:
                return await backend.perform(op, arguments)
            except OwnerGone:
                await self._lost_owner(backend)  # type: ignore[arg-type]
            except ValidationError as exc:  # a record the store could not hand out
                raise MemoryStoreError(f"memory {op.name} failed: {exc}") from exc
        raise MemoryUnavailable("the process that owned the memory store went away twice")

    async def _refresh_status(self) -> None:
        backend = self._backend
        if backend is None:
            return
        with contextlib.suppress(Exception):
            self._set_status(await backend.status())

    @property
    def _offline(self) -> bool:
        """Sent with every request that embeds: the owner may be in another mode."""
        return self._mode is Mode.OFFLINE

    async def set_mode(self, mode: Mode) -> None:
        """Follow the companion's mode (offline: local embeddings only, no network)."""
        self._mode = mode
        if self._engine is not None and hasattr(self._engine.embedder, "set_mode"):
            await self._engine.embedder.set_mode(mode)
            await self._refresh_status()

    async def aclose(self) -> None:
        """Stop serving (letting running requests finish), close the store, free the lock."""
        if self._closed:
            return
        self._closed = True
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump
        backend, self._backend = self._backend, None
        if self._server is not None:
            await self._server.aclose()
        if self._engine is not None:
            await self._engine.aclose()
        elif backend is not None:
            await backend.aclose()
        self._release_lock()

    # -- changes -------------------------------------------------------------------------------

    def _fanout(self, event: MemoryChanged) -> None:
        self._changes.publish(event)
        if self._engine is not None:
            self._set_status(self._engine.status_now())

    def changes(self) -> AsyncIterator[MemoryChanged]:
        """Every change to the store, from this process or any other, as it happens."""
        return self._changes.listen()

    # -- mem0's chat model ----------------------------------------------------------------------

    async def _chat(self, messages: list[dict[str, Any]]) -> str:
        request = ChatRequest(messages=messages, max_tokens=1024, temperature=0.1)  # type: ignore[arg-type]
        text, _ = await complete_chat(self._router, request)
        return text


def open_memory(
    settings: Settings,
    *,
    router: ChatModels | None = None,
    downloads: Downloads | None = None,
    on_change: Callable[[], None] | None = None,
    embedder: Embedder | None = None,
) -> MemoryService:
    """The Companion's memory (not started yet: ``await service.start()`` in the background)."""
    return MemoryService(
        settings, router=router, downloads=downloads, on_change=on_change, embedder=embedder
    )


async def with_memory(
    settings: Settings, work: Callable[[MemoryService], Awaitable[Any]], **kwargs: Any
) -> Any:
    """Start a service (ignoring memory.enabled: for the CLI), run ``work``, close it."""
    service = MemoryService(settings, respect_enabled=False, **kwargs)
    await service.start()
    await service.ready()
    try:
        return await work(service)
    finally:
        await service.aclose()
