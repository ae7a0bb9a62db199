"""`aloe`: ALOE-style supervised fine-tuning on history-conditioned examples of the training users (Wu et al. 2024).

Each training user's questions (with their gold outputs) and history items become examples whose prompt is
LaMP's RAG prompt: the `history_k` items of *that* user's history that BM25 ranks first (a history item is
conditioned on the user's other items), then the input. One model (a LoRA by default, every weight with
`mode: full`) is trained on all of them by supervised fine-tuning, the loss on the completion only
(`train.train_sft`). At test, each user's own history goes into the prompt the same way.

`mode: full` changes the shared backbone's weights for the rest of the run, in the model's own dtype unless
`full_dtype: float32` asks for a cast; its collective state is the trained weights themselves (no copy: the
harness reports what full fine-tuning costs to store). On CUDA it checkpoints activations by default
(`train.gradient_checkpointing`), and `train.optimizer: adamw-8bit` quarters the optimizer's state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch

from lampbench.methods.aloe.config import AloeConfig
from lampbench.methods.contract import Context
from lampbench.methods.lib.adapters import lora_config, train_adapter
from lampbench.methods.lib.examples import Example
from lampbench.methods.lib.history_lora import HistoryLora
from lampbench.methods.lib.outcome import Outcome, seed_for
from lampbench.methods.lib.train import train_sft
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.specs import User


class Aloe(HistoryLora):
    """SFT of one model on (history + input -> the user's real output) pairs of the training users."""

    Config = AloeConfig
    config: AloeConfig
    uses_train_users = True
    ADAPTER = "aloe"

    def fit(self, ctx: Context, train: Sequence[User]) -> None:
        cfg = self.config
        examples = self._examples(ctx, train)
        seed = seed_for(ctx.seed, "aloe")
        if cfg.mode == "lora":
            self._weights, outcome = train_adapter(
                ctx, self.ADAPTER, lora_config(cfg.train), examples, cfg.train, deadline=None, seed=seed
            )
        else:
            outcome = self._full(ctx, examples, seed)
        ctx.report["collective"] = {"train_users": len(train), "mode": cfg.mode, **outcome.report()}

    def _adapter(self) -> str | None:
        return self.ADAPTER if self.config.mode == "lora" else None

    def _full(self, ctx: Context, examples: Sequence[Example], seed: int) -> Outcome:
        """Fine-tune every base weight (adapters of other methods are switched off and stay frozen)."""
        backbone, cfg = ctx.backbone, self.config
        if getattr(backbone.model, "is_loaded_in_4bit", False) or getattr(backbone.model, "is_loaded_in_8bit", False):
            raise ConfigError("aloe mode=full trains every weight, and quantized weights cannot be trained: run it "
                              "without --quantize, or with mode=lora")  # fmt: skip
        if cfg.full_dtype == "float32" and backbone.dtype != torch.float32:
            backbone.model.float()  # for the rest of the run: 4 bytes a weight, and as much again for its gradient
        backbone.activate_lora([])
        flags = {p: p.requires_grad for p in backbone.model.parameters()}
        for name, p in backbone.model.named_parameters():
            p.requires_grad_("lora_" not in name)
        try:
            train = dataclasses.replace(cfg.train, learning_rate=cfg.full_learning_rate)
            outcome = train_sft(ctx, examples, train, deadline=None, seed=seed)
        finally:
            for p, flag in flags.items():
                p.requires_grad_(flag)
        if outcome.trained:  # the weights themselves, where they are: a copy would be a second model
            self._weights = {n: p.detach() for n, p in backbone.model.named_parameters() if "lora_" not in n}
        return outcome
