"""A tiny vision projector (mmproj GGUF) with random weights that llama.cpp's mtmd loads.

A LLaVA-style projector ("mlp"): a 2-layer ViT over 8×8 patches of a 32×32 image, then a
two-layer MLP into the text model's embedding width. Paired with the tiny text model from
tests/support/tiny_gguf.py, the real llama.cpp encodes the frame, feeds its 16 image tokens to
the model and generates (gibberish) text: the whole local sight path runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SIZE = 32
PATCH_SIZE = 8
N_EMBD = 32
N_FF = 64
N_HEAD = 4
N_LAYER = 2
PROJECTOR_HIDDEN = 64

# The tiny text model's template, taught to read OpenAI content parts (a list of
# {"type": "text", "text": ...}; mtmd turns each image part into a text part with its marker).
VLM_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{{ part['text'] }}{% endfor %}{% endif %}"
    "{{ eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def write_tiny_mmproj(path: Path, text_n_embd: int, seed: int = 4321) -> Path:
    """Write the projector for a text model of width ``text_n_embd`` to ``path``."""
    import gguf

    rng = np.random.default_rng(seed)

    def weight(*shape: int, scale: float = 0.1) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.float32)

    n_patches = (IMAGE_SIZE // PATCH_SIZE) ** 2
    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_string("clip.projector_type", "mlp")
    writer.add_bool("clip.use_gelu", True)
    writer.add_uint32("clip.vision.image_size", IMAGE_SIZE)
    writer.add_uint32("clip.vision.patch_size", PATCH_SIZE)
    writer.add_uint32("clip.vision.embedding_length", N_EMBD)
    writer.add_uint32("clip.vision.feed_forward_length", N_FF)
    writer.add_uint32("clip.vision.projection_dim", text_n_embd)
    writer.add_uint32("clip.vision.block_count", N_LAYER)
    writer.add_uint32("clip.vision.attention.head_count", N_HEAD)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    writer.add_tensor("v.patch_embd.weight", weight(N_EMBD, 3, PATCH_SIZE, PATCH_SIZE))
    writer.add_tensor("v.class_embd", weight(N_EMBD))
    writer.add_tensor("v.position_embd.weight", weight(n_patches + 1, N_EMBD))
    writer.add_tensor("v.pre_ln.weight", ones(N_EMBD))
    writer.add_tensor("v.pre_ln.bias", zeros(N_EMBD))
    for i in range(N_LAYER):
        p = f"v.blk.{i}"
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            writer.add_tensor(f"{p}.{name}.weight", weight(N_EMBD, N_EMBD))
            writer.add_tensor(f"{p}.{name}.bias", zeros(N_EMBD))
        for norm in ("ln1", "ln2"):
            writer.add_tensor(f"{p}.{norm}.weight", ones(N_EMBD))
            writer.add_tensor(f"{p}.{norm}.bias", zeros(N_EMBD))
        writer.add_tensor(f"{p}.ffn_up.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(f"{p}.ffn_up.bias", zeros(N_FF))
        writer.add_tensor(f"{p}.ffn_down.weight", weight(N_EMBD, N_FF))
        writer.add_tensor(f"{p}.ffn_down.bias", zeros(N_EMBD))
    writer.add_tensor("mm.0.weight", weight(PROJECTOR_HIDDEN, N_EMBD))
    writer.add_tensor("mm.0.bias", zeros(PROJECTOR_HIDDEN))
    writer.add_tensor("mm.2.weight", weight(text_n_embd, PROJECTOR_HIDDEN))
    writer.add_tensor("mm.2.bias", zeros(text_n_embd))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
