"""The voice in a turn: sentences are spoken while the reply is still being written, Esc
silences everything, a failing TTS server never costs the text, and the commands a user runs."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
import soundfile

from agent import Companion
from agent.events import (
    SentenceReady,
    SpeechDone,
    SpeechFailed,
    SpeechStarted,
    TextDelta,
    TurnFinished,
)
from config import Mode, load_settings
from tests.audio.conftest import tone_file
from tests.support.cli import run_termmate
from tests.support.fish_speech_server import FishSpeechServer
from tests.support.pulse import PulseServer
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.waiting import settled
from tui.app import TermmateApp
from tui.widgets import AssistantMessage

FIVE_SENTENCES = (
    "Hello there. The build is green again. 빌드가 다시 성공했어요. Shall we ship it? Let me know."
)


@pytest.fixture
def voiced(
    termmate_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    pulse: PulseServer,
    fish_server: FishSpeechServer,
):
    """Chat from a scripted server (a word every 30 ms) and a voice from the Fish server."""
    reply = Reply.of(*words_of(FIVE_SENTENCES), token_delay_s=0.03)
    with ScriptedOpenAI(default=reply) as chat:
        monkeypatch.setenv("TERMMATE_MODE", "online")
        monkeypatch.setenv("TERMMATE_LLM__URL", chat.url)
        monkeypatch.setenv("TERMMATE_TTS__URL", fish_server.url)
        yield (
            chat,
            fish_server,
            {
                **termmate_env,
                "PULSE_SERVER": pulse.server,
                "TERMMATE_MODE": "online",
                "TERMMATE_LLM__URL": chat.url,
                "TERMMATE_TTS__URL": fish_server.url,
            },
        )


async def test_the_first_sentence_plays_while_the_reply_is_still_being_written(
    voiced, pulse: PulseServer
) -> None:
    companion = await Companion.create(load_settings())
    try:
        await companion.voice.start()
        assert companion.voice_available
        order: list[str] = []
        with pulse.recorder() as recorder:
            async for event in companion.turn("t-voice", "status?", until_spoken=True):
                if isinstance(event, SentenceReady | SpeechStarted | TurnFinished):
                    order.append(type(event).__name__)
                if isinstance(event, SpeechDone):
                    result = event.result
            recorder.wait_for_sound(timeout=5)
        assert order.index("SpeechStarted") < order.index("TurnFinished")  # pipelined
        assert order.count("SentenceReady") == 5
        assert result.spoken == 5 and result.error is None and result.first_audio_ms > 0
        spoken = [call.request.text for call in voiced[1].calls]
        assert spoken[2] == "빌드가 다시 성공했어요." and len(spoken) == 5
    finally:
        await companion.aclose()


async def test_a_failing_tts_server_costs_no_text_and_the_next_reply_tries_again(
    voiced,
) -> None:
    _, fish, _ = voiced
    fish.fail_status = 500
    companion = await Companion.create(load_settings())
    try:
        events = [e async for e in companion.turn("t-fail", "hi", until_spoken=True)]
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        assert text == FIVE_SENTENCES
        failed = [e for e in events if isinstance(e, SpeechFailed)]
        assert failed and "500" in failed[0].reason
        voice = companion.status().service("voice")
        assert voice.state == "error" and "500" in (voice.detail or "")

        fish.fail_status = None
        events = [e async for e in companion.turn("t-fail", "again", until_spoken=True)]
        done = next(e for e in events if isinstance(e, SpeechDone))
        assert done.result.error is None and done.result.spoken == 5
        assert companion.status().service("voice").state in ("ok", "active")
    finally:
        await companion.aclose()


async def test_esc_silences_the_voice_and_keeps_the_partial_reply(
    voiced, pulse: PulseServer
) -> None:
    chat, _, _ = voiced
    chat.set_default(Reply.of(*words_of(FIVE_SENTENCES * 4), token_delay_s=0.05))
    app = TermmateApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot, app.companion_ready.is_set)
        await settled(pilot, lambda: app.companion.voice_available, what="the voice")
        with pulse.recorder() as recorder:
            for ch in "talk":
                await pilot.press(ch)
            await pilot.press("enter")
            # (recorder.wait_for_sound would block the app's event loop: poll instead)
            await settled(pilot, lambda: len(recorder.loud_frames()) > 0, what="the voice")
            await pilot.press("escape")
            stopped_at = recorder.frames()
            recorder.wait_for_silence(timeout=2, quiet_s=0.3)
        reply = list(app.query(AssistantMessage))[-1]
        await settled(pilot, lambda: reply.has_class("stopped"), what="the stopped mark")
        assert reply.text and len(reply.text) < len(FIVE_SENTENCES * 4)
        assert app.companion.voice.status.state != "speaking"
        assert stopped_at > 0
        messages = await app.companion.threads.messages(app.thread_id)
        assert messages[-1]["stopped"] is True


def test_ask_speak_json_returns_the_whole_reply_as_one_wav(voiced) -> None:
    _, _, env = voiced
    run = run_termmate(env, "ask", "--speak", "--json", "status?")
    assert run.returncode == 0, run.stderr
    answer = run.json()
    assert answer["text_response"] == FIVE_SENTENCES
    assert answer["timings"]["first_audio_ms"] > 0
    wav = base64.b64decode(answer["audio_response_b64"])
    data, rate = soundfile.read(io.BytesIO(wav))
    assert rate > 0 and len(data) / rate > 1.0  # five sentences of speech


def test_say_and_the_voice_commands(voiced, tmp_path: Path) -> None:
    _, fish, env = voiced
    said = run_termmate(env, "say", "Testing, one two three.")
    assert said.returncode == 0, said.stderr
    assert "spoke 1 sentence" in said.stdout
    assert fish.calls[-1].request.text == "Testing, one two three."

    sample = tmp_path / "my sample.wav"
    sample.write_bytes(tone_file(5.0))
    added = run_termmate(env, "voice", "add", str(sample), "--text", "a calm voice")
    assert added.returncode == 0, added.stderr
    assert "cloned voice 'my sample'" in added.stdout
    assert "termmate voice use 'my sample'" in added.stdout
    listed = run_termmate(env, "voice", "list")
    assert "my sample" in listed.stdout
    used = run_termmate(env, "voice", "use", "my sample")
    assert used.returncode == 0, used.stderr
    assert 'reference_id = "my sample"' in Path(env["TERMMATE_CONFIG"]).read_text()

    short = tmp_path / "short.wav"
    short.write_bytes(tone_file(1.0))
    refused = run_termmate(env, "voice", "add", str(short), "--text", "too short")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    unknown = run_termmate(env, "voice", "use", "nobody")
    assert unknown.returncode == 2

    no_server = {k: v for k, v in env.items() if k != "TERMMATE_TTS__URL"}
    assert run_termmate(no_server, "say", "hi").returncode == 3


async def test_the_companion_mode_decides_whether_a_distant_voice_may_speak(
    termmate_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, pulse: PulseServer
) -> None:
    # Offline, a TTS server on another machine is off limits (Ctrl+O switches at run time).
    monkeypatch.setenv("TERMMATE_TTS__URL", "http://192.0.2.1:8080")
    companion = await Companion.create(load_settings())
    try:
        voice = companion.status().service("voice")
        assert voice.state == "off" and "is not on this machine" in (voice.detail or "")
        assert not companion.voice_available

        await companion.set_mode(Mode.AUTO)
        assert companion.voice_available
        assert companion.status().service("voice").state != "off"

        await companion.set_mode(Mode.OFFLINE)
        assert not companion.voice_available
        assert "is not on this machine" in (companion.status().service("voice").detail or "")
    finally:
        await companion.aclose()
