"""`RunSpec` and `SweepSpec`: everything that defines a run and a sweep, each option declared once.

Each field carries its help text, allowed values (a `Literal`) and lower bound in its metadata. `bench run` and
`bench sweep` build their command-line options from these fields (`harness/entrypoints/console.py`), the Python API
takes them as keywords, and a sweep's YAML is checked against them: one declaration, every use. A value below its
bound is a `ConfigError` wherever it comes from, before anything loads.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from lampbench.harness.run.method_config import ConfigError, coerce_value, parse_sets
from lampbench.harness.services.budget import format_seconds, parse_budget
from lampbench.harness.services.devices import check_device
from lampbench.tasks.specs import get_task

Data = Literal["lamp", "synthetic"]
Split = Literal["dev", "train", "test"]
Select = Literal["most-active", "random"]
Dtype = Literal["auto", "float32", "bfloat16", "float16"]
Attn = Literal["sdpa", "eager", "flash_attention_2"]
Executor = Literal["local", "ray"]
Quantize = Literal["none", "4bit", "8bit"]
DecodingMode = Literal["greedy", "sample"]
Profiles = Literal["own", "shuffled", "none"]
Answer = Literal["generate", "choice"]


def option(
    default: Any,
    help: str,
    *,
    min: int | None = None,
    above: float | None = None,
    most: float | None = None,
    flag: str | None = None,
    sweep: bool = True,
    cli: tuple[Any, Callable[[Any], Any]] | None = None,
    key: str | None = "",
) -> Any:
    """A field that is also a command-line option.

    Args:
        default: its default (a mapping's is copied for each instance).
        help: the option's help text.
        min: the lowest value it takes (None: any).
        above: a value it must be more than (None: any); most: the highest value it takes (None: any).
        flag: the option's name when it is not the field's (`--set` for `sets`).
        sweep: whether `bench sweep` has it too (a run option).
        cli: (type, parse) when the command line types it otherwise: `--methods a,b` is text, split into a tuple.
        key: its key in a sweep file, when not the field's name; None: not in a sweep file.
    """
    metadata = {
        "help": help, "min": min, "above": above, "most": most, "flag": flag, "sweep": sweep, "cli": cli, "key": key,
    }  # fmt: skip
    if isinstance(default, Mapping):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def bound_problem(f: dataclasses.Field, value: Any) -> str | None:
    """What is wrong with `value` against the bound of field `f` (`min`: at least; `above`: more than; `most`: at
    most), or None."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    low, above, most = f.metadata.get("min"), f.metadata.get("above"), f.metadata.get("most")
    if low is not None and value < low:
        return f"must be at least {low}"
    if above is not None and value <= above:
        return f"must be more than {above}"
    if most is not None and value > most:
        return f"must be at most {most}"
    return None


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run; its hash names the run folder.

    `method_config` is the method's fully resolved config as a dict; the other fields are `bench run`'s options.

    Raises:
        ConfigError: a value below its field's bound (a zero budget, `users=0`...).
    """

    method: str
    task: str
    budget: float = field(metadata={"above": 0})  # seconds; `bench run --budget` parses it (`budget_seconds`)
    method_config: dict[str, Any] = field(default_factory=dict)
    data: Data = option("lamp", "lamp (official files, fetched on first use) or synthetic (offline, planted signal).")
    split: Split = option("dev", "Evaluation split: dev, train or test (no golds: predictions only).")
    time_split: bool = option(False, "LaMP's time-based split instead of the user split.")
    data_dir: str | None = option(None, "LaMP data folder (else $LAMPBENCH_DATA, else the user cache).")
    patch_known_defects: bool = option(False, "Repair the known defects of the official files instead of warning.")
    users: int | None = option(None, "Evaluate on N users (all when omitted).", min=1)
    select: Select = option("most-active", "Which users: most-active or random.")
    seed: int = option(0, "Seed for user selection and the method.", min=0, sweep=False)
    max_profile: int | None = option(None, "Keep at most N history items per user (the newest).", min=1)
    train_users: int | None = option(None, "Training users for methods with a collective stage.", min=0)
    model: str = option("smollm2", "smollm2 (embedded), tiny-random (tests), a Hugging Face name or a folder.")
    revision: str | None = option(None, "The model's revision on the hub: a branch, tag or commit.")
    device: str | None = option(
        None, "cpu, cuda, cuda:N (the N-th visible GPU; a run uses one GPU) or mps (default: a GPU when present)."
    )
    dtype: Dtype = option("auto", "Model dtype; auto = bfloat16 on CUDA, float32 on CPU.")
    attn: Attn | None = option(None, "Attention kernel (default: the library's, SDPA where available).")
    chat_template: bool = option(True, "Wrap prompts in the model's chat template when it has one.")
    trust_remote_code: bool = option(False, "Run the model repository's own code (only for models you trust).")
    embedder: str = option("all-MiniLM-L6-v2", "Sentence embedder (default: the packaged MiniLM).")
    max_prompt_tokens: int = option(512, "Prompt budget in tokens (LaMP uses 512).", min=16)
    batch_size: int = option(8, "Generation batch size.", min=1)
    max_new_tokens: int | None = option(
        None, "Cap on generated tokens per answer (default: the task's own; LongLaMP's 512 is slow on a CPU).", min=1
    )
    # How the model loads and answers, the same for every method (`harness/services/models.py`, `backbone.py`).
    quantize: Quantize = option(
        "none", "Load the model quantized: 4bit (NF4, as QLoRA) or 8bit; needs CUDA and bitsandbytes "
        "(pip install 'lampbench[gpu]').",
    )  # fmt: skip
    decoding: DecodingMode = option(
        "greedy", "greedy (default), or sample (seeded by --seed, with --temperature, --top-k, --top-p)."
    )
    temperature: float = option(0.1, "Sampling temperature with --decoding sample (PerFit: 0.1).", above=0)
    top_k: int = option(10, "Sample among the k likeliest tokens with --decoding sample (PerFit: 10; 0: all).", min=0)
    top_p: float = option(0.9, "Nucleus mass with --decoding sample (PerFit: 0.9).", above=0, most=1)
    # Controls: is a gain personalization? (`harness/run/profiles.py`). And how label/rating answers are read.
    profiles: Profiles = option(
        "own", "Whose histories users get: own, shuffled (another user's: a seeded derangement) or none (empty)."
    )
    answer: Answer = option(
        "generate", "generate (LaMP's way: decode, then parse) or choice (the most likely label; label and rating "
        "tasks).",
    )  # fmt: skip
    # Seconds for the collective stage alone (`--fit-budget 5m`): `budget` is then the per-user stages' own.
    fit_budget: float | None = option(
        None, "Budget for the collective stage (fit) alone, e.g. 5m; --budget is then the per-user stages' "
        "(default: one --budget for both, split by each method's fixed shares).",
        cli=(str | None, lambda text: budget_seconds(text, "fit budget")), sweep=False,
    )  # fmt: skip
    shards: int = option(
        1, "Split the evaluation users into N shards, each run on its own device (with --executor ray).", min=1
    )

    def __post_init__(self) -> None:
        check_device(self.device)
        if self.fit_budget is not None:
            object.__setattr__(self, "fit_budget", budget_seconds(self.fit_budget, "fit budget"))
        for f in dataclasses.fields(self):
            problem = bound_problem(f, getattr(self, f.name))
            if problem:
                raise ConfigError(f"run option {f.name}={getattr(self, f.name)!r}: {problem}")
        if self.answer == "choice" and not get_task(self.task).choices:
            raise ConfigError(f"--answer choice: {self.task} has no answers to choose from (label and rating tasks "
                              "only); use --answer generate")  # fmt: skip

    @property
    def run_id(self) -> str:
        values = dataclasses.asdict(self)
        # Options added after the first results hash only when set, so earlier run ids (the run cache) stay valid.
        blob = {k: v for k, v in values.items() if k not in _LATER or v != _DEFAULTS[k]}
        digest = hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:10]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.method).strip("-")
        return f"{self.task}-{slug}-{format_seconds(self.budget)}-s{self.seed}-{digest}"


_LATER = {"patch_known_defects", "revision", "device", "dtype", "attn", "chat_template", "trust_remote_code",
          "fit_budget", "shards", "profiles", "answer", "quantize", "decoding", "temperature", "top_k",
          "top_p", "max_new_tokens"}  # fmt: skip
_RUN_FIELDS = {f.name: f for f in dataclasses.fields(RunSpec)}
_DEFAULTS = {name: f.default for name, f in _RUN_FIELDS.items()}


def budget_seconds(value: str | float, what: str = "budget") -> float:
    """A budget in seconds from `90s`, `20m`, `1h30m` or a number, bounded as `RunSpec.budget` says.

    Raises:
        ConfigError: not a duration, or not more than 0 (`what` names it: "budget", "fit budget").
    """
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        else:
            seconds = parse_budget(str(value))
    except ValueError as e:
        raise ConfigError(str(e).replace("budget", what, 1)) from None
    problem = bound_problem(_RUN_FIELDS["budget"], seconds)
    if problem:
        raise ConfigError(f"{what} {value!r}: {problem} seconds")
    return seconds


def _listed(text: str) -> tuple[str, ...]:
    """`--methods base,rag` -> ("base", "rag")."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _grid_sets(items: list[str]) -> dict[str, Any]:
    """`--set k=1,2,4 --set mode=group` -> {"k": [1, 2, 4], "mode": "group"}: a value with commas is a grid."""
    out = {}
    for key, value in parse_sets(items).items():
        is_grid = isinstance(value, str) and "," in value
        out[key] = [yaml.safe_load(part) for part in value.split(",")] if is_grid else value
    return out


_LIST = (str | None, _listed)


@dataclass(frozen=True)
class SweepSpec:
    """A sweep: every method x task x budget x seed (x method-config grid), its run options and where runs go.

    Its fields are the keys of a sweep YAML file (`configs/*.yaml`; `method_sets` is its `set:`), `bench sweep`'s
    options and `lampbench.sweep`'s keywords. Values are coerced by the fields' types (a list becomes a tuple,
    `"1m"` a budget in seconds) and checked against their bounds, so a bad one stops the sweep before it starts.

    Raises:
        ConfigError: a value of the wrong type, one not among the choices, one below its bound.
    """

    methods: tuple[str, ...] = option((), "Comma-separated methods.", cli=_LIST)
    tasks: tuple[str, ...] = option((), "Comma-separated tasks.", flag="--task", cli=_LIST)
    budgets: tuple[float, ...] = option((), "Comma-separated budgets, e.g. 10m,20m,30m,40m.", cli=_LIST)
    fit_budgets: tuple[float, ...] = option(
        (), "Comma-separated budgets for the collective stage alone (--fit-budget of each run), e.g. 2m,5m.", cli=_LIST
    )
    seeds: tuple[int, ...] = option((0,), "Comma-separated seeds.", cli=_LIST)
    sets: dict[str, Any] = option(
        {}, "Method config key=v or key=v1,v2 (a grid), for every method that has the key; repeatable.",
        flag="--set", cli=(list[str] | None, _grid_sets), key=None,
    )  # fmt: skip
    method_sets: dict[str, dict[str, Any]] = field(default_factory=dict, metadata={"key": "set"})
    run: dict[str, Any] = field(default_factory=dict, metadata={"key": "run"})
    executor: Executor = option("local", "local (one run after another) or ray (each run a Ray task).")
    ray_address: str | None = option(None, "Ray cluster address (e.g. auto); local when omitted.")
    cpus_per_run: int | None = option(
        None, "CPUs a Ray run reserves (default: a whole node, so runs never share).", min=1
    )
    tolerances: dict[str, float] = field(default_factory=dict, metadata={"key": "tolerances"})
    # A paper preset's table: its cells and settings (`configs/papers/`, `bench reproduce`); a plain sweep ignores it.
    paper: dict[str, Any] = field(default_factory=dict, metadata={"key": "paper"})

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(SweepSpec)
        for f in dataclasses.fields(self):
            value = _sweep_value(f.name, getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, value)  # frozen: coerced once, here
            problem = bound_problem(f, value)
            if problem:
                raise ConfigError(f"{f.name}={value!r}: {problem}")
        for seed in self.seeds:  # each seed is a run's: RunSpec's bound
            problem = bound_problem(_RUN_FIELDS["seed"], seed)
            if problem:
                raise ConfigError(f"seeds: seed {seed}: {problem}")


def _sweep_value(name: str, value: Any, hint: Any) -> Any:
    """A SweepSpec field's value, coerced: budgets to seconds, run options checked as RunSpec's."""
    if name in ("budgets", "fit_budgets"):
        what = "budget" if name == "budgets" else "fit budget"
        return tuple(budget_seconds(b, what) for b in (value if isinstance(value, list | tuple) else [value]))
    if name == "run":
        return check_run_options(dict(_mapping(name, value)), sweep=True)
    if name == "method_sets":
        if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
            raise ConfigError("set: expected a mapping of method -> config keys, e.g. set: {rag: {k: [1, 4]}}")
        return {method: dict(keys) for method, keys in value.items()}
    if typing.get_origin(hint) is dict:
        return dict(_mapping(name, value))
    return coerce_value(name, value, hint)


def _mapping(name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: expected a mapping, got {type(value).__name__}")
    return value


def sweep_options() -> list[dataclasses.Field]:
    """The SweepSpec fields that are command-line options of `bench sweep`."""
    return [f for f in dataclasses.fields(SweepSpec) if "help" in f.metadata]


def sweep_keys() -> dict[str, str]:
    """A sweep file's keys, each to its SweepSpec field."""
    keys = {}
    for f in dataclasses.fields(SweepSpec):
        key = f.metadata.get("key", "")
        if key is not None:
            keys[key or f.name] = f.name
    return keys


def run_options(*, sweep: bool = False) -> list[dataclasses.Field]:
    """The RunSpec fields that are command-line options (those of `bench sweep` when `sweep`)."""
    fields = [f for f in dataclasses.fields(RunSpec) if "help" in f.metadata]
    return [f for f in fields if f.metadata["sweep"]] if sweep else fields


def option_hints() -> dict[str, Any]:
    """Each RunSpec and SweepSpec field's type (the two share no option name)."""
    return {**typing.get_type_hints(SweepSpec), **typing.get_type_hints(RunSpec)}


def check_run_options(options: dict[str, Any], where: str = "run option", *, sweep: bool = False) -> dict[str, Any]:
    """`options` checked and coerced by RunSpec's field types and bounds (a YAML `run:` section, API keywords).

    A sweep's options leave out `seed` (a sweep has `seeds`).

    Raises:
        ConfigError: an unknown option, a value of the wrong type, one not among the choices, one below its bound.
    """
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
        parse = known[key].metadata["cli"]  # a run option the command line types as text (`fit_budget: 5m`)
        try:
            value = parse[1](value) if parse and isinstance(value, str) else coerce_value(key, value, hints[key])
        except ConfigError as e:
            raise ConfigError(f"{where} {e}") from None
        problem = bound_problem(known[key], value)
        if problem:
            raise ConfigError(f"{where} {key}={value!r}: {problem}")
        out[key] = value
    return out
