"""Reaching the shared PostgreSQL: connections, pools, the vector extension, clear errors.

Every message names the database by host, port and name (``config.describe_database``), never
by its URL, which may hold the password. psycopg is imported only here and only when
``[store] url`` is set: the embedded stores never load it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from config import StoreSettings, redact_secrets

from ..errors import StartupError

# Session-level advisory locks are keyed by one bigint; termmate's keys are hashes of a name
# ("setup", "thread:t-1234", ...) in this namespace, so they never meet another program's.
_NAMESPACE = "termmate:"


class StoreUnavailable(StartupError):
    """The shared database cannot be used: unreachable, refusing us, or missing pgvector.
    ``reason`` names the host (never the password) and what to do."""

    exit_code = 1


def advisory_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` (the same in every process)."""
    digest = hashlib.blake2b((_NAMESPACE + name).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Database:
    """The one PostgreSQL of ``[store] url``: how every part of termmate connects to it."""

    def __init__(self, settings: StoreSettings) -> None:
        if settings.url is None:
            raise ValueError("store.url is not set")
        self._url = settings.url.get_secret_value()
        self.where = settings.where
        """The database, fit to show: ``database NAME on HOST:PORT``."""
        self.pool_size = settings.pool_size
        self.timeout_s = settings.connect_timeout_s

    # -- errors --------------------------------------------------------------------------------

    def unavailable(self, exc: BaseException, doing: str = "connect to") -> StoreUnavailable:
        """The start-up (or turn) error for a database problem ``exc``."""
        reason = redact_secrets(" ".join(str(exc).split())) or type(exc).__name__
        return StoreUnavailable(
            f"cannot {doing} the {self.where} ({reason}). Check that PostgreSQL runs there and "
            "that store.url (TERMMATE_STORE__URL) has the right host, database, user and "
            "password"
        )

    # -- connections ---------------------------------------------------------------------------

    def _kwargs(self, **extra: Any) -> dict[str, Any]:
        return {
            "connect_timeout": max(1, round(self.timeout_s)),
            "application_name": "termmate",
            **extra,
        }

    async def connect(self, **extra: Any) -> Any:
        """A new asynchronous connection (psycopg.AsyncConnection), autocommit by default."""
        import psycopg

        extra.setdefault("autocommit", True)
        try:
            return await asyncio.wait_for(
                psycopg.AsyncConnection.connect(self._url, **self._kwargs(**extra)),
                self.timeout_s + 1,
            )
        except (psycopg.Error, OSError, TimeoutError) as exc:
            raise self.unavailable(exc) from None

    def connect_sync(self, **extra: Any) -> Any:
        """A new synchronous connection (psycopg.Connection), autocommit by default."""
        import psycopg

        extra.setdefault("autocommit", True)
        try:
            return psycopg.Connection.connect(self._url, **self._kwargs(**extra))
        except (psycopg.Error, OSError) as exc:
            raise self.unavailable(exc) from None

    async def pool(
        self,
        *,
        name: str,
        min_size: int = 1,
        configure: Callable[[Any], Awaitable[None]] | None = None,
        **extra: Any,
    ) -> Any:
        """An open asynchronous pool (psycopg_pool.AsyncConnectionPool) of autocommit
        connections; a connection the server dropped is replaced before it is handed out.
        ``configure(conn)`` runs on each new connection (e.g. registering a type)."""
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(
            **self._pool_options(AsyncConnectionPool, name, min_size, configure, extra)
        )
        try:
            await pool.open(wait=True, timeout=self.timeout_s)
        except Exception as exc:
            await pool.close()
            raise self.unavailable(exc) from None
        return pool

    def sync_pool(
        self,
        *,
        name: str,
        min_size: int = 1,
        configure: Callable[[Any], None] | None = None,
        **extra: Any,
    ) -> Any:
        """An open synchronous pool (psycopg_pool.ConnectionPool), as ``pool``."""
        from psycopg_pool import ConnectionPool

        pool = ConnectionPool(
            **self._pool_options(ConnectionPool, name, min_size, configure, extra)
        )
        try:
            pool.open(wait=True, timeout=self.timeout_s)
        except Exception as exc:
            pool.close()
            raise self.unavailable(exc) from None
        return pool

    def _pool_options(
        self, kind: Any, name: str, min_size: int, configure: Any, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """What both kinds of pool are built with (opened by the caller, bounded in time)."""
        extra.setdefault("autocommit", True)
        return {
            "conninfo": self._url,
            "kwargs": self._kwargs(**extra),
            "min_size": min_size,
            "max_size": max(min_size, self.pool_size),
            "name": f"termmate-{name}",
            "open": False,
            "timeout": self.timeout_s,
            "check": kind.check_connection,
            "configure": configure,
        }

    # -- set-up --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def setup_lock(self) -> AsyncIterator[Any]:
        """Hold the set-up lock (one process creates or migrates tables at a time: two servers
        starting together would race on CREATE TABLE); yields its connection."""
        conn = await self.connect()
        try:
            await conn.execute("SELECT pg_advisory_lock(%s)", (advisory_key("setup"),))
            yield conn
        finally:
            with contextlib.suppress(Exception):
                await conn.close()  # closing the session releases its advisory locks

    @contextlib.contextmanager
    def setup_lock_sync(self) -> Iterator[Any]:
        """``setup_lock`` for synchronous code (the memory store's thread)."""
        conn = self.connect_sync()
        try:
            conn.execute("SELECT pg_advisory_lock(%s)", (advisory_key("setup"),))
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def ensure_vector(self, conn: Any) -> None:
        """Make sure the ``vector`` extension (pgvector) is there, creating it if allowed;
        StoreUnavailable saying exactly what is missing otherwise (synchronous ``conn``)."""
        import psycopg

        row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
        if row is not None:
            return
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
        if available is None:
            raise StoreUnavailable(
                f"the {self.where} has no pgvector: the `vector` extension is not installed on "
                "that server. Install pgvector there (e.g. apt install postgresql-17-pgvector, "
                "or the pgvector/pgvector Docker image)"
            )
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.errors.InsufficientPrivilege:
            user = conn.execute("SELECT current_user").fetchone()[0]
            raise StoreUnavailable(
                f"the {self.where} has no `vector` extension, and the user {user} may not "
                "create it. Ask its administrator to run CREATE EXTENSION vector; in that "
                "database (once), then start termmate again"
            ) from None
