"""DPO's settings, as CHAMELEON's DPO baseline: lr 5e-5, batch 16, cosine, LoRA r 256 and alpha 128, beta 0.1."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lampbench.methods.lib.checks import at_least, fraction
from lampbench.methods.lib.history_lora import HistoryLoraConfig
from lampbench.methods.lib.train_config import LoraTrain
from lampbench.tasks.errors import ConfigError

#: CHAMELEON's recipe: lr 5e-5, 1 epoch, 16 pairs a step, clipping 0.3, cosine, r 256, alpha 128 (no weight decay:
#: ours, the paper gives none). The 16 pairs are 4 micro-batches of 4 (ours): 16 pairs in one micro-batch are 32
#: sequences of activations, tens of GB at 7B; with checkpointing (on by default on CUDA) 4 pairs fit easily.
DPO_TRAIN = LoraTrain(
    learning_rate=5e-5, epochs=1.0, batch_size=4, grad_accum=4, max_grad_norm=0.3, lr_scheduler="cosine", r=256,
    alpha=128, weight_decay=0.0,
)  # fmt: skip


@dataclass(frozen=True)
class DpoConfig(HistoryLoraConfig):
    """`dpo`: DPO (sigmoid loss) with a LoRA on preference pairs of the training users (CHAMELEON's baseline setup).

    `pairs: history`: chosen = the user's real output, rejected = the non-personalized model's own answer to the
    bare input. `pairs: with-vs-without-history` (no label used): chosen = the model's answer with the user's
    retrieved history in the prompt, rejected = its answer without it; CHAMELEON's personal-vs-neutral idea without
    its insight-conditioned answers (not implemented here). Pairs whose two sides are equal are dropped.
    CHAMELEON loads the base in 4-bit for DPO: run with `--quantize 4bit` on CUDA.
    """

    train: LoraTrain = field(
        default=DPO_TRAIN,
        metadata={"help": "the LoRA and its optimizer (CHAMELEON: lr 5e-5, 16 pairs a step, cosine, r 256, alpha 128)"},
    )
    pairs: Literal["history", "with-vs-without-history"] = field(
        default="history", metadata={"help": "how preference pairs are made (see above)"}
    )
    beta: float = field(default=0.1, metadata={"help": "DPO beta"})
    pair_fraction: float = field(
        default=0.5,
        metadata={"help": "at most this share of the budget goes to the model's answers for the pairs (ours)"},
    )
    max_pairs: int = field(
        default=0, metadata={"help": "stop making pairs after this many (0: as many as `pair_fraction` allows)"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta <= 0:
            raise ConfigError(f"beta must be > 0, got {self.beta}")
        fraction(self, "pair_fraction", closed=True)
        at_least(self, 0, "max_pairs")
