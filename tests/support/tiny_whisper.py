"""A tiny multilingual Whisper with random weights, in CTranslate2's format, for the real
faster-whisper to load and run (no torch, no download).

``write_tiny_whisper(folder)`` builds the model with ``ctranslate2.specs.WhisperSpec`` and numpy
and writes everything faster-whisper reads from a model folder: ``model.bin``,
``config.json``, ``vocabulary.json``, ``tokenizer.json`` (so it never reaches for the hub's
tokenizer) and ``preprocessor_config.json``. Its words are nonsense; the plumbing is real.

The vocabulary is laid out as Whisper's is: text tokens (the 256 byte-level tokens, then a few
dozen whole English and Korean words), ``<|endoftext|>``, ``<|startoftranscript|>``, the 100
language tokens, the task and marker tokens, ``<|notimestamps|>``, then 1501 timestamps.
CTranslate2 takes a Whisper model for multilingual only when its vocabulary holds the empty
string, so one text token is "".

The output layer's bias leaves only the whole words and ``<|endoftext|>`` to choose from; its
weights are large, so the model is sure of itself (faster-whisper's temperature fallback never
decodes the audio six times over); and the decoder's state is mostly its position, with an
"end" direction from ``words_per_transcript`` words on that only ``<|endoftext|>`` answers: it
writes that many words, each a little swayed by the audio, and stops. Weights are scaled by
the width, so a wider model (for a benchmark) behaves the same.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LANGUAGES = tuple(
    """en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no
    th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl
    mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as
    tt haw ln ha ba jw su yue""".split()
)
"""Whisper's language tokens, in its order."""

WORDS = tuple(
    """hello there termmate hears you the quick brown fox jumps over a lazy dog today is
    sunny and bright please tell me something new about this code window 안녕하세요 오늘
    날씨 좋네요 고마워요 네 아니요 괜찮아요 코드 화면 음악""".split()
)
"""The whole-word tokens the model writes (with a leading space, as Whisper's BPE has them)."""

SPECIAL_AFTER_LANGUAGES = (
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
)
TIMESTAMPS = 1501
N_MELS = 80
ENCODER_POSITIONS = 1500  # 30 s of audio after the encoder's stride-2 convolution
DECODER_POSITIONS = 448
PROMPT_LENGTH = 4  # <|startoftranscript|> <|xx|> <|transcribe|> <|notimestamps|>


@dataclass(frozen=True)
class TinyWhisperSpec:
    """The model's size; the default loads in a fraction of a second."""

    d_model: int = 64
    heads: int = 2
    encoder_layers: int = 1
    decoder_layers: int = 1
    ffn: int = 128
    seed: int = 0
    words_per_transcript: int = 4
    """How many words the model writes before it ends the text."""
    confidence: float = 1.5
    """Scale of the output layer's weights: large makes the model sure of every word."""


