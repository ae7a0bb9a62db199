"""A metric kind owns a metric once: its point value is its bootstrap statistics summed, whatever the kind."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lampbench.tasks.kinds import KINDS, LOWER_IS_BETTER, MetricKind, Reading
from lampbench.tasks.metrics import score
from lampbench.tasks.specs import TASKS, TaskRegistry
from lampbench.tasks.stats import intervals, metrics_of, paired, user_stats


class ExactMatch(MetricKind):
    """A new kind, as a contributor would add one: the share of answers equal to the gold."""

    name = "exact"
    metrics = ("exact",)

    def read(self, task, golds, preds):
        return Reading(tuple((float(g == p), 0.0) for g, p in zip(golds, preds, strict=True)), 0, ())

    def columns(self, task, outcomes):
        return np.column_stack([np.ones(len(outcomes)), outcomes[:, 0]])

    def values(self, task, totals):
        return {"exact": totals[..., 1] / totals[..., 0]}


def test_a_new_metric_kind_is_one_class_and_scores_bootstraps_and_compares():
    task = dataclasses.replace(TASKS["lamp4"], name="exact4", metric=ExactMatch())
    TaskRegistry([task])  # registers: the kind needs nothing more of the spec
    golds = [f"title {i}" for i in range(12)]
    preds = [g if i % 3 else "other" for i, g in enumerate(golds)]
    result = score(task, golds, preds)
    assert result.metrics == {"exact": pytest.approx(8 / 12)} and task.metrics == ("exact",)
    stats = user_stats(task, [f"u{i // 2}" for i in range(12)], result.outcomes)
    assert float(metrics_of(task, stats.table.sum(0))["exact"]) == result.metrics["exact"]
    low, high = intervals(stats)["exact"]
    assert low <= result.metrics["exact"] <= high
    assert paired(stats, stats, "exact").gain == 0.0


@pytest.mark.parametrize("name", sorted(TASKS))
def test_the_point_value_is_the_statistics_summed(name):
    task = TASKS[name]
    golds = list(task.labels[:2]) * 3 if task.labels else ["a storm hits the coast", "rain again"] * 3
    preds = [golds[(i + 1) % len(golds)] if i % 2 else golds[i] for i in range(len(golds))]
    result = score(task, golds, preds)
    totals = task.metric.columns(task, np.asarray(result.outcomes, dtype=float)).sum(axis=0)
    assert {m: float(v) for m, v in task.metric.values(task, totals).items()} == result.metrics  # exactly


def test_lower_is_better_comes_from_the_kinds():
    assert LOWER_IS_BETTER == {"mae", "rmse"} == {m for kind in KINDS for m in kind.lower_is_better}
