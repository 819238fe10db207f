"""Running the service: the socket, the Companion, uvicorn, the ready line and the signals.

The socket is bound here, before anything heavy, so a port that cannot be had is said at
once and port 0's real port is known. Once uvicorn listens on it and the Companion is built,
exactly one line goes to stdout, ``{"event": "ready", "url": …, "pid": …}``, for a front end
that spawned the service; everything else goes to the log file and stderr.

SIGTERM, SIGINT and SIGHUP stop the service: no new connection or turn is taken, replies in
flight get ``[server] shutdown_grace_s`` to finish and are then stopped (saved, marked
stopped; a second signal stops them at once), memory updates are drained
(``Companion.aclose``), and ``serve`` returns: the command exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from config import ServerSettings, Settings

from ._auth import is_loopback

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Longer than the idle timeouts of common load balancers (60 s), so a balancer never sends a
# request on a connection uvicorn is closing at that moment.
_KEEP_ALIVE_S = 75
# uvicorn's own bound on the shutdown, past our grace: by then every reply has been stopped,
# and only a request stuck elsewhere is left for uvicorn to cancel.
_BACKSTOP_S = 15.0
_BACKLOG = 2048
_PROBE_TIMEOUT_S = 5.0


class ServeRefused(Exception):
    """The service cannot start as configured; ``reason`` says what to change."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def serve(settings: Settings) -> None:
    """Serve until a stop signal, then shut down cleanly (see the module's docstring).

    Raises ServeRefused (a setting to change), and agent.errors.StartupError or CorruptData
    when the Companion cannot be built, as ``termmate ask`` reports them.
    """
    check_exposure(settings.server)
    settings.audio.enabled = False  # never plays sound: speech is made for the answers only
    # Each running turn holds a database connection for its thread's lock (a shared store):
    # a smaller pool would queue turns that have a slot.
    turns = settings.server.max_concurrent_turns + 2
    if settings.store.shared and settings.store.pool_size < turns:
        settings.store.pool_size = min(turns, 200)
    sock = listen(settings.server.host, settings.server.port)
    try:
        asyncio.run(_serve(settings, sock))
    finally:
        sock.close()


def check_exposure(server: ServerSettings) -> None:
    """ServeRefused when the service would listen beyond this machine without a token."""
    if server.token is None and not is_loopback(server.host):
        raise ServeRefused(
            f"refusing to listen on {server.host} without a token: anyone who can reach it "
            "could talk as any user and read their conversations. Set TERMMATE_SERVER__TOKEN "
            "(or token in [server]); clients then send Authorization: Bearer TOKEN"
        )


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port the OS chooses)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ServeRefused(
            f"cannot listen on {host!r} ({exc.strerror}); set --host (or [server] host) to an "
            "address of this machine, e.g. 127.0.0.1"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        raise ServeRefused(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port "
            "(0 lets the OS choose one)"
        ) from None
    return sock


def url_of(host: str, sock: socket.socket) -> str:
    """The service's base URL, with the port it really got."""
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def _serve(settings: Settings, sock: socket.socket) -> None:
    from agent import Companion

    shutdown = _Shutdown(settings.server.shutdown_grace_s)
    with shutdown.handling_signals(asyncio.get_running_loop()):
        companion = await Companion.create(settings)
        try:
            if shutdown.signum is None:  # not stopped while the Companion was being built
                await _run_uvicorn(companion, settings, sock, shutdown)
        finally:
            await companion.aclose()  # stops what is left, drains memory updates
    log.info("termmate serve stopped")


async def _run_uvicorn(
    companion: Any, settings: Settings, sock: socket.socket, shutdown: _Shutdown
) -> None:
    from ._app import create_app
    from ._service import Service

    service = Service.of(companion, settings)
    config = uvicorn.Config(
        create_app(service),
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,  # our handlers: the log file and stderr
        access_log=False,
        proxy_headers=False,  # no X-Forwarded-For from whoever asks
        server_header=False,
        # Longer than clients and proxies keep idle connections (httpx 5 s, nginx's upstream
        # keepalive 60 s): they close first, and never send a request on a connection this
        # side has just closed (the client would see a reset, not an answer).
        timeout_keep_alive=_KEEP_ALIVE_S,
        timeout_graceful_shutdown=int(settings.server.shutdown_grace_s + _BACKSTOP_S),
    )
    url = url_of(settings.server.host, sock)
    server = _Uvicorn(config, on_ready=lambda: announce_ready(url))
    await _probe(companion)
    shutdown.attach(server, service.slots)
    try:
        await server.serve(sockets=[sock])
    finally:
        shutdown.detach()


def announce_ready(url: str) -> None:
    """The one line a spawning front end waits for on stdout."""
    line = json.dumps({"event": "ready", "url": url, "pid": os.getpid()})
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    log.info("termmate serve listening on %s", url)


async def _probe(companion: Any) -> None:
    """Ask the configured model servers once before saying ready, so /health is right from
    the first call (a server that does not answer within _PROBE_TIMEOUT_S is left to the
    turns to find out about)."""
    try:
        await asyncio.wait_for(companion.check_services(), _PROBE_TIMEOUT_S)
    except Exception:  # a probe is advice: the turns say the rest
        log.warning("the start-up probe of the model servers failed", exc_info=True)


class _Uvicorn(uvicorn.Server):
    """uvicorn's Server, announcing readiness, and leaving the signals to termmate."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would put in handlers of its own (a second Ctrl+C would then kill replies
        # mid-save) and raise the signal again once shut down; _Shutdown is the one handler.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._on_ready()


class _Shutdown:
    """The stop signals: the first begins the shutdown, a second ends the grace at once."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.signum: int | None = None
        self._server: Any = None
        self._slots: Any = None
        self._timer: asyncio.TimerHandle | None = None

    @contextlib.contextmanager
    def handling_signals(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.receive, sig)
        try:
            yield
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)

    def receive(self, signum: int) -> None:
        if self.signum is not None:
            log.info("%s again: stopping the replies now", signal.Signals(signum).name)
            if self._slots is not None:
                self._slots.stop_all()
            return
        self.signum = signum
        log.info(
            "%s: shutting down (replies get %g s to finish)",
            signal.Signals(signum).name,
            self.grace_s,
        )
        if self._server is not None:
            self._begin()

    def attach(self, server: Any, slots: Any) -> None:
        self._server, self._slots = server, slots
        if self.signum is not None:
            self._begin()

    def detach(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._server = self._slots = None

    def _begin(self) -> None:
        self._server.should_exit = True  # uvicorn stops listening, then waits for requests
        self._slots.close()
        self._timer = asyncio.get_running_loop().call_later(self.grace_s, self._slots.stop_all)
