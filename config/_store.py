"""Where conversations, memories and the vocabulary live: embedded files, or PostgreSQL."""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

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
    """What is wrong with a PostgreSQL URL (None: nothing libpq would refuse to parse).

    Never the parsers' own words: Python's and libpq's messages quote the part they choke on,
    which may be the password. Each kind of problem gets a fixed wording instead.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # an unbalanced [ or ], or characters that read as / ? # @ :
        return (
            "store.url is not a URL: write [ and ] in the user name or password as %5B and %5D "
            "(only an IPv6 host goes in [ ])"
        )
    store_url = f"store.url for host {host}" if (host := _safe_host(url, parts)) else "store.url"
    try:
        port = parts.port
    except ValueError:  # e.g. a / in the password ended the host early, at the ':' before it
        return (
            f"{store_url} is not a URL: its port must be a number from 1 to 65535; "
            "write / ? # @ in the user name or password as %2F %3F %23 %40"
        )
    if parts.scheme not in _SCHEMES:
        return "store.url must start with postgresql://"
    query = parse_qs(parts.query)
    if not (parts.hostname or query.get("host")):
        return "store.url names no host"
    if not (parts.path.lstrip("/") or query.get("dbname")):
        return f"{store_url} names no database"
    if port == 0:
        return f"{store_url} has port 0"
    from psycopg.conninfo import conninfo_to_dict  # only when a database is configured

    try:
        conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError, worded by libpq
        return f"{store_url} {_libpq_problem(str(exc), parts.query)}"
    return None


def _safe_host(url: str, parts: SplitResult) -> str | None:
    """The URL's host, when it is surely the host: a raw / ? or # in the password ends the
    authority early, and then what urlsplit calls the host is the user name."""
    if "@" in parts.netloc or "@" not in url:
        return parts.hostname
    return None


def _libpq_problem(message: str, query: str) -> str:
    """What libpq's parse error ``message`` means, in words that quote nothing of the URL."""
    # Spaces first: libpq's words for them also say "percent-encoded".
    if "unexpected spaces" in message:
        return "has a space in it: a space in the user name or password must be written %20"
    if "percent-encoded" in message:
        return (
            "has a % that starts no %XX escape (or is %00): "
            "a % in the user name or password must be written %25"
        )
    if "key/value separator" in message:
        return (
            "has a query parameter that is not NAME=VALUE: "
            "write = and & inside a value as %3D and %26"
        )
    if "invalid URI query parameter" in message:
        unknown = ", ".join(_unknown_parameters(query)) or "one"
        return f"has a query parameter libpq does not know ({unknown}), e.g. use sslmode=require"
    return "is not a PostgreSQL URL libpq can read"


def _unknown_parameters(query: str) -> list[str]:
    """The names in ``query`` that are no libpq connection parameter (names, never values)."""
    from psycopg import pq

    known = {option.keyword.decode() for option in pq.Conninfo.get_defaults()}
    known.add("ssl")  # libpq takes JDBC's ssl=true as sslmode=require
    # Only NAME=VALUE pieces: a piece without '=' may be a value put in the wrong place.
    names = (unquote(piece.partition("=")[0]) for piece in query.split("&") if "=" in piece)
    return [name for name in dict.fromkeys(names) if name not in known]
