"""Uncertainty over users: sufficient statistics equal LaMP's scores, intervals are seeded and cover the point
value, paired intervals see a real drop and not noise, and a run writes both scores with intervals."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from lampbench.harness.run.runner import RunSpec, run
from lampbench.harness.run.store import Store
from lampbench.methods.baseline.method import Base
from lampbench.tasks.metrics import score
from lampbench.tasks.specs import MOVIE_TAGS, TASKS
from lampbench.tasks.stats import (
    intervals,
    metrics_line,
    metrics_of,
    paired,
    pool,
    score_rows,
    stats_from_outcomes,
    user_stats,
)

LAMP2, LAMP3, LAMP7 = TASKS["lamp2"], TASKS["lamp3"], TASKS["lamp7"]


def users_of(n_users: int, per_user: int = 3) -> list[str]:
    return [f"u{i}" for i in range(n_users) for _ in range(per_user)]


def ratings(rng, n: int) -> tuple[list[str], list[str]]:
    golds = rng.integers(1, 6, n)
    preds = np.clip(golds + rng.integers(-1, 2, n), 1, 5)
    return [str(g) for g in golds], [str(p) for p in preds]


@pytest.mark.parametrize("task", [LAMP2, LAMP3, LAMP7])
def test_user_sums_give_lamps_scores(task):
    rng = np.random.default_rng(1)
    n = 60
    if task is LAMP2:
        golds = list(rng.choice(MOVIE_TAGS[:5], n))
        preds = [g if rng.random() < 0.5 else rng.choice([*MOVIE_TAGS, "not a tag"]) for g in golds]
    elif task is LAMP3:
        golds, preds = ratings(rng, n)
        preds[:3] = ["four", "nan", "9"]  # the worst-case fallback and an out-of-range value
    else:
        words = ["cats", "like", "sun", "rain", "tea", "code"]
        golds = [" ".join(rng.choice(words, 5)) for _ in range(n)]
        preds = [" ".join(rng.choice(words, 4)) for _ in range(n)]
    result = score(task, golds, preds)
    stats = user_stats(task, users_of(20), result.outcomes)
    assert len(stats.users) == 20
    from_sums = metrics_of(task, stats.table.sum(axis=0))
    assert {m: float(v) for m, v in from_sums.items()} == pytest.approx(result.metrics, abs=1e-12)


def test_interval_is_seeded_and_covers_the_point():
    rng = np.random.default_rng(2)
    golds, preds = ratings(rng, 90)
    result = score(LAMP3, golds, preds)
    stats = user_stats(LAMP3, users_of(30), result.outcomes)
    first, again, other = intervals(stats, seed=0), intervals(stats, seed=0), intervals(stats, seed=1)
    assert first == again and first != other
    for metric, (low, high) in first.items():
        assert low < result.metrics[metric] < high
    assert intervals(stats.select(["u3"])) is None  # one user: no interval


def test_a_run_against_itself_gains_nothing_and_flags_nothing():
    rng = np.random.default_rng(3)
    golds = list(rng.choice(MOVIE_TAGS, 60))
    preds = [g if rng.random() < 0.4 else MOVIE_TAGS[0] for g in golds]
    stats = user_stats(LAMP2, users_of(20), score(LAMP2, golds, preds).outcomes)
    for metric in ("accuracy", "f1"):
        same = paired(stats, stats, metric)
        assert same.gain == 0.0 and same.low == pytest.approx(0.0) and same.high == pytest.approx(0.0)
        assert not same.significant and same.same_users and same.shared == 20


def test_a_planted_drop_is_detected_and_noise_is_not():
    rng = np.random.default_rng(4)
    golds, good = ratings(rng, 120)
    away = [min(5, int(p) + 1) if int(p) >= int(g) else max(1, int(p) - 1) for g, p in zip(golds, good, strict=True)]
    worse = [str(a) for a in away]  # one point farther from the gold wherever the scale allows
    users = users_of(40)
    before = user_stats(LAMP3, users, score(LAMP3, golds, good).outcomes)
    after = user_stats(LAMP3, users, score(LAMP3, golds, worse).outcomes)
    drop = paired(after, before, "mae")
    assert drop.significant and drop.high < 0 and drop.gain < 0  # MAE rose: a negative gain
    shake = np.random.default_rng(5).integers(-1, 2, 120)  # the same error distribution, other draws
    noisy = [str(int(np.clip(int(g) + d, 1, 5))) for g, d in zip(golds, shake, strict=True)]
    noise = paired(user_stats(LAMP3, users, score(LAMP3, golds, noisy).outcomes), before, "mae")
    assert noise.low < 0 < noise.high and not noise.significant


def test_paired_uses_shared_users_and_says_when_they_differ():
    golds, preds = ["3", "4", "5", "1"], ["3", "4", "4", "2"]
    a = user_stats(LAMP3, ["a", "b", "c", "d"], score(LAMP3, golds, preds).outcomes)
    b = user_stats(LAMP3, ["b", "c", "d", "e"], score(LAMP3, golds, golds).outcomes)
    result = paired(a, b, "mae")
    assert result.shared == 3 and result.only_a == 1 and result.only_b == 1 and not result.same_users
    assert paired(a.select(["a"]), b, "mae") is None


def test_pooled_seeds_keep_a_user_one_unit():
    result = score(LAMP3, ["1", "5"], ["2", "5"])
    seed0 = user_stats(LAMP3, ["a", "b"], result.outcomes)
    pooled = pool([seed0, seed0.select(["b"])])
    assert pooled.users == ("a", "b") and pooled.table[:, 0].tolist() == [1.0, 2.0]


def test_hundreds_of_users_take_well_under_a_second():
    rng = np.random.default_rng(6)
    golds = list(rng.choice(MOVIE_TAGS, 900))
    preds = [g if rng.random() < 0.3 else rng.choice(MOVIE_TAGS) for g in golds]
    stats = user_stats(LAMP2, users_of(300), score(LAMP2, golds, preds).outcomes)
    started = time.perf_counter()
    intervals(stats)
    paired(stats, stats, "f1")
    assert time.perf_counter() - started < 3.0  # a loose bound: the machine is shared; it takes ~0.1 s


def test_score_rows_official_beside_read_with_intervals():
    rows = [
        {"user": "a", "raw": "Comedy!", "answer": "comedy", "gold": "comedy"},
        {"user": "b", "raw": "fantasy", "answer": "fantasy", "gold": "fantasy"},
        {"user": "b", "raw": "I think action", "answer": "action", "gold": "romance"},
        {"user": "c", "raw": "x", "answer": "x", "gold": None},  # no gold (test split): not scored
    ]
    scores = score_rows(LAMP2, rows)
    m = scores.metrics
    assert list(m)[:6] == ["accuracy", "accuracy_ci_low", "accuracy_ci_high", "accuracy_official",
                           "accuracy_official_ci_low", "accuracy_official_ci_high"]  # fmt: skip
    assert m["accuracy"] == pytest.approx(2 / 3) and m["accuracy_official"] == pytest.approx(1 / 3)
    assert m["accuracy_ci_low"] <= m["accuracy"] <= m["accuracy_ci_high"]
    assert any(n.startswith("official (raw generations): 2 predictions are not a label") for n in scores.notes)
    assert set(scores.outcomes["read"]) == {"a", "b"}
    back = stats_from_outcomes(LAMP2, scores.outcomes["official"])
    assert float(metrics_of(LAMP2, back.table.sum(0))["accuracy"]) == pytest.approx(1 / 3)
    one = score_rows(LAMP2, rows[:1])
    assert one.metrics["accuracy_ci_low"] is None and "needs 2 or more" in one.notes[-1]
    assert metrics_line(one.metrics) == "accuracy=1.0000 (official 0.0000)  f1=0.0667 (official 0.0000)"


def test_a_run_writes_both_scores_with_intervals(tiny_backbone, cache, tmp_path):
    spec = RunSpec(method="base", task="lamp3", budget=60, data="synthetic", users=4, model="tiny-random")
    record = run(spec, Base(), store=Store(tmp_path), progress=False, backbone=tiny_backbone)
    out = tmp_path / record["run_id"]
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ("mae", "rmse"):
        for key in (name, f"{name}_official"):
            assert metrics[f"{key}_ci_low"] <= metrics[key] <= metrics[f"{key}_ci_high"]
    written = json.loads((out / "run.json").read_text())
    assert all(len(u["outcomes"]["official"]) == u["queries"] for u in written["per_user"])
    assert any(n.startswith("intervals: 95% percentile bootstrap over 4 users") for n in written["scoring_notes"])
