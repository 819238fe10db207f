"""Voice samples are checked before anything is saved; cloned voices work on any server."""

from __future__ import annotations

import io
from contextlib import aclosing
from pathlib import Path

import numpy as np
import pytest
import soundfile

from audio.errors import VoiceExists, VoiceNotFound, VoiceSampleError
from audio.fish_speech import FishSpeechClient
from audio.pcm import decode_audio
from audio.synthesis import SpeechSynthesizer
from audio.voice_sample import check_voice_name, check_voice_sample, read_voice_sample_file
from audio.voices import LocalVoices, VoiceLibrary
from tests.audio.conftest import tone_file, tts_settings
from tests.support.fish_speech_server import FishSpeechServer

WORDS = "The quick brown fox jumps over the lazy dog."


# -- the sample check ---------------------------------------------------------------------------


def test_good_sample_is_normalised_to_mono_wav() -> None:
    sample = check_voice_sample(tone_file(5.0, rate=48000, channels=2, file_format="FLAC"), WORDS)
    assert sample.duration_s == pytest.approx(5.0)
    clip = decode_audio(sample.wav)
    assert (clip.sample_rate, sample.sample_rate) == (48000, 48000)
    info = soundfile.info(io.BytesIO(sample.wav))
    assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 1)
    assert sample.transcript == WORDS


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (tone_file(1.5), r"is 1.5 s long; a voice sample needs 3–30 s"),
        (tone_file(31.0, rate=8000), r"is 31.0 s long; .*trim it"),
        (b"", r"is empty"),
        (b"I am a text file pretending to be a recording.\n" * 20, r"not an audio file"),
        (tone_file(5.0)[:44] + bytes(range(256)) * 40, r"is 0.2 s long"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt \xff\xff\xff\xff" + b"\x00" * 500, r"not an audio file"),
        (tone_file(5.0, amplitude=0.0), r"is silent"),
        (b"\x00" * (10 * 1024 * 1024 + 1), r"is 10.0 MB; a voice sample may be at most 10 MB"),
    ],
    ids=[
        "too-short",
        "too-long",
        "empty",
        "text",
        "header-and-noise",
        "corrupt",
        "silent",
        "too-big",
    ],
)
def test_bad_samples_are_refused(audio: bytes, message: str) -> None:
    with pytest.raises(VoiceSampleError, match=message):
        check_voice_sample(audio, WORDS)


