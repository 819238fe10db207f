"""One way to reach a model: the remote server when the mode allows and it answers, else the
model in this process.

Chat, sight, embeddings and hearing each have a remote backend (an HTTP server) and a local one
(in-process); each is a ``Fallback`` over its pair. The policy, once for all of them:

- **offline**: the local backend only. The remote is closed and never built; nothing is
  downloaded; no connection is opened.
- **online**: the remote only; its failures are the caller's errors.
- **auto**: the remote while it works. When it fails, the same call is answered by the local
  backend, with the reason (``fallback_reason``); from then on the local one answers, while a
  cheap probe (``RemoteBackend.probe``) checks at most every ``retry_remote_after_s`` whether the
  remote is back, and the first probe that succeeds hands calls back to it. Nothing is sent while
  the remote is healthy and idle. Without a local model there is nothing to fall back to: every
  call goes to the remote.

``local_only()`` is the same local backend for a caller in offline mode while this process is
not (another process asking the memory owner to embed): it never downloads and never uses the
network. Each Fallback reports two status lines, ``remote <noun>`` and ``local <noun>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from config import Mode, ServiceStatus

from .backends import LocalBackend, RemoteBackend
from .downloads import Downloads
from .errors import ModelError, NoModelAvailable, RequestRejected

if TYPE_CHECKING:
    from .local_only import LocalOnly

log = logging.getLogger(__name__)

T = TypeVar("T")


R = TypeVar("R", bound=RemoteBackend)
L = TypeVar("L", bound=LocalBackend)


@dataclass(frozen=True, slots=True)
class ModelKind:
    """What a Fallback routes, in the words its status lines and errors use."""

    noun: str
    """"model" (chat), "vision model", "embedding model", "speech recogniser"."""
    remote_env: str
    """The setting that names the server, e.g. TERMMATE_LLM__URL."""
    local_env: str
    """The setting that names the local model, e.g. TERMMATE_LOCAL__CHAT_MODEL."""
    remote_form: str = "an OpenAI-compatible base URL ending in /v1"


@dataclass(frozen=True, slots=True)
class RemoteHealth:
    """What the Fallback last learnt about its remote."""

    state: str
    """"ok", "unreachable", "unknown" (not asked yet), "not_configured" or "off" (offline)."""
    reason: str | None = None
    latency_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Choice(Generic[T]):
    """The backend a call goes to, and why the local one when it is the local one."""

    backend: T
    remote: bool
    fallback_reason: str | None = None


class Fallback(Generic[R, L]):
    """The remote/local policy for one kind of model (see the module's docstring)."""

    def __init__(
        self,
        kind: ModelKind,
        *,
        mode: Mode,
        make_remote: Callable[[], R] | None,
        local: L,
        retry_remote_after_s: float,
        downloads: Downloads | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        """``make_remote``: builds the remote backend (None: no server is configured); it is
        called only when the mode allows a remote, so offline mode never builds one."""
        self.kind = kind
        self.local = local
        self.remote: R | None = None
        self._make_remote = make_remote
        self._retry_after_s = retry_remote_after_s
        self._downloads = downloads
        self._on_change = on_change or (lambda: None)
        self._mode = Mode(mode)
        self._fallback_reason: str | None = None
        self._health = RemoteHealth("unknown")
        self._local_error: str | None = None
        self._local_latency_ms: float | None = None
        self._probe: asyncio.Task[None] | None = None
        self._recheck: asyncio.Task[bool] | None = None
        self._last_probe = 0.0
        self._apply_mode()

    # -- state -------------------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def fallback_reason(self) -> str | None:
        """Why the local model answers in auto mode although a remote is set (None: it does not)."""
        return self._fallback_reason

    @property
    def remote_health(self) -> RemoteHealth:
        return self._health

    @property
    def configured(self) -> bool:
        """Whether this mode has any model to ask."""
        remote, local = self.remote is not None, self.local.configured
        if self._mode is Mode.ONLINE:
            return remote
        if self._mode is Mode.OFFLINE:
            return local
        return remote or local

    def answering(self) -> str | None:
        """Which backend the next call goes to: "remote", "local", or None (neither)."""
        try:
            return "remote" if self.choose().remote else "local"
        except NoModelAvailable:
            return None

    @property
    def label(self) -> str:
        """The model the next call goes to, with the fallback reason when there is one."""
        try:
            choice = self.choose()
        except NoModelAvailable:
            return f"(no {self.kind.noun})"
        if choice.fallback_reason:
            return f"{choice.backend.label} (fallback: {choice.fallback_reason})"
        return choice.backend.label

    # -- modes -------------------------------------------------------------------------------

    async def set_mode(self, mode: Mode) -> None:
        """Switch mode now; offline closes the remote connection pool at once."""
        mode = Mode(mode)
        if mode is self._mode:
            return
        self._mode = mode
        await self._stop_probing()
        if mode is Mode.OFFLINE and self.remote is not None:
            remote, self.remote = self.remote, None
            await remote.aclose()
        self._fallback_reason = None
        self._local_error = None
        self._apply_mode()
        self._on_change()

    def _apply_mode(self) -> None:
        if self._mode is Mode.OFFLINE:
            self._health = RemoteHealth("off", "offline mode")
        elif self._make_remote is None:
            self._health = RemoteHealth("not_configured", f"set {self.kind.remote_env}")
        else:
            if self.remote is None:
                self.remote = self._make_remote()
            if self._health.state in ("off", "not_configured"):
                self._health = RemoteHealth("unknown")

    # -- choosing ------------------------------------------------------------------------------

    def choose(self) -> Choice[R | L]:
        """The backend the next call goes to; NoModelAvailable (saying what to set) when the
        mode has none."""
        if self._mode is Mode.ONLINE:
            if self.remote is None:
                raise NoModelAvailable(
                    f"online mode needs a remote {self.kind.noun}: set {self.kind.remote_env} "
                    f"({self.kind.remote_form}), or switch to auto or offline mode"
                )
            return Choice(self.remote, True)
        if self._mode is Mode.AUTO and self.remote is not None:
            if self._fallback_reason is None or not self.local.configured:
                return Choice(self.remote, True)
            return Choice(self.local, False, self._fallback_reason)
        if not self.local.configured:
            if self._mode is Mode.OFFLINE:
                raise NoModelAvailable(
                    f"offline mode needs a local {self.kind.noun}: set {self.kind.local_env}"
                )
            raise NoModelAvailable(
                f"no {self.kind.noun} configured (set {self.kind.remote_env} or "
                f"{self.kind.local_env})"
            )
        return Choice(self.local, False)

    def remote_failed(self, choice: Choice[R | L], error: ModelError) -> Choice[L] | None:
        """The remote of ``choice`` failed with ``error``: the local choice to answer the same
        call with, or None when the caller must raise ``error`` (online mode, no local model)."""
        if choice.backend is not self.remote:
            # The mode changed under the call (offline closed that remote): finish locally.
            if self._mode is Mode.ONLINE or not self.local.configured:
                return None
            return Choice(self.local, False, f"switched to {self._mode} mode mid-call")
        if _refused_only_this(error):
            # The server is up and answered: only this request was wrong for it (too long, a
            # bad parameter). The remote stays healthy; in auto mode the local model may try.
            if self._mode is not Mode.AUTO or not self.local.configured:
                return None
            return Choice(self.local, False, error.reason)
        self._health = RemoteHealth("unreachable", error.reason, self._health.latency_ms)
        self._on_change()
        if self._mode is not Mode.AUTO or not self.local.configured:
            return None
        log.warning("remote %s failed, using the local one: %s", self.kind.noun, error.reason)
        self._fallback_reason = error.reason
        self._start_probing()
        self._on_change()
        return Choice(self.local, False, error.reason)

    def remote_answered(self, choice: Choice[R | L], latency_ms: float | None = None) -> None:
        """The remote of ``choice`` answered (its first token, for a stream)."""
        if choice.backend is not self.remote:
            return  # news about a remote this Fallback no longer uses
        self._health = RemoteHealth("ok", None, latency_ms)
        if self._fallback_reason is not None:  # answered although falling back: no local model
            self._fallback_reason = None
        self._on_change()

    async def prepare_local(self, choice: Choice[L]) -> None:
        """Load the local model for ``choice`` (downloading only outside offline mode)."""
        try:
            await self.local.prepare(allow_download=self._mode is not Mode.OFFLINE)
        except NoModelAvailable as exc:
            raise self.local_failed(exc, choice.fallback_reason) from exc

    def local_failed(
        self, error: NoModelAvailable, fallback_reason: str | None
    ) -> NoModelAvailable:
        """The error for a local model that cannot run: the one wording when the remote had
        failed too."""
        self._local_error = error.reason
        self._on_change()
        if fallback_reason is None:
            return error
        return NoModelAvailable(
            f"the remote {self.kind.noun} is unavailable ({fallback_reason}) and the local one "
            f"cannot run: {error.reason}"
        )

    def local_answered(self, latency_ms: float | None = None) -> None:
        """The local backend answered (its first token, for a stream)."""
        if latency_ms is not None:
            self._local_latency_ms = latency_ms
        self._local_error = None
        self._on_change()

    @property
    def local_latency_ms(self) -> float | None:
        """How long the local backend last took to start answering."""
        return self._local_latency_ms

    async def call(self, operation: Callable[[R | L], Awaitable[T]]) -> tuple[T, Choice[R | L]]:
        """``operation(backend)`` on the backend the policy chooses, falling back in auto mode;
        returns its result and the choice that produced it."""
        choice = self.choose()
        if choice.remote:
            started = time.perf_counter()
            try:
                result = await operation(choice.backend)
            except ModelError as exc:
                local = self.remote_failed(choice, exc)
                if local is None:
                    raise
                choice = local
            else:
                self.remote_answered(choice, (time.perf_counter() - started) * 1000)
                return result, choice
        await self.prepare_local(choice)  # type: ignore[arg-type]
        started = time.perf_counter()
        try:
            result = await operation(choice.backend)
        except NoModelAvailable as exc:
            raise self.local_failed(exc, choice.fallback_reason) from exc
        self.local_answered((time.perf_counter() - started) * 1000)
        return result, choice

    def local_only(self) -> LocalOnly[L]:
        """The local backend alone, for a caller in offline mode: no network, no download."""
        from .local_only import LocalOnly

        return LocalOnly(self)

    # -- the way back ------------------------------------------------------------------------

    async def check(self) -> RemoteHealth:
        """Probe the remote once now (e.g. at start-up), so the status is right before the
        first call; in auto mode a failure starts the fallback."""
        remote = self.remote
        if remote is None:
            return self._health
        choice: Choice[R | L] = Choice(remote, True)
        try:
            await remote.probe()
        except ModelError as exc:
            self.remote_failed(choice, exc)
        else:
            self.remote_answered(choice, self._health.latency_ms)
        return self._health

    def recheck(self) -> None:
        """Probe a remote known to be unreachable once more, in the background, unless one was
        probed within retry_remote_after_s (or is being probed): a status that stays right in
        every mode without any call waiting for it, e.g. for a health check."""
        busy = any(task is not None and not task.done() for task in (self._probe, self._recheck))
        due = time.monotonic() - self._last_probe >= self._retry_after_s
        if self.remote is not None and self._health.state == "unreachable" and due and not busy:
            self._recheck = asyncio.create_task(self._probe_once(), name="termmate-probe")

    async def _probe_once(self) -> bool:
        """Ask the remote once; True when it answered (the fallback, if any, is over)."""
        remote = self.remote
        if remote is None:
            return False
        self._last_probe = time.monotonic()
        try:
            await remote.probe()
        except ModelError as exc:
            log.debug("remote %s still down: %s", self.kind.noun, exc.reason)
            self._health = RemoteHealth("unreachable", exc.reason, self._health.latency_ms)
            return False
        log.info("the remote %s is back", self.kind.noun)
        self._fallback_reason = None
        self._health = RemoteHealth("ok", None, self._health.latency_ms)
        self._on_change()
        return True

    def _start_probing(self) -> None:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._probe_until_back(), name="termmate-probe")

    async def _probe_until_back(self) -> None:
        while self._fallback_reason is not None and self.remote is not None:
            await asyncio.sleep(self._retry_after_s)
            if await self._probe_once():
                return

    async def _stop_probing(self) -> None:
        for task in (self._probe, self._recheck):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._probe = self._recheck = None

    # -- status --------------------------------------------------------------------------------

    def statuses(self) -> tuple[ServiceStatus, ServiceStatus]:
        """The status pane's "remote <noun>" and "local <noun>" lines."""
        return self._remote_status(), self._local_status()

    def _remote_status(self) -> ServiceStatus:
        name = f"remote {self.kind.noun}"
        health = self._health
        if health.state == "not_configured":
            return ServiceStatus(name, "not_configured", health.reason)
        if health.state == "off":
            return ServiceStatus(name, "off", health.reason)
        assert self.remote is not None
        where = f"{self.remote.label} at {self.remote.url}"
        if health.state == "unreachable":
            return ServiceStatus(name, "unreachable", health.reason)
        return ServiceStatus(name, "ok" if health.state == "ok" else "unknown", where)

    def _local_status(self) -> ServiceStatus:
        name = f"local {self.kind.noun}"
        local = self.local
        download = self._downloads.active(self.kind.noun) if self._downloads else None
        if download is not None:
            done, total = download.done, download.total
            share = f"{done * 100 // total}%" if total else f"{done // 1_000_000} MB"
            return ServiceStatus(name, "loading", f"downloading {share}")
        if not local.configured:
            return ServiceStatus(name, "not_configured", f"set {self.kind.local_env}")
        if self._local_error is not None and not local.loaded:
            return ServiceStatus(name, "error", self._local_error)
        if local.loaded:
            return ServiceStatus(name, "ok", local.label)
        return ServiceStatus(name, "off", f"{local.label}, loads on first use")

    async def aclose(self) -> None:
        await self._stop_probing()
        if self.remote is not None:
            await self.remote.aclose()
        await self.local.aclose()


# Statuses a server answers for one request it will not take; every other refusal (401, 403,
# 404: a key or a model name is wrong) holds for every request, so the remote counts as down.
_REQUEST_STATUSES = frozenset({400, 413, 422})


def _refused_only_this(error: ModelError) -> bool:
    return isinstance(error, RequestRejected) and error.status_code in _REQUEST_STATUSES
