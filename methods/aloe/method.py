"""`aloe`: ALOE-style supervised fine-tuning on history-conditioned examples of the training users (Wu et al. 2024).

Each training user's questions (with their gold outputs) and history items become examples whose prompt is
LaMP's RAG prompt: the `history_k` items of *that* user's history that BM25 ranks first (a history item is
conditioned on the user's other items), then the input. One model (a LoRA by default, every weight with
`mode: full`) is trained on all of them with trl's SFTTrainer: the examples are prompt-completion pairs, which is
what it is built for, and it gives the loss on the completion only and the budget callback for free. At test, each
user's own history goes into the prompt the same way.

`mode: full` changes the shared backbone's weights for the rest of the run; its collective state is a copy of
every trained weight (so the harness reports what full fine-tuning costs to store).
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
from lampbench.methods.lib.trl_train import train_sft
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
        """Fine-tune every base weight (adapters of other methods are switched off and stay frozen).

        At ALOE's 1e-5 an AdamW update is below bf16's resolution for most weights, so a bf16 model (CUDA) is
        made fp32 first, and stays so for the rest of the run.
        """
        backbone = ctx.backbone
        if any(p.dtype == torch.bfloat16 for p in backbone.model.parameters()):  # untested here: no CUDA
            backbone.model.float()
        backbone.activate_lora([])
        flags = {p: p.requires_grad for p in backbone.model.parameters()}
        for name, p in backbone.model.named_parameters():
            p.requires_grad_("lora_" not in name)
        try:
            cfg = dataclasses.replace(self.config.train, learning_rate=self.config.full_learning_rate)
            outcome = train_sft(ctx, examples, cfg, deadline=None, seed=seed)
        finally:
            for p, flag in flags.items():
                p.requires_grad_(flag)
        if outcome.trained:
            self._weights = {
                n: p.detach().to("cpu", copy=True) for n, p in backbone.model.named_parameters() if "lora_" not in n
            }
        return outcome
