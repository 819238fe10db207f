"""Write tiny GGUF models with random weights that the real llama.cpp loads.

The weights are noise, so the text is gibberish, but every code path that touches llama.cpp
(loading, chat templates, streaming, grammar-constrained JSON, embeddings) runs for real.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# A chat template in the Jinja dialect llama-cpp-python renders from the GGUF metadata.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)

_WORDS = (
    "hello world the a is of and to in you I it that what this screen code memory voice "
    "remember name like coffee tea music today tomorrow yes no please thanks help "
    "안녕 하세요 감사 합니다 저는 이름 좋아 커피 음악 오늘 내일 네 아니요 화면 기억"
).split()
_HANGUL = "가나다라마바사아자차카타파하요다죠니까는은이가를을에서의도"


@dataclass(frozen=True)
class TinyModelSpec:
    """Shape of a tiny llama-architecture model."""

    n_embd: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_head_kv: int = 4
    n_ff: int = 128
    n_ctx: int = 2048
    seed: int = 1234
    pooling: int | None = None  # gguf.PoolingType value for embedding models
    never_ends: bool = False  # </s> gets logit 0 too, so replies always run to max_tokens


def _vocabulary() -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece-style vocabulary: specials, all 256 byte tokens, then unique pieces."""
    from gguf import TokenType

    tokens = ["<unk>", "<s>", "</s>"]
    types = [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    pieces: list[str] = ["▁"]
    pieces += list(string.ascii_letters + string.digits + string.punctuation)
    pieces += [f"▁{c}" for c in string.ascii_lowercase]
    pieces += list(_HANGUL)
    pieces += [f"▁{w}" for w in _WORDS] + _WORDS
    pieces += ["<|", "|>", "user", "assistant", "system", "\n"]
    seen = set(tokens)
    for piece in pieces:
        if piece not in seen:
            seen.add(piece)
            tokens.append(piece)
            types.append(TokenType.NORMAL)
    # Longer pieces score higher, so the tokenizer prefers whole words over letters.
    scores = [0.0] * len(tokens)
    for i, (tok, kind) in enumerate(zip(tokens, types, strict=True)):
        if kind == TokenType.NORMAL:
            scores[i] = -100.0 + len(tok)
    return tokens, scores, [int(t) for t in types]


def write_tiny_gguf(path: Path, spec: TinyModelSpec = TinyModelSpec()) -> Path:
    """Write a llama-architecture GGUF with random weights to ``path`` and return it."""
    import gguf

    rng = np.random.default_rng(spec.seed)
    tokens, scores, types = _vocabulary()
    n_vocab = len(tokens)
    head_dim = spec.n_embd // spec.n_head

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("termmate-tiny-test")
    writer.add_context_length(spec.n_ctx)
    writer.add_embedding_length(spec.n_embd)
    writer.add_block_count(spec.n_layer)
    writer.add_feed_forward_length(spec.n_ff)
    writer.add_head_count(spec.n_head)
    writer.add_head_count_kv(spec.n_head_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    if spec.pooling is not None:
        writer.add_pooling_type(gguf.PoolingType(spec.pooling))

    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_chat_template(CHAT_TEMPLATE)

    def weight(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    kv_dim = head_dim * spec.n_head_kv
    writer.add_tensor("token_embd.weight", weight(n_vocab, spec.n_embd, scale=1.0))
    for i in range(spec.n_layer):
        p = f"blk.{i}"
        writer.add_tensor(f"{p}.attn_norm.weight", np.ones(spec.n_embd, dtype=np.float32))
        writer.add_tensor(f"{p}.attn_q.weight", weight(spec.n_embd, spec.n_embd))
        writer.add_tensor(f"{p}.attn_k.weight", weight(kv_dim, spec.n_embd))
        writer.add_tensor(f"{p}.attn_v.weight", weight(kv_dim, spec.n_embd))
        writer.add_tensor(f"{p}.attn_output.weight", weight(spec.n_embd, spec.n_embd))
        writer.add_tensor(f"{p}.ffn_norm.weight", np.ones(spec.n_embd, dtype=np.float32))
        writer.add_tensor(f"{p}.ffn_gate.weight", weight(spec.n_ff, spec.n_embd))
        writer.add_tensor(f"{p}.ffn_up.weight", weight(spec.n_ff, spec.n_embd))
        writer.add_tensor(f"{p}.ffn_down.weight", weight(spec.n_embd, spec.n_ff))
    writer.add_tensor("output_norm.weight", np.ones(spec.n_embd, dtype=np.float32))
    output = weight(n_vocab, spec.n_embd, scale=1.0)
    # Byte tokens get logit 0, far below the others (about ±20), so the model rarely writes a
    # lone byte: invalid UTF-8 would make llama-cpp-python hold the stream back to the end.
    output[3 : 3 + 256] = 0.0
    if spec.never_ends:
        output[2] = 0.0
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
