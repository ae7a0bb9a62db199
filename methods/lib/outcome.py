"""What a training stage did, and the counting both training engines share (methods/lib/train.py and the plain loop).

A stage either trains (steps > 0) or says why it could not (`skipped`: no time for one step, or nothing to train
on); its `report()` is what the run's method report records.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

NO_TIME = "budget too small for one training step"
NO_EXAMPLES = "no training examples"
#: `epochs: budget`: train until the stage's time is spent.
BUDGET = "budget"
#: The step cap of a stage that fills its budget (`max_steps` caps it further): in practice the time stops it.
UNBOUNDED_STEPS = 1_000_000


def fills_budget(epochs: float | str | None) -> bool:
    """Whether an `epochs` setting is the budget-filling policy."""
    return epochs == BUDGET


@dataclass
class Outcome:
    """What one training stage did (recorded in the run's method report)."""

    examples: int
    examples_seen: int = 0
    steps: int = 0
    planned_steps: int = 0
    stopped_by_budget: bool = False
    skipped: str | None = None
    seconds: float = 0.0
    fills_budget: bool = False
    losses: list[float] = field(default_factory=list)
    margins: list[float] = field(default_factory=list)

    @property
    def trained(self) -> bool:
        return self.steps > 0

    def report(self) -> dict[str, Any]:
        """Plain-JSON summary: counts, and the first and last loss (and DPO reward margin)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("losses", "margins")}
        out["seconds"] = round(self.seconds, 3)
        out["epochs_done"] = round(self.examples_seen / self.examples, 3) if self.examples else 0.0
        if self.fills_budget:
            out["planned_steps"] = None  # as many as the time allowed
        for name, values in (("loss", self.losses), ("margin", self.margins)):
            if values:
                out[f"first_{name}"], out[f"last_{name}"] = round(values[0], 5), round(values[-1], 5)
        return out


def seed_for(seed: int, key: str) -> int:
    """A per-user (or per-stage) seed: results do not depend on which users came before."""
    return (seed * 1_000_003 + zlib.crc32(key.encode())) % 2**31


def examples_seen(n: int, batch: int, accum: int, steps: int) -> int:
    """Examples the optimizer consumed in `steps` steps (the last batch of an epoch may be short)."""
    micro = math.ceil(n / batch)
    per_epoch = math.ceil(micro / accum)
    epochs, rest = divmod(steps, per_epoch)
    return epochs * n + min(n, rest * accum * batch)
