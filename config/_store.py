"""Where conversations, memories and the vocabulary live: embedded files, or PostgreSQL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr, field_validator

from ._endpoints import SectionModel

_SCHEMES = ("postgresql", "postgres")
_EXAMPLE = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"


class StoreSettings(SectionModel):
    """The stores every termmate process uses: embedded (one machine) or one PostgreSQL."""

    url: SecretStr | None = None
    """PostgreSQL (with the pgvector extension) holding the conversations, memories and
    vocabulary of every termmate process that names it, on any machine, e.g.
    postgresql://termmate:PASSWORD@db.example:5432/termmate. Unset: the embedded stores in
    data_dir (SQLite and Qdrant local), for one machine. Never logged or shown; messages
    name the host and database only."""
    pool_size: int = Field(10, ge=2, le=200)
    """Most connections each of a process's pools holds open to the database (running turns,
    reads, memories): size PostgreSQL's max_connections for a few times this per process.
    `termmate serve` raises it to server.max_concurrent_turns + 2 (each running turn holds
    one)."""
    connect_timeout_s: float = Field(10.0, gt=0, le=300)
    """How long connecting to the database may take before it counts as unreachable."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        url = value.get_secret_value().strip()
        problem = _url_problem(url)
        if problem:
            # The message never repeats the URL: it may hold the password.
            raise ValueError(f"{problem}; expected {_EXAMPLE}")
        return SecretStr(url)

    @property
    def shared(self) -> bool:
        """Whether the stores are in PostgreSQL (shared) rather than embedded in data_dir."""
        return self.url is not None

    @property
    def where(self) -> str:
        """The database, fit to show: host, port and database, never a user or password."""
        return describe_database(self.url.get_secret_value()) if self.url else "embedded"


def describe_database(url: str) -> str:
    """``database NAME on HOST:PORT`` for a PostgreSQL URL (no user, no password)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = (query.get("host") or [parts.hostname or "localhost"])[0]
    port = (query.get("port") or [str(parts.port or 5432)])[0]
    database = parts.path.lstrip("/") or (query.get("dbname") or ["?"])[0]
    where = host if host.startswith("/") else f"{host}:{port}"
    return f"database {database} on {where}"


def _url_problem(url: str) -> str | None:
    """What is wrong with a PostgreSQL URL (None: nothing libpq would refuse to parse)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is no number, or out of range
    except ValueError as exc:
        return f"store.url is not a URL ({exc})"
    if parts.scheme not in _SCHEMES:
        return "store.url must start with postgresql://"
    query = parse_qs(parts.query)
    if not (parts.hostname or query.get("host")):
        return "store.url names no host"
    if not (parts.path.lstrip("/") or query.get("dbname")):
        return "store.url names no database"
    if port == 0:
        return "store.url has port 0"
    from psycopg.conninfo import conninfo_to_dict  # only when a database is configured

    try:
        conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError: e.g. an unknown query parameter
        return f"store.url cannot be used: {str(exc).strip()}"
    return None
