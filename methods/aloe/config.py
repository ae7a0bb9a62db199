"""ALOE's settings (Wu et al. 2024): full fine-tuning at lr 1e-5, batch 1 x 48 accumulation, one epoch.

Here LoRA is the default (`mode: full` is ALOE's), with the usual LoRA learning rate; the effective batch of 48 is
kept (8 x 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lampbench.methods.lib.history_lora import HistoryLoraConfig
from lampbench.methods.lib.train_config import LoraTrain
from lampbench.tasks.errors import ConfigError

#: ALOE's recipe on a LoRA: lr 1e-4 (ours: LoRA needs more than ALOE's 1e-5), 1 epoch (ALOE), 8 x 6 = ALOE's
#: effective batch of 48, clipping at 1.0 (ours: the transformers default), no weight decay (the paper gives none).
ALOE_TRAIN = LoraTrain(learning_rate=1e-4, epochs=1.0, batch_size=8, grad_accum=6, max_grad_norm=1.0, weight_decay=0.0)


@dataclass(frozen=True)
class AloeConfig(HistoryLoraConfig):
    """`aloe`: supervised fine-tuning on history-conditioned examples of the training users (ALOE-style)."""

    train: LoraTrain = field(
        default=ALOE_TRAIN,
        metadata={"help": "the LoRA and its optimizer (ALOE: 1 epoch, effective batch 48; lr 1e-4 is ours, for LoRA)"},
    )
    mode: Literal["lora", "full"] = field(
        default="lora", metadata={"help": "LoRA (default) or full-parameter fine-tuning as in ALOE"}
    )
    full_learning_rate: float = field(
        default=1e-5, metadata={"help": "AdamW learning rate with `mode: full` (ALOE: 1e-5)"}
    )
    full_dtype: Literal["model", "float32"] = field(
        default="model",
        metadata={
            "help": "dtype of the weights `mode: full` trains: the model's (bf16 on CUDA: 2 bytes a weight, but at "
            "lr 1e-5 many updates round away in bf16), or float32 (the model is cast for the rest of the run: 4 "
            "bytes a weight, plus fp32 gradients and AdamW state: ~112 GB at 7B before activations)"
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.full_learning_rate <= 0:
            raise ConfigError(f"full_learning_rate must be > 0, got {self.full_learning_rate}")
