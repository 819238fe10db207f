"""Chat: the remote chat model or the local one, by the one policy (fallback.py), streamed.

``stream_chat`` yields which model answers (ModelRouted), then the answer's Tokens. In auto mode
a remote that fails before or during its answer is followed by the local model answering the
same request; when text had already streamed, ``ModelRouted(restarted=True)`` tells the front
end to drop it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from config import Settings

from .downloads import Downloads
from .errors import ModelError, NoModelAvailable
from .fallback import Choice, Fallback, ModelKind
from .local import LocalChat
from .remote import RemoteChat
from .types import ChatEvent, ChatRequest, ModelRouted, Token

CHAT = ModelKind("model", "TERMMATE_LLM__URL", "TERMMATE_LOCAL__CHAT_MODEL")

ChatModels = Fallback[RemoteChat, LocalChat]


def chat_models(
    settings: Settings,
    *,
    downloads: Downloads | None = None,
    on_change: Callable[[], None] | None = None,
) -> ChatModels:
    """The chat models of ``settings``: ``[llm]`` remotely, ``local.chat_model`` in-process."""
    downloads = downloads or Downloads()
    llm = settings.llm
    return Fallback(
        CHAT,
        mode=settings.mode,
        make_remote=(lambda: RemoteChat(llm)) if llm.configured else None,
        local=LocalChat(
            settings.local, settings.models_dir, progress=downloads.progress_for(CHAT.noun)
        ),
        retry_remote_after_s=llm.retry_remote_after_s,
        downloads=downloads,
        on_change=on_change,
    )


async def stream_chat(models: ChatModels, request: ChatRequest) -> AsyncIterator[ChatEvent]:
    """Yield ModelRouted (which model answers), then Tokens; see ModelRouted.restarted."""
    choice = models.choose()
    restarted = False
    if choice.remote:
        remote: RemoteChat = choice.backend  # type: ignore[assignment]
        started = time.perf_counter()
        produced = False
        try:
            async for text in remote.stream(request):
                if not produced:
                    produced = True
                    models.remote_answered(choice, (time.perf_counter() - started) * 1000)
                    yield ModelRouted("remote", remote.label)
                yield Token(text)
            if not produced:
                models.remote_answered(choice, (time.perf_counter() - started) * 1000)
                yield ModelRouted("remote", remote.label)
            return
        except ModelError as exc:
            local = models.remote_failed(choice, exc)
            if local is None:
                raise
            choice, restarted = local, produced
    async for event in _stream_local(models, choice, request, restarted):  # type: ignore[arg-type]
        yield event


async def _stream_local(
    models: ChatModels, choice: Choice[LocalChat], request: ChatRequest, restarted: bool
) -> AsyncIterator[ChatEvent]:
    local = choice.backend
    started = time.perf_counter()
    await models.prepare_local(choice)
    yield ModelRouted("local", local.label, choice.fallback_reason, restarted)
    first = True
    try:
        async for text in local.stream(request):
            if first:
                first = False
                models.local_answered((time.perf_counter() - started) * 1000)
            yield Token(text)
    except NoModelAvailable as exc:
        raise models.local_failed(exc, choice.fallback_reason) from exc


async def complete_chat(models: ChatModels, request: ChatRequest) -> tuple[str, ModelRouted]:
    """The whole answer to ``request`` (what a restart dropped is not in it), and who gave it."""
    parts: list[str] = []
    routed: ModelRouted | None = None
    async for event in stream_chat(models, request):
        if isinstance(event, ModelRouted):
            routed = event
            if event.restarted:
                parts.clear()
        else:
            parts.append(event.text)
    assert routed is not None  # stream_chat always says who answers first
    return "".join(parts), routed
