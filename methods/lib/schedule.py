"""The one learning-rate schedule of both training engines (`train.py`'s SFT and DPO, and `loop.py`).

Warm-up from 0 over `warmup_ratio` of training, then linear or cosine decay to 0, or constant. Progress is the
step fraction, or the time fraction when that is further along (`LoraTrain.schedule_by: budget`), so a stage cut
short by its budget still warms up and decays.
"""

from __future__ import annotations

import math
from typing import Protocol


class Schedule(Protocol):
    """What the schedule reads of a config: `LoraTrain` and `LoopConfig` both have it."""

    warmup_ratio: float
    lr_scheduler: str


def lr_factor(step: int, total: int, cfg: Schedule, time_fraction: float) -> float:
    """The factor on the learning rate at `step` of `total`; progress is the step or time fraction, the further."""
    warm = max((step + 1) / max(total, 1), time_fraction)  # the warm-up counts the step about to be taken
    if cfg.warmup_ratio > 0 and warm < cfg.warmup_ratio:
        return warm / cfg.warmup_ratio
    progress = max(step / max(total, 1), time_fraction)
    rest = min(1.0, max(0.0, (progress - cfg.warmup_ratio) / max(1e-9, 1 - cfg.warmup_ratio)))
    if cfg.lr_scheduler == "linear":
        return 1.0 - rest
    if cfg.lr_scheduler == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * rest))
    return 1.0
