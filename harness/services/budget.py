"""The wall-clock budget: parsing `--budget`, the clock methods read, and the trainer callback that obeys it.

The budget is charged only for what a method does to *adapt* (its `fit` and `personalize` stages); answering
queries is timed separately. The runner opens the clock around those stages with `clock.charging()`, so a
method sees the time it has left through `remaining()` and `expired`, and never needs `time.time()`.

Two modes. With `--budget` alone one clock covers `fit` and the per-user stages, and a method's collective stage
takes a fixed share of it (`fit_deadline(fraction)`: OPPU 0.5, PerFit 0.5...): "shares" mode, as the first
results were made. With `--fit-budget` the runner gives `fit` a clock of its own (`Clock(..., own_stage=True)`),
whose `fit_deadline` is its whole budget, and the per-user stages a fresh clock of `--budget`: "separate" mode.
A method asks the same question in both and never needs to know which it runs in.
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
        budget: seconds available for `fit` + `personalize` over the whole run (or for one stage, below).
        now: the time source (injectable for tests).
        own_stage: the clock of a collective stage that has a budget of its own (`--fit-budget`), so the stage
            may take all of it (`fit_deadline`).
    """

    def __init__(self, budget: float, now: Callable[[], float] = time.perf_counter, *, own_stage: bool = False):
        self.budget = float(budget)
        self.own_stage = own_stage
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

    def end(self, deadline: float | None = None) -> float:
        """When time is up, on the `spent` scale: the budget, or `deadline` when that comes first."""
        return self.budget if deadline is None else min(deadline, self.budget)

    def expired_by(self, deadline: float | None = None) -> bool:
        """Whether time is up: the budget is spent, or `deadline` (on the `spent` scale) is reached.

        The one test of "time is up" every method uses, with or without a stage's own deadline.
        """
        return self.spent >= self.end(deadline)

    def affords(self, seconds: float, deadline: float | None = None) -> bool:
        """Whether `seconds` more work would end by the budget and `deadline`."""
        return self.spent + seconds <= self.end(deadline)

    def pace(self, deadline: float | None = None) -> Pace:
        """A `Pace` for a loop of similar steps that must end by `deadline` (and the budget)."""
        return Pace(self, deadline)

    @property
    def over_budget(self) -> bool:
        """True when the charged time went past the budget by more than the allowance."""
        return self.spent > self.budget + overrun_allowance(self.budget)

    def share(self, fraction: float) -> float:
        """A deadline, in `spent` seconds, `fraction` of the remaining budget from now (for fair per-user splits)."""
        return self.spent + fraction * self.remaining()

    def fit_deadline(self, fraction: float) -> float:
        """When a collective stage that takes `fraction` of the time left must end (on the `spent` scale).

        With one budget for the whole run ("shares" mode) that is `share(fraction)`; on a clock of the collective
        stage's own (`own_stage`, `--fit-budget`) it is the whole budget: the per-user stages have a clock of theirs.
        """
        return self.end() if self.own_stage else self.share(fraction)


class Pace:
    """The measured cost of a loop's steps, so the loop never starts a step the time left cannot afford.

    Checking the clock only after a step lets the last step run past the deadline by a whole step (one ALOE step
    of 8 x 6 examples is tens of seconds on a CPU). Call `tick()` after each step; `next_fits()` before the next
    says whether it would end in time, estimating its cost as the longest of the last `window` steps (the cost
    includes whatever the loop does between steps). Before any step is measured only the clock is checked: the
    first step of a loop is taken whenever time is left.
    """

    def __init__(self, clock: Clock, deadline: float | None = None, window: int = 3):
        self.clock, self.deadline, self.window = clock, deadline, window
        self.durations: list[float] = []
        self._last = clock.spent

    def restart(self) -> None:
        """The loop starts now (what came before the first step is not its cost)."""
        self._last = self.clock.spent

    def tick(self) -> None:
        """A step just ended."""
        now = self.clock.spent
        self.durations.append(now - self._last)
        self._last = now

    @property
    def step_seconds(self) -> float | None:
        """The estimated cost of the next step (None before any step is measured)."""
        recent = self.durations[-self.window :]
        return max(recent) if recent else None

    def next_fits(self) -> bool:
        """Whether the next step can start: time is left and, once a step was measured, it would end in time."""
        if self.clock.expired_by(self.deadline):
            return False
        cost = self.step_seconds
        return cost is None or self.clock.affords(cost, self.deadline)

    def steps_left(self) -> int | None:
        """How many more steps the time left affords at the measured pace (None before any step is measured)."""
        cost = self.step_seconds
        if cost is None:
            return None
        left = self.clock.end(self.deadline) - self.clock.spent
        return max(0, int(left / cost)) if cost > 0 else 1 << 30

    def fraction(self, start: float) -> float:
        """The share of the time from `start` (on the `spent` scale) to the end that has passed."""
        end = self.clock.end(self.deadline)
        return min(1.0, max(0.0, (self.clock.spent - start) / (end - start))) if end > start else 1.0


def budget_callback(clock: Clock, deadline: float | None = None, pace: Pace | None = None):
    """A `transformers.TrainerCallback` that stops training before a step the clock (or `deadline`) cannot afford.

    After every optimizer step it measures the step (`Pace`) and stops training when time is up or the next step
    would end past the deadline; the trainer keeps what it learnt. Within a step of several micro-batches
    (gradient accumulation) it also projects the step's end from the micro-batches done, and abandons the step
    (its partial gradient is dropped, nothing is applied) when it would end past the deadline: that is what stops
    a first step, which has no measured step before it, from overrunning. A method should check
    `clock.expired_by` before it starts a trainer at all. The callback records how many
    optimizer steps ran in `callback.steps` and whether it stopped training in `callback.stopped`; `pace` (made
    here when not given) is shared with whatever else needs the measured step time (a learning-rate schedule).
    """
    from transformers import TrainerCallback

    pace = pace if pace is not None else Pace(clock, deadline)

    class BudgetCallback(TrainerCallback):
        def __init__(self) -> None:
            self.steps = 0
            self.stopped = False
            self.abandoned = False  # a step was given up half-way
            self.pace = pace
            self._step_start, self._micro = clock.spent, 0

        def on_train_begin(self, args, state, control, **kwargs):
            pace.restart()

        def on_step_begin(self, args, state, control, **kwargs):
            self._step_start, self._micro = clock.spent, 0

        def on_substep_end(self, args, state, control, **kwargs):
            self._micro += 1
            per_micro = (clock.spent - self._step_start) / self._micro
            left = max(0, getattr(args, "gradient_accumulation_steps", 1) - self._micro)
            if not clock.affords(per_micro * left, pace.deadline):
                self.stopped = self.abandoned = control.should_training_stop = True
            return control

        def on_step_end(self, args, state, control, **kwargs):
            self.steps = state.global_step
            pace.tick()
            if not pace.next_fits():
                self.stopped = control.should_training_stop = True
            return control

    return BudgetCallback()
