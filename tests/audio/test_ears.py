"""The companion's ears over the real microphone path (PulseAudio's null sink monitor is the
default source): hands-free survives a recogniser that fails on one utterance."""

from __future__ import annotations

from pathlib import Path

from agent.ears import Ears
from config import Settings
from tests.support.pulse import PulseServer, play_into
from tests.support.scripted_asr import Heard, ScriptedASR
from tests.support.speech import SpeechSamples, joined
from tests.support.waiting import eventually


async def test_hands_free_misses_an_utterance_the_recogniser_fails_on_and_keeps_listening(
    pulse: PulseServer, speech: SpeechSamples, tmp_path: Path
) -> None:
    both = joined([speech.english, speech.korean], 1.5, tmp_path / "two.wav")
    with ScriptedASR(Heard.failure(500, "the GPU fell over"), default=Heard("second words")) as asr:
        settings = Settings(
            data_dir=tmp_path / "data", mode="online", asr={"url": asr.url, "max_retries": 0}
        )
        ears = Ears.from_settings(settings)
        missed: list[str] = []
        heard: list[str] = []
        try:
            async with ears.hands_free(on_missed=missed.append) as stream:
                await eventually(lambda: ears.listener.ready, 10, "the microphone to open")
                player = play_into(pulse, both)
                async for transcript in stream:
                    heard.append(transcript.text)
                    break
                player.wait(30)
        finally:
            await ears.aclose()
    assert len(missed) == 1 and "GPU fell over" in missed[0]
    assert heard == ["second words"], "the next utterance is still heard"
    assert len(asr.transcriptions) == 2
    assert not ears.listening
