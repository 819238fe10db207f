"""HTTP to OpenAI-compatible servers: streaming, retries, and errors a user can act on.

One client per configured endpoint ([llm], [embed], [vlm], [asr]); every request goes through
``_send`` so retry and error rules are the same everywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from config import EndpointSettings, redact_secrets, redact_url, split_userinfo

from .errors import BadResponse, ModelError, ModelUnavailable, RateLimited, RequestRejected
from .retry import Backoff, parse_retry_after
from .sse import LineTooLong, SSEStream

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = {500, 502, 503, 504, 429}

UploadFile = tuple[str, bytes, str]
"""A file in a multipart form: (file name, content, media type)."""

MAX_JSON_BYTES = 16 << 20
"""Largest answer read whole (a model list, embeddings, a screen description): 16 MiB. The
largest we ask for, embeddings of a 32-text batch, is well under 1 MiB; anything near 16 MiB is
a broken server, and reading on would hold it all in memory."""

_ERROR_DETAIL_BYTES = 64 << 10
"""Of an error answer only the start is shown (300 characters), so no more than this is read."""


class OpenAIClient:
    """A connection pool to one OpenAI-compatible base URL (ending in /v1)."""

    def __init__(
        self,
        endpoint: EndpointSettings,
        *,
        section: str,
        max_retries: int = 3,
        backoff: Backoff | None = None,
    ) -> None:
        if endpoint.url is None:
            raise ValueError(f"[{section}] url is not set")
        url, userinfo = split_userinfo(endpoint.url)
        self.base_url = redact_url(endpoint.url)
        """The server's URL as every message shows it: without a password or token."""
        self.section = section
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self._endpoint = endpoint
        headers = {"Accept": "application/json"}
        # Credentials in the URL (http://user:password@host/v1) travel as Basic auth, never
        # in request URLs (which end up in exceptions); an api_key (Bearer) takes precedence.
        auth = httpx.BasicAuth(*userinfo) if userinfo is not None else None
        if endpoint.api_key is not None:
            headers["Authorization"] = f"Bearer {endpoint.api_key.get_secret_value()}"
            auth = None
        timeout = httpx.Timeout(
            connect=endpoint.connect_timeout_s,
            read=endpoint.timeout_s,
            write=endpoint.timeout_s,
            pool=endpoint.connect_timeout_s,
        )
        # trust_env=False: a proxy from the environment must not silently reroute a local server.
        self._http = httpx.AsyncClient(
            base_url=url, auth=auth, headers=headers, timeout=timeout, trust_env=False
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- requests ---------------------------------------------------------------------------

    async def get_json(self, path: str, *, retries: int | None = None) -> Any:
        """GET ``path`` and decode its JSON answer (at most MAX_JSON_BYTES)."""
        async with self._send("GET", path, None, retries=retries) as response:
            return _decode_json(await self._read_body(response, path), self._where(path))

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` as JSON to ``path`` and decode its JSON answer (at most MAX_JSON_BYTES)."""
        async with self._send("POST", path, body) as response:
            return _decode_json(await self._read_body(response, path), self._where(path))

    async def post_form(
        self, path: str, fields: dict[str, str], files: dict[str, UploadFile]
    ) -> Any:
        """POST a multipart form (``fields`` and ``files``: name → (file name, bytes, media
        type)) to ``path`` and decode its JSON answer (at most MAX_JSON_BYTES)."""
        form = _Form(fields, files)
        async with self._send("POST", path, None, form=form) as response:
            return _decode_json(await self._read_body(response, path), self._where(path))

    async def stream_events(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """POST with ``stream: true`` and yield each server-sent JSON event.

        Retries happen only before the first event; a stream cut later raises ModelUnavailable.
        So does a stream that ends cleanly but incomplete: neither ``[DONE]`` nor a
        ``finish_reason`` on its last choice (servers that omit ``[DONE]`` still send that), so
        a reply cut short is never taken for a whole one. A line over sse.MAX_LINE_BYTES raises
        BadResponse.
        """
        where = self._where(path)
        async with self._send("POST", path, {**body, "stream": True}) as response:
            stream = SSEStream(response.aiter_bytes())
            finished = False
            try:
                async for data in stream:
                    event = _decode_event(data, where)
                    finished = _finished_after(event, finished)
                    yield event
            except httpx.HTTPError as exc:
                raise ModelUnavailable(
                    f"{where}: {_describe_transport(exc, self._endpoint)}"
                ) from exc
            except LineTooLong as exc:
                raise BadResponse(
                    f"{where} sent a stream line longer than {_size(exc.limit)} (the limit); "
                    f"check that [{self.section}] url is an OpenAI-compatible server"
                ) from None
            if not (stream.done or finished):
                raise ModelUnavailable(
                    f"{where}: the reply stream ended before it was complete (no [DONE])"
                )

    async def list_models(self, *, retries: int | None = None) -> list[str]:
        data = await self.get_json("/models", retries=retries)
        try:
            return [str(item["id"]) for item in data["data"]]
        except (KeyError, TypeError):
            raise BadResponse(f"{self._where('/models')} did not list models") from None

    # -- the one place requests are sent ----------------------------------------------------

    @asynccontextmanager
    async def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        retries: int | None = None,
        form: _Form | None = None,
    ) -> AsyncIterator[httpx.Response]:
        where = self._where(path)
        attempts = (self.max_retries if retries is None else retries) + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                if form is None:
                    request = self._http.build_request(method, path, json=body)
                else:  # built again for every attempt: a multipart body is read as it is sent
                    request = self._http.build_request(
                        method, path, data=form.fields, files=form.files
                    )
                response = await self._http.send(request, stream=True)
            except httpx.HTTPError as exc:
                error: ModelError = ModelUnavailable(
                    f"{where}: {_describe_transport(exc, self._endpoint)}"
                )
                if last:
                    raise error from exc
                delay = self.backoff.delay(attempt)
                log.info("%s; retrying in %.2f s", error.reason, delay)
                await asyncio.sleep(delay)
                continue

            if response.status_code < 400:
                try:
                    yield response
                finally:
                    await response.aclose()
                return

            try:
                detail = _message_from_body(await _read_prefix(response, _ERROR_DETAIL_BYTES))
            except httpx.HTTPError:
                detail = ""
            finally:
                await response.aclose()
            error, retry_after = self._classify(response, detail, where)
            retryable = response.status_code in _RETRYABLE_STATUS
            if not retryable or isinstance(error, RequestRejected) or last:
                raise error
            if retry_after is not None and retry_after > self.backoff.max_retry_after_s:
                raise error
            delay = self.backoff.delay(attempt, retry_after)
            log.info("%s; retrying in %.2f s", error.reason, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _classify(
        self, response: httpx.Response, detail: str, where: str
    ) -> tuple[ModelError, float | None]:
        status = response.status_code
        suffix = f": {detail}" if detail else ""
        env = f"TERMMATE_{self.section.upper()}__"
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            wait = f" (asks to wait {retry_after:.0f} s)" if retry_after else ""
            return RateLimited(f"{where} is rate-limiting requests{wait}{suffix}", retry_after), (
                retry_after
            )
        if status >= 500 and _is_request_validation_error(detail):
            # llama-cpp-python's server answers a request it cannot parse with a 500: the
            # request is at fault, and sending it again cannot help.
            return RequestRejected(
                f"{where} rejected the request (HTTP {status}){suffix}", status
            ), None
        if status >= 500:
            return ModelUnavailable(f"{where} failed with HTTP {status}{suffix}"), None
        if status in (401, 403):
            hint = f"check [{self.section}] api_key ({env}API_KEY)"
            return RequestRejected(
                f"{where} refused the API key (HTTP {status}): {hint}", status
            ), (None)
        if status == 404:
            hint = f"check that {env}URL ends in /v1 and {env}MODEL names a served model"
            return RequestRejected(f"{where} not found (HTTP 404){suffix}; {hint}", status), None
        return RequestRejected(
            f"{where} rejected the request (HTTP {status}){suffix}", status
        ), None

    async def _read_body(self, response: httpx.Response, path: str) -> bytes:
        """The whole answer; BadResponse past MAX_JSON_BYTES, without reading on (or at all,
        when Content-Length already says so)."""
        where = self._where(path)
        too_large = BadResponse(
            f"{where} answered with more than {_size(MAX_JSON_BYTES)} (the limit for a JSON "
            f"answer); check that [{self.section}] url is an OpenAI-compatible server"
        )
        declared = _content_length(response)
        if declared is not None and declared > MAX_JSON_BYTES:
            raise too_large
        try:
            body = await _read_at_most(response, MAX_JSON_BYTES)
        except httpx.HTTPError as exc:
            raise ModelUnavailable(f"{where}: {_describe_transport(exc, self._endpoint)}") from exc
        if body is None:
            raise too_large
        return body

    def _where(self, path: str) -> str:
        return f"{self.base_url}{path}"


@dataclass(frozen=True, slots=True)
class _Form:
    """A multipart form to send."""

    fields: dict[str, str]
    files: dict[str, UploadFile]


def _describe_transport(exc: httpx.HTTPError, endpoint: EndpointSettings) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection within {endpoint.connect_timeout_s:g} s"
    if isinstance(exc, httpx.ReadTimeout):
        return f"no data for {endpoint.timeout_s:g} s (timeout_s)"
    if isinstance(exc, httpx.ConnectError):
        text = str(exc) or "connection failed"
        # httpx says "All connection attempts failed"; the refusal is further down the chain.
        if "refused" in text.lower() or _caused_by(exc, ConnectionRefusedError):
            return "connection refused (is the server running?)"
        return f"cannot connect ({redact_secrets(text)})"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return "the connection was lost"
    # httpx's own words may quote the request URL (an invalid URL, a redirect's target).
    return f"{type(exc).__name__}: {redact_secrets(str(exc))}" if str(exc) else type(exc).__name__


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # causes can form a cycle; a few links are plenty
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_request_validation_error(detail: str) -> bool:
    """A FastAPI/pydantic complaint about the request body (e.g. ``'loc': ('body', ...)``)."""
    return "validation error" in detail and "'body'" in detail


def _decode_event(data: str, where: str) -> Any:
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        raise BadResponse(f"{where} sent a stream event that is not JSON") from None
    if isinstance(event, dict) and "error" in event:
        raise ModelUnavailable(f"{where} failed mid-reply: {_message(event)}")
    return event


def _finished_after(event: Any, finished: bool) -> bool:
    """Whether the stream, once ``event`` is read, ends on a choice with a finish_reason.

    The latest event with choices decides; events without (usage, keep-alives) change nothing.
    """
    choices = event.get("choices") if isinstance(event, dict) else None
    if not isinstance(choices, list) or not choices:
        return finished
    last = choices[-1]
    return isinstance(last, dict) and last.get("finish_reason") is not None


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _read_at_most(response: httpx.Response, limit: int) -> bytes | None:
    """The body, or None as soon as it passes ``limit`` bytes (nothing more is read)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    """The first ``limit`` bytes of the body (the rest is never read)."""
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])


def _size(limit: int) -> str:
    return f"{limit / (1 << 20):g} MiB"


def _decode_json(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadResponse(f"{where} answered with something that is not JSON") from None


def _message(payload: Any) -> str:
    if isinstance(payload, dict):
        error = payload.get("error", payload.get("detail"))
        if isinstance(error, dict):
            return str(error.get("message") or error)
        if error is not None:
            return str(error)
    return str(payload)[:300]


def _message_from_body(raw: bytes) -> str:
    if not raw:
        return ""
    try:
        return _message(json.loads(raw))[:300]
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw[:300].decode("utf-8", "replace").strip()
