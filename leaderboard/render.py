"""The leaderboard as text: an aligned table or markdown (one block per task), CSV or JSON (flat, raw numbers).

The text formats are for people: metric headers carry their direction (`mae ↓`, `accuracy ↑`), a value its
95% interval over users (`0.417 [0.250, 0.583]`), a mean `± std` over seeds, the gain over base its paired
interval and `*` when that excludes 0; sizes are in KiB/MiB, and columns that are the same for every row of a task
(data, split, model, hardware, dtype) move into the task's heading. Each metric shows twice: after reading (what
rows are ranked by) and `official` (the raw generations as LaMP's evaluator scores them). CSV and JSON keep the
machine names and raw numbers, for scripts and plots.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lampbench.harness.services.budget import format_seconds
from lampbench.leaderboard.table import metric_names
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.specs import LOWER_IS_BETTER, get_task

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("table", "markdown", "csv", "json")
EMPTY = "no finished runs yet: start one with `bench run`"
LEGEND = (
    "↓ lower is better, ↑ higher is better; [low, high]: 95% interval, bootstrap over users (seeds pooled per "
    "user); ranked by the metric after reading answers; official: raw generations as LaMP's evaluator scores them; "
    "gain: over `base` at the same budget, positive = better, paired interval over shared users, * it excludes 0, "
    "† the user sets differ (only shared users compared); read e/x/u: answers that were the raw generation exactly, "
    "extracted from it, unreadable; personal: with own histories over with shuffled ones (--profiles), same "
    "budget and seeds, paired interval over users; budget: fit + per-user stages, or with a fit budget the "
    "per-user stages' alone "
    "(fit budget `shares`: one budget split by the method's fixed shares); cost/user: fit / N + per-user adaptation "
    "seconds, at N = the run's users and at @N"
)
# In the heading when equal on every row, else columns.
_FIXED = ("data", "split", "model", "hardware", "dtype", "devices", "profiles", "answer")


@dataclass(frozen=True)
class Column:
    """A column as people see it: its header, the frame column it shows, and how a value reads."""

    header: str
    key: str
    text: Callable[[pd.Series], str]
    numeric: bool = True


def render(board: pd.DataFrame, fmt: str = "table", *, aggregate: str = "best") -> str:
    """`leaderboard`'s frame as text in `fmt` (table, markdown, csv or json)."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if board.empty:
        return EMPTY
    if fmt == "json":
        return board.to_json(orient="records", indent=2, force_ascii=False)
    if fmt == "csv":
        return board.to_csv(index=False)
    blocks = []
    for task, rows in board.groupby("task", sort=True):
        columns = columns_for(rows)
        cells = [[c.text(row) for c in columns] for _, row in rows.iterrows()]
        headers = [c.header for c in columns]
        body = _markdown(headers, cells, columns) if fmt == "markdown" else _aligned(headers, cells, columns)
        blocks.append(f"{heading(task, rows, aggregate, markdown=fmt == 'markdown')}\n\n{body}")
    return "\n\n".join(blocks + [f"_{LEGEND}_" if fmt == "markdown" else textwrap.fill(LEGEND, 120)])


def heading(task: str, rows: pd.DataFrame, aggregate: str, *, markdown: bool = False) -> str:
    """One line naming the task and what is fixed across its rows."""
    spec = get_task(task)
    how = "best seed" if aggregate == "best" else "mean ± std over seeds"
    fixed = [f"{c} {rows[c].iloc[0]}" for c in _FIXED if c in rows and rows[c].nunique(dropna=False) == 1]
    name = f"**{task}**" if markdown else task
    return " · ".join([name, spec.description, how, *fixed])


def columns_for(rows: pd.DataFrame) -> list[Column]:
    """The columns people see for these rows (one task's, or several tasks' in one table)."""
    columns = [Column("method", "method", lambda r: str(r["method"]), numeric=False)]
    if (rows["config"] != "").any():
        columns.append(Column("config", "config", lambda r: str(r["config"]), numeric=False))
    columns += [
        Column(c, c, lambda r, c=c: str(r[c]), numeric=False)
        for c in _FIXED
        if c in rows and rows[c].nunique(dropna=False) > 1
    ]
    columns += [
        Column("budget", "budget_s", lambda r: format_seconds(r["budget_s"])),
        *([Column("fit budget", "fit_budget_s", fit_budget)] if _has(rows, "fit_budget_s") else []),
        Column("seeds", "seeds", lambda r: str(int(r["seeds"]))),
    ]
    names = metric_names(rows)
    for prefix, label in (("metric", ""), ("official", " official")):
        for m in names:
            key = f"{prefix}:{m}"
            if key in rows and rows[key].notna().any():
                arrow = "↓" if m in LOWER_IS_BETTER else "↑"
                columns.append(Column(f"{m}{label} {arrow}", key, lambda r, key=key: _metric(r, key)))
    columns += [
        Column("gain ↑", "gain_over_base", gain),
        *(
            [Column("personal ↑", "personal_gain", lambda r: gain(r, "personal_gain", "personal"))]
            if _has(rows, "personal_gain")
            else []
        ),  # fmt: skip
        Column("adapt", "adapt_s", lambda r: seconds(r["adapt_s"])),
        *_costs(rows),
        Column("s/query", "predict_s_per_query", lambda r: _number(r["predict_s_per_query"], "{:.3g}")),
        Column("state/user", "state_bytes_per_user", lambda r: size(r["state_bytes_per_user"])),
        Column("params/user", "parameters_per_user", lambda r: count(r["parameters_per_user"])),
        Column("coverage", "coverage", lambda r: _number(r["coverage"], "{:.0%}")),
        *([Column("read e/x/u", "read:exact", reads)] if _has(rows, "read:exact") else []),
        Column("status", "status", lambda r: str(r["status"]), numeric=False),
    ]
    return columns


