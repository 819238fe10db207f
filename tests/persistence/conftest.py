"""Fixtures for running the real `termmate` command against a scripted remote model."""

from __future__ import annotations

import pytest

from tests.support.scripted_openai import ScriptedOpenAI


@pytest.fixture
def remote_env(termmate_env: dict[str, str], scripted: ScriptedOpenAI) -> dict[str, str]:
    """termmate in auto mode with the scripted server as its remote model."""
    return {
        **termmate_env,
        "TERMMATE_MODE": "auto",
        "TERMMATE_LLM__URL": scripted.url,
        "TERMMATE_LLM__MAX_RETRIES": "0",
        "TERMMATE_LLM__TIMEOUT_S": "10",
    }
