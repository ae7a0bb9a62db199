"""Training under the budget: trl's SFTTrainer and DPOTrainer, stopped by the clock, keeping what they learnt.

Both trainers get the foundation's `budget_callback` (training stops before a step the time left cannot afford,
from the measured cost of the last steps), our own optimizer and learning-rate schedule (see
`LoraTrain.schedule_by`), and a model that is the shared backbone with an adapter already injected and
activated: the trainer sees a plain `transformers` model whose only trainable weights are that adapter's. A
trainer always runs its first step, so the clock is checked before one is built and again before it starts; when
no step can run, the outcome says why and the caller answers with what it has.

`epochs` is a number of passes (the papers' recipes, the defaults) or `"budget"`: train until the stage's share of
the budget is spent, the learning-rate schedule laid over that time (the total number of steps is estimated from
the time left and the measured step time), so a method's budget curve is not flat by construction.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from lampbench.harness.services.backbone import pad_batch
from lampbench.harness.services.budget import Clock, Pace, budget_callback
from lampbench.methods.contract import Context
from lampbench.methods.lib.examples import Example, encode_example
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


def steps_per_epoch(n: int, cfg: LoraTrain) -> int:
    return math.ceil(math.ceil(n / cfg.batch_size) / cfg.grad_accum)


def planned_steps(n: int, cfg: LoraTrain, epochs: float | str) -> int:
    """Optimizer steps for `epochs` passes over `n` examples, capped by `max_steps` (`epochs: budget`: no end)."""
    total = UNBOUNDED_STEPS if fills_budget(epochs) else math.ceil(float(epochs) * steps_per_epoch(n, cfg))
    return min(total, cfg.max_steps) if cfg.max_steps > 0 else total


def _optimizer(model, cfg: LoraTrain, pace: Pace, total: int, fill: bool):
    """AdamW (no decay on biases and norms) and our schedule; plus a callback that starts the schedule's clock.

    The schedule's time runs from the first step (`on_train_begin`), not from when the optimizer is built: what
    the trainer does before (DPO's reference log-probabilities) must not count as training progress. A stage that
    fills its budget (`fill`) lays the schedule over its time: the total is the steps taken plus those the time
    left affords at the measured pace (before the first step is measured, a long one: the warm-up starts near 0).
    """
    from transformers import TrainerCallback

    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.learning_rate)
    start = [pace.clock.spent]

    def factor(step: int) -> float:
        if fill:
            left = pace.steps_left()
            estimate = step + left if left is not None else UNBOUNDED_STEPS  # unmeasured: warm up from ~0
            estimate = min(estimate, cfg.max_steps) if cfg.max_steps > 0 else estimate
            return lr_factor(step, max(estimate, step + 1), cfg, pace.fraction(start[0]))
        return lr_factor(step, total, cfg, pace.fraction(start[0]) if cfg.schedule_by == "budget" else 0.0)

    class ScheduleStart(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            start[0] = pace.clock.spent

    return (optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)), ScheduleStart()


def _arguments(cfg: LoraTrain, model, out_dir: str, seed: int, steps: int) -> dict[str, Any]:
    """TrainingArguments shared by SFTConfig and DPOConfig: fp32 on CPU, bf16 on CUDA, nothing written or printed.

    `steps` is the planned number of optimizer steps (epochs, capped by `max_steps`): given as `max_steps`, so
    transformers runs exactly that many unless the budget stops it first.
    """
    cuda = next(model.parameters()).device.type == "cuda"
    return dict(
        output_dir=out_dir, per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        max_steps=steps,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm,
        bf16=cuda, fp16=False, use_cpu=not cuda, gradient_checkpointing=cfg.gradient_checkpointing,
        # Non-reentrant: the frozen embeddings give the checkpointed layers inputs that do not require grad.
        gradient_checkpointing_kwargs={"use_reentrant": False},
        report_to="none", save_strategy="no", logging_strategy="steps", logging_steps=1, disable_tqdm=True,
        seed=seed, data_seed=seed, dataloader_pin_memory=False,
    )  # fmt: skip


def _checkpointing(model) -> bool:
    """Whether activation (gradient) checkpointing is on: any module with the flag set, in any transformers."""
    return any(getattr(m, "gradient_checkpointing", False) for m in model.modules())


@contextlib.contextmanager
def _borrowed(model) -> Iterator[str]:
    """Lend the shared model to a trl trainer and take it back as it was.

    trl wraps `model.forward` with a fused LM head on every trainer it builds (stacking one wrapper per user if
    left), transformers leaves it in train mode (and with gradient checkpointing on, if asked for), and a 4-bit
    model must look PEFT-loaded to transformers' check.
    Warnings and datasets' progress bars are silenced while the trainer exists; its output folder is temporary.
    """
    import datasets

    own_forward, checkpointing = model.__dict__.get("forward"), _checkpointing(model)
    bars, tqdm_env = datasets.is_progress_bar_enabled(), os.environ.get("TQDM_DISABLE")
    datasets.disable_progress_bars()
    os.environ["TQDM_DISABLE"] = "1"  # trl's "Computing reference log probs" bar reads it
    four_bit = getattr(model, "is_loaded_in_4bit", False)
    if four_bit:  # untested here: no CUDA
        model._hf_peft_config_loaded = True
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory(prefix="lampbench-train-") as tmp:
            warnings.simplefilter("ignore")
            yield tmp
    finally:
        if own_forward is None:
            model.__dict__.pop("forward", None)
        else:
            model.forward = own_forward
        model.eval()
        if four_bit:
            model._hf_peft_config_loaded = False
        if _checkpointing(model) and not checkpointing:
            # transformers 5 renamed gradient to activation checkpointing; the old names warn.
            getattr(model, "activation_checkpointing_disable", model.gradient_checkpointing_disable)()
        if bars:
            datasets.enable_progress_bars()
        if tqdm_env is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = tqdm_env


def _planned(clock: Clock, deadline: float | None, n: int, steps: int) -> Outcome:
    """A stage's outcome before it starts: `skipped` says why it cannot (no time, or nothing to train on)."""
    outcome = Outcome(examples=n, planned_steps=steps)
    if clock.expired_by(deadline):
        outcome.skipped = NO_TIME
    elif n == 0 or steps < 1:
        outcome.skipped = NO_EXAMPLES
    return outcome


def _train(
    trainer_class, ctx: Context, args, rows: list[dict], outcome: Outcome, deadline: float | None, cfg: LoraTrain
) -> Outcome:  # fmt: skip
    """Build a trl trainer on the shared model, with the budget and schedule callbacks and our optimizer; train it."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    model, clock, n = ctx.backbone.model, ctx.clock, len(rows)
    pace = clock.pace(deadline)
    callback = budget_callback(clock, deadline, pace)
    optimizers, started = _optimizer(model, cfg, pace, outcome.planned_steps, outcome.fills_budget)
    trainer = trainer_class(
        model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=ctx.backbone.tokenizer,
        callbacks=[callback, started], optimizers=optimizers,
    )  # fmt: skip
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    if clock.expired_by(deadline):  # building the trainer (DPO: reference log-probs) used the time up
        outcome.skipped = NO_TIME
        return outcome
    start = clock.spent
    trainer.train()
    outcome.seconds = clock.spent - start
    outcome.steps = trainer.state.global_step
    if outcome.steps == 0:  # the first step was abandoned half-way: it could not end in time
        outcome.skipped = NO_TIME
    outcome.stopped_by_budget = callback.stopped and outcome.steps < outcome.planned_steps
    outcome.examples_seen = examples_seen(n, cfg.batch_size, cfg.grad_accum, outcome.steps)
    logs = trainer.state.log_history
    outcome.losses = [float(h["loss"]) for h in logs if "loss" in h]
    outcome.margins = [float(h["rewards/margins"]) for h in logs if "rewards/margins" in h]
    return outcome


def _tokenized(ctx: Context, examples: Sequence[Example], max_target_tokens: int) -> list[dict[str, list[int]]]:
    """Each example as SFT's row: the ids of prompt + target (`encode_example`), the loss on the target only."""
    rows = []
    for ex in examples:
        prompt, target = encode_example(ctx.backbone, ex, max_target_tokens)
        rows.append({"input_ids": prompt + target, "completion_mask": [0] * len(prompt) + [1] * len(target)})
    return rows


def train_sft(
    ctx: Context, examples: Sequence[Example], cfg: LoraTrain, *, deadline: float | None, seed: int,
    epochs: float | None = None,
) -> Outcome:  # fmt: skip
    """Supervised fine-tuning (loss on the target only) of whatever is trainable in the backbone's model."""
    clock, epochs = ctx.clock, cfg.epochs if epochs is None else epochs
    outcome = _planned(clock, deadline, len(examples), planned_steps(len(examples), cfg, epochs))
    outcome.fills_budget = fills_budget(epochs)
    if outcome.skipped:
        return outcome
    from trl import SFTConfig, SFTTrainer

    model = ctx.backbone.model
    rows = _tokenized(ctx, examples, cfg.max_target_tokens)
    with _borrowed(model) as tmp:
        args = SFTConfig(
            **_arguments(cfg, model, tmp, seed, outcome.planned_steps), completion_only_loss=True, max_length=None,
        )  # fmt: skip
        return _train(SFTTrainer, ctx, args, rows, outcome, deadline, cfg)


def affordable_pairs(
    ctx: Context, pairs: Sequence[tuple[str, str, str]], cfg: LoraTrain, deadline: float | None
) -> int:
    """How many pairs the time left can take through DPO: reference log-probs once, then `epochs` of training.

    One batch of pairs goes through the model (both sides, no gradient) and is timed: a pair then costs about
    that once for its reference log-probs, and three times as much per epoch (forward and backward). Fewer than
    one batch's worth means no step fits: 0. With `epochs: budget` the pairs must afford one epoch; training then
    goes on over them until the time is spent.
    """
    backbone, clock = ctx.backbone, ctx.clock
    sample = list(pairs[: cfg.batch_size])
    tokenizer = backbone.tokenizer
    rows = []
    for prompt, chosen, rejected in sample:
        ids = backbone.encode(prompt)
        for answer in (chosen, rejected):
            rows.append(ids + tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id])
    batch, attention = pad_batch(rows, tokenizer.pad_token_id)
    start = clock.spent
    with torch.inference_mode(), backbone.adapter_disabled():
        backbone.model(input_ids=batch.to(backbone.device), attention_mask=attention.to(backbone.device))
    per_pair = max(clock.spent - start, 1e-9) / len(sample)
    left = clock.end(deadline) - clock.spent
    epochs = 1.0 if fills_budget(cfg.epochs) else float(cfg.epochs)
    n = int(left / (per_pair * (1 + 3 * epochs)))
    return min(len(pairs), n) if n >= min(cfg.batch_size, len(pairs)) else 0


