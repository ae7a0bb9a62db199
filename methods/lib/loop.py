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

It also holds what both engines (this loop and `train.py`'s) share: `target_log_probs` (the LM head only where
a target is predicted), `checkpointing` (`gradient_checkpointing: auto|on|off`), `warm_up` (a process's first
training, outside the budget) and `sync` (CUDA is asynchronous: the clock is read after the device finishes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Literal

import torch

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
    #: `train_config.Checkpointing`: "auto" is off here (the loop trains a few small parameters).
    gradient_checkpointing: Literal["auto", "on", "off"] = "auto"


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


def target_log_probs(
    model, rows: Sequence[tuple[list[int], list[int]]], pad_id: int, mark: Mark | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of the target tokens of a right-padded batch of (prompt ids, target ids), and their rows.

    Returns two 1-D tensors over the batch's target tokens in row order: each token's log-probability (float32)
    and the row it belongs to. The LM head runs only where a target token is predicted: on LaMP's long prompts
    and short answers, the head over every position (a 49k-word vocabulary at SmolLM2) would cost a third of the
    step, and over a 128k vocabulary more than the model.
    """
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
    hidden = model.base_model(
        input_ids=ids.to(device), attention_mask=attention.to(device), use_cache=False
    ).last_hidden_state
    rows_at = torch.tensor(at_row, device=device)
    logits = model.get_output_embeddings()(hidden[rows_at, torch.tensor(at_col, device=device)]).float()
    logps = logits.log_softmax(-1).gather(-1, torch.tensor(targets, device=device)[:, None])[:, 0]
    return logps, rows_at


def lm_loss(model, rows: Sequence[tuple[list[int], list[int]]], pad_id: int, mark: Mark | None = None) -> torch.Tensor:
    """Mean cross-entropy over the target tokens of a right-padded batch of (prompt ids, target ids)."""
    return -target_log_probs(model, rows, pad_id, mark)[0].mean()


@contextmanager
def checkpointing(model, on: bool) -> Iterator[None]:
    """Activation (gradient) checkpointing on or off inside this block; the model is put back as it was.

    Non-reentrant: the frozen embeddings give the checkpointed layers inputs that do not require grad.
    """
    before = any(getattr(m, "gradient_checkpointing", False) for m in model.modules())
    if on != before:
        _set_checkpointing(model, on)
    try:
        yield
    finally:
        if on != before:
            _set_checkpointing(model, before)


def _set_checkpointing(model, on: bool) -> None:
    if on:
        model.activation_checkpointing_enable({"use_reentrant": False})
    else:
        model.activation_checkpointing_disable()
        model.disable_input_require_grads()  # transformers adds the hook on enable, removes it only for PEFT models


def checkpointing_on(setting: str, device: torch.device, *, heavy: bool) -> bool:
    """Whether a training checkpoints activations: `on`, `off`, or `auto`: on CUDA for `heavy` training (every
    weight, or DPO's two sequences a pair), where activations are what fills the GPU; off where time is short."""
    return setting == "on" or (setting == "auto" and heavy and device.type == "cuda")


@contextmanager
def training_mode(model: torch.nn.Module, on: bool = True) -> Iterator[None]:
    """The model in train mode inside this block (when `on`), as it was afterwards."""
    was = model.training
    if on:
        model.train()
    try:
        yield
    finally:
        model.train(was)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that the clock read next measures it (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def warm_up(ctx: Context, step: Callable[[], torch.Tensor], params: Sequence[torch.Tensor]) -> None:
    """The first training of a process, once per model, outside the budget: one forward and backward, discarded.

    A process's first training runs cold (allocator, kernels and thread pools set up), a cost only the first
    user's budget would pay; like loading the model, it is not a method's cost. The gradients are dropped and no
    weight changes; the random state is reseeded by the training that follows. Recorded in the method report.
    """
    model = ctx.backbone.model
    if getattr(model, "_lampbench_warm", False):
        return
    clock = ctx.clock
    with clock.paused():  # inside the block `spent` still runs; it is taken back when the block exits
        start = clock.spent
        step().backward()
        sync(ctx.backbone.device)
        seconds = clock.spent - start
    for p in [*params, *model.parameters()]:
        p.grad = None
    model._lampbench_warm = True
    ctx.report["warm_up_s"] = round(seconds, 3)


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
    params = [p for g in groups for p in g["params"]]
    model, pad_id = backbone.model, backbone.tokenizer.pad_token_id
    recompute = checkpointing_on(cfg.gradient_checkpointing, backbone.device, heavy=False)
    # Checkpointed layers recompute only in train mode; otherwise the frozen model stays in eval mode (no dropout).
    with torch.enable_grad(), frozen(model), hooks, checkpointing(model, recompute), training_mode(model, recompute):
        first = [
            encode_example(backbone, examples[i], cfg.max_target_tokens)
            for i in range(min(cfg.batch_size, len(examples)))
        ]
        warm_up(ctx, lambda: lm_loss(model, first, pad_id, mark), params)
        start = clock.spent
        pace.restart()
        _steps(ctx, examples, cfg, (optimizer, scheduler), params, pace, outcome, seed=seed, mark=mark)
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
        sync(backbone.device)  # the step's time is its kernels', not their launches'
        pace.tick()  # before the schedule's next value, which reads the measured pace
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        outcome.steps += 1
        outcome.examples_seen += len(batch)
        outcome.losses.append(float(loss.detach()))
