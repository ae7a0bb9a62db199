"""Training one PerFit stage: a plain PyTorch loop over the intervention's parameters, under the budget clock.

The backbone's own weights are frozen for the duration (their `requires_grad` flags are restored afterwards, so
a backbone shared with other methods is handed back as it came), which also means the backward pass starts at
the first intervened layer. The loss is the causal LM loss on the target tokens only: the prompt goes through the
chat template exactly as `Backbone.generate` sees it, the target and an end-of-turn token are appended, and the
logits are computed only where a target token is predicted (SmolLM2's 49k-word head on every position would
cost more than the model).

Anytime: the clock (and the stage's deadline) is checked before every step; a stage stopped early keeps what it
learnt, and a stage that could not take one step says so and leaves its intervention as it started, the identity.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lampbench.harness.budget import Clock
from lampbench.methods.api import Context
from lampbench.methods.finetune.examples import Example
from lampbench.methods.perfit.config import PerFitConfig
from lampbench.methods.perfit.intervention import Phi, Positions, TrainablePhi, intervening, prompt_mask
from lampbench.tasks.specs import User

NO_TIME = "budget too small for one training step"
NO_EXAMPLES = "no training examples"


@dataclass
class Outcome:
    """What one training stage did (recorded in the run's method report)."""

    examples: int
    planned_steps: int = 0
    steps: int = 0
    examples_seen: int = 0
    stopped_by_budget: bool = False
    skipped: str | None = None
    seconds: float = 0.0
    first_loss: float | None = None
    last_loss: float | None = None

    def report(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("seconds", "first_loss", "last_loss"):
            if out[key] is not None:
                out[key] = round(out[key], 5)
        return out


def seed_for(seed: int, key: str) -> int:
    """A per-user (or per-stage) seed, so a user's intervention does not depend on who came before."""
    return (seed * 1_000_003 + zlib.crc32(key.encode())) % 2**31


def user_deadline(ctx: Context, user: User) -> float:
    """This user's deadline on the clock's `spent` scale: an equal share of the time left to them and later users.

    Shares are of the time *left*, so time an early user does not need goes to the later ones. Without the run's
    user list (`ctx.eval_users`) a user may use all the time left.
    """
    ids = [u.id for u in ctx.eval_users]
    if user.id not in ids:
        return ctx.clock.share(1.0)
    return ctx.clock.share(1.0 / (len(ids) - ids.index(user.id)))


def _out_of_time(clock: Clock, deadline: float | None) -> bool:
    return clock.expired or (deadline is not None and clock.spent >= deadline)


@contextmanager
def _frozen(model: torch.nn.Module) -> Iterator[None]:
    """No gradient for the backbone's own weights inside this block; the flags are put back afterwards."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def tokenize(backbone, example: Example, max_target_tokens: int) -> tuple[list[int], list[int]]:
    """(prompt ids through the chat template, target ids + end-of-turn)."""
    target = backbone.tokenizer(example.target, add_special_tokens=False)["input_ids"][:max_target_tokens]
    return backbone.encode(example.prompt), target + [backbone.tokenizer.eos_token_id]


def lm_loss(model, rows: Sequence[tuple[list[int], list[int]]], pad_id: int, positions: Positions, cfg) -> torch.Tensor:
    """Mean cross-entropy over the target tokens of a right-padded batch, with the prompt positions marked."""
    device = next(model.parameters()).device
    width = max(len(p) + len(t) for p, t in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    at_row, at_col, targets = [], [], []
    for i, (prompt, target) in enumerate(rows):
        n = len(prompt) + len(target)
        ids[i, :n] = torch.tensor(prompt + target)
        attention[i, :n] = 1
        # The logits at position j predict token j + 1: the target is predicted from len(prompt) - 1 on.
        at_row += [i] * len(target)
        at_col += range(len(prompt) - 1, n - 1)
        targets += target
    lengths = torch.tensor([len(p) for p, _ in rows], device=device)
    positions.mask = prompt_mask(torch.zeros_like(lengths), lengths, width, cfg.first_n, cfg.last_n)
    hidden = model.base_model(input_ids=ids.to(device), attention_mask=attention.to(device)).last_hidden_state
    logits = model.get_output_embeddings()(hidden[torch.tensor(at_row), torch.tensor(at_col)])
    return F.cross_entropy(logits.float(), torch.tensor(targets, device=device))


def _batches(n: int, batch_size: int, steps: int, seed: int) -> Iterator[list[int]]:
    """`steps` batches of example indices: seeded reshuffles, epoch after epoch (the last batch may be short)."""
    shuffle = torch.Generator().manual_seed(seed)
    done = 0
    while True:
        order = torch.randperm(n, generator=shuffle).tolist()
        for at in range(0, n, batch_size):
            if done == steps:
                return
            done += 1
            yield order[at : at + batch_size]


def train_stage(
    ctx: Context, examples: Sequence[Example], phi: TrainablePhi, below: Phi | None, cfg: PerFitConfig, *,
    epochs: float, deadline: float | None, seed: int,
) -> Outcome:  # fmt: skip
    """Train `phi` on `examples`, applied on top of the frozen `below` (stage 1) when given; in place."""
    clock, backbone = ctx.clock, ctx.backbone
    n = len(examples)
    outcome = Outcome(examples=n, planned_steps=math.ceil(epochs * math.ceil(n / cfg.batch_size)) if n else 0)
    if not examples or outcome.planned_steps == 0:
        outcome.skipped = NO_EXAMPLES
        return outcome
    if _out_of_time(clock, deadline):
        outcome.skipped = NO_TIME
        return outcome
    model, device = backbone.model, backbone.device
    phi.to(device)
    optimizer = torch.optim.AdamW(phi.param_groups(cfg.weight_decay), lr=cfg.learning_rate)
    total = outcome.planned_steps
    linear = cfg.lr_scheduler == "linear"
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total) if linear else 1.0)
    tokens: dict[int, tuple[list[int], list[int]]] = {}  # tokenized when first drawn: a stage may stop early
    stages = ([below.to(device)] if below is not None else []) + [phi]
    hooks = intervening(backbone, stages, phi.layers, first_n=cfg.first_n, last_n=cfg.last_n, positions=Positions())
    start = clock.spent
    with torch.enable_grad(), _frozen(model), hooks as positions:
        for batch in _batches(n, cfg.batch_size, total, seed):
            if _out_of_time(clock, deadline):
                outcome.stopped_by_budget = True
                break
            for i in batch:
                if i not in tokens:
                    tokens[i] = tokenize(backbone, examples[i], cfg.max_target_tokens)
            loss = lm_loss(model, [tokens[i] for i in batch], backbone.tokenizer.pad_token_id, positions, cfg)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(phi.parameters(), cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            outcome.steps += 1
            outcome.examples_seen += len(batch)
            outcome.last_loss = float(loss.detach())
            outcome.first_loss = outcome.last_loss if outcome.first_loss is None else outcome.first_loss
    if outcome.steps == 0:
        outcome.skipped = NO_TIME
    outcome.seconds = clock.spent - start
    return outcome
