"""Who may call: with a token, every endpoint but GET /health needs the bearer (refusing to
listen beyond loopback without one is in test_startup); CORS only for the configured origins."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.scripted_openai import ScriptedOpenAI
from tests.support.served import Served, served, service_env

TOKEN = "s3cret-token-for-tests"
APP = "http://app.example:5173"


@pytest.fixture(scope="module")
def guarded(model: ScriptedOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("guarded")
    env = service_env(folder, model.url, SERVER__TOKEN=TOKEN, SERVER__CORS_ORIGINS=APP)
    with served(env, stderr_dir=folder) as service:
        yield service


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/chat"),
        ("POST", "/v1/chat/stream"),
        ("GET", "/v1/threads?user_id=ada"),
        ("GET", "/v1/threads/t-0123456789?user_id=ada"),
        ("DELETE", "/v1/threads/t-0123456789?user_id=ada"),
        ("POST", "/v1/threads/t-0123456789/stop?user_id=ada"),
        ("POST", "/v1/voice"),
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
        ("GET", "/no/such/path"),
    ],
)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"]
)
def test_every_endpoint_but_health_needs_the_bearer_token(
    guarded: Served, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = httpx.request(
        method, guarded.url + path, headers=headers, json={"user_id": "ada", "message": "hi"}
    )
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert "TERMMATE_SERVER__TOKEN" in response.json()["detail"]


def test_with_the_token_it_answers_and_health_needs_none(
    guarded: Served, model: ScriptedOpenAI
) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    chat = httpx.post(
        f"{guarded.url}/v1/chat", headers=bearer, json={"user_id": "ada", "message": "hi"}
    )
    assert chat.status_code == 200, chat.text
    assert httpx.get(f"{guarded.url}/openapi.json", headers=bearer).status_code == 200
    health = httpx.get(f"{guarded.url}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert TOKEN not in guarded.stderr()


def test_cors_answers_the_configured_origin_only(guarded: Served, plain: Served) -> None:
    def preflight(service: Served, origin: str) -> httpx.Response:
        return httpx.options(
            f"{service.url}/v1/chat",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    allowed = preflight(guarded, APP)
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == APP
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()

    other = preflight(guarded, "http://evil.example")
    assert "access-control-allow-origin" not in other.headers
    # Without cors_origins there is no CORS at all.
    assert "access-control-allow-origin" not in preflight(plain, APP).headers
    simple = httpx.get(f"{plain.url}/health", headers={"Origin": APP})
    assert "access-control-allow-origin" not in simple.headers
