"""A real PostgreSQL server (with pgvector) for tests: pgserver's bundled binaries, on a Unix
socket in a fresh temporary directory, stopped and removed afterwards.

One server serves a whole test session (starting one takes seconds); each test that needs a
database gets a new, empty one (``PostgresServer.new_database``).
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit


class PostgresServer:
    """A running server: ``uri`` is its ``postgres`` database (superuser, Unix socket)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._names = itertools.count(1)

    def database_uri(self, name: str) -> str:
        """The URI of the database ``name`` on this server."""
        return urlunsplit(urlsplit(self.uri)._replace(path="/" + name))

    def new_database(self, prefix: str = "t") -> str:
        """Create a new, empty database (with pgvector available) and return its URI."""
        import psycopg

        name = f"{prefix}_{next(self._names)}"
        with psycopg.connect(self.uri, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_uri(name)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a new, empty PostgreSQL server; stop and remove it afterwards."""
    import pgserver

    # A short directory: the server's socket lives in it, and socket paths are limited.
    data = tempfile.mkdtemp(prefix="termmate-pg-")
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        yield PostgresServer(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def postgres_uri() -> Iterator[str]:
    """A connection URI (``postgresql://…?host=DIR``) to a new, empty database server."""
    with postgres_server() as server:
        yield server.uri
