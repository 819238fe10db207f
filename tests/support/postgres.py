"""A real PostgreSQL server for a test: pgserver's bundled binaries, on a Unix socket in a
fresh temporary directory, stopped and removed afterwards."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def postgres_uri() -> Iterator[str]:
    """A connection URI (``postgresql://…?host=DIR``) to a new, empty database server."""
    import pgserver

    # A short directory: the server's socket lives in it, and socket paths are limited.
    data = tempfile.mkdtemp(prefix="termmate-pg-")
    server = pgserver.get_server(data, cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)