def byte_tokens() -> list[str]:
    """GPT-2's byte-level alphabet: the character standing for each byte 0..255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[byte] = chr(byte)
        else:
            chars[byte] = chr(256 + extra)
            extra += 1
    return [chars[byte] for byte in range(256)]


def _as_bytes_token(text: str) -> str:
    alphabet = byte_tokens()
    return "".join(alphabet[byte] for byte in text.encode("utf-8"))


def vocabulary() -> list[str]:
    """Every token, by id."""
    words = [_as_bytes_token(" " + word) for word in WORDS]
    specials = ["<|endoftext|>", "<|startoftranscript|>"]
    specials += [f"<|{code}|>" for code in LANGUAGES]
    specials += SPECIAL_AFTER_LANGUAGES
    timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMPS)]
    return [*byte_tokens(), "", *words, *specials, *timestamps]


def write_tiny_whisper(folder: Path, spec: TinyWhisperSpec | None = None) -> Path:
    """Write the model into ``folder`` (created); returns ``folder``."""
    from ctranslate2.specs import whisper_spec

    spec = spec or TinyWhisperSpec()
    tokens = vocabulary()
    rng = np.random.default_rng(spec.seed)
    model = whisper_spec.WhisperSpec(
        spec.encoder_layers, spec.heads, spec.decoder_layers, spec.heads
    )
    _Weights(rng, spec).fill(model, tokens)
    first_language = tokens.index("<|en|>")
    model.config.lang_ids = list(range(first_language, first_language + len(LANGUAGES)))
    model.config.suppress_ids = []
    model.config.suppress_ids_begin = [tokens.index("<|endoftext|>")]
    model.config.alignment_heads = [
        (layer, head) for layer in range(spec.decoder_layers) for head in range(spec.heads)
    ]
    model.register_vocabulary(tokens)
    folder.mkdir(parents=True, exist_ok=True)
    model.validate()
    model.optimize(quantization=None)
    model.save(str(folder))
    _write_tokenizer(folder / "tokenizer.json", tokens)
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "feature_size": N_MELS,
                "sampling_rate": 16000,
                "hop_length": 160,
                "chunk_length": 30,
                "n_fft": 400,
            }
        )
    )
    return folder


class _Weights:
    def __init__(self, rng: np.random.Generator, spec: TinyWhisperSpec) -> None:
        self.rng = rng
        self.spec = spec

    def random(self, *shape: int, scale: float | None = None) -> np.ndarray:
        """Normal weights; by default 1.6 / sqrt(d_model) (0.2 at 64): a layer's output is
        about as large as its input at any width."""
        scale = 1.6 / np.sqrt(self.spec.d_model) if scale is None else scale
        return (self.rng.standard_normal(shape) * scale).astype(np.float32)

    def fill(self, model: object, tokens: list[str]) -> None:
        d = self.spec.d_model
        encoder = model.encoder  # type: ignore[attr-defined]
        encoder.conv1.weight = self.random(d, N_MELS, 3)
        encoder.conv1.bias = self.random(d)
        encoder.conv2.weight = self.random(d, d, 3)
        encoder.conv2.bias = self.random(d)
        encoder.position_encodings.encodings = self.random(ENCODER_POSITIONS, d)
        self.norm(encoder.layer_norm)
        for layer in encoder.layer:
            self.attention(layer.self_attention, self_attention=True)
            self.feed_forward(layer.ffn)
        decoder = model.decoder  # type: ignore[attr-defined]
        decoder.embeddings.weight = self.random(len(tokens), d)
        # The decoder's state is mostly its position: each position writes its own word, and
        # from a fixed position on, an "end" direction makes <|endoftext|> the only choice.
        positions = self.random(DECODER_POSITIONS, d, scale=1.0)
        end = self.random(d, scale=1.0)
        end /= np.linalg.norm(end)
        # Sizes relative to sqrt(d), the length of a normalised state, so any width works.
        width = np.sqrt(d)
        positions[PROMPT_LENGTH - 1 + self.spec.words_per_transcript :] += 0.5 * width * end
        decoder.position_encodings.encodings = positions
        self.norm(decoder.layer_norm)
        quiet = 0.16 / width  # the layers barely touch the state (0.02 at d_model 64)
        for layer in decoder.layer:
            self.attention(layer.self_attention, self_attention=True, output_scale=quiet)
            self.attention(layer.attention, self_attention=False, output_scale=quiet)
            self.feed_forward(layer.ffn, output_scale=quiet)
        scale = 8.0 / width  # word logits of about ±8 × confidence at any width
        projection = self.random(len(tokens), d, scale=self.spec.confidence * scale)
        projection -= np.outer(projection @ end, end)  # words know nothing of the end
        projection[tokens.index("<|endoftext|>")] = 12.0 * scale * end
        decoder.projection.weight = projection.astype(np.float32)
        decoder.projection.bias = self.output_bias(tokens)

    def output_bias(self, tokens: list[str]) -> np.ndarray:
        """Only the whole words and the end of text may be written."""
        bias = np.full(len(tokens), -1e4, dtype=np.float32)
        first_word = tokens.index("") + 1
        bias[first_word : first_word + len(WORDS)] = 0.0
        bias[tokens.index("<|endoftext|>")] = 0.0
        return bias

    def norm(self, layer: object) -> None:
        d = self.spec.d_model
        layer.gamma = np.ones(d, dtype=np.float32)  # type: ignore[attr-defined]
        layer.beta = np.zeros(d, dtype=np.float32)  # type: ignore[attr-defined]

    def attention(
        self, layer: object, *, self_attention: bool, output_scale: float | None = None
    ) -> None:
        d = self.spec.d_model
        self.norm(layer.layer_norm)  # type: ignore[attr-defined]
        # Self-attention: one fused query/key/value projection and the output. Cross-attention:
        # the query, a fused key/value projection of the encoder's output, and the output.
        shapes = [3 * d, d] if self_attention else [d, 2 * d, d]
        linears = layer.linear  # type: ignore[attr-defined]
        for index, (linear, rows) in enumerate(zip(linears, shapes, strict=True)):
            scale = output_scale if index == len(shapes) - 1 else None
            linear.weight = self.random(rows, d, scale=scale)
            linear.bias = self.random(rows, scale=scale)

    def feed_forward(self, layer: object, *, output_scale: float | None = None) -> None:
        d, inner = self.spec.d_model, self.spec.ffn
        self.norm(layer.layer_norm)  # type: ignore[attr-defined]
        layer.linear_0.weight = self.random(inner, d)  # type: ignore[attr-defined]
        layer.linear_0.bias = self.random(inner)  # type: ignore[attr-defined]
        layer.linear_1.weight = self.random(d, inner, scale=output_scale)  # type: ignore[attr-defined]
        layer.linear_1.bias = self.random(d, scale=output_scale)  # type: ignore[attr-defined]


def _write_tokenizer(path: Path, tokens: list[str]) -> None:
    """A byte-level BPE tokenizer over the same ids (Hugging Face ``tokenizers`` format)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    end_of_text = tokens.index("<|endoftext|>")
    text_tokens = {token: i for i, token in enumerate(tokens[:end_of_text])}
    tokenizer = Tokenizer(models.BPE(vocab=text_tokens, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = [t for t in tokens[end_of_text:] if not t[2].isdigit()]  # not the timestamps
    tokenizer.add_special_tokens([AddedToken(t, special=True) for t in specials])
    for token in specials:  # added tokens take the next free ids: they must be Whisper's
        assert tokenizer.token_to_id(token) == tokens.index(token), token
    tokenizer.save(str(path))
