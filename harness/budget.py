"""The wall-clock budget: parsing `--budget`, the clock methods read, and the trainer callback that obeys it.

The budget is charged only for what a method does to *adapt* (its `fit` and `personalize` stages); answering
queries is timed separately. The runner opens the clock around those stages with `clock.charging()`, so a
method sees the time it has left through `remaining()` and `expired`, and never needs `time.time()`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_BUDGET = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_budget(text: str) -> float:
    """Seconds in a budget such as `90s`, `20m`, `1h30m`, `1.5h` or a bare number of seconds.

    Raises:
        ValueError: when the text is not a budget.
    """
    t = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", t):
        return float(t)
    match = _BUDGET.fullmatch(t)
    if not t or not match or not any(match.groups()):
        raise ValueError(f"budget {text!r} is not a duration like 90s, 20m or 1h30m")
    return sum(float(v) * _UNITS[u] for v, u in zip(match.groups(), "hms", strict=True) if v)


def format_seconds(seconds: float) -> str:
    """`1h30m`, `20m`, `90s`-style text for a number of seconds (the inverse of `parse_budget` for whole seconds)."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s else ""]
    return "".join(parts) or "0s"


def overrun_allowance(budget: float) -> float:
    """How far past its budget a run may go before it is recorded as `over_budget`: max(10%, 30 s)."""
    return max(0.1 * budget, 30.0)


class Clock:
    """A budget clock that only runs while the harness charges time to it.

    Args:
        budget: seconds available for `fit` + `personalize` over the whole run.
        now: the time source (injectable for tests).
    """

    def __init__(self, budget: float, now: Callable[[], float] = time.perf_counter):
        self.budget = float(budget)
        self._now = now
        self._spent = 0.0
        self._since: float | None = None

    @contextmanager
    def charging(self) -> Iterator[None]:
        """Charge the time spent inside this block to the budget (re-entrant blocks are charged once)."""
        if self._since is not None:
            yield
            return
        self._since = self._now()
        try:
            yield
        finally:
            self._spent += self._now() - self._since
            self._since = None

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Exclude the time spent inside this block (loading a shared model is not a method's cost)."""
        start = self._now()
        try:
            yield
        finally:
            if self._since is not None:
                self._spent -= self._now() - start

    @property
    def spent(self) -> float:
        """Seconds charged so far."""
        running = self._now() - self._since if self._since is not None else 0.0
        return self._spent + running

    def carry(self, seconds: float) -> None:
        """Count `seconds` as already spent: a resumed run carries over what it spent before it was stopped."""
        self._spent += seconds

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.budget - self.spent)

    @property
    def expired(self) -> bool:
        return self.spent >= self.budget

    @property
    def over_budget(self) -> bool:
        """True when the charged time went past the budget by more than the allowance."""
        return self.spent > self.budget + overrun_allowance(self.budget)

    def share(self, fraction: float) -> float:
        """A deadline, in `spent` seconds, `fraction` of the remaining budget from now (for fair per-user splits)."""
        return self.spent + fraction * self.remaining()


def budget_callback(clock: Clock, deadline: float | None = None):
    """A `transformers.TrainerCallback` that stops training when the clock (or `deadline`, in spent seconds) runs out.

    Training stops at the next step boundary; the trainer keeps what it learnt. A method should check
    `clock.expired` before it starts a trainer at all, since a trainer always runs its first step. The callback
    records how many optimizer steps ran in `callback.steps` and whether it stopped training in `callback.stopped`.
    """
    from transformers import TrainerCallback

    class BudgetCallback(TrainerCallback):
        def __init__(self) -> None:
            self.steps = 0
            self.stopped = False

        def _out_of_time(self) -> bool:
            return clock.expired or (deadline is not None and clock.spent >= deadline)

        def on_step_end(self, args, state, control, **kwargs):
            self.steps = state.global_step
            if self._out_of_time():
                self.stopped = control.should_training_stop = True
            return control

    return BudgetCallback()
