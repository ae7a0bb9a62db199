"""The leaderboard's numbers: runs from the results store, and one row per method, task and budget.

`load_runs` gives one row per run: the finished runs of the index, plus runs whose folder says `error` (they are
never indexed; they count in the status column and nowhere else). `leaderboard` folds the seeds of each method,
task, budget (and data, split, model) into one row, the best seed or the mean over seeds with its std. Runs of
one method with different method configs (a `--set` grid) stay apart: the `config` column names what differs.

Definitions, the same in every output:

- **metrics**: `metric:<m>` after the task's parser reads each generation (what rows are ranked by),
  `official:<m>` on the raw `strip()`-ed generations as LaMP's evaluator scores them; each with `:low`/`:high`,
  its 95% interval from a bootstrap over users (`leaderboard/uncertainty.py`), and with `mean`, `:std` over seeds.
- **gain over base**: the row's headline metric minus `base`'s at the same task, budget, data, split, model,
  hardware and dtype (per run: and seed), sign flipped where lower is better (MAE, RMSE), so a positive gain is
  an improvement; `gain_ci_low/high` is its paired interval over the users both answered, `gain_significant`
  says it excludes 0, `gain_users_differ` that the user sets differ. `base` does not adapt, so its result does
  not depend on the budget: where the budget has no `base` run, the `base` run at the nearest budget is used.
- **profiles**, **answer**: part of a row's key (`--profiles own|shuffled|none`, `--answer generate|choice`);
  a `base` run is compared at the same answer mode. **personalization gain** (`personal_gain`): an `own` row's
  headline metric minus the `shuffled` row's of the same method, config, budget, seeds and setting, positive =
  better, with `personal_ci_low/high` its paired interval over users (`leaderboard/personal.py`).
- **hardware**, **dtype**: part of a row's key (`hardware.label` and `dtype` of run.json; "unknown" for runs
  that predate them), so runs on different machines are never folded together.
- **adaptation time**: `fit_s + personalize_s`, the time charged to the budget (a reused fit: at what it cost
  the run that made it). **cost per user**: `fit_s / N + personalize_s / users`, at N = the run's users and at
  `--amortise-over N` (`leaderboard/cost.py`).
- **fit budget**, **devices**: part of a row's key: `--fit-budget` (NaN: one `--budget` split by the methods'
  shares, "shares" mode) and the devices the per-user stages ran on (`--shards`).
- **coverage**: the fraction of users personalized within the budget, as the method reports it in `run.json`
  (`method_report.personalized_fraction`; methods that fall back to the unpersonalized answer when time runs
  out report it). A run that reports nothing personalized every user: 1.0 when `ok`, unknown when
  `over_budget`.
- Finished runs (`ok` and `over_budget`) are aggregated; the status column says how many runs had which status.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lampbench.harness.run.method_config import flatten_config
from lampbench.harness.run.record import RunRecord
from lampbench.harness.run.store import FINISHED, Store
from lampbench.leaderboard.cost import cost_per_user, per_user_seconds
from lampbench.leaderboard.personal import personal_gains, with_personal_gains
from lampbench.leaderboard.uncertainty import StatsCache, entry_intervals, gain_interval
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.specs import LOWER_IS_BETTER, get_task

if TYPE_CHECKING:
    import pandas as pd

AGGREGATES = ("best", "mean")
GROUP = ["task", "method", "config", "budget_s", "fit_budget_s", "data", "split", "model", "hardware", "dtype",
         "devices", "profiles", "answer"]  # one row per group  # fmt: skip
_SETTING = ["task", "data", "split", "model", "hardware", "dtype", "answer"]  # what a `base` run must share
_PAIRED = [c for c in GROUP if c != "profiles"]  # what an own-history run shares with its shuffled control
UNKNOWN = "unknown"  # the hardware or dtype of a run recorded before run.json carried them
READS = ["read:exact", "read:extracted", "read:unparsed"]  # how answers were read (run.json "read")
_COSTS = ["adapt_s", "fit_s", "personalize_s", "predict_s_per_query", "state_bytes_per_user",
          "parameters_per_user", "collective_state_bytes", "coverage", "users", "per_user_s", "cost_per_user_s",
          *READS]  # fmt: skip


def load_runs(
    out: Path | str,
    *,
    task: str | None = None,
    budgets: Sequence[float] | None = None,
    config_keys: Iterable[str] = (),
    hardware: str | None = None,
) -> pd.DataFrame:
    """One row per run: identity, `metric:<name>` columns, costs, coverage, status and the gain over base.

    Read from the index alone, plus the run folders of runs it does not hold (errors).

    Args:
        out: the results directory.
        task: keep this task only (a name or alias).
        budgets: keep these budgets only, in seconds.
        config_keys: method config keys to add as `config:<key>` columns.
        hardware: keep runs whose hardware label contains this, ignoring case.

    Returns:
        The runs, oldest first; an empty frame when there are none.
    """
    import pandas as pd

    store = Store(out)
    runs = _indexed(store)
    runs += _failed(store, indexed={record.run_id for record, _ in runs})
    if task is not None:
        name = get_task(task).name
        runs = [(r, c) for r, c in runs if r.task == name]
    if budgets:
        runs = [(r, c) for r, c in runs if any(abs(r.budget_s - b) < 1e-6 for b in budgets)]
    if hardware:
        runs = [(r, c) for r, c in runs if hardware.lower() in _hardware(r).lower()]
    if not runs:
        return pd.DataFrame()
    configs = [flatten_config(config) for _, config in runs]  # `train.epochs`, as `--set` writes it
    frame = pd.DataFrame([_row(store, record) for record, _ in runs])
    frame.insert(2, "config", variants(frame, configs))
    for key in config_keys:
        frame[f"config:{key}"] = [c.get(key) for c in configs]
    frame["gain_over_base"] = gains(frame, by=[*_SETTING, "seed"])
    frame["personal_gain"], frame["personal_vs"] = personal_gains(frame, by=[*_PAIRED, "seed"])
    return frame


def variants(frame: pd.DataFrame, configs: list[dict[str, Any]]) -> list[str]:
    """Each run's method config where it differs among the runs of that method and task: `k=4` or "".

    Runs of one method with different configs (a `--set` grid) are different entries, never folded together.
    """
    out = [""] * len(configs)
    for positions in frame.groupby(["task", "method"]).indices.values():
        keys = sorted({k for p in positions for k in configs[p]})
        varying = [k for k in keys if len({json.dumps(configs[p].get(k), sort_keys=True) for p in positions}) > 1]
        for p in positions:
            out[p] = " ".join(f"{k}={configs[p].get(k)}" for k in varying)
    return out


def _indexed(store: Store) -> list[tuple[RunRecord, dict[str, Any]]]:
    """(record, method config) of each indexed run, from its index line; a line written before the index carried
    the method's report and config is completed from the run's folder."""
    found = []
    for line in store.indexed():
        record, config = line.record, line.method_config
        if config is None:
            record.method_report = (store.record(record.run_id) or record).method_report
            config = _method_config(store, record.run_id)
        found.append((record, config))
    return found


def _failed(store: Store, *, indexed: set[str]) -> list[tuple[RunRecord, dict[str, Any]]]:
    """(record, method config) of the runs whose folder says `error`: the index holds finished runs only, so the
    folders it does not name are read (an indexed run's folder is not opened)."""
    found = []
    for path in sorted(store.root.glob("*/run.json")):
        if path.parent.name in indexed:
            continue
        record = RunRecord.load(path)
        if record is not None and record.status == "error" and record.task and record.method:
            found.append((record, _method_config(store, record.run_id)))
    return found


def _method_config(store: Store, run_id: str) -> dict[str, Any]:
    try:
        config = json.loads((store.run_dir(run_id) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return config.get("method_config") or {}


def _hardware(record: RunRecord) -> str:
    return str((record.hardware or {}).get("label") or UNKNOWN)


def _metrics(spec, metrics: dict[str, Any]) -> dict[str, Any]:
    """run.json's `m`, `m_ci_low`, `m_official`, ... as `metric:m`, `metric:m:low`, `official:m`, ... columns."""
    row = {}
    for m in spec.metrics:
        for prefix, key in (("metric", m), ("official", f"{m}_official")):
            if key in metrics:
                row[f"{prefix}:{m}"] = metrics[key]
                row[f"{prefix}:{m}:low"] = metrics.get(f"{key}_ci_low", math.nan)
                row[f"{prefix}:{m}:high"] = metrics.get(f"{key}_ci_high", math.nan)
    return row


def _row(store: Store, r: RunRecord) -> dict[str, Any]:
    spec = get_task(r.task)
    row: dict[str, Any] = {
        "task": r.task, "method": r.method, "budget_s": r.budget_s, "seed": r.seed, "data": r.data,
        "split": r.split, "model": r.model, "status": r.status, "hardware": _hardware(r),
        "dtype": str(r.dtype or UNKNOWN), "profiles": r.profiles, "answer": r.answer,
    }  # fmt: skip
    row.update(_metrics(spec, r.metrics) if r.status in FINISHED else {})
    row["primary"] = spec.primary_metric
    row["lower_is_better"] = spec.primary_metric in LOWER_IS_BETTER
    row["score"] = row.get(f"metric:{spec.primary_metric}", math.nan)
    row.update(fit_s=r.fit_s, personalize_s=r.personalize_s, adapt_s=(r.fit_s or 0.0) + (r.personalize_s or 0.0))
    # Two budgets and amortised cost (`leaderboard/cost.py`): NaN fit budget = one budget split by shares.
    row.update(budget_mode=r.budget_mode, fit_budget_s=math.nan if r.fit_budget_s is None else r.fit_budget_s)
    row["devices"], row["fit_reused_from"] = r.devices, (r.fit_reused or {}).get("run_id")
    row["per_user_s"] = per_user_seconds(r.personalize_s, r.users)
    row["cost_per_user_s"] = cost_per_user(r.fit_s, row["per_user_s"], r.users)
    row["predict_s_per_query"] = r.predict_s_per_query
    row["state_bytes_per_user"] = r.state_bytes_per_user
    row["parameters_per_user"] = r.state_parameters_per_user
    row["collective_state_bytes"] = r.collective_state_bytes
    row["coverage"] = r.coverage
    row["users"], row["unparsed"] = r.users, r.unparsed
    row.update({c: (r.read or {}).get(c.split(":")[1], math.nan) for c in READS})
    row["run_id"] = r.run_id
    row["run_dir"] = str(store.run_dir(r.run_id))
    return row


def gains(frame: pd.DataFrame, *, by: list[str]) -> pd.Series:
    """The gain of each row's `score` over the `base` row sharing `by` (same budget, else the nearest one).

    Positive is better for every metric: the sign is flipped where lower is better.
    """
    import pandas as pd

    out = pd.Series(math.nan, index=frame.index, dtype=float)
    for i, b in base_rows(frame, by=by).items():
        gain = frame.at[i, "score"] - frame.at[b, "score"]
        out[i] = -gain if frame.at[i, "lower_is_better"] else gain
    return out + 0.0  # + 0.0 turns -0.0 into 0.0


def base_rows(frame: pd.DataFrame, *, by: list[str]) -> dict[Any, Any]:
    """Row index -> the index of the `base` row it is compared against (same `by`, the nearest budget)."""
    import pandas as pd

    base = frame[(frame["method"] == "base") & frame["score"].notna()]
    if base.empty:
        return {}
    candidates = {key: rows for key, rows in base.groupby(by, dropna=False)}
    found = {}
    for i, row in frame.iterrows():
        rows = candidates.get(tuple(row[by]))
        if rows is None or pd.isna(row["score"]):
            continue
        nearest = (rows["budget_s"] - row["budget_s"]).abs()
        found[i] = nearest.idxmin()  # idxmin: the first (oldest) when tied
    return found


def metric_names(frame: pd.DataFrame) -> list[str]:
    """The metrics in `frame`, in the order each task lists them."""
    names: list[str] = []
    for task in frame["task"].unique():
        names += [m for m in get_task(task).metrics if f"metric:{m}" in frame and m not in names]
    return names


def leaderboard(runs: pd.DataFrame, aggregate: str = "best") -> pd.DataFrame:
    """One row per method, task, budget, data, split, model, hardware and dtype, best first per task and budget.

    Args:
        runs: `load_runs`'s frame.
        aggregate: `best` (the seed with the best headline metric; its run's numbers and intervals) or `mean`
            (the mean over seeds, with `:std` columns, the sample std, NaN for one seed; the intervals are
            those of the seeds' per-user scores pooled by user).

    Returns:
        The rows, with `seeds` (finished runs aggregated), `status` ("ok", or counts such as "2 ok, 1 error"),
        `run_ids`, and the gain over base with its paired interval; an empty frame when `runs` is empty.
    """
    import pandas as pd

    if aggregate not in AGGREGATES:
        raise ConfigError(f"--aggregate must be one of {', '.join(AGGREGATES)}, not {aggregate!r}")
    if runs.empty:
        return pd.DataFrame()
    values = [c for m in metric_names(runs) for c in (f"metric:{m}", f"official:{m}") if c in runs]
    bounds = [f"{c}:{b}" for c in values for b in ("low", "high") if f"{c}:{b}" in runs]
    cache = StatsCache()
    rows, stats = [], []
    for key, group in runs.groupby(GROUP, dropna=False, sort=False):
        row, chosen = _fold(dict(zip(GROUP, key, strict=True)), group, aggregate, values, bounds)
        # Per-user statistics, read from run folders: only where an interval is needed that the index has not.
        entry = cache.pooled(list(chosen["run_dir"]), row["task"]) if len(chosen) else None
        if len(chosen) > 1 or any(pd.isna(row.get(c, math.nan)) for c in bounds):
            row.update(entry_intervals(entry))  # several seeds pooled by user, or a run without stored intervals
        row["status"] = _status(group["status"])
        rows.append(row)
        stats.append(entry)
    board = pd.DataFrame(rows)
    board["score"] = [r.get(f"metric:{r['primary']}", math.nan) for r in rows]
    return _ranked(with_personal_gains(_with_gains(board, stats), runs, cache))


def _fold(row: dict[str, Any], group: pd.DataFrame, aggregate: str, values: list[str], bounds: list[str]):
    """One group's runs folded into `row` as `aggregate` says; returns the row and the runs it was made from."""
    import pandas as pd

    done = group[group["status"].isin(FINISHED)]
    row.update(primary=group["primary"].iloc[0], lower_is_better=bool(group["lower_is_better"].iloc[0]))
    row["seeds"] = len(done)
    if aggregate == "best" and done["score"].notna().any():
        sign = 1 if row["lower_is_better"] else -1
        chosen = done.loc[[(done["score"] * sign).idxmin()]]
        row.update({c: chosen[c].iloc[0] for c in [*values, *bounds, *_COSTS]})
        row["run_ids"] = chosen["run_id"].iloc[0]
        return row, chosen
    chosen = done[done["score"].notna()]
    for c in values:
        row[c] = done[c].mean()
        if aggregate == "mean":
            row[f"{c}:std"] = done[c].std()
    row.update({c: chosen[c].iloc[0] for c in bounds} if len(chosen) == 1 else {})
    row.update({c: pd.to_numeric(done[c], errors="coerce").mean() for c in _COSTS})
    row["run_ids"] = " ".join(done["run_id"] if len(done) else group["run_id"])
    return row, chosen


def _with_gains(board: pd.DataFrame, stats: list) -> pd.DataFrame:
    """The board with its gain over base and the gain's paired interval (`stats`: each row's per-user statistics)."""
    board["gain_over_base"] = gains(board, by=_SETTING)
    matched = base_rows(board, by=_SETTING)
    paired = {i: gain_interval(stats[i], stats[b], board.at[i, "primary"]) for i, b in matched.items() if i != b}
    for column in ("gain_ci_low", "gain_ci_high", "gain_significant", "gain_users_differ", "gain_shared_users"):
        board[column] = [paired.get(i, {}).get(column) for i in board.index]
    return board


def _ranked(board: pd.DataFrame) -> pd.DataFrame:
    """Best first within each task and budget; rows without a score last."""
    sign = board["lower_is_better"].map({True: 1, False: -1})
    board = board.assign(_order=board["score"] * sign).sort_values(["task", "budget_s", "_order"], na_position="last")
    return board.drop(columns="_order").reset_index(drop=True)


def _status(statuses: Iterable[str]) -> str:
    counts = Counter(statuses)
    if len(counts) == 1:
        return next(iter(counts))
    order = ["ok", "over_budget", "error"]
    return ", ".join(f"{counts[s]} {s}" for s in sorted(counts, key=lambda s: (order + [s]).index(s)))
