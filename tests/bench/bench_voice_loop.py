"""The voice loop on the PulseAudio path: end of the user's speech → first sound of the reply.

A real espeak-ng sentence is played into the microphone (a PulseAudio null sink whose monitor
is the default source); termmate listens (push-to-talk: ``ears.hear_once``, as ``ask --listen
--speak`` and the TUI's F5 do), transcribes with the scripted recogniser (fixed latency),
answers with the scripted model (fixed time to first token and tokens/s) and speaks through the
Fish Speech test server (fixed real-time factor) into a second null sink. Two recorders on the
two sinks' monitors time the last sound of the user's speech and the first sound of the reply,
through the same PulseAudio path.

The bound, from the same run: the VAD's end-of-speech delay (listen.end_silence_ms) + the
recogniser's time (a bare POST of the same audio) + time to first token + the first sentence's
tokens + that sentence's synthesis (measured alone). Goal: termmate ≤ 1.15× the bound.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import soundfile

from agent.threads import new_thread_id
from tests.bench._stats import median, report, verdict
from tests.bench.bench_remote_hearing import utterance_samples
from tests.support.fish_speech_server import FishSpeechServer
from tests.support.pulse import play_into, second_sink, start_pulse, use_for_sounddevice
from tests.support.scripted_asr import Heard, ScriptedASR
from tests.support.scripted_openai import Reply, ScriptedOpenAI, words_of
from tests.support.speech import ENGLISH, speak_to_wav

REPLY = "The build is green again. I reran the failing test twice and it passed both times."
END_SILENCE_MS = 700
LOUD = 0.02


async def bare_asr_seconds(client, url: str, wav: bytes) -> float:
    started = time.perf_counter()
    response = await client.post(
        f"{url}/audio/transcriptions",
        files={"file": ("speech.wav", wav, "audio/wav")},
        data={"model": "whisper", "response_format": "json"},
    )
    response.raise_for_status()
    return time.perf_counter() - started


async def synth_seconds(tts, text: str) -> float:
    started = time.perf_counter()
    await tts.synthesize(text)
    return time.perf_counter() - started


async def one_loop(companion, pulse, mic, voice, sentence: Path) -> float:
    """Seconds from the end of the user's speech to the reply's first sound."""
    from agent.events import SpeechDone

    mic_since, voice_since = mic.frames(), voice.frames()
    hearing = asyncio.create_task(companion.ears.hear_once(language="en"))
    deadline = time.monotonic() + 10
    while not companion.ears.listener.ready:
        if time.monotonic() > deadline:
            raise RuntimeError("the microphone did not open")
        await asyncio.sleep(0.01)
    player = play_into(pulse, sentence)
    transcript = await asyncio.wait_for(hearing, 30)
    assert transcript is not None, "heard nothing"
    async for event in companion.turn(
        new_thread_id(), transcript.text, speak=True, until_spoken=True, language="en"
    ):
        if isinstance(event, SpeechDone):
            assert event.result is not None and event.result.error is None, event
    await asyncio.to_thread(player.wait, 30)
    spoken = mic.loud_frames(LOUD)
    last_word = int(spoken[spoken >= mic_since][-1]) + int(0.01 * mic.rate)
    reply = voice.loud_frames(LOUD)
    first_sound = int(reply[reply >= voice_since][0])
    return voice.time_of(first_sound) - mic.time_of(last_word)


async def run(runs: int, ttft_s: float, token_s: float, rtf: float, asr_s: float) -> None:
    import httpx

    from agent import Companion
    from audio import FishSpeechClient, split_sentences
    from config import TTSSettings, load_settings

    words = words_of(REPLY)
    first_sentence_tokens = len(words_of(split_sentences(REPLY)[0]))
    reply = Reply.of(*words, first_token_delay_s=ttft_s, token_delay_s=token_s)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ScriptedOpenAI(default=reply) as chat,
        ScriptedASR(default=Heard("is the build green"), latency_s=asr_s) as asr,
        FishSpeechServer(real_time_factor=rtf, seconds_per_char=0.06) as fish,
    ):
        folder = Path(tmp)
        sentence = speak_to_wav(ENGLISH, "en", folder / "english.wav")
        buffer = io.BytesIO()
        soundfile.write(buffer, utterance_samples(sentence), 16000, format="WAV")
        utterance_wav = buffer.getvalue()
        pulse = start_pulse(folder / "pulse")
        use_for_sounddevice(pulse)
        try:
            with (
                second_sink(pulse, folder) as speaker,
                pulse.recorder() as mic,
                speaker.recorder() as voice,
            ):
                os.environ.update(
                    {
                        "TERMMATE_DATA_DIR": str(folder / "data"),
                        "TERMMATE_CONFIG": str(folder / "settings.toml"),
                        "TERMMATE_MODE": "online",
                        "TERMMATE_LLM__URL": chat.url,
                        "TERMMATE_TTS__URL": fish.url,
                        "TERMMATE_ASR__URL": asr.url,
                        "TERMMATE_AUDIO__OUTPUT_DEVICE": speaker.sink,
                        "TERMMATE_LISTEN__END_SILENCE_MS": str(END_SILENCE_MS),
                        "TERMMATE_MEMORY__ENABLED": "false",
                    }
                )
                companion = await Companion.create(load_settings())
                tts = FishSpeechClient(TTSSettings(url=fish.url))
                client = httpx.AsyncClient(timeout=60)
                try:
                    await companion.voice.start()
                    ours, bounds = [], []
                    for i in range(runs + 1):
                        loop_s = await one_loop(companion, pulse, mic, voice, sentence)
                        bound = (
                            END_SILENCE_MS / 1000
                            + await bare_asr_seconds(client, asr.url, utterance_wav)
                            + ttft_s
                            + first_sentence_tokens * token_s
                            + await synth_seconds(tts, split_sentences(REPLY)[0])
                        )
                        voice.wait_for_silence(30)
                        if i:  # the first run warms connections and the devices
                            ours.append(loop_s)
                            bounds.append(bound)
                finally:
                    await client.aclose()
                    await tts.aclose()
                    await companion.aclose()
        finally:
            pulse.stop()
    ratio = median(ours) / median(bounds)
    report(
        f"voice loop, end of speech → first sound of the reply ({runs} runs; VAD "
        f"{END_SILENCE_MS} ms, recogniser {asr_s * 1000:.0f} ms, model {ttft_s * 1000:.0f} ms "
        f"to first token and {1 / token_s:.0f} tokens/s, TTS real-time factor {rtf})",
        [
            f"bound (VAD + recognition + TTFT + first sentence's {first_sentence_tokens} "
            f"tokens + its synthesis)  median {median(bounds) * 1000:7.0f} ms",
            f"termmate, measured on the PulseAudio path                     median "
            f"{median(ours) * 1000:7.0f} ms",
            f"vs bound {ratio:.2f}× (goal ≤ 1.15×: {verdict(ratio <= 1.15)})",
        ],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ttft-ms", type=float, default=300)
    parser.add_argument("--tokens-per-s", type=float, default=25)
    parser.add_argument("--rtf", type=float, default=0.3)
    parser.add_argument("--asr-ms", type=float, default=150)
    args = parser.parse_args()
    asyncio.run(
        run(args.runs, args.ttft_ms / 1000, 1 / args.tokens_per_s, args.rtf, args.asr_ms / 1000)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
