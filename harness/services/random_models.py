"""Random-weight models at the real shapes of the 7B-8B models the papers use: `--model random:llama-2-7b`.

A random model has the architecture, parameter count, dtype and memory of the real one and none of its
knowledge: its answers are noise, its memory and speed are the real model's. It checks whether a method fits on
a GPU, and how fast it runs there, before anything is downloaded, and on a machine that reaches no hub at all.
The shapes are the models' published configs (the fields that set shape and compute; the rest keep
transformers' defaults); the tokenizer is lampbench's own byte-level one, padded to the model's vocabulary
(`models.tiny_tokenizer`), so every id the model can produce decodes.

The weights are made directly on the device in the asked dtype (torch's device context: no CPU copy, no float32
copy), the way transformers initialises a new model, from a fixed seed.
"""

from __future__ import annotations

import difflib
from typing import Any

from lampbench.tasks.errors import ConfigError

PREFIX = "random:"

#: name -> (transformers model_type, the config fields that fix the shape), from each model's config.json.
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    # meta-llama/Llama-2-7b-hf (PerFit, Per-Pcs, OPPU): 6,738,415,616 parameters.
    "llama-2-7b": ("llama", {
        "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
    }),
    # mistralai/Mistral-7B-Instruct-v0.3 (CHAMELEON): 7,248,023,552 parameters.
    "mistral-7b": ("mistral", {
        "vocab_size": 32768, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-5, "rope_theta": 1000000.0, "sliding_window": None, "tie_word_embeddings": False,
    }),
    # meta-llama/Meta-Llama-3-8B: 8,030,261,248 parameters.
    "llama-3-8b": ("llama", {
        "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": False,
    }),
    # Qwen/Qwen2.5-7B: 7,615,616,512 parameters.
    "qwen2.5-7b": ("qwen2", {
        "vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
        "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "tie_word_embeddings": False,
    }),
}  # fmt: skip


def is_random(name: str) -> bool:
    return name.startswith(PREFIX)


def shape_of(name: str) -> str:
    """`random:llama-2-7b` -> `llama-2-7b`, refusing a shape the project has no config for.

    Raises:
        ConfigError: an unknown shape (with the closest known ones).
    """
    shape = name.removeprefix(PREFIX)
    if shape not in SHAPES:
        close = difflib.get_close_matches(shape, list(SHAPES), n=2)
        hint = (
            f"did you mean {' or '.join(PREFIX + c for c in close)}?"
            if close
            else "known: " + ", ".join(PREFIX + s for s in SHAPES)
        )
        raise ConfigError(f"--model {name!r}: no such random shape; {hint}")
    return shape


def random_config(name: str, *, special_ids: dict[str, int], scale: dict[str, int] | None = None):
    """The transformers config of shape `name` (`random:<shape>`), with the tokenizer's special token ids.

    `scale` overrides shape fields (tests build the same architecture a few layers and widths small).
    """
    from transformers import AutoConfig

    model_type, fields = SHAPES[shape_of(name)]
    return AutoConfig.for_model(model_type, **{**fields, **(scale or {}), **special_ids})


def random_model(config, *, device: str, dtype, attn: str, seed: int = 0):
    """A model of `config` with random weights, made on `device` in `dtype` (no copy anywhere else)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    if device.startswith("cuda"):
        torch.cuda.manual_seed(seed)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)
    return model.eval()


def parameter_count(config) -> int:
    """The parameters of a decoder-only model of `config`, by arithmetic (what `random_model` must build).

    Embeddings and an untied head; per layer q/k/v/o (with q/k/v biases for Qwen2) and the gated MLP's three
    matrices, and two RMSNorm weights; one final norm.
    """
    hidden, inter, vocab = config.hidden_size, config.intermediate_size, config.vocab_size
    head_dim = getattr(config, "head_dim", None) or hidden // config.num_attention_heads
    q, kv = config.num_attention_heads * head_dim, config.num_key_value_heads * head_dim
    attention = hidden * q + 2 * hidden * kv + q * hidden
    if config.model_type == "qwen2":
        attention += q + 2 * kv
    layer = attention + 3 * hidden * inter + 2 * hidden
    head = 0 if config.tie_word_embeddings else vocab * hidden
    return vocab * hidden + head + config.num_hidden_layers * layer + hidden