def _costs(rows: pd.DataFrame) -> list[Column]:
    """The cost per user at the runs' users and at each `--amortise-over` N the rows carry (`leaderboard/cost.py`)."""
    keys = [k for k in rows.columns if k == "cost_per_user_s" or str(k).startswith("cost_per_user_s:")]
    names = {k: "cost/user" if k == "cost_per_user_s" else f"cost/user @{k.split(':')[1]}" for k in keys}
    return [Column(names[k], k, lambda r, k=k: seconds(r[k])) for k in keys]


def _has(rows: pd.DataFrame, column: str) -> bool:
    return column in rows and bool(rows[column].notna().any())


def missing(value: Any) -> bool:
    """None or NaN: a cell with nothing to show."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any, pattern: str) -> str:
    return "" if missing(value) else pattern.format(value)


def _metric(row: pd.Series, column: str) -> str:
    """`0.850`, `0.850 [0.755, 0.945]`, `0.850 ± 0.010 [0.755, 0.945]`: the value, its std, its interval."""
    value = row.get(column)
    if missing(value):
        return ""
    std, low, high = (row.get(f"{column}:{k}") for k in ("std", "low", "high"))
    text = f"{value:.3f}" if missing(std) else f"{value:.3f} ± {std:.3f}"
    return text if missing(low) or missing(high) else f"{text} [{low:.3f}, {high:.3f}]"


def gain(row: pd.Series, column: str = "gain_over_base", prefix: str = "gain") -> str:
    """`+0.050 [+0.010, +0.090]*`: the gain over base (or, with `column="personal_gain", prefix="personal"`, the
    personalization gain), its paired interval, `*` when it excludes 0, `†` when the two answered different users."""
    value = row.get(column)
    if missing(value):
        return ""
    low, high = row.get(f"{prefix}_ci_low"), row.get(f"{prefix}_ci_high")
    text = f"{value:+.3f}" + ("" if missing(low) or missing(high) else f" [{low:+.3f}, {high:+.3f}]")
    marks = "*" if _flag(row.get(f"{prefix}_significant")) else ""
    return text + marks + ("†" if _flag(row.get(f"{prefix}_users_differ")) else "")


def fit_budget(row: pd.Series) -> str:
    """`5m` (`--fit-budget`), or `shares` for a run whose one budget the method's fixed shares split."""
    value = row.get("fit_budget_s")
    return "shares" if missing(value) else format_seconds(value)


def reads(row: pd.Series) -> str:
    """`10/1/1`: answers read exactly as generated / extracted from a longer text / unreadable (a mean over seeds)."""
    values = [row.get(f"read:{k}") for k in ("exact", "extracted", "unparsed")]
    return "" if any(missing(v) for v in values) else "/".join(f"{v:.0f}" for v in values)


def _flag(value: Any) -> bool:
    return not missing(value) and bool(value)


def seconds(value: Any) -> str:
    """`<0.01s`, `0.42s`, `12.3s`, `4m12s`: a duration as people read it."""
    if missing(value):
        return ""
    if value < 0.01:
        return "<0.01s" if value > 0 else "0s"
    if value < 60:
        return f"{value:.2f}s" if value < 1 else f"{value:.1f}s"
    return format_seconds(value)


def size(value: Any) -> str:
    """`0 B`, `812 B`, `1.2 KiB`, `3.4 MiB`, `1.1 GiB`."""
    if missing(value):
        return ""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def count(value: Any) -> str:
    """`0`, `812`, `12.3k`, `4.2M`, `1.1B`: a parameter count."""
    if missing(value):
        return ""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f}{unit}"
    return f"{value:.0f}"


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def _markdown(headers: list[str], cells: list[list[str]], columns: list[Column]) -> str:
    rule = "|" + "|".join("---:" if c.numeric else "---" for c in columns) + "|"
    lines = ["| " + " | ".join(headers) + " |", rule]
    return "\n".join(lines + ["| " + " | ".join(_escape(c) for c in row) + " |" for row in cells])


def _aligned(headers: list[str], cells: list[list[str]], columns: list[Column]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if c.numeric else v.ljust(w) for v, w, c in zip(values, widths, columns, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(row) for row in cells)])
