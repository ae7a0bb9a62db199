"""`dpo`: DPO with a LoRA on preference pairs of the training users (CHAMELEON's DPO baseline).

The prompts are ALOE's (the user's own history, retrieved by BM25, then the input) and so are the answers at test.
Pairs are made under the clock: the non-personalized model (adapters off) answers the training examples in
batches, in a seeded order that mixes users, until `pair_fraction` of the budget is used or `max_pairs` are made;
training gets the rest. `pairs: history` pairs the user's real output (chosen) with the model's answer to the bare
input (rejected); `pairs: with-vs-without-history` pairs the model's answer with the retrieved history in the
prompt (chosen) with its answer without it (rejected). That is CHAMELEON's personal-vs-neutral idea, but not its
data: CHAMELEON conditions both answers on LLM-written insights (a personalized and a neutral one, from a PCA
selection of the history), which this option does not make; hence its name. Equal pairs teach nothing and are
dropped. Prompts are trained as the model is asked at test: through its chat template, or as plain text when it
has none or the run says `--no-chat-template` (`train.train_dpo`).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from lampbench.methods.contract import Context
from lampbench.methods.dpo.config import DpoConfig
from lampbench.methods.lib.adapters import ensure_adapter, fresh_adapter, lora_config
from lampbench.methods.lib.examples import Example
from lampbench.methods.lib.history_lora import HistoryLora
from lampbench.methods.lib.outcome import seed_for
from lampbench.methods.lib.train import train_dpo
from lampbench.tasks.specs import User

Pair = tuple[str, str, str]  # (prompt, chosen, rejected)


class Dpo(HistoryLora):
    """DPO of one LoRA (r 256, alpha 128, beta 0.1) on the training users' preference pairs."""

    Config = DpoConfig
    config: DpoConfig
    uses_train_users = True
    ADAPTER = "dpo"

    def fit(self, ctx: Context, train: Sequence[User]) -> None:
        cfg = self.config
        seed = seed_for(ctx.seed, "dpo")
        examples = self._examples(ctx, train)
        random.Random(seed).shuffle(examples)
        pairs, made = self.make_pairs(ctx, examples)
        backbone = ctx.backbone
        ensure_adapter(backbone, self.ADAPTER, lora_config(cfg.train))
        fresh_adapter(backbone, self.ADAPTER, seed)  # B = 0: the policy starts as the reference, the base model
        outcome = train_dpo(ctx, pairs, cfg.train, beta=cfg.beta, deadline=None, seed=seed)
        self._weights = backbone.adapter_state(self.ADAPTER) if outcome.trained else None
        backbone.activate_lora([])  # between a method's answers the backbone is the base
        ctx.report["collective"] = {"train_users": len(train), "pairs": cfg.pairs, **made, **outcome.report()}

    def make_pairs(self, ctx: Context, examples: Sequence[Example]) -> tuple[list[Pair], dict[str, int]]:
        """Preference pairs from `examples`, made while the pair budget lasts; and counts for the report."""
        cfg, backbone, clock = self.config, ctx.backbone, ctx.clock
        pace = clock.pace(clock.share(cfg.pair_fraction))
        pairs: list[Pair] = []
        answered = equal = 0
        for start in range(0, len(examples), ctx.batch_size):
            if not pace.next_fits() or (cfg.max_pairs and len(pairs) >= cfg.max_pairs):
                break
            batch = examples[start : start + ctx.batch_size]
            with backbone.adapter_disabled():
                neutral = self._pair_answers(ctx, [ex.input for ex in batch])
                if cfg.pairs == "history":
                    chosen = [ex.target for ex in batch]
                else:
                    chosen = self._pair_answers(ctx, [ex.prompt for ex in batch])
            answered += len(batch)
            pace.tick()
            for ex, good, bad in zip(batch, chosen, neutral, strict=True):
                if good.strip() and good.strip() != bad.strip():
                    pairs.append((ex.prompt, good, bad))
                else:
                    equal += 1
        if cfg.max_pairs:
            pairs = pairs[: cfg.max_pairs]
        made = {"candidates": len(examples), "answered": answered, "equal_dropped": equal, "pairs_made": len(pairs)}
        return pairs, made

    @staticmethod
    def _pair_answers(ctx: Context, prompts: Sequence[str]) -> list[str]:
        return ctx.backbone.generate(prompts, max_new_tokens=ctx.task.max_new_tokens, batch_size=ctx.batch_size)
