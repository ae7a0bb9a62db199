"""Adapters on the shared backbone: inject once, train from fresh, swap stored weights in to answer.

A method's adapter is injected once per run under a fixed name and reused: each training starts from a freshly
initialised adapter (seeded, so a user's adapter does not depend on who came before), and what is stored is the
adapter's weight dict (`Backbone.adapter_state`). To answer, the stored weights are copied in and only that
adapter is switched on; afterwards every adapter is switched off, so between a method's answers the backbone
behaves as its base for whoever uses it next (the contract tests share one backbone across methods).

Per-user adapters answer several users per batch (`generate_users`): the users' weights are stacked per LoRA layer
and every row gets its owner's update in one batched low-rank product per layer (`harness/services/lora_batch.py`),
with the injected adapters switched off; nothing is injected for it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from lampbench.harness.services.lora_batch import lora_pairs, row_hooks, stack_modules
from lampbench.methods.contract import Context
from lampbench.methods.lib.examples import Example
from lampbench.methods.lib.outcome import NO_TIME, Outcome
from lampbench.methods.lib.rows import answer_rows
from lampbench.methods.lib.train import train_sft
from lampbench.methods.lib.train_config import LoraTrain
from lampbench.tasks.specs import User


def lora_config(cfg: LoraTrain, target_modules: Sequence[str] | None = None):
    """The `peft.LoraConfig` a method's config asks for."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
        target_modules=list(target_modules or cfg.target_modules), bias="none",
    )  # fmt: skip


def lora_scaling(config) -> float:
    """The factor peft multiplies a LoRA's update by: alpha / r (alpha / sqrt(r) with rsLoRA)."""
    return config.lora_alpha / (math.sqrt(config.r) if config.use_rslora else config.r)


def ensure_adapter(backbone, name: str, config) -> None:
    """Inject adapter `name`, unless one of that name and shape is there (an adapter of another shape is replaced)."""
    if name in backbone.adapters:
        old = getattr(backbone.model, "peft_config", {}).get(name)
        shape = ("r", "lora_alpha", "lora_dropout")
        if (
            old is not None
            and all(getattr(old, a) == getattr(config, a) for a in shape)
            and set(old.target_modules) == set(config.target_modules)
        ):
            return
        backbone.remove_lora(name)
    with warnings.catch_warnings():  # peft warns that the model already has adapters: here that is the point
        warnings.simplefilter("ignore")
        backbone.add_lora(config, name)
    # A bf16 (CUDA) or 4-bit base gets fp32 adapter weights, as peft's get_peft_model does: mixed-precision training
    # keeps its master weights in fp32. On the CPU everything is fp32 already.
    from peft.tuners.tuners_utils import cast_adapter_dtype

    cast_adapter_dtype(backbone.model, name)
    # New modules (the LoRA's dropout) start in train mode: a model in eval mode would answer with dropout on.
    backbone.model.train(backbone.model.training)


def fresh_adapter(backbone, name: str, seed: int) -> None:
    """Re-initialise adapter `name` from `seed` and make it the only active (and trainable) one."""
    torch.manual_seed(seed)
    backbone.reset_adapter(name)
    backbone.activate_lora(name)


def train_adapter(
    ctx: Context, name: str, config, examples: Sequence[Example], cfg: LoraTrain, *, deadline: float | None,
    seed: int, epochs: float | None = None,
) -> tuple[dict[str, torch.Tensor] | None, Outcome]:  # fmt: skip
    """Train adapter `name` from fresh on `examples`; its weights (None when no step ran) and the outcome."""
    backbone = ctx.backbone
    ensure_adapter(backbone, name, config)
    fresh_adapter(backbone, name, seed)
    outcome = train_sft(ctx, examples, cfg, deadline=deadline, seed=seed, epochs=epochs)
    state = backbone.adapter_state(name) if outcome.trained else None
    backbone.activate_lora([])  # between a method's answers the backbone is the base
    return state, outcome


@contextmanager
def answering_with(backbone, name: str | None, state: dict[str, torch.Tensor] | None) -> Iterator[None]:
    """Inside this block the model is the base plus adapter `name` holding `state` (the plain base when None)."""
    if name is None or state is None:
        with backbone.adapter_disabled():
            yield
        return
    backbone.load_adapter(state, name)
    backbone.activate_lora(name)
    try:
        yield
    finally:
        backbone.activate_lora([])  # every adapter off: cheaper than re-initialising one, and as safe


def generate(ctx: Context, prompts: Sequence[str], name: str | None, state: dict | None) -> list[str]:
    """Greedy answers to `prompts` with adapter `name` holding `state` swapped in."""
    with answering_with(ctx.backbone, name, state):
        return ctx.backbone.generate(prompts, max_new_tokens=ctx.task.max_new_tokens, batch_size=ctx.batch_size)


def generate_users(
    ctx: Context, prompts: Sequence[Sequence[str]], name: str, states: Sequence[dict | None], config
) -> list[list[str]]:  # fmt: skip
    """Greedy answers to several users' prompts, each user's with their own adapter, users sharing batches.

    Users' adapters (weights of adapter `name`, made with the `peft.LoraConfig` `config`) are stacked per LoRA layer,
    at most `ctx.batch_size` users at a time, and each row gets its own user's update in one batched low-rank
    product per layer (`lora_batch.row_hooks`); a user without weights gets none (the base). Every injected adapter
    is switched off meanwhile, as between a method's answers.
    """
    backbone, scaling = ctx.backbone, lora_scaling(config)

    def install(chunk, rows):
        users = [None if state is None else lora_pairs(state, name, scaling) for state in chunk]
        backbone.activate_lora([])
        return backbone.hooks(row_hooks(stack_modules(users, dtype=backbone.dtype, device=backbone.device), rows))

    return answer_rows(ctx, prompts, states, install)


def record_user(ctx: Context, user: User, outcome: Outcome, **extra: Any) -> None:
    """Add a user's training outcome to the run report, and keep the per-user totals up to date."""
    report = ctx.report
    report.setdefault("users", []).append({"user": user.id, **outcome.report(), **extra})
    totals = report.setdefault(
        "per_user_totals", {"users": 0, "trained": 0, "steps": 0, "examples_seen": 0, "skipped": {}}
    )
    totals["users"] += 1
    totals["trained"] += int(outcome.trained)
    totals["steps"] += outcome.steps
    totals["examples_seen"] += outcome.examples_seen
    if outcome.skipped:
        totals["skipped"][outcome.skipped] = totals["skipped"].get(outcome.skipped, 0) + 1
    reason = "" if outcome.trained else "budget" if outcome.skipped == NO_TIME else "no_history"
    ctx.personalized(user, outcome.trained, reason)
