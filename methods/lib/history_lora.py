"""One collective LoRA that answers with the user's own history in the prompt: what ALOE and DPO share.

Both train one model on the training users' examples whose prompt is LaMP's RAG prompt (the `history_k` items of
that user's history BM25 ranks first, then the input), and answer each user the same way. `HistoryLoraConfig`
holds the settings of those prompts and examples; `HistoryLora` is the method around the collective weights: the
per-user state is the user's history index, and the weights are swapped in to answer, saved and loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from lampbench.methods.contract import Context, MethodConfig, PromptMethod
from lampbench.methods.lib.adapters import answering_with, ensure_adapter, lora_config
from lampbench.methods.lib.checks import at_least
from lampbench.methods.lib.examples import Example, fit_prompt, history_examples
from lampbench.methods.lib.retrieval import HistoryIndex, Retrieval
from lampbench.methods.lib.saved import load_lora, save_lora
from lampbench.methods.lib.train_config import LoraTrain, Source
from lampbench.tasks.specs import Query, User


@dataclass(frozen=True)
class HistoryLoraConfig(MethodConfig):
    """The history-conditioned examples and prompts, and the collective LoRA (a subclass gives `train` its paper's)."""

    train: LoraTrain = field(
        default=LoraTrain(weight_decay=0.0),
        metadata={"help": "the collective LoRA and its optimizer (weight decay 0: ours, the papers give none)"},
    )
    history_k: int = field(
        default=1,
        metadata={"help": "history items retrieved (BM25, as LaMP's RAG) into each prompt, at training and test"},
    )
    source: Source = field(
        default="both",
        metadata={
            "help": "examples: the training users' questions with gold outputs, their history items (each "
            "conditioned on the user's other items), or both"
        },
    )
    history_per_user: int = field(
        default=16, metadata={"help": "at most this many history items per training user become examples (ours)"}
    )

    def __post_init__(self) -> None:
        at_least(self, 0, "history_k")
        at_least(self, 1, "history_per_user")


class HistoryLora(PromptMethod):
    """A collective model that answers with the user's own history in the prompt (the base of `aloe` and `dpo`).

    A subclass sets `ADAPTER` and fills `self._weights` in `fit`; the per-user state is the user's history index.
    """

    ADAPTER = ""
    config: HistoryLoraConfig

    def __init__(self, config: HistoryLoraConfig | None = None):
        super().__init__(config)
        self._weights: dict[str, torch.Tensor] | None = None

    def _examples(self, ctx: Context, train: Sequence[User]) -> list[Example]:
        cfg = self.config
        kwargs = {"k": cfg.history_k, "source": cfg.source, "per_user": cfg.history_per_user}
        return [ex for user in train for ex in history_examples(ctx, user, **kwargs)]

    def personalize(self, ctx: Context, user: User) -> HistoryIndex:
        return Retrieval(self.config.history_k).index(ctx, user)

    def prompt(self, ctx: Context, state: HistoryIndex, query: Query) -> str:
        return fit_prompt(ctx, Retrieval(self.config.history_k).prompt(ctx, state, query))

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
            ensure_adapter(backbone, self.ADAPTER, lora_config(self.config.train))
            backbone.load_adapter(weights, self.ADAPTER)
            backbone.activate_lora([])  # between a method's answers the backbone is the base
        self._weights = weights if found else None
        return found
