"""PerFit's settings. Paper values where the paper gives them (Section 4.1); where it is silent, the source is named.

- Optimizer (both stages): AdamW, lr 1e-4, weight decay 1e-2, grad clip 0.3; 3 epochs for stage 1 and 2 for stage 2.
  Batch: the paper's per task (Section 4.1: 16, except 2 for LaMP-3 and 4 for LaMP-5), `batch_size=0`. ReFT's own
  recipes (the LoReFT paper, pyreft's examples) train their tiny interventions with much larger rates, around 1e-3;
  the PerFit paper says 1e-4, so that is the default, and `learning_rate` is the knob to turn when a budget allows
  only a few steps.
- Ranks, layers and positions: the paper picked them per task by a 20-trial random search and does not list the
  picks. What it does say: earlier layers work better than later ones (Fig. 11), several layers beat one but
  all layers hurt, the personalized rank matters more than the collective one (Fig. 10), and stage 2 costs about
  0.0010-0.0039% of Llama2-7B's parameters, i.e. 8-32 "rank-layers" of 2d+1 parameters each (stage 1:
  0.0039-0.0117%, 32-96 rank-layers). The defaults here: `layers=()` picks four layers spread over the first half
  of the model's depth (`intervention.default_layers`: SmolLM2-135M's 30 layers give 0, 3, 7, 11; any model
  works, `tiny-random` included), stage-1 rank 8 (32 rank-layers with four layers) and stage-2 rank 2 (8
  rank-layers, the paper's smallest per-user cost).
- Positions: pyreft's LoReFT default, the first 7 and the last 7 prompt tokens (`f7+l7`), prompt only, counted
  within the user's content, not on the chat template's fixed tokens around it (ours: pyreft counts on the whole
  prompt; with SmolLM2's template its first 7 would be the fixed system prompt, which under causal attention
  never sees the input, and 6 of its last 7 the end-of-turn and assistant header).
- Learning-rate schedule: the paper is silent; `linear` decay to 0 over the planned steps with no warm-up is
  what pyreft's trainer (a `transformers.Trainer`) does by default.
- Initialisation (ours): W starts as a copy of R and b at 0, so an intervention that has not been trained is the
  identity. pyreft draws W at random, which changes the model before the first step; an anytime method that the
  budget may stop at step 0 must not do that.
- `stage1_source=queries`: the paper trains stage 1 on "all training users" without saying on which of their
  examples; the default is the training users' questions with their gold outputs, exactly the examples OPPU's
  task LoRA learns from, so PerFit and OPPU compare on the same collective data. `history` (their history items
  as task examples, about profile-size times more data) or `both` is the option.
- `stage1_fraction=0.5` (ours; the paper is silent): the share of the budget stage 1 may use when both stages
  run; each evaluation user then gets an equal share of what is left.
- `stages`: `both` is PerFit; `1` is Table 4's "@Stage-1" (the collective intervention alone), `2` its
  "@Stage-2 (P)" (per-user ReFT from the base model, rank `r2`); "@Stage-2 (C+P)" is `stages=2` with `r2` set to
  r1 + r2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lampbench.methods.contract import MethodConfig
from lampbench.methods.lib.checks import at_least, fraction
from lampbench.methods.lib.train_config import BUDGET_HELP, Checkpointing, Epochs, check_epochs
from lampbench.tasks.errors import ConfigError

#: PerFit's batch sizes where they are not 16 (Section 4.1: "Product Rating (batch size 2) and Scholarly Title
#: Generation (batch size 4) due to computational requirements").
PAPER_BATCH = {"lamp3": 2, "lamp5": 4}


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class PerFitConfig(MethodConfig):
    stages: Literal["both", 1, 2] = _f(
        "both", "both: collective (stage 1) then per-user (stage 2) on top; 1 or 2: that stage alone (Table 4)"
    )
    layers: tuple[int, ...] = _f(
        (),
        "decoder layers whose outputs (the residual stream) are intervened on, 0-based; early is better. Empty: "
        "four layers spread over the first half of the model's depth",
    )
    r1: int = _f(8, "rank of the stage-1 (collective) intervention")
    r2: int = _f(2, "rank of the stage-2 (per-user) intervention; a user's state has r2*(2d+1) numbers per layer")
    first_n: int = _f(7, "intervene on the first n tokens of the user's content (pyreft's LoReFT default: 7)")
    last_n: int = _f(7, "intervene on the last n tokens of the user's content (pyreft's LoReFT default: 7)")
    learning_rate: float = _f(1e-4, "AdamW learning rate, both stages (PerFit: 1e-4; ReFT recipes use ~1e-3)")
    weight_decay: float = _f(1e-2, "AdamW weight decay, on W only (R is kept orthonormal, b is a bias)")
    max_grad_norm: float = _f(0.3, "gradient clipping norm (PerFit: 0.3)")
    batch_size: int = _f(
        0, "examples per optimizer step; 0: PerFit's per task (16; 2 for LaMP-3 and 4 for LaMP-5, Section 4.1)"
    )
    epochs1: Epochs = _f(3.0, "stage 1: passes over the training users' examples (PerFit: 3)" + BUDGET_HELP)
    epochs2: Epochs = _f(2.0, "stage 2: passes over the user's history examples (PerFit: 2)" + BUDGET_HELP)
    lr_scheduler: Literal["linear", "constant"] = _f(
        "linear", "learning rate over the planned steps: linear decay to 0 (transformers' default), or constant"
    )
    stage1_source: Literal["history", "queries", "both"] = _f(
        "queries",
        "stage-1 examples: the training users' questions with gold outputs (the default: the same examples as "
        "OPPU's task LoRA), their history items as task examples (about profile-size times more), or both",
    )
    stage1_fraction: float = _f(
        0.5,
        "share of the budget stage 1 may use when both stages run; users share the rest (ours; with "
        "--fit-budget stage 1 has all of its own)",
    )
    max_target_tokens: int = _f(128, "training targets are cut to this many tokens (ours)")
    gradient_checkpointing: Checkpointing = _f(
        "auto", "recompute activations in the backward pass (less memory, more compute): on, off, or auto (off)"
    )

    def batch_for(self, task: str) -> int:
        """The batch size for `task`: the configured one, else the paper's (Section 4.1)."""
        return self.batch_size or PAPER_BATCH.get(task, 16)

    def __post_init__(self) -> None:
        at_least(self, 0, "batch_size", "first_n", "last_n")
        at_least(self, 1, "r1", "r2", "max_target_tokens")
        if self.first_n + self.last_n == 0:
            raise ConfigError("first_n and last_n must not both be 0: the intervention would act on no position")
        if any(layer < 0 for layer in self.layers):
            raise ConfigError(f"layers must be >= 0 (0-based decoder layers), got {list(self.layers)}")
        if self.learning_rate <= 0 or self.max_grad_norm <= 0 or self.weight_decay < 0:
            raise ConfigError("learning_rate and max_grad_norm must be > 0, weight_decay >= 0")
        check_epochs("epochs1", self.epochs1)
        check_epochs("epochs2", self.epochs2)
        fraction(self, "stage1_fraction", closed=True)