def train_dpo(
    ctx: Context, pairs: Sequence[tuple[str, str, str]], cfg: LoraTrain, *, beta: float,
    deadline: float | None, seed: int,
) -> Outcome:  # fmt: skip
    """DPO on (prompt, chosen, rejected) triples; the reference is the model as it is when this is called.

    trl computes the reference log-probabilities once, before training (`precompute_ref_log_probs`), from the
    model as given: the caller passes a freshly zeroed adapter, so the reference is the base model. That needs no
    second copy of the model and no `PeftModel` wrapper around the shared backbone.

    That precomputation cannot be stopped once it runs, so the trainer gets only the pairs the time left can
    afford (`affordable_pairs`); `Outcome.examples` is that number.
    """
    clock = ctx.clock
    outcome = _planned(clock, deadline, len(pairs), planned_steps(len(pairs), cfg, cfg.epochs))
    if outcome.skipped:
        return outcome
    n = affordable_pairs(ctx, pairs, cfg, deadline)
    if n == 0:
        outcome.skipped = NO_TIME
        return outcome
    pairs = pairs[:n]
    outcome = Outcome(n, planned_steps=planned_steps(n, cfg, cfg.epochs), fills_budget=fills_budget(cfg.epochs))
    from trl import DPOConfig, DPOTrainer

    model = ctx.backbone.model
    rows = [
        {
            "prompt": [{"role": "user", "content": prompt}],
            "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}],
        }
        for prompt, chosen, rejected in pairs
    ]
    with _borrowed(model) as tmp:
        args = DPOConfig(
            **_arguments(cfg, model, tmp, seed, outcome.planned_steps), beta=beta, precompute_ref_log_probs=True,
            max_length=None, disable_dropout=False,  # trl would zero every dropout of the shared model, for good
        )  # fmt: skip
        return _train(DPOTrainer, ctx, args, rows, outcome, deadline, cfg)
