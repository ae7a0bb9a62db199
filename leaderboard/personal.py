"""The personalization gain: a method with its users' own histories against the same method with shuffled ones.

A method that beats `base` may have learnt the user, or only the task and its answer format. `--profiles
shuffled` (`harness/run/profiles.py`) gives every user another user's history and changes nothing else, so the
difference is what the user's own history is worth:

- per run (`personal_gains`): an `own` run's headline metric minus that of the `shuffled` run sharing its key
  (method, config, task, budget, seed, data, model, hardware...: everything but the profiles), sign flipped where
  lower is better, so positive means the own history helped;
- per leaderboard row (`with_personal_gains`): the mean of its runs' gains over the seeds that have both, and
  `personal_ci_low/high` from the paired bootstrap over users of those runs (the gain over base's machinery,
  `leaderboard/uncertainty.py`), `personal_significant` when it excludes 0, `personal_users_differ` when the two
  answered different users. The row of the shuffled runs shows as its own row, without a personalization gain.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from lampbench.leaderboard.uncertainty import StatsCache, gain_interval

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("personal_ci_low", "personal_ci_high", "personal_significant", "personal_users_differ",
           "personal_shared_users")  # fmt: skip


def personal_gains(frame: pd.DataFrame, *, by: list[str]) -> tuple[pd.Series, pd.Series]:
    """Each `own` run's gain over the `shuffled` run sharing `by` (with `seed`), and that run's id (else NaN/None).

    Where several shuffled runs share a key (a rerun), the oldest is used.
    """
    import pandas as pd

    gain = pd.Series(math.nan, index=frame.index, dtype=float)
    partner = pd.Series(None, index=frame.index, dtype=object)
    if "profiles" not in frame:
        return gain, partner
    scored = frame[frame["score"].notna()]
    for _, runs in scored.groupby(by, dropna=False, sort=False):
        shuffled = runs[runs["profiles"] == "shuffled"]
        if shuffled.empty:
            continue
        other = shuffled.index[0]
        for i in runs.index[runs["profiles"] == "own"]:
            diff = frame.at[i, "score"] - frame.at[other, "score"]
            gain[i] = -diff if frame.at[i, "lower_is_better"] else diff
            partner[i] = frame.at[other, "run_id"]
    return gain + 0.0, partner  # + 0.0 turns -0.0 into 0.0


def with_personal_gains(board: pd.DataFrame, runs: pd.DataFrame, cache: StatsCache) -> pd.DataFrame:
    """The board with `personal_gain` and its paired interval on each `own` row (`runs`: `load_runs`'s frame)."""
    import pandas as pd

    board["personal_gain"] = math.nan
    for column in COLUMNS:
        board[column] = None
    if "personal_vs" not in runs:
        return board
    by_id = runs.set_index("run_id")
    for i, row in board.iterrows():
        if row.get("profiles") != "own":
            continue
        ids = [r for r in str(row["run_ids"]).split() if r in by_id.index and pd.notna(by_id.at[r, "personal_vs"])]
        if not ids:
            continue
        board.at[i, "personal_gain"] = float(by_id.loc[ids, "personal_gain"].mean())
        own = list(by_id.loc[ids, "run_dir"])
        shuffled = [by_id.at[by_id.at[r, "personal_vs"], "run_dir"] for r in ids]
        found = gain_interval(cache.pooled(own, row["task"]), cache.pooled(shuffled, row["task"]), row["primary"],
                              prefix="personal")  # fmt: skip
        for column, value in found.items():
            board.at[i, column] = value
    return board
