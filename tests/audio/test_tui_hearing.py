"""Talking to the TUI: push-to-talk (F5) and hands-free (F6), driven through Textual's Pilot.

The microphone is real: PulseAudio's null sink is the default source's monitor, so a WAV
played into the sink (paplay) is speech into the microphone, and real espeak-ng speech goes
through real PortAudio and the real voice activity detector. The recogniser is a scripted
``/v1/audio/transcriptions`` (exact words), the chat a scripted OpenAI-compatible server, the
voice the Fish Speech test server playing into a second null sink the microphone cannot hear.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile

from tests.support.fish_speech_server import FishSpeechServer
from tests.support.pulse import RATE, MonitorRecorder, PulseServer, play_into, second_sink
from tests.support.scripted_asr import Heard, ScriptedASR
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.speech import SpeechSamples, joined
from tests.support.waiting import eventually, settled
from tui.app import TermmateApp
from tui.widgets import AssistantMessage, ChatInput, UserMessage

pytestmark = pytest.mark.timeout(120)

SIZE = (140, 40)
WORDS = "what is the weather like today"
ANSWER = "It is sunny."


@pytest.fixture
def asr() -> Iterator[ScriptedASR]:
    with ScriptedASR(default=Heard(WORDS)) as server:
        yield server


@pytest.fixture
def chat() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI(default=Reply.of(*words_of(ANSWER))) as server:
        yield server


@pytest.fixture
def hearing(
    termmate_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    asr: ScriptedASR,
    chat: ScriptedOpenAI,
    pulse: PulseServer,
) -> PulseServer:
    """The TUI's settings: online, the scripted chat server and recogniser; the session's
    PulseAudio is this process's sound. Returns that PulseAudio."""
    monkeypatch.setenv("TERMMATE_MODE", "online")
    monkeypatch.setenv("TERMMATE_LLM__URL", chat.url)
    monkeypatch.setenv("TERMMATE_ASR__URL", asr.url)
    return pulse


# -- what the user sees -------------------------------------------------------------------------


def _frame(app: TermmateApp) -> str:
    """What the input line's frame says about hearing ("" when nothing)."""
    return app.query_one(ChatInput).hearing_label or ""


def _status(app: TermmateApp) -> str:
    return str(app.query_one("#status-text").render())


def _ears_line(app: TermmateApp) -> str:
    return next(line for line in _status(app).splitlines() if " ears: " in line)


def _toasts(app: TermmateApp) -> list[str]:
    return [str(toast.render()) for toast in app.screen.query("Toast")]


def _said(app: TermmateApp) -> list[str]:
    return [str(message.content) for message in app.query(UserMessage)]


def _answered(app: TermmateApp, count: int) -> bool:
    """Reply number ``count`` has finished (its quiet line shows the first token's time)."""
    replies = list(app.query(AssistantMessage))
    if len(replies) < count or not replies[count - 1].query(".meta"):  # (still being mounted)
        return False
    return "first token" in replies[count - 1].meta_text


def _spoken_s(wav: Path) -> float:
    return soundfile.info(wav).duration


def _heard_s(audio: bytes) -> float:
    return soundfile.info(io.BytesIO(audio)).duration


async def _ready(pilot, app: TermmateApp) -> None:
    await settled(pilot, app.companion_ready.is_set, what="the companion")
    await settled(pilot, lambda: "ears:" in _status(app), what="the status pane")


async def _open_microphone(pilot, app: TermmateApp, key: str) -> None:
    """Press ``key`` and wait until the microphone has been open and hearing. Watched from
    before the press: ``pilot.press`` returns only once the app is idle, which may be after a
    short listen has already ended."""
    listener = app.companion.ears.listener
    watcher = asyncio.create_task(eventually(lambda: listener.ready, 30, "the microphone"))
    try:
        await pilot.press(key)
        await settled(pilot, watcher.done, what="the microphone")
        watcher.result()
    finally:
        watcher.cancel()


# -- push-to-talk -------------------------------------------------------------------------------


