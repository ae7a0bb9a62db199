"""How sure a score is: per-user sufficient statistics of LaMP's metrics and a bootstrap over users.

Why users and not queries: the queries of one user share a profile, a writer and (for a personalized method) one
adapted state, so they are not independent draws; resampling users keeps each user's queries together. Each
resample recomputes the corpus metric on the resampled users' queries, the same estimator as the point value: the
statistics and the metrics computed from them are the task's metric kind's (`tasks/kinds.py`), which gives
`tasks.metrics.score` its point value too.

- classification: per user, the true/false positives and false negatives of each label and the number correct,
  so a resample's macro F1 is LaMP's (over the whole label list, an absent label adds 0);
- rating: per user, the sums of absolute and squared errors, so a resample's MAE and RMSE are LaMP's;
- generation: per user, the sums of per-query ROUGE-1/ROUGE-L F, so a resample's value is the mean per-query ROUGE
  of its users (with one query per user, as in LaMP's splits, the mean of per-user ROUGE).

The resampling is `scipy.stats.bootstrap` (percentile method: unlike BCa it stays defined when every resample
gives the same value, such as a run against itself) over user indices, vectorised through per-user totals, so a
few hundred users x 1000 resamples take milliseconds. Seeded: the same inputs give the same interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from lampbench.tasks.kinds import as_pairs
from lampbench.tasks.metrics import score
from lampbench.tasks.task import TaskSpec

RESAMPLES = 1000
LEVEL = 0.95
SEED = 0


@dataclass(frozen=True)
class UserStats:
    """Per-user sufficient statistics of one task's metrics.

    Attributes:
        task: the task; its kind picks the columns of `table`.
        users: user ids, one per row of `table`.
        table: (users, columns) sums; column 0 is the number of scored queries.
    """

    task: TaskSpec
    users: tuple[str, ...]
    table: np.ndarray

    def select(self, users: Sequence[str]) -> UserStats:
        """These users' rows, in this order."""
        at = {u: i for i, u in enumerate(self.users)}
        return UserStats(self.task, tuple(users), self.table[[at[u] for u in users]])


def user_stats(task: TaskSpec, users: Sequence[str], outcomes: Sequence[Sequence[float]]) -> UserStats:
    """Sum per-query outcomes (`Score.outcomes`: gold and predicted label index, gold and predicted rating, or
    ROUGE-1 and ROUGE-L F) into per-user sufficient statistics (the task's metric kind's `columns`), users in
    order of first appearance."""
    order = list(dict.fromkeys(users))
    row = {u: i for i, u in enumerate(order)}
    columns = task.metric.columns(task, as_pairs(outcomes))
    table = np.zeros((len(order), columns.shape[1]))
    np.add.at(table, np.asarray([row[u] for u in users], dtype=np.int64), columns)
    return UserStats(task, tuple(order), table)


def pool(stats: Iterable[UserStats]) -> UserStats:
    """Several runs' statistics (seeds of one entry) summed per user: a user stays one unit of resampling."""
    stats = list(stats)
    users = list(dict.fromkeys(u for s in stats for u in s.users))
    at = {u: i for i, u in enumerate(users)}
    table = np.zeros((len(users), stats[0].table.shape[1]))
    for s in stats:
        np.add.at(table, [at[u] for u in s.users], s.table)
    return UserStats(stats[0].task, tuple(users), table)


def metrics_of(task: TaskSpec, totals: np.ndarray) -> dict[str, np.ndarray]:
    """The task's metrics from summed statistics; `totals` is (..., columns), the results have shape (...)."""
    return task.metric.values(task, totals)


