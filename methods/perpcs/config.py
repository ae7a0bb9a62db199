"""Per-Pcs' settings: the paper's values (papers/per-pcs-personalized-pieces.txt, §2 and Table 3) where it gives them.

- Sharers: k-means with K = 50 over mean history embeddings, the most active user of each cluster (§2.3). The
  paper embeds with DeBERTa-v3-large; here the run's shared sentence embedder (all-MiniLM-L6-v2) does it.
- Base task adaptation (§2.2): a LoRA on the training users that are not sharers, merged into the base, as OPPU's
  stage 1 (the same code and fields: `task.*`, its optimizer `train`'s).
- Sharer LoRAs: "following OPPU", r 8, alpha 8 on q/k/v/o (METHODS.md), trained on each sharer's history items
  turned into task examples, with Table 3's per-task batch and epochs (`sharer_batch_size=0`, `epochs=0`: batch
  16/6/2/10/3/16 and 1/3/2/3/2/2 epochs for LaMP-1/2/3/4/5/7; LaMP-2N follows LaMP-2). The table as extracted from
  the PDF is partly garbled (stray digits on a second line per task); the values are those of each task's first
  line, which fill every column. Their learning rate is Table 3's too, 1e-5 or 2e-5 per task
  (`sharer_learning_rate=0`, the default); it is for a 7B model trained for whole epochs, and with budgets that
  allow only a few steps it leaves a LoRA that barely moves: `sharer_learning_rate=1e-4` (OPPU's rate, this
  harness's default before) is the knob. `train.learning_rate` is the task LoRA's. `train.epochs=0` takes
  Table 3's epochs.
- Gates: one zero-initialised vector per piece, trained with the LoRA frozen for 100 steps (LaMP-1/2/3) or 50
  (LaMP-4/5/7), lr 1e-5 or 2e-5, batch 6 (4 for LaMP-3) (Table 3). `gate_steps=0`, `gate_learning_rate=0` and
  `gate_batch_size=0` take those per-task values.
- `train.epochs: budget` (ours): each sharer's LoRA trains until its share of the pool's time (less the gates'
  part) is spent, and the task LoRA with `task.epochs: budget` until its share; the gates keep the paper's steps.
- Assembly: top-k per task (Table 3: LaMP-1 1, LaMP-2 3, LaMP-3 1, LaMP-4 1, LaMP-5 1, LaMP-7 2); `top_k=0`
  takes them.
- Budget (ours; the paper has none): selecting sharers and the task LoRA may use `task_fraction` of the budget
  (embedding the candidates for k-means at most `select_fraction` of that: it stops early and clusters the
  candidates embedded so far), the pool (sharer LoRAs and gates) `pool_fraction` of what is left, each sharer an
  equal share of the pool's time left (of which `gate_fraction` goes to the gates); the evaluation users assemble
  in the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lampbench.methods.contract import MethodConfig
from lampbench.methods.lib.checks import at_least, fraction
from lampbench.methods.lib.prompt_variants import PromptVariant
from lampbench.methods.lib.sharers import PAPER, paper_row, sharer_lora_train
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
class PerPcsConfig(MethodConfig):
    train: LoraTrain = _f(
        LoraTrain(epochs=0.0),
        "the sharers' LoRAs (q/k/v/o, each module's LoRA a piece; epochs 0: the paper's per task, Table 3) and the "
        "optimizer of the task LoRA",
    )
    task: TaskStage = _f(TaskStage(), "the base task adaptation: OPPU's stage 1 on the training users not sharers")
    sharers: int = _f(50, "K of k-means: one sharer (the most active user) per cluster of training users")
    top_k: int = _f(0, "pieces kept per module and history item (0: the paper's per-task value, Table 3)")
    gate_steps: int = _f(0, "optimizer steps of gate training per sharer (0: the paper's 100 or 50 per task)")
    gate_learning_rate: float = _f(0.0, "AdamW learning rate of the gates (0: the paper's 1e-5 or 2e-5 per task)")
    gate_batch_size: int = _f(0, "examples per gate-training step (0: the paper's 6, or 4 for LaMP-3, Table 3)")
    sharer_batch_size: int = _f(0, "examples per step of a sharer's LoRA (0: the paper's per task, Table 3)")
    sharer_learning_rate: float = _f(
        0.0, "AdamW learning rate of a sharer's LoRA (0: the paper's 1e-5 or 2e-5 per task, Table 3; OPPU's: 1e-4)"
    )
    embed_items: int = _f(32, "history items per candidate embedded for k-means, spread over the profile (ours)")
    max_history: int = _f(0, "history items of a target user fed to the assembly (0: all, as the paper)")
    assemble_batch_size: int = _f(16, "history items per forward pass while assembling (Per-Pcs: 6-16)")
    task_adapt: bool = _f(True, "adapt the base to the task first (a merged LoRA on the non-sharers, §2.2)")
    task_fraction: float = _f(0.3, "share of the budget for selecting sharers and the task LoRA (ours)")
    select_fraction: float = _f(
        0.5, "share of `task_fraction` that embedding candidates for k-means may use; the task LoRA has the rest (ours)"
    )
    pool_fraction: float = _f(
        0.7, "share of the budget left after that for sharer LoRAs and gates (ours; with --fit-budget: all of it)"
    )
    gate_fraction: float = _f(0.25, "share of each sharer's time for training its gates (ours)")
    prompt: PromptVariant = _f(
        PromptVariant(),
        "what the assembled adapter answers besides the input: plain, rag (+RAG: BM25 items) or pag (+PAG: the "
        "user's written profile), Table 1's variants; the sharers train on plain prompts",
    )
    budget_split: BudgetSplit = budget_split_field()

    def __post_init__(self) -> None:
        at_least(self, 1, "sharers", "embed_items", "assemble_batch_size")
        at_least(self, 0, "top_k", "gate_steps", "max_history", "gate_batch_size", "sharer_batch_size")
        for name in ("gate_learning_rate", "sharer_learning_rate"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 (0: the paper's), got {getattr(self, name)}")
        fraction(self, "task_fraction", "pool_fraction", "gate_fraction", "select_fraction")

    def for_task(self, task: str) -> tuple[int, int, float]:
        """(top-k, gate steps, gate learning rate), with 0s replaced by the paper's values for `task`."""
        row = paper_row(task)
        lr = self.gate_learning_rate or row.gate_learning_rate
        return self.top_k or row.top_k, self.gate_steps or row.gate_steps, lr

    def sharer_recipe(self, task: str) -> tuple[float | str, int, int]:
        """(sharer LoRA epochs or 'budget', sharer LoRA batch, gate batch), 0s replaced by the paper's for `task`."""
        row = paper_row(task)
        return (
            self.train.epochs or row.sharer_epochs,
            self.sharer_batch_size or row.sharer_batch_size,
            self.gate_batch_size or row.gate_batch_size,
        )

    def sharer_train(self, task: str) -> LoraTrain:
        """A sharer LoRA's optimisation: `train` with the batch and learning rate for `task` (0s: Table 3's)."""
        return sharer_lora_train(self.train, task, self.sharer_batch_size, self.sharer_learning_rate)


__all__ = ["PAPER", "PerPcsConfig"]