async def test_push_to_talk_ends_by_itself_and_sends_what_was_heard_in_its_language(
    hearing: PulseServer,
    monkeypatch: pytest.MonkeyPatch,
    asr: ScriptedASR,
    chat: ScriptedOpenAI,
    speech: SpeechSamples,
    tmp_path: Path,
) -> None:
    # The recogniser is told the language: the reply follows it, not the words' script.
    monkeypatch.setenv("TERMMATE_ASR__LANGUAGE", "ko")
    said = joined([speech.english], 1.5, tmp_path / "said.wav")
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        assert "ears: off" in _ears_line(app) and _frame(app) == ""
        assert not app.listening.metering  # nothing polls while the microphone is closed

        await _open_microphone(pilot, app, "f5")
        await settled(pilot, lambda: "LISTENING (F5 ends" in _frame(app), what="the frame")
        await settled(pilot, lambda: "ears: active" in _ears_line(app), what="the ears line")
        assert "push-to-talk" in _ears_line(app)
        player = play_into(hearing, said)
        # The meter moves with the voice.
        await settled(pilot, lambda: "████" in _frame(app), what="the level meter")
        await settled(pilot, lambda: _answered(app, 1), what="the answer")
        assert player.wait(30) == 0

        assert _said(app) == [WORDS]  # sent without a key: listen.auto_send
        assert app.query_one(ChatInput).value == ""
        assert _frame(app) == "" and not app.listening.metering
        assert not app.companion.ears.listening
        await settled(pilot, lambda: "ears: off" in _ears_line(app), what="the ears line")
    prompt = chat.chat_requests[0].messages
    assert prompt[-1] == {"role": "user", "content": WORDS}
    assert "Reply in Korean." in prompt[0]["content"]
    [sent] = asr.transcriptions
    assert sent.fields["language"] == "ko"
    # It ended by itself: the utterance, its pre-roll and closing silence, nothing more.
    assert _spoken_s(speech.english) <= _heard_s(sent.audio) <= _spoken_s(speech.english) + 2


async def test_without_auto_send_the_words_wait_after_what_was_typed_and_f5_ends_early(
    hearing: PulseServer,
    monkeypatch: pytest.MonkeyPatch,
    asr: ScriptedASR,
    chat: ScriptedOpenAI,
    speech: SpeechSamples,
) -> None:
    monkeypatch.setenv("TERMMATE_LISTEN__AUTO_SEND", "false")
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        for key in "note:":
            await pilot.press(key)
        await _open_microphone(pilot, app, "f5")
        player = play_into(hearing, speech.korean)
        try:
            ears = app.companion.ears
            await settled(pilot, lambda: ears.listener.hearing_speech, what="the speech")
            await pilot.press("f5")  # done talking (before the sentence is over)
            field = app.query_one(ChatInput)
            await settled(pilot, lambda: WORDS in field.value, what="the transcript")
        finally:
            player.wait(30)
        assert field.value == f"note: {WORDS}"  # what was typed stays
        assert _said(app) == [] and chat.chat_requests == []  # it waits for Enter
        assert _frame(app) == "" and not ears.listening
        [sent] = asr.transcriptions
        assert _heard_s(sent.audio) < _spoken_s(speech.korean)

        await pilot.press("enter")
        await settled(pilot, lambda: _answered(app, 1), what="the answer")
        assert _said(app) == [f"note: {WORDS}"]


async def test_silence_is_heard_as_nothing_and_esc_closes_the_microphone(
    hearing: PulseServer,
    monkeypatch: pytest.MonkeyPatch,
    asr: ScriptedASR,
    chat: ScriptedOpenAI,
) -> None:
    # Long enough that Esc comes while the first listen still waits for speech.
    monkeypatch.setenv("TERMMATE_LISTEN__START_TIMEOUT_S", "3")
    app = TermmateApp()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _ready(pilot, app)
        ears = app.companion.ears
        await _open_microphone(pilot, app, "f5")
        assert ears.listening, "the first listen is still waiting for speech"
        await pilot.press("escape")
        await settled(pilot, lambda: not ears.listening, timeout_s=5, what="Esc to close it")
        assert _frame(app) == "" and not app.listening.push_to_talk_on

        await _open_microphone(pilot, app, "f5")
        await settled(pilot, lambda: "Heard nothing." in _toasts(app), what="heard nothing")
        assert not ears.listening and _frame(app) == "" and not app.listening.metering
    assert asr.transcriptions == [] and chat.chat_requests == []  # never an empty turn
    assert _said(app) == []