def _resample_totals(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Totals of each resample: `idx` (..., users) of row indices -> (..., columns), via per-row counts."""
    flat = idx.reshape(-1, idx.shape[-1]).astype(np.int64)
    users = table.shape[0]
    offsets = (np.arange(flat.shape[0]) * users)[:, None]
    counts = np.bincount((flat + offsets).ravel(), minlength=flat.shape[0] * users).reshape(-1, users)
    return (counts @ table).reshape(*idx.shape[:-1], table.shape[1])


def _bootstrap(statistic, users: int, seed: int, resamples: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.stats import bootstrap  # imported here: scipy is slow to import and only scoring needs it

    result = bootstrap(
        (np.arange(users),), statistic, vectorized=True, n_resamples=resamples, confidence_level=level,
        method="percentile", rng=np.random.default_rng(seed),
    )  # fmt: skip
    return np.atleast_1d(result.confidence_interval.low), np.atleast_1d(result.confidence_interval.high)


def intervals(
    stats: UserStats, *, seed: int = SEED, resamples: int = RESAMPLES, level: float = LEVEL
) -> dict[str, tuple[float, float]] | None:
    """A `level` interval for each metric of the task from a bootstrap over users; None for fewer than 2 users."""
    if len(stats.users) < 2:
        return None
    names = list(stats.task.metrics)

    def statistic(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        values = metrics_of(stats.task, _resample_totals(stats.table, idx))
        return np.stack([values[m] for m in names])

    low, high = _bootstrap(statistic, len(stats.users), seed, resamples, level)
    return {m: (float(lo), float(hi)) for m, lo, hi in zip(names, low, high, strict=True)}


@dataclass(frozen=True)
class Paired:
    """The difference of a metric between two runs on the users both answered, as a gain (positive = better).

    Attributes:
        gain: the difference on the shared users, sign flipped where lower is better.
        low, high: its paired bootstrap interval; None with fewer than 2 shared users.
        shared: users both runs answered.
        only_a, only_b: users only one run answered (left out; the user sets differ when either is non-zero).
    """

    gain: float
    low: float | None
    high: float | None
    shared: int
    only_a: int
    only_b: int

    @property
    def significant(self) -> bool:
        """Whether the interval excludes 0."""
        return self.low is not None and (self.low > 0 or self.high < 0)

    @property
    def same_users(self) -> bool:
        return not (self.only_a or self.only_b)


def paired(
    a: UserStats, b: UserStats, metric: str, *, seed: int = SEED, resamples: int = RESAMPLES, level: float = LEVEL
) -> Paired | None:
    """`a` against `b` on `metric`: the gain of `a` over `b` and its paired interval over shared users.

    Each resample draws shared users and recomputes both corpus metrics on them, so what the two runs have in
    common (the users' difficulty) cancels. None when the runs share no user.
    """
    in_b = set(b.users)
    shared = [u for u in a.users if u in in_b]
    if not shared:
        return None
    sa, sb = a.select(shared), b.select(shared)
    sign = -1.0 if metric in a.task.metric.lower_is_better else 1.0

    def statistic(idx: np.ndarray, axis: int = -1) -> np.ndarray:
        ma = metrics_of(a.task, _resample_totals(sa.table, idx))[metric]
        mb = metrics_of(b.task, _resample_totals(sb.table, idx))[metric]
        return sign * (ma - mb)

    gain = float(sign * (metrics_of(a.task, sa.table.sum(0))[metric] - metrics_of(b.task, sb.table.sum(0))[metric]))
    low = high = None
    if len(shared) >= 2:
        lows, highs = _bootstrap(statistic, len(shared), seed, resamples, level)
        low, high = float(lows[0]) + 0.0, float(highs[0]) + 0.0  # + 0.0: no -0.0
    return Paired(gain + 0.0, low, high, len(shared), len(a.users) - len(shared), len(b.users) - len(shared))


# ---------------------------------------------------------------- a run's rows: scores, intervals, per-user outcomes

VARIANTS = ("read", "official")  # after the task's parser; the raw strip()-ed generation, as LaMP's evaluator


@dataclass(frozen=True)
class RunScores:
    """What a run's answered queries score.

    Attributes:
        metrics: for each task metric m, `m` (after reading), `m_official` (the raw generations as LaMP's evaluator
            scores them) and their 95% intervals over users, `m_ci_low`, `m_ci_high`, `m_official_ci_low`,
            `m_official_ci_high` (None with fewer than 2 users).
        notes: sentences for a person about what was unusual, and how the intervals were made.
        outcomes: variant ("read", "official") -> user -> the user's per-query `Score.outcomes`.
    """

    metrics: dict[str, float | None]
    notes: tuple[str, ...]
    outcomes: dict[str, dict[str, list[list[float]]]]


def score_rows(task: TaskSpec, rows: Sequence[dict], *, seed: int = SEED) -> RunScores:
    """Score generations.jsonl lines ({"user", "raw", "answer", "gold", ...}); lines without a gold are skipped."""
    rows = [r for r in rows if r.get("gold") is not None]
    if not rows:
        return RunScores({}, (), {})
    golds, users = [r["gold"] for r in rows], [str(r["user"]) for r in rows]
    metrics: dict[str, float | None] = {}
    notes: list[str] = []
    outcomes: dict[str, dict[str, list[list[float]]]] = {}
    for variant in VARIANTS:
        preds = [r["answer"] if variant == "read" else str(r["raw"]) for r in rows]
        result = score(task, golds, preds)  # score() applies LaMP's str().strip() to both
        stats = user_stats(task, users, result.outcomes)
        found = intervals(stats, seed=seed)
        suffix = "" if variant == "read" else "_official"
        for m in task.metrics:
            low, high = found[m] if found else (None, None)
            metrics.update(
                {f"{m}{suffix}": result.metrics[m], f"{m}{suffix}_ci_low": low, f"{m}{suffix}_ci_high": high}
            )
        notes += [n if variant == "read" else f"official (raw generations): {n}" for n in result.notes]
        outcomes[variant] = {}
        for user, outcome in zip(users, result.outcomes, strict=True):
            outcomes[variant].setdefault(user, []).append([float(x) for x in outcome])
    users_n = len(stats.users)
    if users_n < 2:
        notes.append(f"no intervals: {users_n} user scored, and a bootstrap over users needs 2 or more")
    else:
        notes.append(
            f"intervals: {LEVEL:.0%} percentile bootstrap over {users_n} users, {RESAMPLES} resamples, seed {seed}"
        )
    ordered = {k: metrics[k] for m in task.metrics for s in ("", "_official") for k in
               (f"{m}{s}", f"{m}{s}_ci_low", f"{m}{s}_ci_high")}  # fmt: skip
    return RunScores(ordered, tuple(notes), outcomes)


def stats_from_outcomes(task: TaskSpec, by_user: dict[str, list[list[float]]]) -> UserStats:
    """`RunScores.outcomes[variant]` (as stored in run.json) back into per-user statistics."""
    users = [u for u, items in by_user.items() for _ in items]
    return user_stats(task, users, [o for items in by_user.values() for o in items])


def metrics_line(metrics: dict[str, float | None]) -> str:
    """`accuracy=0.4167 [0.2500, 0.5833] (official 0.0833)  f1=...`: a run's metrics on one console line."""
    parts = []
    for name, value in metrics.items():
        if name.endswith(("_ci_low", "_ci_high", "_official")) or value is None:
            continue
        low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
        text = f"{name}={value:.4f}" + (f" [{low:.4f}, {high:.4f}]" if low is not None and high is not None else "")
        official = metrics.get(f"{name}_official")
        parts.append(text + (f" (official {official:.4f})" if official is not None else ""))
    return "  ".join(parts)
