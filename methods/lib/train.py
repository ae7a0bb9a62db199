"""Training under the budget: supervised fine-tuning and DPO of whatever is trainable in the backbone's model.

One plain PyTorch loop, not trl's trainers nor `transformers.Trainer` (issue 18 found what those cost here):
trl's fused LM head scores every position on a device without Triton (the CPU), the prompt included, and adds
the entropy and top-1 over the whole vocabulary to every step for its metrics: lora-p's trl training ran at ~68%
of a bare PEFT loop's examples/s. The Trainer wraps the model in `nn.DataParallel` when several GPUs are visible
and moves it to `cuda:0`; DPOTrainer's `precompute_ref_log_probs` hashes every weight (a CPU copy of the model)
inside the budget to name a cache file. Here the LM head runs only where a target token is predicted
(`loop.target_log_probs`), the model stays on the backbone's device, and DPO's reference log-probabilities are
computed once, batched, timed, and charged to the budget.

The model is the shared backbone with an adapter already injected and activated (or, for full fine-tuning, every
base weight trainable): what requires grad is trained, with our AdamW (or bitsandbytes' 8-bit one) and
learning-rate schedule (`LoraTrain.schedule_by`). A step is `grad_accum` micro-batches; before a step the measured
pace (`harness.services.budget.Pace`) says whether it ends in time, and within a step the micro-batches done
project its end: a step that would end past the deadline is abandoned (nothing applied). On CUDA the device is
synchronised before the clock is read, so a step's time is its kernels', not their launches'. The first training
of a process is warmed up outside the budget (`loop.warm_up`), as loading the model is.

`epochs` is a number of passes (the papers' recipes, the defaults) or `"budget"`: train until the stage's share of
the budget is spent, the learning-rate schedule laid over that time (the total number of steps is estimated from
the time left and the measured step time), so a method's budget curve is not flat by construction.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F

from lampbench.harness.services.budget import Clock, Pace
from lampbench.methods.contract import Context
from lampbench.methods.lib.examples import Example, encode_example
from lampbench.methods.lib.loop import checkpointing, checkpointing_on, sync, target_log_probs, training_mode, warm_up
from lampbench.methods.lib.outcome import (  # noqa: F401 - NO_EXAMPLES, seed_for: importable from here too
    NO_EXAMPLES,
    NO_TIME,
    UNBOUNDED_STEPS,
    Outcome,
    examples_seen,
    fills_budget,
    seed_for,
)
from lampbench.methods.lib.schedule import lr_factor
from lampbench.methods.lib.train_config import LoraTrain

Row = tuple[list[int], list[int]]  # (prompt ids, target ids)
#: A micro-batch's loss: (row indices, the step's micro-batches) -> (loss to back-propagate, DPO margin sum or None).
MicroLoss = Callable[[list[int], list[list[int]]], tuple[torch.Tensor, torch.Tensor | None]]


def steps_per_epoch(n: int, cfg: LoraTrain) -> int:
    return math.ceil(math.ceil(n / cfg.batch_size) / cfg.grad_accum)


def planned_steps(n: int, cfg: LoraTrain, epochs: float | str) -> int:
    """Optimizer steps for `epochs` passes over `n` examples, capped by `max_steps` (`epochs: budget`: no end)."""
    total = UNBOUNDED_STEPS if fills_budget(epochs) else math.ceil(float(epochs) * steps_per_epoch(n, cfg))
    return min(total, cfg.max_steps) if cfg.max_steps > 0 else total


def step_plan(n: int, cfg: LoraTrain, steps: int, seed: int) -> Iterator[list[list[int]]]:
    """`steps` optimizer steps, each up to `grad_accum` micro-batches of row indices, epoch after epoch.

    Each epoch is a seeded reshuffle; its last micro-batch may be short, and its last step may have fewer
    micro-batches (as transformers' Trainer does, so `outcome.examples_seen` counts the same).
    """
    shuffle = torch.Generator().manual_seed(seed)
    done = 0
    while True:
        order = torch.randperm(n, generator=shuffle).tolist()
        micro = [order[at : at + cfg.batch_size] for at in range(0, n, cfg.batch_size)]
        for at in range(0, len(micro), cfg.grad_accum):
            if done == steps:
                return
            done += 1
            yield micro[at : at + cfg.grad_accum]


def _adamw(name: str):
    """The optimizer class `LoraTrain.optimizer` names (the config checked that bitsandbytes is there)."""
    if name == "adamw":
        return torch.optim.AdamW
    import bitsandbytes as bnb

    return bnb.optim.AdamW8bit if name == "adamw-8bit" else bnb.optim.PagedAdamW8bit


def _optimizer(params: Sequence[torch.Tensor], cfg: LoraTrain, pace: Pace, total: int, fill: bool):
    """AdamW (no decay on biases and norms) and our schedule, whose time runs from now (the first step).

    A stage that fills its budget (`fill`) lays the schedule over its time: the total is the steps taken plus those
    the time left affords at the measured pace (before the first step is measured, a long one: the warm-up starts
    near 0).
    """
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    optimizer = _adamw(cfg.optimizer)([g for g in groups if g["params"]], lr=cfg.learning_rate)
    start = pace.clock.spent

    def factor(step: int) -> float:
        if fill:
            left = pace.steps_left()
            estimate = step + left if left is not None else UNBOUNDED_STEPS  # unmeasured: warm up from ~0
            estimate = min(estimate, cfg.max_steps) if cfg.max_steps > 0 else estimate
            return lr_factor(step, max(estimate, step + 1), cfg, pace.fraction(start))
        return lr_factor(step, total, cfg, pace.fraction(start) if cfg.schedule_by == "budget" else 0.0)

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _planned(clock: Clock, deadline: float | None, n: int, steps: int) -> Outcome:
    """A stage's outcome before it starts: `skipped` says why it cannot (no time, or nothing to train on)."""
    outcome = Outcome(examples=n, planned_steps=steps)
    if clock.expired_by(deadline):
        outcome.skipped = NO_TIME
    elif n == 0 or steps < 1:
        outcome.skipped = NO_EXAMPLES
    return outcome


def _autocast(micro_loss: MicroLoss, device: torch.device) -> MicroLoss:
    """On CUDA, the forward pass (not the backward) under bf16 autocast: the LoRA's fp32 master weights compute in
    bf16, as mixed precision does."""
    if device.type != "cuda":
        return micro_loss

    def loss(micro: list[int], step: list[list[int]]):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return micro_loss(micro, step)

    return loss


def _optimize(
    ctx: Context, micro_loss: MicroLoss, cfg: LoraTrain, outcome: Outcome, deadline: float | None, seed: int, *,
    heavy: bool,
) -> Outcome:  # fmt: skip
    """Train what requires grad in the backbone's model over `outcome.examples` rows, step by step under the clock.

    `heavy` (every weight, or DPO) is what `gradient_checkpointing: auto` turns checkpointing on for, on CUDA.
    """
    backbone, clock = ctx.backbone, ctx.clock
    model, device = backbone.model, backbone.device
    params = [p for p in model.parameters() if p.requires_grad]
    plan = step_plan(outcome.examples, cfg, outcome.planned_steps, seed)
    recompute = checkpointing_on(cfg.gradient_checkpointing, device, heavy=heavy)
    micro_loss = _autocast(micro_loss, device)
    with torch.enable_grad(), training_mode(model), checkpointing(model, recompute):
        first = next(plan)
        warm_up(ctx, lambda: micro_loss(first[0], first)[0], params)
        torch.manual_seed(seed)  # dropout: a user's training does not depend on who trained before
        pace = clock.pace(deadline)
        optimizer, scheduler = _optimizer(params, cfg, pace, outcome.planned_steps, outcome.fills_budget)
        start = clock.spent
        for step in itertools.chain([first], plan):
            if not pace.next_fits():
                outcome.stopped_by_budget = True
                break
            loss = _step(ctx, micro_loss, step, deadline, outcome)
            if loss is None:  # abandoned: it could not end in time
                optimizer.zero_grad(set_to_none=True)
                outcome.stopped_by_budget = True
                break
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            outcome.losses.append(float(loss))  # waits for the step's kernels: the tick below measures them
            pace.tick()  # before the schedule's next value, which reads the measured pace
            scheduler.step()
            outcome.steps += 1
            outcome.examples_seen += sum(len(micro) for micro in step)
    outcome.seconds = clock.spent - start
    if outcome.steps == 0:  # no step fitted, or the first was abandoned half-way
        outcome.skipped = NO_TIME
    return outcome


def _step(
    ctx: Context, micro_loss: MicroLoss, step: list[list[int]], deadline: float | None, outcome: Outcome
) -> torch.Tensor | None:
    """A step's micro-batches, back-propagated; its loss, or None when its projected end is past the deadline."""
    clock, device = ctx.clock, ctx.backbone.device
    begin, total, margin = clock.spent, 0.0, None
    for k, micro in enumerate(step):
        loss, margins = micro_loss(micro, step)
        loss.backward()
        total = total + loss.detach()
        if margins is not None:
            margin = margins if margin is None else margin + margins
        left = len(step) - k - 1
        if left:
            sync(device)
            if not clock.affords((clock.spent - begin) / (k + 1) * left, deadline):
                return None
    if margin is not None:
        outcome.margins.append(float(margin) / sum(len(m) for m in step))
    return total


def _sft_loss(ctx: Context, rows: Sequence[Row]) -> MicroLoss:
    """Mean negative log-likelihood of the step's target tokens (each micro-batch adds its share)."""
    model, pad = ctx.backbone.model, ctx.backbone.tokenizer.pad_token_id

    def loss(micro: list[int], step: list[list[int]]) -> tuple[torch.Tensor, None]:
        tokens = sum(len(rows[i][1]) for batch in step for i in batch)
        return -target_log_probs(model, [rows[i] for i in micro], pad)[0].sum() / tokens, None

    return loss


def train_sft(
    ctx: Context, examples: Sequence[Example], cfg: LoraTrain, *, deadline: float | None, seed: int,
    epochs: float | None = None,
) -> Outcome:  # fmt: skip
    """Supervised fine-tuning (loss on the target only) of whatever is trainable in the backbone's model.

    Every trainable weight outside a LoRA (ALOE's `mode: full`) makes it heavy: `gradient_checkpointing: auto`
    is on for it on CUDA.
    """
    clock, epochs = ctx.clock, cfg.epochs if epochs is None else epochs
    outcome = _planned(clock, deadline, len(examples), planned_steps(len(examples), cfg, epochs))
    outcome.fills_budget = fills_budget(epochs)
    if outcome.skipped:
        return outcome
    model = ctx.backbone.model
    rows = [encode_example(ctx.backbone, ex, cfg.max_target_tokens) for ex in examples]
    full = any(p.requires_grad and "lora_" not in n for n, p in model.named_parameters())
    return _optimize(ctx, _sft_loss(ctx, rows), cfg, outcome, deadline, seed, heavy=full)


# ---- DPO


def _pair_rows(backbone, pairs: Sequence[tuple[str, str, str]], cfg: LoraTrain) -> list[tuple[Row, Row]]:
    """Each (prompt, chosen, rejected) as two rows, tokenised as SFT's are (`encode_example`): the prompt as the
    model is asked at test (its chat template, or plain text without one or with `--no-chat-template`), each
    answer cut to `max_target_tokens` and ended with the end-of-turn token."""
    out = []
    for prompt, chosen, rejected in pairs:
        good = encode_example(backbone, Example(prompt, chosen, prompt), cfg.max_target_tokens)
        bad = encode_example(backbone, Example(prompt, rejected, prompt), cfg.max_target_tokens)
        out.append((good, bad))
    return out


def _sequence_log_probs(model, rows: Sequence[Row], pad: int) -> torch.Tensor:
    """Each row's summed target log-probability, float32 [len(rows)]."""
    logps, row = target_log_probs(model, rows, pad)
    return torch.zeros(len(rows), device=logps.device).index_add(0, row, logps)


def _reference(ctx: Context, pairs: Sequence[tuple[Row, Row]]) -> torch.Tensor:
    """The base model's (adapters off) log-probabilities of each pair's chosen and rejected answer: [n, 2]."""
    backbone = ctx.backbone
    rows = [good for good, _ in pairs] + [bad for _, bad in pairs]
    with torch.inference_mode(), backbone.adapter_disabled():
        seq = _sequence_log_probs(backbone.model, rows, backbone.tokenizer.pad_token_id)
    return torch.stack(seq.chunk(2), dim=1).clone()


def _timed_reference(ctx: Context, pairs: Sequence[tuple[Row, Row]]) -> tuple[torch.Tensor, float]:
    """`_reference` and the seconds it took (the device synchronised, so the kernels are counted)."""
    clock = ctx.clock
    start = clock.spent
    refs = _reference(ctx, pairs)
    sync(ctx.backbone.device)
    return refs, max(clock.spent - start, 1e-9)


def _affordable(ctx: Context, n: int, timed: int, seconds: float, cfg: LoraTrain, deadline: float | None) -> int:
    """How many of `n` pairs the time left takes through DPO, `timed` of them with their reference already done.

    A pair costs about what the timed batch took per pair once for its reference log-probs, and three times as
    much per epoch (forward and backward). Fewer than one batch's worth means no step fits: 0. With `epochs:
    budget` the pairs must afford one epoch; training then goes on over them until the time is spent.
    """
    clock = ctx.clock
    per_pair = seconds / timed
    epochs = 1.0 if fills_budget(cfg.epochs) else float(cfg.epochs)
    left = clock.end(deadline) - clock.spent
    fit = int((left + timed * per_pair) / (per_pair * (1 + 3 * epochs)))
    return min(n, fit) if fit >= min(cfg.batch_size, n) else 0


def affordable_pairs(
    ctx: Context, pairs: Sequence[tuple[str, str, str]], cfg: LoraTrain, deadline: float | None
) -> int:
    """How many pairs the time left can take through DPO: reference log-probs once, then `epochs` of training.

    The first batch's reference log-probabilities are computed and timed (`_affordable` says how that is read).
    """
    sample = _pair_rows(ctx.backbone, pairs[: cfg.batch_size], cfg)
    _, seconds = _timed_reference(ctx, sample)
    return _affordable(ctx, len(pairs), len(sample), seconds, cfg, deadline)


def _dpo_loss(ctx: Context, rows: Sequence[tuple[Row, Row]], refs: torch.Tensor, beta: float) -> MicroLoss:
    """DPO's sigmoid loss, the mean over the step's pairs; and the sum of the reward margins, for the report."""
    model, pad = ctx.backbone.model, ctx.backbone.tokenizer.pad_token_id

    def loss(micro: list[int], step: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        seq = _sequence_log_probs(model, [rows[i][0] for i in micro] + [rows[i][1] for i in micro], pad)
        chosen, rejected = seq.chunk(2)
        ref = refs[micro].to(seq.device)
        margin = beta * ((chosen - ref[:, 0]) - (rejected - ref[:, 1]))
        pairs = sum(len(batch) for batch in step)
        return -F.logsigmoid(margin).sum() / pairs, margin.detach().sum()

    return loss


def train_dpo(
    ctx: Context, pairs: Sequence[tuple[str, str, str]], cfg: LoraTrain, *, beta: float,
    deadline: float | None, seed: int,
) -> Outcome:  # fmt: skip
    """DPO on (prompt, chosen, rejected) triples; the reference is the base model (adapters off).

    The caller passes a freshly zeroed adapter, so the policy starts as the reference. The reference
    log-probabilities are computed once, before training, batch by batch: the first batch is timed, and only the
    pairs the time left affords (`_affordable`) are kept; `Outcome.examples` is that number.
    """
    clock = ctx.clock
    outcome = _planned(clock, deadline, len(pairs), planned_steps(len(pairs), cfg, cfg.epochs))
    if outcome.skipped:
        return outcome
    rows = _pair_rows(ctx.backbone, pairs, cfg)
    first, seconds = _timed_reference(ctx, rows[: cfg.batch_size])
    n = _affordable(ctx, len(rows), len(first), seconds, cfg, deadline)
    if n == 0:
        outcome.skipped = NO_TIME
        return outcome
    refs = [first] + [
        _reference(ctx, rows[at : at + cfg.batch_size]) for at in range(cfg.batch_size, n, cfg.batch_size)
    ]
    rows, refs = rows[:n], torch.cat(refs)[:n]
    outcome = Outcome(n, planned_steps=planned_steps(n, cfg, cfg.epochs), fills_budget=fills_budget(cfg.epochs))
    if clock.expired_by(deadline):
        outcome.skipped = NO_TIME
        return outcome
    return _optimize(ctx, _dpo_loss(ctx, rows, refs, beta), cfg, outcome, deadline, seed, heavy=True)
