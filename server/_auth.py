"""Who may call: the bearer token, and which addresses may listen without one."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_ENDPOINTS = frozenset({("GET", "/health")})
"""What answers without the token: a front end's (or a supervisor's) liveness check."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


class BearerAuth:
    """ASGI middleware: every request but OPEN_ENDPOINTS needs ``Authorization: Bearer TOKEN``;
    otherwise 401 with ``WWW-Authenticate: Bearer``.

    The comparison is of SHA-256 digests with hmac.compare_digest: constant time, and it
    reveals nothing about the token's length either.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._digest = _digest(token.encode("utf-8"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in OPEN_ENDPOINTS:
            await self.app(scope, receive, send)
            return
        if self._allowed(scope):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {
                "detail": "this server needs its token: send Authorization: Bearer TOKEN "
                "(the token in its [server] token setting, TERMMATE_SERVER__TOKEN)"
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given = credentials.strip()
                break
        # Digest even an empty token: the time taken says nothing about what was sent.
        return hmac.compare_digest(_digest(given), self._digest) and bool(given)


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()
