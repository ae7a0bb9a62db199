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
from pathlib import Path

import torch

from lampbench.methods.contract import Context, PromptMethod
from lampbench.methods.lib.adapters import answering_with, ensure_adapter, lora_config, train_adapter
from lampbench.methods.lib.train_config import AloeConfig, HistoryConfig
from lampbench.methods.lib.examples import Example, fit_prompt, history_examples
from lampbench.methods.lib.saved import load_lora, save_lora
from lampbench.methods.lib.trl_train import Outcome, seed_for, train_sft
from lampbench.methods.rag.method import Rag, RagConfig, RagState
from lampbench.tasks.specs import Query, User


class HistoryMethod(PromptMethod):
    """A collective model that answers with the user's own history in the prompt (shared by `aloe` and `dpo`).

    A subclass sets `ADAPTER` and fills `self._weights` in `fit`; the per-user state is the user's history index.
    """

    ADAPTER = ""
    config: HistoryConfig

    def __init__(self, config: HistoryConfig | None = None):
        super().__init__(config)
        self._weights: dict[str, torch.Tensor] | None = None

    def _examples(self, ctx: Context, train: Sequence[User]) -> list[Example]:
        cfg = self.config
        kwargs = {"k": cfg.history_k, "source": cfg.source, "per_user": cfg.history_per_user}
        return [ex for user in train for ex in history_examples(ctx, user, **kwargs)]

    def _rag(self) -> Rag:
        return Rag(RagConfig(k=self.config.history_k))

    def personalize(self, ctx: Context, user: User) -> RagState:
        return self._rag().personalize(ctx, user)

    def prompt(self, ctx: Context, state: RagState, query: Query) -> str:
        return fit_prompt(ctx, self._rag().prompt(ctx, state, query))

    def answering(self, ctx: Context):
        """The collective weights swapped in: the same model for every user, so users batch together."""
        return answering_with(ctx.backbone, self._adapter(), self._weights)

    def _adapter(self) -> str | None:
        """The adapter that holds the collective weights (None: they are in the model itself)."""
        return self.ADAPTER

    def collective_state(self) -> dict[str, torch.Tensor] | None:
        return self._weights

    def save_collective(self, ctx: Context, path: Path) -> bool:
        """The collective LoRA (safetensors); full fine-tuning is not saved (a copy of the model: `fit` is redone)."""
        return self._adapter() is not None and save_lora(path, self.ADAPTER, self._weights)

    def load_collective(self, ctx: Context, path: Path) -> bool:
        if self._adapter() is None:
            return False
        found, weights = load_lora(path, self.ADAPTER)
        if found and weights is not None:
            backbone = ctx.backbone
            ensure_adapter(backbone, self.ADAPTER, lora_config(self.config))
            backbone.load_adapter(weights, self.ADAPTER)
            backbone.activate_lora([])  # between a method's answers the backbone is the base
        self._weights = weights if found else None
        return found


class Aloe(HistoryMethod):
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
                ctx, self.ADAPTER, lora_config(cfg), examples, cfg, deadline=None, seed=seed
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
            cfg = dataclasses.replace(self.config, learning_rate=self.config.full_learning_rate)
            outcome = train_sft(ctx, examples, cfg, deadline=None, seed=seed)
        finally:
            for p, flag in flags.items():
                p.requires_grad_(flag)
        if outcome.trained:
            self._weights = {
                n: p.detach().to("cpu", copy=True) for n, p in backbone.model.named_parameters() if "lora_" not in n
            }
        return outcome
