"""Choose the model that answers: remote, local, or remote with a local fallback (auto mode)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from config import Mode, Settings

from .errors import ModelError, NoModelAvailable
from .local import LocalChat
from .remote import RemoteChat
from .types import ChatRequest, ProgressCallback, RemoteHealth, Routed, RouterEvent, Token

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LocalHealth:
    """What the router knows about the in-process model."""

    model: str
    loaded: bool
    last_latency_ms: float | None = None


class ModelRouter:
    """Streams answers from the backend the mode allows, falling back in auto mode.

    While the remote is down in auto mode, turns go straight to the local model and a cheap
    probe (GET /v1/models every ``llm.probe_interval_s``) watches for its return. Nothing runs
    while the remote is healthy and nobody is talking.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        progress: ProgressCallback | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_change = on_change or (lambda: None)
        self.mode = settings.mode
        self.local = LocalChat(
            settings.local,
            settings.models_dir,
            allow_download=self.mode is not Mode.OFFLINE,
            progress=progress,
        )
        self.remote: RemoteChat | None = None
        self._fallback_reason: str | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._remote_health = RemoteHealth("unknown")
        self._local_latency_ms: float | None = None
        self._apply_mode()

    # -- state --------------------------------------------------------------------------------

    @property
    def fallback_reason(self) -> str | None:
        """Why the local model is answering in auto mode, or None when it is not."""
        return self._fallback_reason

    @property
    def remote_health(self) -> RemoteHealth:
        return self._remote_health

    @property
    def local_health(self) -> LocalHealth:
        return LocalHealth(self.local.model_label, self.local.worker.loaded, self._local_latency_ms)

    def answering_backend(self) -> str:
        """Which backend the next turn will use: "remote" or "local"."""
        if self.remote is None or self._fallback_reason is not None:
            return "local"
        return "remote"

    async def set_mode(self, mode: Mode) -> None:
        """Switch mode now; offline closes the remote connection pool at once."""
        if mode is self.mode:
            return
        self.mode = mode
        await self._stop_probe()
        if mode is Mode.OFFLINE and self.remote is not None:
            remote, self.remote = self.remote, None
            await remote.aclose()
        self._fallback_reason = None
        self._apply_mode()
        self._on_change()

    def _apply_mode(self) -> None:
        self.local.worker.allow_download = self.mode is not Mode.OFFLINE
        llm = self._settings.llm
        if self.mode is Mode.OFFLINE:
            self._remote_health = RemoteHealth("disabled", "offline mode", llm.url, llm.model)
        elif not llm.configured:
            self._remote_health = RemoteHealth("not_configured", "set TERMMATE_LLM__URL")
        else:
            if self.remote is None:
                self.remote = RemoteChat(llm)
            self._remote_health = RemoteHealth("unknown", None, llm.url, self.remote.model_label)

    # -- answering ------------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[RouterEvent]:
        """Yield ``Routed`` (which model answers) then ``Token``s; see ``Routed.restarted``."""
        if self.remote is None:
            if self.mode is Mode.ONLINE:
                raise NoModelAvailable(
                    "online mode needs a remote model: set TERMMATE_LLM__URL (an OpenAI-compatible "
                    "base URL ending in /v1), or switch to auto or offline mode"
                )
            async for event in self._stream_local(request, fallback_reason=None, restarted=False):
                yield event
            return
        if self.mode is Mode.AUTO and self._fallback_reason is not None:
            async for event in self._stream_local(request, self._fallback_reason, restarted=False):
                yield event
            return

        remote = self.remote
        started = time.perf_counter()
        produced = False
        try:
            async for text in remote.stream(request):
                if not produced:
                    produced = True
                    self._remote_ok(remote, latency_ms=(time.perf_counter() - started) * 1000)
                    yield Routed("remote", remote.model_label)
                yield Token(text)
            if not produced:
                self._remote_ok(remote, latency_ms=(time.perf_counter() - started) * 1000)
                yield Routed("remote", remote.model_label)
        except ModelError as exc:
            if self.remote is not remote:
                # The mode changed under this reply (e.g. to offline, which closed the remote).
                if self.mode is Mode.ONLINE:
                    raise
                reason = f"switched to {self.mode} mode mid-reply"
                async for event in self._stream_local(request, reason, restarted=produced):
                    yield event
                return
            self._remote_failed(remote, exc.reason)
            if self.mode is Mode.ONLINE:
                raise
            log.warning("remote model failed, answering locally: %s", exc.reason)
            self._enter_fallback(exc.reason)
            async for event in self._stream_local(request, exc.reason, restarted=produced):
                yield event

    async def _stream_local(
        self, request: ChatRequest, fallback_reason: str | None, restarted: bool
    ) -> AsyncIterator[RouterEvent]:
        started = time.perf_counter()
        first = True
        try:
            yield Routed("local", self.local.model_label, fallback_reason, restarted)
            async for text in self.local.stream(request):
                if first:
                    first = False
                    self._local_latency_ms = (time.perf_counter() - started) * 1000
                    self._on_change()
                yield Token(text)
        except NoModelAvailable as exc:
            if fallback_reason is None:
                raise
            raise NoModelAvailable(
                f"the remote model is unavailable ({fallback_reason}) and the local model "
                f"cannot run: {exc.reason}"
            ) from exc

    # -- health ----------------------------------------------------------------------------

    async def check_remote(self) -> RemoteHealth:
        """Probe the remote once (e.g. at start-up) so the status is right before the first turn."""
        if self.remote is None:
            return self._remote_health
        remote = self.remote
        try:
            await remote.resolve_model()
            await remote.probe()
        except ModelError as exc:
            self._remote_failed(remote, exc.reason)
            if self.mode is Mode.AUTO and self.remote is remote:
                self._enter_fallback(exc.reason)
        else:
            self._remote_ok(remote, latency_ms=self._remote_health.last_latency_ms)
        return self._remote_health

    def _remote_ok(self, remote: RemoteChat, latency_ms: float | None) -> None:
        if remote is not self.remote:
            return  # news about a remote this router no longer uses
        self._remote_health = RemoteHealth("ok", None, remote.url, remote.model_label, latency_ms)
        self._on_change()

    def _remote_failed(self, remote: RemoteChat, reason: str) -> None:
        if remote is not self.remote:
            return
        self._remote_health = RemoteHealth(
            "unreachable",
            reason,
            remote.url,
            remote.model_label,
            self._remote_health.last_latency_ms,
        )
        self._on_change()

    def _enter_fallback(self, reason: str) -> None:
        self._fallback_reason = reason
        if self._probe_task is None or self._probe_task.done():
            self._probe_task = asyncio.create_task(self._probe_until_back(), name="termmate-probe")
        self._on_change()

    async def _probe_until_back(self) -> None:
        interval = self._settings.llm.probe_interval_s
        while self._fallback_reason is not None and self.remote is not None:
            await asyncio.sleep(interval)
            remote = self.remote
            if remote is None:
                return
            try:
                await remote.probe()
            except ModelError as exc:
                log.debug("remote still down: %s", exc.reason)
                self._remote_failed(remote, exc.reason)
                continue
            log.info("remote model is back; answering remotely again")
            self._fallback_reason = None
            self._remote_ok(remote, latency_ms=self._remote_health.last_latency_ms)

    async def _stop_probe(self) -> None:
        task, self._probe_task = self._probe_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def aclose(self) -> None:
        await self._stop_probe()
        if self.remote is not None:
            await self.remote.aclose()
        await self.local.aclose()