def test_truncated_wav_is_judged_by_what_is_really_there() -> None:
    whole = tone_file(6.0)
    with pytest.raises(VoiceSampleError, match=r"is 2.\d s long"):
        check_voice_sample(whole[: len(whole) * 2 // 5], WORDS)


def test_empty_transcript_is_refused() -> None:
    with pytest.raises(VoiceSampleError, match="transcript is empty"):
        check_voice_sample(tone_file(4.0), "  \n ")


@pytest.mark.parametrize("name", ["", " ", "../evil", "a/b", "목소리", "-dash", "x" * 65])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(VoiceSampleError, match="cannot name a voice"):
        check_voice_name(name)


def test_sample_file_checks(tmp_path: Path) -> None:
    with pytest.raises(VoiceSampleError, match="no such file"):
        read_voice_sample_file(tmp_path / "missing.wav")
    with pytest.raises(VoiceSampleError, match="is a directory"):
        read_voice_sample_file(tmp_path)
    big = tmp_path / "big.wav"
    with big.open("wb") as handle:
        handle.truncate(11 * 1024 * 1024)
    with pytest.raises(VoiceSampleError, match="at most 10 MB"):
        read_voice_sample_file(big)
    good = tmp_path / "good.wav"
    good.write_bytes(tone_file(4.0))
    assert read_voice_sample_file(good) == good.read_bytes()


# -- cloning --------------------------------------------------------------------------------


async def test_clone_on_a_server_with_references(
    fish_server: FishSpeechServer, voices_dir: Path
) -> None:
    settings = tts_settings(fish_server, reference_id="Alice")
    async with aclosing(FishSpeechClient(settings)) as client:
        library = VoiceLibrary(client, LocalVoices(voices_dir))
        cloned = await library.clone(tone_file(4.0, rate=44100), WORDS, "Alice")
        assert (cloned.stored_on, cloned.note) == ("server", None)
        audio, text = fish_server.references["Alice"]
        assert text == WORDS
        assert decode_audio(audio).duration_s == pytest.approx(4.0)
        # The user's recording is also kept locally.
        assert (voices_dir / "Alice.wav").read_bytes() == audio
        assert (voices_dir / "Alice.txt").read_text() == WORDS

        listing = await library.listing()
        assert listing.server == "ok"
        assert [(v.name, v.on_server, v.saved_locally) for v in listing.voices] == [
            ("Alice", True, True)
        ]

        synthesizer = SpeechSynthesizer(client, library, settings)
        await synthesizer.synthesize_speech("Hello.")
        assert fish_server.calls[-1].request.reference_id == "Alice"
        assert fish_server.calls[-1].voice == "reference:Alice"
        assert fish_server.calls[-1].request.references == []


async def test_clone_on_a_server_without_references(voices_dir: Path) -> None:
    with FishSpeechServer(references_api=False) as server:
        settings = tts_settings(server, reference_id="Bob")
        async with aclosing(FishSpeechClient(settings)) as client:
            library = VoiceLibrary(client, LocalVoices(voices_dir))
            cloned = await library.clone(tone_file(3.2), WORDS, "Bob")
            assert cloned.stored_on == "local"
            assert "sent along with each request" in (cloned.note or "")
            assert (await library.listing()).server == "no_references_api"

            synthesizer = SpeechSynthesizer(client, library, settings)
            await synthesizer.synthesize_speech("First.")
            await synthesizer.synthesize_speech("Second.")
        for call in server.calls:
            assert call.voice == "inline:1"
            assert call.request.references[0].audio == (voices_dir / "Bob.wav").read_bytes()
            assert call.request.references[0].text == WORDS


async def test_refused_sample_saves_nothing(
    fish_server: FishSpeechServer, voices_dir: Path
) -> None:
    async with aclosing(FishSpeechClient(tts_settings(fish_server))) as client:
        library = VoiceLibrary(client, LocalVoices(voices_dir))
        with pytest.raises(VoiceSampleError, match=r"1\.0 s long"):
            await library.clone(tone_file(1.0), WORDS, "Carol")
    assert fish_server.references == {}
    assert not voices_dir.exists() or not any(voices_dir.iterdir())


async def test_existing_name_needs_replace(fish_server: FishSpeechServer, voices_dir: Path) -> None:
    async with aclosing(FishSpeechClient(tts_settings(fish_server))) as client:
        library = VoiceLibrary(client, LocalVoices(voices_dir))
        await library.clone(tone_file(4.0, frequency=200), WORDS, "Dana")
        with pytest.raises(VoiceExists, match="already exists"):
            await library.clone(tone_file(5.0), "other words", "Dana")
        assert fish_server.references["Dana"][1] == WORDS
        cloned = await library.clone(tone_file(5.0), "other words", "Dana", replace=True)
        assert cloned.duration_s == pytest.approx(5.0)
        assert fish_server.references["Dana"][1] == "other words"
        assert (voices_dir / "Dana.txt").read_text() == "other words"


async def test_local_voice_is_uploaded_to_a_new_server(voices_dir: Path) -> None:
    """A voice cloned while the server was elsewhere follows the user to this one."""
    library = VoiceLibrary(None, LocalVoices(voices_dir))
    cloned = await library.clone(tone_file(4.0), WORDS, "Eve")
    assert cloned.stored_on == "local"
    with FishSpeechServer() as server:
        settings = tts_settings(server, reference_id="Eve")
        async with aclosing(FishSpeechClient(settings)) as client:
            library = VoiceLibrary(client, LocalVoices(voices_dir))
            await SpeechSynthesizer(client, library, settings).synthesize_speech("Hi.")
        assert "Eve" in server.references
        assert server.calls[0].voice == "reference:Eve"


async def test_unknown_voice(fish_server: FishSpeechServer, voices_dir: Path) -> None:
    settings = tts_settings(fish_server, reference_id="Nobody")
    async with aclosing(FishSpeechClient(settings)) as client:
        library = VoiceLibrary(client, LocalVoices(voices_dir))
        await library.clone(tone_file(4.0), WORDS, "Frank")
        with pytest.raises(VoiceNotFound, match=r"no voice named 'Nobody'.*voices: Frank"):
            await library.find("Nobody")
        with pytest.raises(VoiceNotFound, match="neither on the TTS server nor in"):
            await SpeechSynthesizer(client, library, settings).synthesize_speech("Hi.")
        assert (await library.find("Frank")).on_server
        await library.delete("Frank")
        assert fish_server.references == {}
        assert not (voices_dir / "Frank.wav").exists()
        with pytest.raises(VoiceNotFound):
            await library.delete("Frank")


async def test_clone_while_the_server_is_down(voices_dir: Path) -> None:
    server = FishSpeechServer().start()
    url_settings = tts_settings(server)
    server.stop()
    async with aclosing(FishSpeechClient(url_settings)) as client:
        library = VoiceLibrary(client, LocalVoices(voices_dir))
        cloned = await library.clone(tone_file(4.0), WORDS, "Gina")
        assert cloned.stored_on == "local"
        assert "could not be reached" in (cloned.note or "")
        listing = await library.listing()
        assert listing.server == "unreachable"
        assert [v.name for v in listing.voices] == ["Gina"]


def test_wav_of_clone_is_a_real_mono_file(tmp_path: Path) -> None:
    sample = check_voice_sample(tone_file(3.0, rate=16000), WORDS)
    data, rate = soundfile.read(io.BytesIO(sample.wav))
    assert rate == 16000 and data.ndim == 1
    assert np.sqrt(np.mean(data**2)) > 0.1
