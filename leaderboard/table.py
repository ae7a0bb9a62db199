"""The leaderboard table: finished runs from the results index, one row per run, best first.

The gain over `base` is taken against the `base` run with the same task, budget, data, split, model and seed
(`base` does not depend on the budget, so any budget's `base` run is used when the same budget has none), and
its sign is flipped for metrics where lower is better, so a positive gain is always an improvement.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lampbench.harness.budget import format_seconds
from lampbench.harness.store import Store
from lampbench.tasks.specs import LOWER_IS_BETTER, get_task

FORMATS = ("table", "markdown", "csv", "json")
_MATCH = ["task", "data", "split", "model", "seed"]


def load_runs(out: Path | str, *, task: str | None = None) -> pd.DataFrame:
    """Finished runs as a frame: identity columns, one column per metric, costs and the gain over base."""
    records = Store(out).index()
    if task is not None:
        name = get_task(task).name
        records = [r for r in records if r["task"] == name]
    if not records:
        return pd.DataFrame()
    rows = []
    for r in records:
        spec = get_task(r["task"])
        row = {k: r.get(k) for k in ("task", "method", "budget_s", "seed", "data", "split", "model", "status")}
        row.update({f"metric:{k}": v for k, v in r.get("metrics", {}).items()})
        row["primary"] = spec.primary_metric
        row["adapt_s"] = (r.get("fit_s") or 0.0) + (r.get("personalize_s") or 0.0)
        row["predict_s_per_query"] = r.get("predict_s_per_query")
        row["state_bytes_per_user"] = r.get("state_bytes_per_user")
        row["parameters_per_user"] = r.get("state_parameters_per_user")
        row["users"] = r.get("users")
        row["unparsed"] = r.get("unparsed")
        row["run_id"] = r["run_id"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["score"] = [r.get(f"metric:{r['primary']}") for r in rows]
    frame["gain_over_base"] = [_gain(frame, row) for _, row in frame.iterrows()]
    sign = frame["primary"].map(lambda m: 1 if m in LOWER_IS_BETTER else -1)
    frame = (
        frame.assign(_order=frame["score"] * sign).sort_values(["task", "budget_s", "_order"]).drop(columns="_order")
    )
    return frame.reset_index(drop=True)


def _gain(frame: pd.DataFrame, row: pd.Series) -> float | None:
    same = frame[(frame["method"] == "base") & (frame[_MATCH] == row[_MATCH]).all(axis=1)]
    if same.empty or row["score"] is None or pd.isna(row["score"]):
        return None
    at_budget = same[same["budget_s"] == row["budget_s"]]
    base = (at_budget if not at_budget.empty else same)["score"].iloc[-1]
    gain = row["score"] - base
    return (-gain if row["primary"] in LOWER_IS_BETTER else gain) + 0.0  # + 0.0 turns -0.0 into 0.0


def render(frame: pd.DataFrame, fmt: str = "table") -> str:
    """The frame as text: an aligned table, GitHub markdown, CSV or JSON records."""
    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if frame.empty:
        return "no finished runs yet: start one with `bench run`"
    if fmt == "json":
        return frame.to_json(orient="records", indent=2)
    if fmt == "csv":
        return frame.to_csv(index=False)
    shown = frame.drop(columns=["run_id", "primary", "score"]).copy()
    shown["budget_s"] = shown["budget_s"].map(format_seconds)
    shown = shown.rename(columns=lambda c: c.removeprefix("metric:")).rename(columns={"budget_s": "budget"})
    shown = shown.dropna(axis=1, how="all")
    if fmt == "markdown":
        cells = [[_cell(v) for v in row] for row in shown.itertuples(index=False)]
        lines = ["| " + " | ".join(shown.columns) + " |", "|" + "---|" * len(shown.columns)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)
