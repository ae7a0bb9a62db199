"""OPPU's stage 1, which OPPU and Per-Pcs both run: a task LoRA on training users, folded into the base weights.

`merge_task_lora` trains it and merges it (`merge_and_unload`); `restore_task_lora` puts a saved one back on a fresh
backbone for a resumed run, merged (oppu, per-pcs) or injected and switched off (lora-c).
"""

from __future__ import annotations

from collections.abc import Sequence

from lampbench.methods.contract import Context
from lampbench.methods.lib.adapters import ensure_adapter, lora_config, train_adapter
from lampbench.methods.lib.examples import task_examples
from lampbench.methods.lib.train_config import LoraTrain, TaskStage
from lampbench.tasks.specs import User

#: The adapter name of the task LoRA.
TASK = "task"


def restore_task_lora(ctx: Context, state: dict | None, config, *, merge: bool) -> None:
    """Put a saved task LoRA back on a fresh backbone: injected and switched off (lora-c), or folded in (oppu)."""
    if state is None:
        return
    backbone = ctx.backbone
    ensure_adapter(backbone, TASK, config)
    backbone.load_adapter(state, TASK)
    if merge:
        backbone.remove_lora(TASK, merge=True)
    else:
        backbone.activate_lora([])  # between a method's answers the backbone is the base


def merge_task_lora(
    ctx: Context, users: Sequence[User], train: LoraTrain, stage: TaskStage, *, deadline: float | None, seed: int
) -> tuple[dict | None, dict]:
    """OPPU's stage 1: a task LoRA on `users`, folded into the base weights; (its weights or None, a report).

    The LoRA has `stage`'s target modules and epochs and `train`'s shape and optimizer. An untrained LoRA (no
    time, or no examples) is dropped rather than merged: later stages start from the base.
    """
    examples = task_examples(ctx, users, stage.source)
    state, outcome = train_adapter(
        ctx, TASK, lora_config(train, stage.target_modules), examples, train, deadline=deadline, seed=seed,
        epochs=stage.epochs,
    )  # fmt: skip
    ctx.backbone.remove_lora(TASK, merge=state is not None)
    return state, {"train_users": len(users), "merged": state is not None, **outcome.report()}
