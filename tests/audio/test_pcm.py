"""Audio conversions: streamed PCM with and without a WAV header, WAV round trips, resampling."""

from __future__ import annotations

import numpy as np
import pytest

from audio.errors import TTSBadResponse
from audio.pcm import Clip, PcmStreamDecoder, concatenate, decode_audio, encode_wav, resample
from tests.audio.conftest import tone_file
from tests.support.fish_speech_server import wav_stream_header


def _pcm(samples: np.ndarray) -> bytes:
    return (samples * 32767).astype("<i2").tobytes()


def _decode_in_pieces(decoder: PcmStreamDecoder, data: bytes, piece: int) -> np.ndarray:
    clips = [decoder.feed(data[i : i + piece]) for i in range(0, len(data), piece)]
    decoder.finish()
    return np.concatenate([clip.samples for clip in clips if clip is not None])


@pytest.mark.parametrize("piece", [1, 3, 7, 1000])
def test_headerless_pcm_in_odd_pieces(piece: int) -> None:
    samples = np.sin(np.linspace(0, 40, 2001)).astype(np.float32) * 0.5
    decoder = PcmStreamDecoder(44100)
    out = _decode_in_pieces(decoder, _pcm(samples), piece)
    assert decoder.sample_rate == 44100
    assert len(out) == len(samples)
    assert np.max(np.abs(out - samples)) < 1e-3


@pytest.mark.parametrize("piece", [1, 5, 44, 45, 4096])
def test_stream_with_wav_header_takes_its_rate(piece: int) -> None:
    samples = np.linspace(-0.5, 0.5, 1000).astype(np.float32)
    decoder = PcmStreamDecoder(44100)
    out = _decode_in_pieces(decoder, wav_stream_header(24000) + _pcm(samples), piece)
    assert decoder.sample_rate == 24000
    assert np.max(np.abs(out - samples)) < 1e-3


def test_stream_that_is_a_whole_stereo_wav_file() -> None:
    decoder = PcmStreamDecoder(44100)
    out = _decode_in_pieces(decoder, tone_file(0.5, rate=16000, channels=2), 333)
    assert (decoder.sample_rate, decoder.channels) == (16000, 2)
    assert len(out) == 8000
    assert 0.25 < np.max(np.abs(out)) < 0.35


def test_stream_of_float_wav_is_refused() -> None:
    import io

    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(100, dtype=np.float32), 22050, subtype="FLOAT", format="WAV")
    with pytest.raises(TTSBadResponse, match="only 16-bit PCM"):
        PcmStreamDecoder(44100).feed(buffer.getvalue())


def test_stream_ending_inside_the_header() -> None:
    decoder = PcmStreamDecoder(44100)
    assert decoder.feed(b"RIFF\x00\x00\x00\x00WAVEfm") is None
    with pytest.raises(TTSBadResponse, match="inside its WAV header"):
        decoder.finish()


def test_wav_round_trip_and_mp3_decoding() -> None:
    clip = Clip((np.sin(np.arange(22050) / 10) * 0.3).astype(np.float32), 22050)
    back = decode_audio(encode_wav(clip))
    assert back.sample_rate == 22050
    assert np.max(np.abs(back.samples - clip.samples)) < 1e-3
    mp3 = decode_audio(tone_file(1.0, rate=44100, file_format="MP3"))
    assert mp3.sample_rate == 44100
    assert 0.9 < mp3.duration_s < 1.2


def test_decode_refuses_what_is_not_audio() -> None:
    with pytest.raises(ValueError, match=r"not recognised|Format"):
        decode_audio(b"this is a text file, not a recording" * 10)


def test_resample_keeps_duration_and_pitch() -> None:
    rate, frequency = 24000, 440.0
    samples = np.sin(2 * np.pi * frequency * np.arange(rate) / rate).astype(np.float32)
    out = resample(samples, rate, 44100)
    assert len(out) == 44100
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 44100 / len(out) - frequency) < 2


def test_concatenate_mixed_rates() -> None:
    joined = concatenate([Clip(np.ones(100, np.float32), 100), Clip(np.ones(200, np.float32), 200)])
    assert joined.sample_rate == 100
    assert len(joined) == 200