async def test_the_keys_are_remappable_and_in_the_command_palette(
    hearing: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERMMATE_KEYS__LISTEN", "f9")
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        titles = {command.title for command in app.get_system_commands(app.screen)}
        assert {"Push-to-talk", "Hands-free on/off"} <= titles
        await pilot.press("f5")  # no longer bound
        await pilot.pause(0.3)
        assert not app.listening.push_to_talk_on and not app.companion.ears.listening
        await _open_microphone(pilot, app, "f9")
        await settled(pilot, lambda: "LISTENING (F9 ends" in _frame(app), what="the frame")
        await pilot.press("escape")
        await settled(pilot, lambda: not app.companion.ears.listening, what="Esc to close it")


async def test_no_microphone_says_why_and_nothing_breaks(
    hearing: PulseServer, monkeypatch: pytest.MonkeyPatch, chat: ScriptedOpenAI
) -> None:
    monkeypatch.setenv("TERMMATE_AUDIO__INPUT_DEVICE", "no-such-microphone")
    app = TermmateApp()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _ready(pilot, app)
        for key in ("f5", "f6"):
            await pilot.press(key)
            await settled(
                pilot,
                lambda: any("no microphone 'no-such-microphone'" in t for t in _toasts(app)),
                what=f"{key} to say why",
            )
            app.clear_notifications()
            await settled(
                pilot, lambda: "no-such-microphone" in _ears_line(app), what="the ears line"
            )
            assert "ears: error" in _ears_line(app)
            await settled(pilot, lambda: _frame(app) == "", what="the frame to clear")
            assert not app.listening.push_to_talk_on and not app.listening.hands_free_on
        for key in "hi":  # typing still works
            await pilot.press(key)
        await pilot.press("enter")
        await settled(pilot, lambda: _answered(app, 1), what="the answer")


# -- hands-free ---------------------------------------------------------------------------------


async def test_hands_free_makes_a_turn_of_each_utterance(
    hearing: PulseServer,
    asr: ScriptedASR,
    chat: ScriptedOpenAI,
    speech: SpeechSamples,
    tmp_path: Path,
) -> None:
    asr.script(Heard("the first thing"), Heard("두 번째 말"))
    both = joined([speech.english, speech.korean], 1.5, tmp_path / "two.wav")
    app = TermmateApp()
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        await _open_microphone(pilot, app, "f6")
        assert "HANDS-FREE: listening (F6 stops)" in _frame(app)
        await settled(pilot, lambda: "hands-free" in _ears_line(app), what="the ears line")
        player = play_into(hearing, both)
        await settled(pilot, lambda: _answered(app, 2), what="two answers")
        assert player.wait(30) == 0
        assert _said(app) == ["the first thing", "두 번째 말"]
        assert app.companion.ears.listening  # still listening, until F6

        await pilot.press("f6")
        await settled(pilot, lambda: not app.companion.ears.listening, what="F6 to close it")
        assert _frame(app) == "" and not app.listening.metering
        await settled(pilot, lambda: "ears: off" in _ears_line(app), what="the ears line")
    assert len(asr.transcriptions) == 2
    assert "Reply in Korean." in chat.chat_requests[1].messages[0]["content"]


def _quiet_for(recorder: MonitorRecorder, seconds: float) -> bool:
    loud = recorder.loud_frames(threshold=0.02)
    return len(loud) > 0 and recorder.frames() - int(loud[-1]) > seconds * RATE


async def test_hands_free_hears_nothing_while_the_companion_speaks(
    hearing: PulseServer,
    monkeypatch: pytest.MonkeyPatch,
    asr: ScriptedASR,
    chat: ScriptedOpenAI,
    fish_server: FishSpeechServer,
    speech: SpeechSamples,
    tmp_path: Path,
) -> None:
    """Without barge-in, hands-free pauses while the voice speaks and listens again after."""
    chat.set_default(Reply.of(*words_of("It could talk and it could listen. " * 4)))
    fish_server.seconds_per_char = 0.06  # about eight seconds of voice
    monkeypatch.setenv("TERMMATE_TTS__URL", fish_server.url)
    with second_sink(hearing, tmp_path / "alsa-config") as voice_sink:
        monkeypatch.setenv("TERMMATE_AUDIO__OUTPUT_DEVICE", voice_sink.sink)
        app = TermmateApp()
        async with app.run_test(size=SIZE) as pilot:
            await _ready(pilot, app)
            await settled(pilot, lambda: app.companion.voice_available, what="the voice")
            await _open_microphone(pilot, app, "f6")
            for key in "hi":
                await pilot.press(key)
            await pilot.press("enter")
            voice = app.companion.voice
            await settled(pilot, lambda: voice.status.state == "speaking", what="the voice")
            await settled(
                pilot, lambda: "paused while it speaks" in _frame(app), what="the paused frame"
            )
            player = play_into(hearing, speech.english)
            await settled(pilot, lambda: player.poll() is not None, what="the speech to end")
            assert voice.status.state == "speaking", "the voice outlasts what was said"
            await settled(pilot, lambda: voice.status.state != "speaking", what="the voice")
            assert asr.transcriptions == [] and _said(app) == ["hi"]  # nothing was heard
            await settled(pilot, lambda: "HANDS-FREE: listening" in _frame(app), what="resuming")
            player = play_into(hearing, speech.korean)
            await settled(pilot, lambda: _answered(app, 2), what="the spoken turn")
            player.wait(30)
            assert _said(app) == ["hi", WORDS]
            assert not app.query(AssistantMessage).first().has_class("stopped")
            await pilot.press("f6")
    assert len(asr.transcriptions) == 1  # only what was said after the voice ended


async def test_barge_in_by_voice_stops_the_voice_and_the_reply(
    hearing: PulseServer,
    monkeypatch: pytest.MonkeyPatch,
    asr: ScriptedASR,
    chat: ScriptedOpenAI,
    fish_server: FishSpeechServer,
    speech: SpeechSamples,
    tmp_path: Path,
) -> None:
    long_reply = "Once upon a time there was a terminal. It could talk and it could listen. " * 6
    chat.set_default(Reply.of(*words_of(long_reply), token_delay_s=0.1))
    fish_server.seconds_per_char = 0.05
    monkeypatch.setenv("TERMMATE_TTS__URL", fish_server.url)
    monkeypatch.setenv("TERMMATE_LISTEN__BARGE_IN", "true")
    with second_sink(hearing, tmp_path / "alsa-config") as voice_sink:
        # The voice plays into a sink of its own: the microphone does not hear it.
        monkeypatch.setenv("TERMMATE_AUDIO__OUTPUT_DEVICE", voice_sink.sink)
        app = TermmateApp()
        async with app.run_test(size=SIZE) as pilot:
            await _ready(pilot, app)
            await settled(pilot, lambda: app.companion.voice_available, what="the voice")
            await _open_microphone(pilot, app, "f6")
            with voice_sink.recorder() as voice:
                for key in "story":
                    await pilot.press(key)
                await pilot.press("enter")
                await settled(pilot, lambda: len(voice.loud_frames()) > 0, what="the voice")
                await settled(
                    pilot, lambda: "talk to interrupt" in _frame(app), what="the paused frame"
                )
                player = play_into(hearing, speech.english)
                try:
                    reply = app.query(AssistantMessage).first()
                    await settled(pilot, lambda: reply.has_class("stopped"), what="the stop")
                    # Stopped by the speech starting, not by its transcript: it is still playing.
                    assert player.poll() is None
                    await settled(pilot, lambda: _quiet_for(voice, 0.3), what="the silence")
                    assert app.companion.voice.status.state != "speaking"
                    assert len(reply.text) < len(long_reply)
                    await settled(pilot, lambda: _answered(app, 2), what="the spoken turn")
                finally:
                    player.wait(30)
            assert _said(app) == ["story", WORDS]
            messages = await app.companion.threads.messages(app.thread_id)
            assert messages[1]["role"] == "assistant" and messages[1]["stopped"] is True
            await pilot.press("f6")
    assert len(asr.transcriptions) == 1  # the user, never the companion's own voice
