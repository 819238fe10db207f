"""Settings for `termmate serve`: the companion as an HTTP service."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from ._endpoints import SectionModel
from ._lists import list_from_env


class ServerSettings(SectionModel):
    """The HTTP service (`termmate serve`) other front ends and many users talk to."""

    host: str = "127.0.0.1"
    """Address to listen on. Anything but a loopback address (127.0.0.1, ::1, localhost)
    needs a token: without one, `termmate serve` refuses to start."""
    port: int = Field(8000, ge=0, le=65535)
    """Port to listen on; 0 lets the OS choose (the ready line on stdout says which)."""
    token: SecretStr | None = None
    """Bearer token every endpoint but GET /health asks for (Authorization: Bearer TOKEN).
    Unset: no token, allowed only on a loopback address. Never logged or shown."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Web origins allowed to call the service from a browser, e.g. http://localhost:5173.
    Empty: CORS is off. In the environment: comma-separated."""
    max_upload_mb: float = Field(25.0, gt=0, le=1024)
    """Largest request body, in MB: a voice sample, or a chat message with its pictures.
    Larger ones are refused with 413, never read past the limit."""
    max_concurrent_turns: int = Field(8, ge=1, le=1024)
    """Turns answered at the same time; more wait for a free slot (see queue_timeout_s)."""
    queue_timeout_s: float = Field(30.0, ge=0, le=3600)
    """Longest a turn waits for a free slot before the request gets 429 with Retry-After."""
    shutdown_grace_s: float = Field(10.0, ge=0, le=3600)
    """On SIGTERM or SIGINT: how long replies being written may go on before they are
    stopped (and saved, marked stopped)."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        host = value.strip().removeprefix("[").removesuffix("]")
        if not host or any(c.isspace() or c in "/?#@" for c in host):
            raise ValueError("expected a host name or an IP address, e.g. 127.0.0.1 or 0.0.0.0")
        return host

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        secret = value.get_secret_value().strip()
        if any(ord(c) < 0x21 or ord(c) > 0x7E for c in secret):
            # It travels in an HTTP header: only visible ASCII gets there unchanged.
            raise ValueError("a token may hold only visible ASCII characters (no spaces)")
        return SecretStr(secret)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: Any) -> Any:
        value = list_from_env(
            value,
            'origins, e.g. http://localhost:5173,https://app.example or ["http://localhost:5173"]',
        )
        if isinstance(value, list | tuple):
            origins = [str(origin).strip().rstrip("/") for origin in value if str(origin).strip()]
            for origin in origins:
                if origin != "*" and not origin.startswith(("http://", "https://")):
                    raise ValueError(
                        f"{origin!r} is not an origin: use scheme://host[:port], "
                        "e.g. http://localhost:5173"
                    )
            return list(dict.fromkeys(origins))
        return value

    @property
    def max_upload_bytes(self) -> int:
        """max_upload_mb in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)
