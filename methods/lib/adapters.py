"""Adapters on the shared backbone: inject once, train from fresh, swap stored weights in to answer.

A method's adapter is injected once per run under a fixed name and reused: each training starts from a freshly
initialised adapter (seeded, so a user's adapter does not depend on who came before), and what is stored is the
adapter's weight dict (`Backbone.adapter_state`). To answer, the stored weights are copied in and only that
adapter is switched on; afterwards every adapter is switched off, so between a method's answers the backbone
behaves as its base for whoever uses it next (the contract tests share one backbone across methods).

Per-user adapters answer several users per batch (`generate_users`): each user's weights go into a slot of their
own (`user-row0`, `user-row1`, ...; at most `batch_size` slots, kept switched off between batches) and PEFT's mixed
adapter batches give every row its owner's slot.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from lampbench.methods.contract import Context
from lampbench.methods.lib.examples import Example
from lampbench.methods.lib.outcome import NO_TIME, Outcome
from lampbench.methods.lib.rows import Rows, answer_rows
from lampbench.methods.lib.train_config import LoraTrain
from lampbench.methods.lib.trl_train import train_sft
from lampbench.tasks.specs import User


def lora_config(cfg: LoraTrain, target_modules: Sequence[str] | None = None):
    """The `peft.LoraConfig` a method's config asks for."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
        target_modules=list(target_modules or cfg.target_modules), bias="none",
    )  # fmt: skip


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
) -> list[list[str]]:
    """Greedy answers to several users' prompts, each user's with their own adapter, users sharing batches.

    Users' adapters (weights of adapter `name`, made with the `peft.LoraConfig` `config`) are copied into slots,
    one per user of a chunk of at most `ctx.batch_size` users, and every row is answered with its own through
    PEFT's mixed adapter batches (`adapter_names`); a user without weights gets `__base__`. The slots stay
    injected, switched off, for the next batch: at most `ctx.batch_size` of them, re-injecting costs a walk of
    the whole model.
    """
    return answer_rows(ctx, prompts, states, lambda chunk, rows: _mixed(ctx.backbone, name, config, chunk, rows))


@contextmanager
def _mixed(backbone, name: str, config, states: Sequence[dict | None], rows: Rows) -> Iterator[None]:
    """Inside this block row i of a batch uses slot `rows.owners[i]`, holding that user's weights."""
    from peft.tuners.lora import LoraLayer

    names = []
    for j, state in enumerate(states):
        if state is None:
            names.append("__base__")
            continue
        slot = f"{name}-row{j}"
        ensure_adapter(backbone, slot, config)
        backbone.load_adapter({k.replace(f".{name}.", f".{slot}."): v for k, v in state.items()}, slot)
        names.append(slot)
    backbone.activate_lora([])  # peft switches a new adapter on; rows name theirs, the rest of the run wants none
    layers = [m for m in backbone.model.modules() if isinstance(m, LoraLayer)]
    for layer in layers:  # a new slot's dropout starts in train mode (modules do): none while answering
        for slot in set(names) & set(layer.lora_dropout):
            layer.lora_dropout[slot].eval()
    if all(n == "__base__" for n in names):
        with backbone.adapter_disabled():
            yield
        return

    def pre_forward(module, args, kwargs):
        kwargs["adapter_names"] = [names[o] for o in rows.owners]
        return args, kwargs

    handles = [layer.register_forward_pre_hook(pre_forward, with_kwargs=True) for layer in layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


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
