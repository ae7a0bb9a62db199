"""Training one PerFit stage: the shared plain-PyTorch loop (`methods/lib/loop.py`) over the intervention's parameters.

The intervention acts through forward hooks at the chosen layers; in training the caller knows each prompt's
length, so the positions (first/last n tokens of the user's content, inside the chat template's fixed tokens)
are marked before every forward pass, and the target tokens are never intervened on, exactly as when answering.
A stage that could not take one step leaves its intervention as it started, the identity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from lampbench.methods.contract import Context
from lampbench.methods.lib.examples import Example
from lampbench.methods.lib.loop import LoopConfig, train_parameters
from lampbench.methods.lib.outcome import Outcome, fills_budget
from lampbench.methods.perfit.config import PerFitConfig
from lampbench.methods.perfit.intervention import (
    Phi,
    Positions,
    TrainablePhi,
    intervening,
    prompt_mask,
    template_margins,
)


def train_stage(
    ctx: Context, examples: Sequence[Example], phi: TrainablePhi, below: Phi | None, cfg: PerFitConfig, *,
    epochs: float | str, deadline: float | None, seed: int,
) -> Outcome:  # fmt: skip
    """Train `phi` on `examples`, applied on top of the frozen `below` (stage 1) when given; in place."""
    backbone = ctx.backbone
    phi.to(backbone.device)
    stages = ([below.to(backbone.device)] if below is not None else []) + [phi]
    positions = Positions()
    hooks = intervening(backbone, stages, phi.layers, first_n=cfg.first_n, last_n=cfg.last_n, positions=positions)
    prefix, suffix = template_margins(backbone)

    def mark(lengths: torch.Tensor, width: int) -> None:  # right padding: every prompt starts at 0
        content = (lengths - prefix - suffix).clamp(min=1)
        positions.mask = prompt_mask(torch.full_like(lengths, prefix), content, width, cfg.first_n, cfg.last_n)

    batch_size = cfg.batch_for(ctx.task.name)
    loop = LoopConfig(
        learning_rate=cfg.learning_rate, max_grad_norm=cfg.max_grad_norm, batch_size=batch_size,
        lr_scheduler=cfg.lr_scheduler, max_target_tokens=cfg.max_target_tokens,
        gradient_checkpointing=cfg.gradient_checkpointing,
    )  # fmt: skip
    # `epochs: budget`: no step count, the loop trains until the stage's time is spent.
    steps = None if fills_budget(epochs) else math.ceil(float(epochs) * math.ceil(len(examples) / batch_size))
    return train_parameters(
        ctx, examples, phi.param_groups(cfg.weight_decay), loop, steps=steps, deadline=deadline, seed=seed,
        hooks=hooks, mark=mark,
    )  # fmt: skip
