from __future__ import annotations

import pytest

from lampbench.harness.services.budget import Clock, budget_callback, format_seconds, overrun_allowance, parse_budget


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90s", 90),
        ("20m", 1200),
        ("1h30m", 5400),
        ("1h", 3600),
        ("2m30s", 150),
        ("1.5h", 5400),
        ("45", 45),
        (" 5M ", 300),
    ],
)
def test_parse_budget(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "20x", "1h-5m", "ten minutes", "30s20m"])
def test_parse_budget_rejects(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_budget(text)


def test_format_seconds_round_trips():
    for seconds in (0, 45, 90, 1200, 5400, 3661):
        assert parse_budget(format_seconds(seconds)) == seconds


class FakeTime:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_clock_charges_only_inside_charging():
    now = FakeTime()
    clock = Clock(10, now=now)
    now.t += 50  # loading data, predicting: not charged
    assert clock.spent == 0 and clock.remaining() == 10 and not clock.expired
    with clock.charging():
        now.t += 4
        assert clock.spent == 4  # visible while running, so a method can watch it
        with clock.charging():  # re-entrant: charged once
            now.t += 1
    assert clock.spent == 5
    with clock.charging():
        now.t += 2
        with clock.paused():  # loading a shared model
            now.t += 30
    assert clock.spent == 7
    with clock.charging():
        now.t += 3.5
    assert clock.expired and clock.remaining() == 0


def test_over_budget_allowance_is_max_of_ten_percent_and_thirty_seconds():
    assert overrun_allowance(60) == 30
    assert overrun_allowance(1200) == 120
    now = FakeTime()
    clock = Clock(60, now=now)
    with clock.charging():
        now.t += 89
    assert clock.expired and not clock.over_budget
    with clock.charging():
        now.t += 2
    assert clock.over_budget


def test_share_gives_deadlines_on_the_spent_scale():
    now = FakeTime()
    clock = Clock(100, now=now)
    with clock.charging():
        now.t += 20
    assert clock.share(0.5) == 60  # half of the 80 s left, from 20 s spent


def test_budget_callback_stops_training_when_time_runs_out():
    from transformers import TrainerControl, TrainerState

    now = FakeTime()
    clock = Clock(10, now=now)
    callback = budget_callback(clock)
    state, control = TrainerState(), TrainerControl()
    with clock.charging():
        state.global_step = 1
        callback.on_step_end(None, state, control)
        assert not control.should_training_stop
        now.t += 11
        state.global_step = 2
        callback.on_step_end(None, state, control)
    assert control.should_training_stop and callback.stopped and callback.steps == 2


def test_budget_callback_with_a_per_user_deadline():
    from transformers import TrainerControl, TrainerState

    now = FakeTime()
    clock = Clock(100, now=now)
    with clock.charging():
        callback = budget_callback(clock, deadline=clock.share(0.1))  # 10 s of the 100
        now.t += 11
        control = TrainerControl()
        callback.on_step_end(None, TrainerState(), control)
    assert control.should_training_stop and not clock.expired


def test_time_is_up_at_the_budget_or_the_deadline_whichever_comes_first():
    now = FakeTime()
    clock = Clock(10, now=now)
    with clock.charging():
        now.t += 4
        assert not clock.expired_by() and not clock.expired_by(5) and clock.expired_by(4)
        assert clock.affords(6) and not clock.affords(6.5) and not clock.affords(2, deadline=5)
        assert clock.end(20) == 10 and clock.end() == 10 and clock.end(5) == 5


@pytest.mark.parametrize(("deadline", "steps"), [(None, 2), (7, 1), (3, 1)])
def test_pace_never_starts_a_step_the_time_left_cannot_afford(deadline, steps):
    """4-s steps: a third would end at 12 s, past the 10-s budget; the first always runs while time is left."""
    now = FakeTime()
    clock = Clock(10, now=now)
    with clock.charging():
        pace = clock.pace(deadline)
        assert pace.step_seconds is None and pace.steps_left() is None
        taken = 0
        while pace.next_fits():
            now.t += 4
            pace.tick()
            taken += 1
    assert taken == steps and pace.step_seconds == 4 and pace.steps_left() == 0
    assert clock.spent == 4 * steps <= 10


def test_pace_estimates_from_the_slowest_recent_step():
    now = FakeTime()
    clock = Clock(100, now=now)
    with clock.charging():
        pace = clock.pace()
        for cost in (1, 5, 2, 2, 2):
            now.t += cost
            pace.tick()
            if cost == 5:
                assert pace.step_seconds == 5 and pace.steps_left() == 18  # 94 s left / 5 s
        assert pace.step_seconds == 2  # the 5-s step left the window of the last three
        assert pace.fraction(0) == pytest.approx(0.12)


def test_budget_callback_stops_before_a_step_that_would_overrun():
    """A slow fake step of 4 s under a 10-s budget: training stops after 2 steps (8 s), not after 3 (12 s)."""
    from transformers import TrainerControl, TrainerState

    now = FakeTime()
    clock = Clock(10, now=now)
    with clock.charging():
        now.t += 1  # building the trainer is not a step
        callback = budget_callback(clock)
        state, control = TrainerState(), TrainerControl()
        callback.on_train_begin(None, state, control)
        while not control.should_training_stop:
            now.t += 4  # one optimizer step
            state.global_step += 1
            callback.on_step_end(None, state, control)
    assert callback.steps == 2 and callback.stopped and clock.spent == 9 and not clock.expired
    assert callback.pace.step_seconds == 4


def test_coverage_is_counted_once_per_user_in_one_place():
    from lampbench.methods.contract import Context
    from lampbench.tasks.specs import User, get_task

    ctx = Context(task=get_task("lamp3"), clock=Clock(10))
    a, b, c = (User(uid, (), ()) for uid in "abc")
    ctx.personalized(a)
    assert ctx.report["personalized_fraction"] == 1.0 and "fallback_reasons" not in ctx.report
    ctx.personalized(b, False, "budget")
    ctx.personalized(c, False, "no_history")
    assert ctx.report["personalized_fraction"] == pytest.approx(1 / 3)
    assert ctx.report["fallback_reasons"] == {"budget": 1, "no_history": 1}
    ctx.personalized("b", True)  # recorded again (a resumed run): the last word counts, once
    assert ctx.report["personalized_users"] == 2 and ctx.report["fallback_users"] == 1
    assert ctx.report["fallback_reasons"] == {"no_history": 1} and ctx.coverage == {"a": True, "b": True, "c": False}


def test_budget_callback_abandons_a_step_whose_micro_batches_would_overrun():
    """A first step of 6 micro-batches of 4 s under a 10-s budget: after the first micro-batch the step's projected
    end is 24 s, so it is abandoned at 4 s instead of overrunning to 24 s."""
    from types import SimpleNamespace

    from transformers import TrainerControl, TrainerState

    now = FakeTime()
    clock = Clock(10, now=now)
    args = SimpleNamespace(gradient_accumulation_steps=6)
    with clock.charging():
        callback = budget_callback(clock)
        state, control = TrainerState(), TrainerControl()
        callback.on_train_begin(args, state, control)
        callback.on_step_begin(args, state, control)
        now.t += 4
        callback.on_substep_end(args, state, control)
    assert control.should_training_stop and callback.abandoned and callback.steps == 0 and clock.spent == 4
    # Two micro-batches of 2 s fit in 10 s: the step goes on.
    clock, control = Clock(10, now=now), TrainerControl()
    with clock.charging():
        callback = budget_callback(clock)
        callback.on_step_begin(SimpleNamespace(gradient_accumulation_steps=2), state, control)
        now.t += 2
        callback.on_substep_end(SimpleNamespace(gradient_accumulation_steps=2), state, control)
    assert not control.should_training_stop and not callback.abandoned


def test_a_resumed_runs_kept_users_still_count_in_its_coverage():
    """The runner hands a resumed run the report of its kept users; coverage goes on from their counts."""
    from lampbench.methods.contract import Context
    from lampbench.tasks.specs import get_task

    ctx = Context(task=get_task("lamp3"), clock=Clock(10))
    ctx.report.update({"personalized_users": 2, "fallback_users": 1, "fallback_reasons": {"budget": 1}})
    ctx.personalized("d", False, "budget")
    assert ctx.report["personalized_users"] == 2 and ctx.report["fallback_users"] == 2
    assert ctx.report["fallback_reasons"] == {"budget": 2} and ctx.report["personalized_fraction"] == 0.5


def test_fit_deadline_is_a_share_of_one_budget_or_all_of_a_fit_budget():
    now = FakeTime()
    shared = Clock(100, now=now)
    with shared.charging():
        now.t += 20
        assert shared.fit_deadline(0.5) == pytest.approx(20 + 0.5 * 80)  # shares mode: as `share`
    own = Clock(30, now=now, own_stage=True)
    with own.charging():
        now.t += 10
        assert own.fit_deadline(0.5) == own.fit_deadline(0.9) == 30  # its own budget: all of it, whatever share
