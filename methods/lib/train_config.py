"""The training settings the fine-tuning methods share, as configs of their own that a method's config holds.

`LoraTrain` is a LoRA's shape and how it is optimised; a method's config has one as its `train` field (OPPU's
stage 2, ALOE, DPO, Per-Pcs' sharers), with the defaults its paper gives (shared/METHODS.md), set as
`--set train.learning_rate=1e-4` or `train: {learning_rate: 1e-4}` in YAML. `TaskStage` is OPPU's stage 1 (the
task LoRA), which OPPU and Per-Pcs run. Where a paper is silent the default is ours, and its help text says so.

Every check here raises `ConfigError` naming the field, so a value no run can use stops before anything loads.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Literal

from lampbench.methods.lib.checks import at_least
from lampbench.tasks.errors import ConfigError

QKVO = ("q_proj", "k_proj", "v_proj", "o_proj")
QV = ("q_proj", "v_proj")

Source = Literal["queries", "history", "both"]
Checkpointing = Literal["auto", "on", "off"]
Optimizer = Literal["adamw", "adamw-8bit", "paged-adamw-8bit"]
#: Passes over the examples, or "budget": train until the stage's share of the budget is spent.
Epochs = float | Literal["budget"]
BUDGET_HELP = (
    "; 'budget': train until the stage's share of the budget is spent, the learning-rate schedule laid over that "
    "time (ours: the papers' recipes stop after a few steps and leave a larger budget unused)"
)


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


def check_epochs(name: str, epochs: Epochs) -> None:
    if epochs != "budget" and epochs < 0:
        raise ConfigError(f"{name} must be >= 0 or 'budget', got {epochs}")


@dataclass(frozen=True)
class LoraTrain:
    """A LoRA's shape and its optimisation: optimizer, schedule, batch, target length, budget use."""

    learning_rate: float = _f(1e-4, "AdamW learning rate")
    epochs: Epochs = _f(2.0, "passes over the training examples (the budget may stop training earlier)" + BUDGET_HELP)
    batch_size: int = _f(16, "examples per micro-batch")
    grad_accum: int = _f(1, "micro-batches per optimizer step (effective batch = batch_size * grad_accum)")
    weight_decay: float = _f(0.01, "AdamW weight decay (not applied to biases and norms)")
    warmup_ratio: float = _f(0.1, "share of training spent warming the learning rate up from 0")
    lr_scheduler: Literal["linear", "cosine", "constant"] = _f("linear", "decay after warm-up")
    max_grad_norm: float = _f(0.3, "gradient clipping norm")
    schedule_by: Literal["budget", "steps"] = _f(
        "budget",
        "what the warm-up/decay schedule runs on: 'steps' is the usual schedule over the planned steps; "
        "'budget' (ours) runs it over whichever ends first, the planned steps or the stage's time, so a run "
        "cut short by its budget still warms up and decays instead of stopping mid-warm-up",
    )
    max_steps: int = _f(0, "stop after this many optimizer steps (0: no cap; the budget always applies)")
    r: int = _f(8, "LoRA rank")
    alpha: int = _f(8, "LoRA alpha (the update is scaled by alpha / r)")
    dropout: float = _f(0.05, "LoRA dropout")
    target_modules: tuple[str, ...] = _f(QKVO, "modules that get a LoRA adapter")
    max_target_tokens: int = _f(128, "training targets are cut to this many tokens (ours)")
    gradient_checkpointing: Checkpointing = _f(
        "auto",
        "recompute activations in the backward pass (less memory, about a third more compute): on, off, or auto: "
        "on on CUDA for full fine-tuning and DPO (ours), off otherwise",
    )
    optimizer: Optimizer = _f(
        "adamw",
        "adamw (torch), or bitsandbytes' 8-bit AdamW (adamw-8bit: a quarter of the optimizer state's memory; "
        "paged-adamw-8bit: also paged to host memory under pressure); the 8-bit ones need CUDA and bitsandbytes",
    )

    def __post_init__(self) -> None:
        at_least(self, 1, "batch_size", "grad_accum", "r", "alpha", "max_target_tokens")
        at_least(self, 0, "max_steps", "weight_decay")
        check_epochs("epochs", self.epochs)
        for name in ("learning_rate", "max_grad_norm"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.warmup_ratio < 1.0 or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"warmup_ratio and dropout must be in [0, 1), got {self.warmup_ratio}, {self.dropout}")
        if not self.target_modules:
            raise ConfigError("target_modules must name at least one module")
        if self.optimizer != "adamw" and importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError(f"optimizer {self.optimizer} needs bitsandbytes: pip install bitsandbytes")


@dataclass(frozen=True)
class TaskStage:
    """OPPU's stage 1: a task LoRA on the training users, merged into the base; the optimizer is `train`'s."""

    epochs: Epochs = _f(3.0, "passes over the training users' examples (OPPU: 3)" + BUDGET_HELP)
    target_modules: tuple[str, ...] = _f(QKVO, "modules that get the task LoRA (OPPU: q/k/v/o)")
    source: Source = _f(
        "queries",
        "training examples: the training users' questions with their gold outputs (OPPU's task LoRA), their "
        "history items as task examples, or both",
    )

    def __post_init__(self) -> None:
        check_epochs("epochs", self.epochs)
        if not self.target_modules:
            raise ConfigError("target_modules must name at least one module")


def budget_split_field():
    """A per-user trainer's `budget_split`: how the per-user budget is shared among the evaluation users."""
    return _f(
        "equal",
        "how the per-user budget is shared: equal shares, or shares proportional to history size; each user "
        "gets its share of the time still left, so users that finish early leave time to the later ones",
    )


BudgetSplit = Literal["equal", "proportional"]
