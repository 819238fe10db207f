"""Every error is a JSON ``{"detail": …}``; nothing a client sends gets it a traceback.

A body that does not match its model is 422 with where and what (the offending input is not
echoed back: it may be large, or someone else's). A shared database that cannot
be reached is 503 (the next request reconnects). Anything unexpected is 500 "Error processing
request: …" (the PRD's wording); the traceback goes to the log only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from config import redact_secrets

log = logging.getLogger(__name__)

STORE_RETRY_AFTER = "5"
"""Seconds a client waits before trying again when the shared database is down."""


def install_error_handlers(app: FastAPI) -> None:
    """Answer invalid bodies and unexpected failures in the service's own shape."""
    from agent.postgres import StoreUnavailable

    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StoreUnavailable, _store_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": [_problem(error) for error in exc.errors()]}, status_code=422)


def _problem(error: dict[str, Any]) -> dict[str, Any]:
    return {
        "loc": [str(part) for part in error.get("loc", ())],
        "msg": str(error.get("msg", "invalid")),
        "type": str(error.get("type", "value_error")),
    }


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The shared database is down or unreachable: the service is, for now, too (503); the
    next request reconnects. Its reason names the host, never the password."""
    reason = getattr(exc, "reason", str(exc))
    log.warning("%s %s: %s", request.method, request.url.path, reason)
    return JSONResponse(
        {"detail": reason}, status_code=503, headers={"Retry-After": STORE_RETRY_AFTER}
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": unexpected_detail(exc)}, status_code=500)


def unexpected_detail(exc: BaseException) -> str:
    """The PRD's 500 wording for ``exc`` (secrets in URLs taken out)."""
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return f"Error processing request: {redact_secrets(str(reason))}"
