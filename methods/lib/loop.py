"""A plain PyTorch training loop for parameters that live outside the model, under the budget clock.

PerFit's interventions and Per-Pcs' piece gates are not weights of the backbone: they act through forward hooks
(`Backbone.hooks`). This loop trains such parameters with the backbone's own weights frozen for the duration
(their `requires_grad` flags are restored afterwards, so a backbone shared with other methods is handed back as
it came). The loss is the causal LM loss on the target tokens only: the prompt goes through the chat template
exactly as `Backbone.generate` sees it, the target and an end-of-turn token are appended, and the logits are
computed only where a target token is predicted (SmolLM2's 49k-word head on every position would cost more than
the model).

Anytime: before every step the loop asks the clock whether that step fits before the stage's deadline, from the
measured cost of the last steps (`harness.budget.Pace`), so no step runs past it; a stage stopped early keeps what
it learnt, and a stage that could not take one step says so and leaves its parameters as they started. With
`steps=None` the stage fills its time: it trains until the next step would not fit, the linear decay laid over
the steps the time affords at the measured pace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from lampbench.harness.services.backbone import pad_batch
from lampbench.harness.services.budget import Pace
from lampbench.methods.contract import Context
from lampbench.methods.lib.examples import Example, encode_example
from lampbench.methods.lib.outcome import NO_EXAMPLES, NO_TIME, UNBOUNDED_STEPS, Outcome
from lampbench.methods.lib.schedule import lr_factor

#: Called before each forward pass with the batch's prompt lengths and padded width (PerFit marks positions).
Mark = Callable[[torch.Tensor, int], None]


@dataclass(frozen=True)
class LoopConfig:
    """How `train_parameters` trains: AdamW settings, batch, schedule (`schedule.lr_factor`) and target length."""

    learning_rate: float
    max_grad_norm: float
    batch_size: int
    lr_scheduler: Literal["linear", "constant"] = "linear"
    warmup_ratio: float = 0.0
    max_target_tokens: int = 128


@contextmanager
def frozen(model: torch.nn.Module) -> Iterator[None]:
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
    """(prompt ids through the chat template, target ids + end-of-turn): `examples.encode_example`."""
    return encode_example(backbone, example, max_target_tokens)


def lm_loss(model, rows: Sequence[tuple[list[int], list[int]]], pad_id: int, mark: Mark | None = None) -> torch.Tensor:
    """Mean cross-entropy over the target tokens of a right-padded batch of (prompt ids, target ids)."""
    device = next(model.parameters()).device
    ids, attention = pad_batch([prompt + target for prompt, target in rows], pad_id)
    width = ids.shape[1]
    at_row, at_col, targets = [], [], []
    for i, (prompt, target) in enumerate(rows):
        n = len(prompt) + len(target)
        # The logits at position j predict token j + 1: the target is predicted from len(prompt) - 1 on.
        at_row += [i] * len(target)
        at_col += range(len(prompt) - 1, n - 1)
        targets += target
    if mark is not None:
        mark(torch.tensor([len(p) for p, _ in rows], device=device), width)
    hidden = model.base_model(input_ids=ids.to(device), attention_mask=attention.to(device)).last_hidden_state
    logits = model.get_output_embeddings()(hidden[torch.tensor(at_row), torch.tensor(at_col)])
    return F.cross_entropy(logits.float(), torch.tensor(targets, device=device))


def batches(n: int, batch_size: int, steps: int, seed: int) -> Iterator[list[int]]:
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


def train_parameters(
    ctx: Context, examples: Sequence[Example], groups: list[dict], cfg: LoopConfig, *, steps: int | None,
    deadline: float | None, seed: int, hooks: AbstractContextManager, mark: Mark | None = None,
) -> Outcome:  # fmt: skip
    """Train the parameters in `groups` (AdamW parameter groups) for `steps` steps with `hooks` installed.

    `hooks` is what makes the parameters act on the model (a `Backbone.hooks` block); it is entered once, around
    the whole loop. The learning rate follows `cfg`'s schedule over the planned steps; with `steps=None` the loop
    trains until its time is spent, the schedule over the steps the time left affords.
    """
    clock, backbone = ctx.clock, ctx.backbone
    fill = steps is None
    planned = UNBOUNDED_STEPS if fill else steps
    outcome = Outcome(examples=len(examples), planned_steps=planned if examples else 0, fills_budget=fill)
    if outcome.planned_steps == 0:
        outcome.skipped = NO_EXAMPLES
        return outcome
    if clock.expired_by(deadline):
        outcome.skipped = NO_TIME
        return outcome
    pace = clock.pace(deadline)
    optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate)
    total = _total_steps(pace, planned, -(-len(examples) // cfg.batch_size), fill)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total(s), cfg, 0.0))
    start = clock.spent
    pace.restart()
    with torch.enable_grad(), frozen(backbone.model), hooks:
        _steps(ctx, examples, cfg, (optimizer, scheduler), [p for g in groups for p in g["params"]], pace,
               outcome, seed=seed, mark=mark)  # fmt: skip
    if outcome.steps == 0:
        outcome.skipped = NO_TIME
    outcome.seconds = clock.spent - start
    return outcome


def _total_steps(pace: Pace, planned: int, per_epoch: int, fill: bool) -> Callable[[int], int]:
    """The schedule's total at a step: the planned steps, or (filling the time) those the time left affords."""

    def total(step: int) -> int:
        if not fill:
            return planned
        left = pace.steps_left()
        return max(step + 1, step + left if left is not None else per_epoch)

    return total


def _steps(
    ctx: Context, examples: Sequence[Example], cfg: LoopConfig, optimization: tuple, params: list, pace: Pace,
    outcome: Outcome, *, seed: int, mark: Mark | None,
) -> None:  # fmt: skip
    """The loop itself: a step only when the pace says it fits; each example tokenised when first drawn."""
    backbone = ctx.backbone
    optimizer, scheduler = optimization
    tokens: dict[int, tuple[list[int], list[int]]] = {}  # tokenized when first drawn: a stage may stop early
    pad_id = backbone.tokenizer.pad_token_id
    for batch in batches(len(examples), cfg.batch_size, outcome.planned_steps, seed):
        if not pace.next_fits():
            outcome.stopped_by_budget = True
            break
        for i in batch:
            if i not in tokens:
                tokens[i] = encode_example(backbone, examples[i], cfg.max_target_tokens)
        loss = lm_loss(backbone.model, [tokens[i] for i in batch], pad_id, mark)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        pace.tick()  # before the schedule's next value, which reads the measured pace
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        outcome.steps += 1
        outcome.examples_seen += len(batch)
        outcome.losses.append(float(loss.detach()))
