"""The settings of `lora-c`, `lora-p` and `oppu`: OPPU's two stages (Tan et al. 2024), with OPPU's values.

Both of OPPU's scripts train with AdamW at 1e-4, batch 16, LoRA r 8 and alpha 8; the task LoRA (stage 1) on
q/k/v/o for 3 epochs, the per-user LoRA (stage 2) on q/v for 2 epochs. `train` is the LoRA and its optimizer;
OPPU's `task` stage has its own epochs, target modules and examples and shares `train`'s optimizer settings.
`prompt` is OPPU's +RAG / +PAG variant of the per-user stage (OPPU.py's `--k` and `--add_profile`): the per-user
LoRA trains on and answers prompts that also show retrieved history items or the user's written profile
(`methods/lib/prompt_variants.py`); the task LoRA trains on plain prompts (ours).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lampbench.methods.contract import MethodConfig
from lampbench.methods.lib.checks import fraction
from lampbench.methods.lib.prompt_variants import PromptVariant
from lampbench.methods.lib.train_config import (
    QV,
    BudgetSplit,
    LoraTrain,
    Source,
    TaskStage,
    budget_split_field,
)


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


#: The `prompt` field of the per-user methods: OPPU's +RAG / +PAG variants (`methods/lib/prompt_variants.py`).
PROMPT_HELP = (
    "what the per-user LoRA trains on and answers besides the input: plain, rag (+RAG: BM25 items) or pag (+PAG: "
    "the user's written profile), OPPU's variants"
)


@dataclass(frozen=True)
class LoraCConfig(MethodConfig):
    """`lora-c`: OPPU's stage 1 alone, a task LoRA on the training users (r 8, alpha 8, q/k/v/o, 3 epochs)."""

    train: LoraTrain = _f(LoraTrain(epochs=3.0), "the task LoRA and its optimizer (OPPU: 3 epochs, q/k/v/o)")
    source: Source = _f(
        "queries",
        "training examples: the training users' questions with their gold outputs (OPPU's task LoRA), their "
        "history items as task examples, or both",
    )


@dataclass(frozen=True)
class LoraPConfig(MethodConfig):
    """`lora-p`: OPPU's stage 2 alone, one LoRA per evaluation user from the base (r 8, alpha 8, q/v)."""

    train: LoraTrain = _f(LoraTrain(target_modules=QV), "the per-user LoRA and its optimizer (OPPU: q_proj, v_proj)")
    prompt: PromptVariant = _f(PromptVariant(), PROMPT_HELP)
    budget_split: BudgetSplit = budget_split_field()


@dataclass(frozen=True)
class OppuConfig(MethodConfig):
    """`oppu`: the task LoRA (stage 1) merged into the base, then one LoRA per user on top (stage 2)."""

    train: LoraTrain = _f(
        LoraTrain(target_modules=QV), "stage 2, the per-user LoRA, and the optimizer of both stages (OPPU: q/v)"
    )
    task: TaskStage = _f(TaskStage(), "stage 1, the task LoRA: its epochs, modules and examples")
    task_fraction: float = _f(
        0.5,
        "share of the budget for stage 1; stage 2 gets the rest, split among users (ours: the paper is silent; "
        "with --fit-budget stage 1 has all of its own)",
    )
    prompt: PromptVariant = _f(PromptVariant(), PROMPT_HELP)
    budget_split: BudgetSplit = budget_split_field()

    def __post_init__(self) -> None:
        fraction(self, "task_fraction", closed=True)
