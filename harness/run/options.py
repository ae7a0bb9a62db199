"""`RunSpec`: everything that defines a run, declared once.

Each field carries its help text, allowed values (a `Literal`) and lower bound in its metadata, and `bench run` /
`bench sweep` build their command-line options from these fields (`harness/cli.py`), the Python API takes them as
keywords and a sweep's YAML `run:` section is checked against them: one declaration, four uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from lampbench.harness.services.budget import format_seconds
from lampbench.harness.run.method_config import ConfigError, coerce_value

Data = Literal["lamp", "synthetic"]
Split = Literal["dev", "train", "test"]
Select = Literal["most-active", "random"]
Dtype = Literal["auto", "float32", "bfloat16", "float16"]
Attn = Literal["sdpa", "eager", "flash_attention_2"]


def option(default: Any, help: str, *, min: int | None = None, flag: str | None = None, sweep: bool = True) -> Any:
    """A RunSpec field that is also a command-line option (`flag` overrides the option's name)."""
    return field(default=default, metadata={"help": help, "min": min, "flag": flag, "sweep": sweep})


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run; its hash names the run folder.

    `method_config` is the method's fully resolved config as a dict; the other fields are `bench run`'s options.
    """

    method: str
    task: str
    budget: float
    method_config: dict[str, Any] = field(default_factory=dict)
    data: Data = option("lamp", "lamp (official files, fetched on first use) or synthetic (offline, planted signal).")
    split: Split = option("dev", "Evaluation split: dev, train or test (no golds: predictions only).")
    time_split: bool = option(False, "LaMP's time-based split instead of the user split.")
    data_dir: str | None = option(None, "LaMP data folder (else $LAMPBENCH_DATA, else the user cache).")
    patch_known_defects: bool = option(False, "Repair the known defects of the official files instead of warning.")
    users: int | None = option(None, "Evaluate on N users (all when omitted).", min=1)
    select: Select = option("most-active", "Which users: most-active or random.")
    seed: int = option(0, "Seed for user selection and the method.", sweep=False)
    max_profile: int | None = option(None, "Keep at most N history items per user (the newest).", min=1)
    train_users: int | None = option(None, "Training users for methods with a collective stage.", min=0)
    model: str = option("smollm2", "smollm2 (embedded), tiny-random (tests), a Hugging Face name or a folder.")
    revision: str | None = option(None, "The model's revision on the hub: a branch, tag or commit.")
    device: str | None = option(None, "cpu, cuda, cuda:1, mps... (default: CUDA when present, else CPU).")
    dtype: Dtype = option("auto", "Model dtype; auto = bfloat16 on CUDA, float32 on CPU.")
    attn: Attn | None = option(None, "Attention kernel (default: the library's, SDPA where available).")
    chat_template: bool = option(True, "Wrap prompts in the model's chat template when it has one.")
    trust_remote_code: bool = option(False, "Run the model repository's own code (only for models you trust).")
    embedder: str = option("all-MiniLM-L6-v2", "Sentence embedder (default: the packaged MiniLM).")
    max_prompt_tokens: int = option(512, "Prompt budget in tokens (LaMP uses 512).", min=16)
    batch_size: int = option(8, "Generation batch size.", min=1)

    @property
    def run_id(self) -> str:
        values = dataclasses.asdict(self)
        # Options added after the first results hash only when set, so earlier run ids (the run cache) stay valid.
        blob = {k: v for k, v in values.items() if k not in _LATER or v != _DEFAULTS[k]}
        digest = hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:10]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.method).strip("-")
        return f"{self.task}-{slug}-{format_seconds(self.budget)}-s{self.seed}-{digest}"


_LATER = {"patch_known_defects", "revision", "device", "dtype", "attn", "chat_template", "trust_remote_code"}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunSpec)}


def run_options(*, sweep: bool = False) -> list[dataclasses.Field]:
    """The RunSpec fields that are command-line options (those of `bench sweep` when `sweep`)."""
    fields = [f for f in dataclasses.fields(RunSpec) if "help" in f.metadata]
    return [f for f in fields if f.metadata["sweep"]] if sweep else fields


def option_hints() -> dict[str, Any]:
    """Each RunSpec field's type."""
    return typing.get_type_hints(RunSpec)


def check_run_options(options: dict[str, Any], where: str = "run option", *, sweep: bool = False) -> dict[str, Any]:
    """`options` checked and coerced by RunSpec's field types and bounds (a YAML `run:` section, API keywords).

    A sweep's options leave out `seed` (a sweep has `seeds`).

    Raises:
        ConfigError: an unknown option, a value of the wrong type, one not among the choices, one below its bound.
    """
    import difflib

    known = {f.name: f for f in run_options(sweep=sweep)}
    hints = option_hints()
    out = {}
    for key, value in options.items():
        if key == "seed" and sweep:
            raise ConfigError(f"{where} 'seed': a sweep takes seeds (a list), not seed")
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else f"; known: {', '.join(known)}"
            raise ConfigError(f"unknown {where} {key!r}{hint}")
        try:
            value = coerce_value(key, value, hints[key])
        except ConfigError as e:
            raise ConfigError(f"{where} {e}") from None
        low = known[key].metadata["min"]
        if low is not None and value is not None and value < low:
            raise ConfigError(f"{where} {key}={value!r}: must be at least {low}")
        out[key] = value
    return out
