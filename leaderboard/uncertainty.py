"""The leaderboard's intervals: per-user scores read back from run folders, pooled over seeds, compared in pairs.

A run keeps each user's per-query outcomes in `run.json` (`per_user[i].outcomes`, written by the runner); a run
made before that is read from its `generations.jsonl` and rescored. From them:

- an entry's interval (`metric:<m>:low/high`, `official:<m>:low/high`): one run's stored interval, or for several
  seeds the bootstrap over users of the pooled per-user scores (each user one unit, all seeds' queries in it);
- the gain over `base`'s interval: a paired bootstrap over the users both entries answered, on the headline
  metric after reading (`tasks/stats.py`), with `gain_significant` when it excludes 0 and `gain_users_differ`
  when the two entries answered different users (only the shared ones are compared).
- the personalization gain's interval (`leaderboard/personal.py`): the same paired bootstrap, between a method's
  runs with their own histories and its runs with shuffled ones (`personal_*`).
"""

from __future__ import annotations

import json
from pathlib import Path

from lampbench.harness.run.record import RunRecord
from lampbench.tasks.specs import get_task
from lampbench.tasks.stats import VARIANTS, UserStats, intervals, paired, pool, score_rows, stats_from_outcomes

Stats = dict[str, UserStats]  # variant ("read", "official") -> per-user statistics


def run_stats(run_dir: Path | str, task: str) -> Stats | None:
    """A run's per-user statistics for both variants, or None when the folder has neither outcomes nor golds."""
    spec, run_dir = get_task(task), Path(run_dir)
    record = RunRecord.load(run_dir / "run.json")
    stored = record.outcomes_by_user() if record is not None else {}
    if stored:
        return {v: stats_from_outcomes(spec, {u: o[v] for u, o in stored.items() if v in o}) for v in VARIANTS}
    path = run_dir / "generations.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    outcomes = score_rows(spec, rows).outcomes  # an older run: rescore its generations
    return {v: stats_from_outcomes(spec, outcomes[v]) for v in VARIANTS} if outcomes else None


class StatsCache:
    """Each run folder's statistics read once per leaderboard."""

    def __init__(self) -> None:
        self._seen: dict[str, Stats | None] = {}

    def of(self, run_dir: str, task: str) -> Stats | None:
        if run_dir not in self._seen:
            self._seen[run_dir] = run_stats(run_dir, task)
        return self._seen[run_dir]

    def pooled(self, run_dirs: list[str], task: str) -> Stats | None:
        """The seeds' statistics summed per user; None when any run has none (an interval would be partial)."""
        found = [self.of(d, task) for d in run_dirs]
        if not found or any(s is None for s in found):
            return None
        return {v: pool(s[v] for s in found) for v in VARIANTS}


def entry_intervals(stats: Stats | None) -> dict[str, float]:
    """`metric:<m>:low/high` and `official:<m>:low/high` columns from pooled statistics (empty when none)."""
    if stats is None:
        return {}
    out = {}
    for variant, prefix in zip(VARIANTS, ("metric", "official"), strict=True):
        found = intervals(stats[variant])
        for m, (low, high) in (found or {}).items():
            out[f"{prefix}:{m}:low"], out[f"{prefix}:{m}:high"] = low, high
    return out


def gain_interval(entry: Stats | None, base: Stats | None, metric: str, prefix: str = "gain") -> dict[str, object]:
    """`<prefix>_ci_low`, `_ci_high`, `_significant`, `_users_differ`, `_shared_users` of an entry against another
    (`gain`: against its `base`; `personal`: its own-history runs against its shuffled-history runs)."""
    if entry is None or base is None:
        return {}
    found = paired(entry["read"], base["read"], metric)
    if found is None:
        return {f"{prefix}_users_differ": True}
    return {
        f"{prefix}_ci_low": found.low,
        f"{prefix}_ci_high": found.high,
        f"{prefix}_significant": found.significant,
        f"{prefix}_users_differ": not found.same_users,
        f"{prefix}_shared_users": found.shared,
    }
