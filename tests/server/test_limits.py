"""Request limits and hostile input: bodies over max_upload_mb are 413 however they are sent,
malformed requests get a 4xx with a JSON detail, never a traceback or a crash; /docs and
/openapi.json describe every endpoint."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.server.conftest import PLAIN_MAX_UPLOAD_MB
from tests.support.served import Served

OVER = PLAIN_MAX_UPLOAD_MB * 1024 * 1024 + 1024


def _message_of(size: int) -> bytes:
    return json.dumps({"user_id": "ada", "message": "x" * size}).encode()


def test_a_body_declared_over_the_cap_is_413(plain: Served) -> None:
    response = httpx.post(
        f"{plain.url}/v1/chat",
        content=_message_of(OVER),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert "max_upload_mb" in response.json()["detail"]


def test_a_chunked_body_is_cut_off_at_the_cap(plain: Served) -> None:
    def pieces() -> Iterator[bytes]:  # no Content-Length: the size shows only as it comes
        body = _message_of(OVER)
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = httpx.post(
        f"{plain.url}/v1/chat", content=pieces(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert "max_upload_mb" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("POST", "/v1/chat", b"[" * 100_000 + b"]" * 100_000, {"Content-Type": "application/json"}),
        ("POST", "/v1/chat", b'{"user_id": "\xff\xfe", "message": "hi"}', {}),
        ("POST", "/v1/chat", b'{"user_id": "a", "message": "hi"}', {"Content-Type": "text/plain"}),
        ("POST", "/v1/chat", b'{"user_id": "a", "message": "' + b"9" * 5000 + b'"}', {}),
        ("POST", "/v1/chat", b'{"user_id": 1e999, "message": NaN}', {}),
        (
            "POST",
            "/v1/voice",
            b"--x\r\nContent-Disposition: form-data\r\n\r\n--",
            {"Content-Type": "multipart/form-data; boundary=x"},
        ),
        ("POST", "/v1/voice", b"not multipart at all", {"Content-Type": "multipart/form-data"}),
        ("GET", "/v1/threads", b"", {}),
        ("GET", "/v1/threads/%2e%2e%2fsecrets?user_id=ada", b"", {}),
        ("PUT", "/v1/chat", b"{}", {}),
        ("GET", "/v1/nothing-here", b"", {}),
    ],
    ids=[
        "deep-json",
        "bad-utf8",
        "text-plain",
        "long-digits",
        "not-json-numbers",
        "broken-multipart",
        "no-boundary",
        "no-user",
        "path-traversal",
        "wrong-method",
        "unknown-path",
    ],
)
def test_hostile_requests_get_a_4xx_with_a_json_detail_and_no_traceback(
    plain: Served, method: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    response = httpx.request(method, plain.url + path, content=body, headers=headers)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert "detail" in response.json()
    assert "Traceback" not in response.text
    assert httpx.get(f"{plain.url}/health").status_code == 200  # still serving


def test_a_request_line_of_garbage_does_not_hurt_the_service(plain: Served) -> None:
    address = urlsplit(plain.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00 this is not HTTP\r\n\r\n")
        answer = sock.recv(4096)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400")
    assert httpx.get(f"{plain.url}/health").status_code == 200


def test_docs_describe_every_endpoint_with_its_models_and_examples(plain: Served) -> None:
    assert httpx.get(f"{plain.url}/docs").status_code == 200
    spec = httpx.get(f"{plain.url}/openapi.json").json()
    paths = spec["paths"]
    assert set(paths) == {
        "/v1/chat",
        "/v1/chat/stream",
        "/v1/voice",
        "/v1/transcribe",
        "/health",
        "/v1/threads",
        "/v1/threads/{thread_id}",
        "/v1/threads/{thread_id}/stop",
    }
    schemas = spec["components"]["schemas"]
    for name in (
        "ChatRequest",
        "ChatResponse",
        "VoiceResponse",
        "TranscribeResponse",
        "Heard",
        "HealthResponse",
        "ThreadList",
        "ThreadDetail",
        "StopResponse",
        "DeleteResponse",
        "ErrorResponse",
    ):
        assert schemas[name].get("examples"), f"{name} has no example"
    chat = paths["/v1/chat"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ChatRequest"
    )
    assert {"200", "400", "403", "404", "413", "422", "429", "500", "503"} <= set(chat["responses"])
    stream = paths["/v1/chat/stream"]["post"]["responses"]["200"]["content"]
    assert "event: token" in stream["text/event-stream"]["example"]
    voice = paths["/v1/voice"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in voice
    for path, methods in paths.items():
        for method, operation in methods.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
