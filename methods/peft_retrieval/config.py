"""PEFT Retrieval's settings: Per-Pcs' PEFT-level composition baseline (papers/per-pcs-personalized-pieces.txt, App. G).

The paper says only: "we compute the cosine similarity between embeddings of target users and sharers and find the
top-k similar users and conduct weighted aggregation to obtain target user's PEFT". Everything else follows Per-Pcs,
which it is the baseline of, so the two differ only in how a user's adapter is composed:

- Sharers, their LoRAs and the task adaptation are Per-Pcs' (the same fields and defaults: k-means with K = 50 over
  mean history embeddings, r 8 / alpha 8 on q/k/v/o, Table 3's per-task batch, epochs and learning rate, OPPU's
  task LoRA on the non-sharers merged first); no gates.
- A user's embedding is the mean of their history items' sentence embeddings (up to `embed_items`, spread over the
  profile), the vector Per-Pcs clusters its candidates by (ours: the paper names no embedding for this baseline).
- `top_k=0` takes Per-Pcs' Table 3 top-k per task (ours: the paper gives no k for this baseline).
- Weights (ours: "weighted aggregation" is all the paper says): the top-k cosines, negatives clipped to 0,
  normalised to sum to 1, so the composed update is a convex combination of the chosen LoRAs, ΔW = Σ w_s B_s A_s
  (`uniform`: equal weights).
- Budget (ours, as Per-Pcs'): sharer selection and the task LoRA may use `task_fraction` of the budget, the sharers'
  LoRAs `pool_fraction` of what is left, each an equal share; retrieval per user is one embedding call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lampbench.methods.contract import MethodConfig
from lampbench.methods.lib.checks import at_least, fraction
from lampbench.methods.lib.prompt_variants import PromptVariant
from lampbench.methods.lib.sharers import paper_row, sharer_lora_train
from lampbench.methods.lib.train_config import (
    BudgetSplit,
    LoraTrain,
    TaskStage,
    budget_split_field,
)
from lampbench.tasks.errors import ConfigError


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class PeftRetrievalConfig(MethodConfig):
    train: LoraTrain = _f(
        LoraTrain(epochs=0.0),
        "the sharers' LoRAs (q/k/v/o; epochs 0: Per-Pcs' per task, Table 3) and the optimizer of the task LoRA",
    )
    task: TaskStage = _f(TaskStage(), "the base task adaptation: OPPU's stage 1 on the training users not sharers")
    sharers: int = _f(50, "K of k-means: one sharer (the most active user) per cluster of training users (Per-Pcs)")
    top_k: int = _f(0, "sharers whose LoRAs a user's adapter sums (0: Per-Pcs' top-k per task, Table 3)")
    weighting: Literal["cosine", "uniform"] = _f(
        "cosine", "weights of the chosen LoRAs: their cosines normalised to sum to 1, or equal (ours)"
    )
    sharer_batch_size: int = _f(0, "examples per step of a sharer's LoRA (0: Per-Pcs' per task, Table 3)")
    sharer_learning_rate: float = _f(
        0.0, "AdamW learning rate of a sharer's LoRA (0: Per-Pcs' 1e-5 or 2e-5 per task, Table 3; OPPU's: 1e-4)"
    )
    embed_items: int = _f(32, "history items per user embedded for k-means and retrieval, spread over the profile")
    task_adapt: bool = _f(True, "adapt the base to the task first (a merged LoRA on the non-sharers, Per-Pcs §2.2)")
    task_fraction: float = _f(0.3, "share of the budget for selecting sharers and the task LoRA (ours)")
    select_fraction: float = _f(
        0.5, "share of `task_fraction` that embedding candidates for k-means may use; the task LoRA has the rest (ours)"
    )
    pool_fraction: float = _f(0.9, "share of the budget left after that for the sharers' LoRAs (ours)")
    prompt: PromptVariant = _f(
        PromptVariant(),
        "what the composed adapter answers besides the input: plain, rag (+RAG: BM25 items) or pag (+PAG: the "
        "user's written profile), Per-Pcs Table 1's variants; the sharers train on plain prompts",
    )
    budget_split: BudgetSplit = budget_split_field()

    def __post_init__(self) -> None:
        at_least(self, 1, "sharers", "embed_items")
        at_least(self, 0, "top_k", "sharer_batch_size")
        if self.sharer_learning_rate < 0:
            raise ConfigError(f"sharer_learning_rate must be >= 0 (0: the paper's), got {self.sharer_learning_rate}")
        fraction(self, "task_fraction", "select_fraction")
        fraction(self, "pool_fraction", closed=True)

    def k_for(self, task: str) -> int:
        """Sharers per user for `task`: `top_k`, else Per-Pcs' Table 3 value."""
        return self.top_k or paper_row(task).top_k

    def sharer_train(self, task: str) -> tuple[LoraTrain, float | str]:
        """A sharer LoRA's optimisation and epochs for `task`, 0s replaced by Per-Pcs' Table 3 values."""
        train = sharer_lora_train(self.train, task, self.sharer_batch_size, self.sharer_learning_rate)
        return train, self.train.epochs or paper_row(task).sharer_epochs
