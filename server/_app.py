"""The FastAPI application: routes, error handling and the middleware around them."""

from __future__ import annotations

from importlib import metadata

from fastapi import FastAPI, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import HTTPBearer

from . import _chat, _health, _hearing, _threads, _voice
from ._auth import BearerAuth
from ._errors import install_error_handlers
from ._limits import BodyLimit
from ._service import Service

DESCRIPTION = """\
termmate's companion over HTTP: the same agent as the terminal app (memory, sight, voice),
for desktop apps, web pages and phones, and for many users. Every conversation and memory
belongs to a `user_id`; a conversation of another user is answered exactly like one that does
not exist (404).

When the server has a token (`[server] token`), every endpoint but `GET /health` needs
`Authorization: Bearer TOKEN`.
"""

TAGS = [
    {"name": "chat", "description": "One turn: a message in, the reply out (whole or streamed)."},
    {"name": "threads", "description": "A user's conversations."},
    {"name": "voice", "description": "The voice a user's replies are spoken in."},
    {"name": "hearing", "description": "Speech to text (also: audio_b64 in a chat request)."},
    {"name": "health", "description": "Whether a turn can be answered now."},
]


def create_app(service: Service) -> FastAPI:
    """The service's application around ``service`` (its Companion and settings)."""
    server = service.settings.server
    app = FastAPI(
        title="termmate",
        version=_version(),
        description=DESCRIPTION,
        openapi_tags=TAGS,
    )
    app.state.service = service
    token = server.token.get_secret_value() if server.token is not None else None
    # Documents the scheme in /docs; BearerAuth below is what enforces it.
    secured = [Security(HTTPBearer(auto_error=False))] if token else []
    for module in (_chat, _threads, _voice, _hearing):
        app.include_router(module.router, dependencies=secured)
    app.include_router(_health.router)
    install_error_handlers(app)
    # The last added runs first: CORS (answers preflights), then the token, then the cap.
    app.add_middleware(BodyLimit, max_bytes=server.max_upload_bytes)
    if token:
        app.add_middleware(BearerAuth, token=token)
    if server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=server.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    return app


def _version() -> str:
    try:
        return metadata.version("termmate")
    except metadata.PackageNotFoundError:
        return "0"
