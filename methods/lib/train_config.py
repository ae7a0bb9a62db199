"""Configs of the fine-tuning methods, with the papers' defaults (shared/METHODS.md).

Where a paper is silent the default is ours, and its help text says so. Fields shared by every trainer live in
`TrainConfig`; each method's config subclasses it and changes the defaults its paper gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lampbench.methods.contract import MethodConfig

QKVO = ("q_proj", "k_proj", "v_proj", "o_proj")
QV = ("q_proj", "v_proj")

Source = Literal["queries", "history", "both"]
#: Passes over the examples, or "budget": train until the stage's share of the budget is spent.
Epochs = float | Literal["budget"]
BUDGET_HELP = (
    "; 'budget': train until the stage's share of the budget is spent, the learning-rate schedule laid over that "
    "time (ours: the papers' recipes stop after a few steps and leave a larger budget unused)"
)


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig(MethodConfig):
    """What every trainer here shares: optimizer, schedule, batch, LoRA shape, precision, budget use."""

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
    gradient_checkpointing: bool = _f(False, "recompute activations in the backward pass (saves memory)")
    load_in_4bit: bool = _f(
        False,
        "load the base model in 4-bit NF4 (QLoRA-style; needs CUDA and bitsandbytes; the runner reads this "
        "when it loads the backbone). On CPU the model is fp32, on CUDA bf16",
    )


@dataclass(frozen=True)
class PerUserConfig(TrainConfig):
    """A trainer with a per-user stage: how the budget is shared among the evaluation users."""

    budget_split: Literal["equal", "proportional"] = _f(
        "equal",
        "how the per-user budget is shared: equal shares, or shares proportional to history size; each user "
        "gets its share of the time still left, so users that finish early leave time to the later ones",
    )


@dataclass(frozen=True)
class LoraCConfig(TrainConfig):
    """`lora-c`: OPPU's stage 1 alone, a task LoRA on the training users (r 8, alpha 8, q/k/v/o, 3 epochs)."""

    epochs: Epochs = _f(3.0, "passes over the training examples (OPPU: 3)" + BUDGET_HELP)
    source: Source = _f(
        "queries",
        "training examples: the training users' questions with their gold outputs (OPPU's task LoRA), their "
        "history items as task examples, or both",
    )


@dataclass(frozen=True)
class LoraPConfig(PerUserConfig):
    """`lora-p`: OPPU's stage 2 alone, one LoRA per evaluation user from the base (r 8, alpha 8, q/v)."""

    target_modules: tuple[str, ...] = _f(QV, "modules that get the per-user LoRA (OPPU: q_proj, v_proj)")


@dataclass(frozen=True)
class OppuConfig(LoraPConfig):
    """`oppu`: the task LoRA (stage 1) merged into the base, then one LoRA per user on top (stage 2).

    The stage-2 fields are the inherited ones; stage 1 has its own epochs, target modules and examples, and shares
    the optimizer settings (the same in both of OPPU's scripts).
    """

    task_epochs: Epochs = _f(3.0, "stage 1: passes over the training users' examples (OPPU: 3)" + BUDGET_HELP)
    task_target_modules: tuple[str, ...] = _f(QKVO, "stage 1: modules that get the task LoRA (OPPU: q/k/v/o)")
    task_source: Source = _f("queries", "stage 1: training examples, as lora-c's `source`")
    task_fraction: float = _f(
        0.5, "share of the budget for stage 1; stage 2 gets the rest, split among users (ours: the paper is silent)"
    )


@dataclass(frozen=True)
class HistoryConfig(TrainConfig):
    """A collective trainer whose prompts carry the user's own history (ALOE, DPO)."""

    history_k: int = _f(1, "history items retrieved (BM25, as LaMP's RAG) into each prompt, at training and test")
    source: Source = _f(
        "both",
        "examples: the training users' questions with gold outputs, their history items (each conditioned on "
        "the user's other items), or both",
    )
    history_per_user: int = _f(16, "at most this many history items per training user become examples (ours)")
    weight_decay: float = _f(0.0, "AdamW weight decay (ours; the papers do not give one)")


@dataclass(frozen=True)
class AloeConfig(HistoryConfig):
    """`aloe`: supervised fine-tuning on history-conditioned examples of the training users (ALOE-style).

    ALOE fine-tunes all parameters with lr 1e-5 and batch 1 x 48 gradient accumulation for one epoch; here LoRA is
    the default (`mode: full` is ALOE's), with the usual LoRA learning rate.
    """

    mode: Literal["lora", "full"] = _f("lora", "LoRA (default) or full-parameter fine-tuning as in ALOE")
    learning_rate: float = _f(1e-4, "AdamW learning rate of the LoRA (ours: LoRA needs more than ALOE's 1e-5)")
    full_learning_rate: float = _f(1e-5, "AdamW learning rate with `mode: full` (ALOE: 1e-5)")
    epochs: Epochs = _f(1.0, "passes over the training examples (ALOE: 1)" + BUDGET_HELP)
    batch_size: int = _f(8, "examples per micro-batch (ALOE: 1; only the effective batch matters to the optimizer)")
    grad_accum: int = _f(6, "micro-batches per step: 8 x 6 = ALOE's effective batch of 48")
    max_grad_norm: float = _f(1.0, "gradient clipping norm (ours: the transformers default)")

    def __post_init__(self) -> None:
        if self.mode == "full" and self.load_in_4bit:
            raise ValueError("aloe: `mode: full` trains every weight, and 4-bit weights cannot be trained")


@dataclass(frozen=True)
class DpoConfig(HistoryConfig):
    """`dpo`: trl's DPOTrainer with LoRA on preference pairs of the training users (CHAMELEON's baseline setup).

    `pairs: history`: chosen = the user's real output, rejected = the non-personalized model's own answer to the
    bare input. `pairs: with-vs-without-history` (no label used): chosen = the model's answer with the user's
    retrieved history in the prompt, rejected = its answer without it; CHAMELEON's personal-vs-neutral idea without
    its insight-conditioned answers (not implemented here). Pairs whose two sides are equal are dropped.
    CHAMELEON loads the base in 4-bit for DPO: set `load_in_4bit` on CUDA.
    """

    pairs: Literal["history", "with-vs-without-history"] = _f("history", "how preference pairs are made (see above)")
    beta: float = _f(0.1, "DPO beta")
    learning_rate: float = _f(5e-5, "AdamW learning rate (CHAMELEON: 5e-5)")
    epochs: Epochs = _f(1.0, "passes over the pairs (CHAMELEON: 1)" + BUDGET_HELP)
    batch_size: int = _f(16, "pairs per step (CHAMELEON: 16)")
    max_grad_norm: float = _f(0.3, "gradient clipping norm (CHAMELEON: 0.3)")
    lr_scheduler: Literal["linear", "cosine", "constant"] = _f("cosine", "decay after warm-up (CHAMELEON: cosine)")
    r: int = _f(256, "LoRA rank (CHAMELEON: 256)")
    alpha: int = _f(128, "LoRA alpha (CHAMELEON: 128)")
    pair_fraction: float = _f(
        0.5, "at most this share of the budget goes to generating the model's answers for the pairs (ours)"
    )
    max_pairs: int = _f(0, "stop making pairs after this many (0: as many as `pair_fraction` of the time allows)")
