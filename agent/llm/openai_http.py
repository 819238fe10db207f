"""HTTP to OpenAI-compatible servers: streaming, retries, and errors a user can act on.

One client per configured endpoint ([llm], [embed], [vlm]); every request goes through
``_send`` so retry and error rules are the same everywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from config import EndpointSettings

from .errors import BadResponse, ModelError, ModelUnavailable, RateLimited, RequestRejected
from .retry import Backoff, parse_retry_after
from .sse import iter_sse_data

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = {500, 502, 503, 504, 429}


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
        self.base_url = endpoint.url
        self.section = section
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self._endpoint = endpoint
        headers = {"Accept": "application/json"}
        if endpoint.api_key is not None:
            headers["Authorization"] = f"Bearer {endpoint.api_key.get_secret_value()}"
        timeout = httpx.Timeout(
            connect=endpoint.connect_timeout_s,
            read=endpoint.timeout_s,
            write=endpoint.timeout_s,
            pool=endpoint.connect_timeout_s,
        )
        # trust_env=False: a proxy from the environment must not silently reroute a local server.
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, trust_env=False
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- requests ---------------------------------------------------------------------------

    async def get_json(self, path: str, *, retries: int | None = None) -> Any:
        async with self._send("GET", path, None, retries=retries) as response:
            return _decode_json(await response.aread(), self._where(path))

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        async with self._send("POST", path, body) as response:
            return _decode_json(await response.aread(), self._where(path))

    async def stream_events(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """POST with ``stream: true`` and yield each server-sent JSON event.

        Retries happen only before the first event; a stream cut later raises ModelUnavailable.
        """
        where = self._where(path)
        async with self._send("POST", path, {**body, "stream": True}) as response:
            try:
                async for data in iter_sse_data(response.aiter_lines()):
                    try:
                        event = json.loads(data)
                    except json.JSONDecodeError:
                        raise BadResponse(f"{where} sent a stream event that is not JSON") from None
                    if isinstance(event, dict) and "error" in event:
                        raise ModelUnavailable(f"{where} failed mid-reply: {_message(event)}")
                    yield event
            except httpx.HTTPError as exc:
                raise ModelUnavailable(
                    f"{where}: {_describe_transport(exc, self._endpoint)}"
                ) from exc

    async def list_models(self, *, retries: int | None = None) -> list[str]:
        data = await self.get_json("/models", retries=retries)
        try:
            return [str(item["id"]) for item in data["data"]]
        except (KeyError, TypeError):
            raise BadResponse(f"{self._where('/models')} did not list models") from None

    # -- the one place requests are sent ----------------------------------------------------

    @asynccontextmanager
    async def _send(
        self, method: str, path: str, body: dict[str, Any] | None, *, retries: int | None = None
    ) -> AsyncIterator[httpx.Response]:
        where = self._where(path)
        attempts = (self.max_retries if retries is None else retries) + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                request = self._http.build_request(method, path, json=body)
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
                detail = _message_from_body(await response.aread())
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

    def _where(self, path: str) -> str:
        return f"{self.base_url}{path}"


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
        return f"cannot connect ({text})"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return "the connection was lost"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


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
