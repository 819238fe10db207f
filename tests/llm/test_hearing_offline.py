"""Offline transcription opens no network connection at all, with a remote recogniser and a
hub configured: checked in a fresh process with an audit hook on every socket operation."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.support.network_audit import AuditedRun, audited_python
from tests.support.scripted_asr import Heard, ScriptedASR
from tests.support.speech import SpeechSamples

TRANSCRIBE = """
import asyncio, json, sys
from agent.llm.hearing import speech_models, transcribe
from config import load_settings

async def main():
    models = speech_models(load_settings())
    try:
        with open(sys.argv[1], "rb") as audio:
            return (await transcribe(models, audio.read())).to_json()
    except Exception as exc:
        return {"error": type(exc).__name__, "reason": getattr(exc, "reason", str(exc))}
    finally:
        await models.aclose()

print(json.dumps(asyncio.run(main())))
"""


def audited(tmp_path: Path, wav: Path, **env: str) -> tuple[dict[str, Any], AuditedRun]:
    """Transcribe ``wav`` in a fresh, audited process: (its result, the run)."""
    variables = {**os.environ, "TERMMATE_DATA_DIR": str(tmp_path / "data"), **env}
    variables.pop("TERMMATE_CONFIG", None)
    run = audited_python(TRANSCRIBE, tmp_path, str(wav), env=variables)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1]), run


def test_offline_transcription_opens_no_connection(
    tmp_path: Path, tiny_whisper: Path, speech: SpeechSamples
) -> None:
    with ScriptedASR(default=Heard("from the server")) as asr:
        result, run = audited(
            tmp_path,
            speech.english,
            TERMMATE_MODE="offline",
            TERMMATE_ASR__URL=asr.url,
            TERMMATE_LOCAL__ASR_MODEL=str(tiny_whisper),
            HF_ENDPOINT=asr.url.removesuffix("/v1"),
        )
        assert asr.paths == []
    assert result["backend"] == "local" and result["text"]
    assert run.network == []


def test_offline_with_a_model_not_yet_downloaded_says_so_without_fetching_it(
    tmp_path: Path, speech: SpeechSamples
) -> None:
    with ScriptedASR() as hub:
        result, run = audited(
            tmp_path,
            speech.english,
            TERMMATE_MODE="offline",
            TERMMATE_LOCAL__ASR_MODEL="hf:Systran/faster-whisper-small",
            HF_ENDPOINT=hub.url.removesuffix("/v1"),
        )
        assert hub.paths == []
    assert result["error"] == "NoModelAvailable"
    assert result["reason"] == (
        "local.asr_model is hf:Systran/faster-whisper-small, which is not downloaded yet, and "
        "offline mode downloads nothing. Run termmate once in auto mode to fetch it, or set "
        "TERMMATE_LOCAL__ASR_MODEL to a model folder on this machine."
    )
    assert run.network == []


def test_the_network_audit_sees_a_remote_transcription(
    tmp_path: Path, tiny_whisper: Path, speech: SpeechSamples
) -> None:
    """The checks above could pass vacuously; here the same audit sees the remote asked."""
    with ScriptedASR(default=Heard("from the server")) as asr:
        result, run = audited(
            tmp_path,
            speech.english,
            TERMMATE_MODE="auto",
            TERMMATE_ASR__URL=asr.url,
            TERMMATE_LOCAL__ASR_MODEL=str(tiny_whisper),
        )
    assert result["text"] == "from the server"
    assert "socket.connect" in run.events
