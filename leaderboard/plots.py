"""Plots of results (matplotlib, the Agg backend: no display needed), each readable without a caption.

- `budget_curve`: a metric (and optionally the gain over `base`) against the budget, one line per
  method, the line at the mean over seeds and a band over seeds (min-max or ±std): the CHAMELEON paper's
  Figure 4 as a line chart. Error bars: the 95% interval over users (seeds pooled per user; for the gain, the
  paired interval against `base`), from the leaderboard (`leaderboard/uncertainty.py`).
- `setting_curve`: the same against a method config value (CHAMELEON's `group_size`, `history_k`).
- `cost_scatter`: per-user state bytes, adaptation time or the amortised cost per user (log x) against the
  metric, one point per method and budget, with its 95% interval over users as error bars.
- `break_even`: the cost per user against the number of users N (fit / N + per-user time, `leaderboard/cost.py`)
  for the methods of a task, where a collective method becomes cheaper than a per-user one, and the metric
  against the total compute of the run (fit + every user's adaptation).

Every axis says what it measures and in which unit, the metric axis says which direction is better and an
arrow marked "better" points that way. Runs that went over budget are marked with a red ring.
Figures are built with `matplotlib.figure.Figure`, never pyplot, so no global state is touched. matplotlib, pandas
and numpy are imported by the functions that draw, so the CLI imports this module without loading them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from lampbench.harness.run.store import FINISHED
from lampbench.harness.services.budget import format_seconds
from lampbench.leaderboard.cost import at_users, cost_per_user, with_costs
from lampbench.leaderboard.cost import break_even as crossing
from lampbench.leaderboard.table import leaderboard
from lampbench.tasks.errors import ConfigError, DataError
from lampbench.tasks.specs import LOWER_IS_BETTER, get_task

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

BANDS = ("minmax", "std")
COSTS = {
    "state": ("state_bytes_per_user", "per-user state (bytes)"),
    "time": ("adapt_s", "adaptation time (s)"),
    "per-user": ("cost_per_user_s", "cost per user at the run's users (s)"),
}
AXES = {  # budget-curve's x axes: (column, label, the other budget, held fixed on each line)
    "budget": ("budget_s", "per-user budget (with a fit budget; else fit + personalize)", "fit_budget_s"),
    "fit-budget": ("fit_budget_s", "fit budget (the collective stage's own)", "budget_s"),
}
SETTINGS = {"group_size": "group size (users per group)", "history_k": "history items per user (history_k)"}
_NAMES = {
    "mae": "MAE",
    "rmse": "RMSE",
    "accuracy": "accuracy",
    "f1": "macro F1",
    "rouge-1": "ROUGE-1 F",
    "rouge-L": "ROUGE-L F",
}
_UNITS = {"mae": "rating points", "rmse": "rating points"}
_BAND = {"minmax": "band: min-max over seeds", "std": "band: mean ± std over seeds"}
_BARS = "95% interval over users"
_OVER, _OVER_GID = "#d62728", "over-budget"
_MARKERS = "osD^vPX"


def metric_label(metric: str) -> str:
    """`MAE (rating points), ↓ lower is better`: what an axis of this metric should say."""
    unit = f" ({_UNITS[metric]})" if metric in _UNITS else ""
    direction = "↓ lower is better" if metric in LOWER_IS_BETTER else "↑ higher is better"
    return f"{_NAMES.get(metric, metric)}{unit}, {direction}"


def budget_curve(
    runs: pd.DataFrame, *, task: str, metric: str | None = None, gain: bool = False, band: str = "minmax",
    personal: bool = False, axis: str = "budget",
) -> Figure:  # fmt: skip
    """The metric (and with `gain`, the gain over base in a second panel) against a budget, per method.

    Runs with shuffled or no histories (`--profiles`) are curves of their own, dashed; with `personal`, a panel
    shows the personalization gain (own histories over shuffled ones, `leaderboard/personal.py`) where there is one.

    Args:
        runs: `load_runs`'s frame.
        task: the task to plot.
        metric: a metric of the task (default: its headline metric).
        gain: add a panel with the gain of the headline metric over `base` (positive = better).
        band: `minmax` or `std`, what the band over seeds shows.
        personal: add a panel with the personalization gain (when a method has own and shuffled runs).
        axis: `budget` (the per-user budget; each line at one fit budget) or `fit-budget` (the fit budget; each
            line at one per-user budget; runs without a fit budget are left out).
    """
    from matplotlib.figure import Figure

    if axis not in AXES:
        raise ConfigError(f"--axis must be one of {', '.join(AXES)}, not {axis!r}")
    column, x_label, other = AXES[axis]
    rows, metric = _select(runs, task, metric, band)
    rows = rows[rows[column].notna()] if column in rows else rows.iloc[0:0]
    if rows.empty:
        raise DataError(f"no finished {task} runs with a {x_label.split(' (')[0]}: run some with --fit-budget")
    fixed = _fixed_labels(rows[other], other) if other in rows and rows[other].nunique(dropna=False) > 1 else ""
    if axis == "budget" and ("fit_budget_s" not in rows or rows["fit_budget_s"].isna().all()):
        x_label = "budget for adaptation (fit + personalize)"  # one budget for both: as every run before the two
    rows = rows.assign(x=rows[column] / 60, fixed=fixed)
    gain = gain and bool((rows["method"] == "base").any())
    personal = personal and "personal_gain" in rows and bool(rows["personal_gain"].notna().any())
    panels = 1 + gain + personal
    fig = Figure(figsize=(7.5, 4.8 + 2.7 * (panels - 1)), layout="constrained")
    axes = fig.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    colors = _colors(rows["method"])
    board = _board(rows)
    curves = _curves(rows)
    # Error bars of methods at the same budget are drawn side by side, so one does not hide another.
    span = float(rows["x"].max() - rows["x"].min()) or 1.0
    for i, ((method, label), line) in enumerate(curves.items()):
        shift = (i - (len(curves) - 1) / 2) * 0.012 * span
        ls = "--" if "profiles" in line and line["profiles"].iloc[0] != "own" else "-"  # a control: dashed
        _line(axes[0], line, f"metric:{metric}", label, colors[method], band, ls=ls)
        _bars(axes[0], line, board, f"metric:{metric}", colors[method], shift=shift)
        if gain and method != "base":
            _line(axes[1], line, "gain_over_base", label, colors[method], band, ls=ls)
            _bars(axes[1], line, board, "gain_over_base", colors[method], low="gain_ci_low", high="gain_ci_high",
                  shift=shift)  # fmt: skip
        if personal and line["personal_gain"].notna().any():
            _line(axes[-1], line, "personal_gain", label, colors[method], band)
            _bars(axes[-1], line, board, "personal_gain", colors[method], low="personal_ci_low",
                  high="personal_ci_high", shift=shift)  # fmt: skip
    _direction(axes[0], lower=metric in LOWER_IS_BETTER)
    axes[0].set_ylabel(metric_label(metric))
    if gain:
        primary = get_task(task).primary_metric
        axes[1].axhline(0, color="0.3", lw=1, ls="--", label="base")
        axes[1].set_ylabel(f"gain over base in {_NAMES.get(primary, primary)}\n(↑ positive is better)")
        _direction(axes[1], lower=False)
    if personal:
        primary = get_task(task).primary_metric
        axes[-1].axhline(0, color="0.3", lw=1, ls="--", label="shuffled histories")
        axes[-1].set_ylabel(f"personalization gain in {_NAMES.get(primary, primary)}\n(own over shuffled histories)")
        _direction(axes[-1], lower=False)
    budgets = sorted(rows["x"].unique())
    axes[-1].set_xticks(budgets, [format_seconds(b * 60) for b in budgets])
    axes[-1].set_xlabel(f"wall-clock {x_label}")
    for ax in axes:
        _finish(ax)
    what = "budget" if axis == "budget" else "fit budget"
    fig.suptitle(f"{task} ({get_task(task).description}): {_NAMES.get(metric, metric)} against {what}")
    axes[0].set_title(f"line: mean over seeds, {_BAND[band]}; bars: {_BARS}", fontsize=9, loc="left")
    return fig


def _curves(rows: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """The budget curves: one per method config that was run at two budgets or more (a config run at one budget
    only, such as a point of a group-size sweep, is left out where the method has a curve), labelled by method
    and, where the method was run with several configs, the config."""
    curves = {}
    for method, runs in rows.groupby("method", sort=True):
        controls = runs["profiles"].map(_CONTROLS) if "profiles" in runs else ""
        fixed = runs["fixed"] if "fixed" in runs else ""  # the other budget, held fixed on a line
        configs = {c.strip(): g for c, g in runs.groupby(runs["config"] + controls + fixed, sort=True)}
        spanning = {c: g for c, g in configs.items() if g["x"].nunique() > 1}
        kept = spanning or configs
        for config, g in kept.items():
            curves[(method, f"{method} {config}".strip() if len(configs) > 1 else method)] = g
    return curves


_CONTROLS = {"own": "", "shuffled": " (shuffled histories)", "none": " (no histories)"}  # `--profiles`, in labels


def _fixed_labels(values, column: str) -> list[str]:
    """Each row's other budget, held fixed on its line: ` fit 5m`, ` fit shares` (one budget) or ` per-user 2m`."""
    name = "fit" if column == "fit_budget_s" else "per-user"
    return [f" {name} {'shares' if v != v or v is None else format_seconds(v)}" for v in values]


def setting_curve(
    runs: pd.DataFrame,
    *,
    task: str,
    key: str,
    metric: str | None = None,
    band: str = "minmax",
    x_label: str | None = None,
) -> Figure:
    """The metric against a method config value (`config:<key>` in `runs`), one line per method and budget.

    Runs that differ in other config values make separate lines; a line needs two values of `key` or more.

    Raises:
        ValueError: when no method of `task` was run with two values of `key`.
    """
    import pandas as pd
    from matplotlib.figure import Figure

    rows, metric = _select(runs, task, metric, band)
    column = f"config:{key}"
    if column not in rows:
        raise ConfigError(f"load the runs with config_keys=[{key!r}] to plot against {key}")
    rows = rows.assign(x=pd.to_numeric(rows[column], errors="coerce")).dropna(subset=["x"])
    rest = rows["config"].str.replace(rf"(^| ){re.escape(key)}=\S+", "", regex=True).str.strip()
    rows = rows.assign(rest=rest)
    lines = [(k, g) for k, g in rows.groupby(["method", "budget_s", "rest"], sort=True) if g["x"].nunique() > 1]
    if not lines:
        raise DataError(f"no method was run on {task} with two values of {key!r} or more: sweep it with --set")
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    colors = _colors(rows["method"])
    board = _board(rows)
    styles = ["-", "--", ":", "-."]
    budgets = sorted({budget for (_, budget, _), _ in lines})  # a line style per budget
    for (method, budget, other), line in lines:
        label = " · ".join(p for p in (method, format_seconds(budget), other) if p)
        _line(ax, line, f"metric:{metric}", label, colors[method], band, ls=styles[budgets.index(budget) % 4])
        _bars(ax, line, board, f"metric:{metric}", colors[method])
    xs = sorted(pd.concat([g["x"] for _, g in lines]).unique())
    if xs[0] > 0 and xs[-1] / xs[0] >= 20:
        ax.set_xscale("log")
    ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.set_xlabel(x_label or SETTINGS.get(key, key))
    ax.set_ylabel(metric_label(metric))
    _direction(ax, lower=metric in LOWER_IS_BETTER)
    _finish(ax)
    fig.suptitle(f"{task} ({get_task(task).description}): {_NAMES.get(metric, metric)} against {key}")
    ax.set_title(f"line: mean over seeds, {_BAND[band]}; bars: {_BARS}", fontsize=9, loc="left")
    return fig


def cost_scatter(
    board: pd.DataFrame, *, task: str, metric: str | None = None, cost: str = "state", amortise_over: int | None = None
) -> Figure:
    """Cost (per-user state bytes, adaptation time or cost per user, log x) against the metric: one point per
    leaderboard row.

    Args:
        board: `leaderboard`'s frame (mean aggregation draws ±std error bars).
        task: the task to plot.
        metric: a metric of the task (default: its headline metric).
        cost: `state` (per-user state bytes), `time` (adaptation seconds) or `per-user` (fit / N + per-user
            adaptation seconds, `leaderboard/cost.py`: at N = the run's users, or `amortise_over`).
        amortise_over: N for `per-user`.
    """
    import numpy as np
    from matplotlib.figure import Figure

    if cost not in COSTS:
        raise ConfigError(f"--cost must be one of {', '.join(COSTS)}, not {cost!r}")
    rows, metric = _select(with_costs(board, amortise_over), task, metric)
    column, label = COSTS[cost]
    if cost == "per-user" and amortise_over:
        column, label = at_users(amortise_over), f"cost per user at {amortise_over:,} users (s)"
    title = f"{task} ({get_task(task).description}): {_NAMES.get(metric, metric)} against {label.split(' (')[0]}"
    rows = rows.dropna(subset=[column])
    x = rows[column].to_numpy(dtype=float)
    positive = x[x > 0]
    zero_at = 10 ** (math.floor(math.log10(positive.min() if positive.size else 1.0)) - 1)
    rows = rows.assign(x=np.where(x > 0, x, zero_at), y=rows[f"metric:{metric}"])  # log x: 0 drawn at `zero_at`
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    colors = _colors(rows["method"])
    for method, runs in rows.groupby("method", sort=True):
        for i, (config, points) in enumerate(runs.groupby("config", sort=True)):
            ax.errorbar(points["x"], points["y"], yerr=_yerr(points, f"metric:{metric}"), fmt=_MARKERS[i % 7],
                        ms=7, capsize=3, color=colors[method], label=f"{method} {config}".strip())  # fmt: skip
            _mark_over_budget(ax, points, "x", "y")
    for (px, py), same in rows.groupby(["x", "y"]):  # one label for points that coincide (base at every budget)
        budgets = ", ".join(format_seconds(b) for b in sorted(same["budget_s"].unique()))
        ax.annotate(budgets, (px, py), fontsize=7, xytext=(5, 4), textcoords="offset points", color="0.25")
    ax.set_xscale("log")
    if (x <= 0).any():
        top = math.ceil(math.log10(max(positive.max(), zero_at * 10))) if positive.size else 1
        ticks = [zero_at * 10**i for i in range(1, round(math.log10(10**top / zero_at)) + 1)]
        ax.set_xticks([zero_at, *ticks], ["0", *(f"$10^{{{round(math.log10(t))}}}$" for t in ticks)])
        ax.set_xlim(zero_at / 2, None)
        label += ", log scale; 0 at the left"
    else:
        label += ", log scale"
    ax.set_xlabel(f"{label}  ← cheaper")
    ax.set_ylabel(metric_label(metric))
    _direction(ax, lower=metric in LOWER_IS_BETTER, cheaper=True)
    _finish(ax)
    fig.suptitle(title)
    ax.set_title(f"one point per method and budget (labelled); bars: {_BARS}", fontsize=9, loc="left")
    return fig


def break_even(board: pd.DataFrame, *, task: str, metric: str | None = None, up_to: int = 10_000) -> Figure:
    """Cost per user against the users N sharing the fit (left), and the metric against total compute (right).

    Left: `fit_s / N + per_user_s` for each leaderboard row (log-log, N from 1 to `up_to`), a cross where a row
    with a collective stage becomes cheaper per user than one with a smaller (or no) fit, labelled with that N;
    the dot on each line is the run's own number of users. Right: the metric against the run's total adaptation
    seconds (fit + every user's), log x.

    Raises:
        DataError: no finished run of `task` with users.
    """
    import numpy as np
    from matplotlib.figure import Figure

    rows, metric = _select(with_costs(board), task, metric)
    rows = rows[rows["per_user_s"].notna()]
    if rows.empty:
        raise DataError(f"no finished {task} runs with users to plot")
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    colors = _colors(rows["method"])
    n = np.logspace(0, math.log10(max(up_to, 10)), 200)
    labels = [_row_label(r) for _, r in rows.iterrows()]
    for label, (_, r) in zip(labels, rows.iterrows(), strict=True):
        fit = 0.0 if r["fit_s"] != r["fit_s"] else float(r["fit_s"])
        cost = [cost_per_user(fit, r["per_user_s"], x) for x in n]
        left.plot(n, cost, color=colors[r["method"]], label=label, ls="-" if fit > 0 else "--")
        left.scatter([r["users"]], [cost_per_user(fit, r["per_user_s"], r["users"])], color=colors[r["method"]], s=18)
        right.errorbar([max(r["adapt_s"], 1e-3)], [r[f"metric:{metric}"]], fmt="o", color=colors[r["method"]],
                       yerr=_yerr(rows.loc[[r.name]], f"metric:{metric}"), capsize=3, label=label)  # fmt: skip
    for (_, a), (_, b) in ((a, b) for a in rows.iterrows() for b in rows.iterrows()):
        fa, fb = (0.0 if v != v else float(v) for v in (a["fit_s"], b["fit_s"]))
        if fa > fb and a["per_user_s"] < b["per_user_s"]:
            at = crossing(fa, a["per_user_s"], fb, b["per_user_s"])
            if at is not None and at <= n[-1]:
                y = cost_per_user(fa, a["per_user_s"], at)
                left.scatter([at], [y], marker="x", color="0.1", s=40, zorder=3)
                left.annotate(f"N={at:,.0f}", (at, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("users N sharing the collective stage (log scale)")
    left.set_ylabel("cost per user: fit / N + per-user adaptation (s, log)\n↓ cheaper")
    left.set_title("solid: with a collective stage; dashed: none; dot: the run's users; x: break-even", fontsize=9,
                   loc="left")  # fmt: skip
    right.set_xscale("log")
    right.set_xlabel("total compute: fit + every user's adaptation (s, log scale)  ← cheaper")
    right.set_ylabel(metric_label(metric))
    right.set_title(f"one point per method and budget; bars: {_BARS}", fontsize=9, loc="left")
    _direction(right, lower=metric in LOWER_IS_BETTER, cheaper=True)
    for ax in (left, right):
        _finish(ax)
    fig.suptitle(f"{task} ({get_task(task).description}): amortised cost per user, and quality against compute")
    return fig


def _row_label(row) -> str:
    """`oppu 2m fit 1m`: a leaderboard row's method, config and budgets."""
    fit = row.get("fit_budget_s")
    fit_text = "" if fit is None or fit != fit else f"fit {format_seconds(fit)}"
    parts = (row["method"], str(row.get("config") or ""), format_seconds(row["budget_s"]), fit_text)
    return " ".join(p for p in parts if p)


def save(fig: Figure, to: Path | str) -> list[Path]:
    """Write `fig` as `to`: PNG or SVG by its suffix, or both (`to.png`, `to.svg`) for any other name."""
    to = Path(to)
    paths = [to] if to.suffix.lower() in (".png", ".svg") else [Path(f"{to}.png"), Path(f"{to}.svg")]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        svg = path.suffix.lower() == ".svg"  # no timestamp, so an unchanged plot makes an unchanged file
        if svg:
            fig.savefig(path, metadata={"Date": None})
        else:  # zlib level 3: a plot writes several times faster than at the default 6, a few % larger
            fig.savefig(path, dpi=150, metadata={"Software": None}, pil_kwargs={"compress_level": 3})
    return paths


def _select(frame: pd.DataFrame, task: str, metric: str | None, band: str = "minmax") -> tuple[pd.DataFrame, str]:
    if band not in BANDS:
        raise ConfigError(f"--band must be one of {', '.join(BANDS)}, not {band!r}")
    spec = get_task(task)
    metric = metric or spec.primary_metric
    if metric not in spec.metrics:
        raise ConfigError(f"{spec.name} has no metric {metric!r}; its metrics: {', '.join(spec.metrics)}")
    if frame.empty or f"metric:{metric}" not in frame:
        raise DataError(f"no finished {spec.name} runs to plot")
    rows = frame[(frame["task"] == spec.name) & frame[f"metric:{metric}"].notna()]
    if "seed" in rows:  # a frame of runs, not of leaderboard rows
        rows = rows[rows["status"].isin(FINISHED)]
    if rows.empty:
        raise DataError(f"no finished {spec.name} runs to plot")
    return rows, metric


def _board(rows: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard entries (mean over seeds) of these runs: their intervals over users, for error bars."""
    return leaderboard(rows.drop(columns="x"), "mean")


def _yerr(points: pd.DataFrame, column: str, low: str | None = None, high: str | None = None):
    """Asymmetric error bars from an interval's bounds (none where a point has no interval)."""
    import numpy as np
    import pandas as pd

    low, high = low or f"{column}:low", high or f"{column}:high"
    if low not in points or high not in points:
        return None
    mid = pd.to_numeric(points[column], errors="coerce")
    below = (mid - pd.to_numeric(points[low], errors="coerce")).clip(lower=0).fillna(0)
    above = (pd.to_numeric(points[high], errors="coerce") - mid).clip(lower=0).fillna(0)
    return np.vstack([below.to_numpy(float), above.to_numpy(float)])


def _bars(
    ax, line: pd.DataFrame, board: pd.DataFrame, column: str, color: str, *, low=None, high=None, shift: float = 0.0
) -> None:
    """Error bars at each point of `line` (moved `shift` along x): the interval of the leaderboard entry there."""
    names = ("method", "config", "profiles", "answer", "budget_s", "fit_budget_s")
    key = [c for c in names if c in line and c in board]
    points = line[[*key, "x"]].drop_duplicates(key).merge(board, on=key, how="inner")
    yerr = _yerr(points, column, low, high)
    if yerr is None or not yerr.any():
        return
    x = points["x"] + shift
    ax.errorbar(x, points[column], yerr=yerr, fmt="none", ecolor=color, elinewidth=1, capsize=3, alpha=0.7)


def _colors(methods: pd.Series) -> dict[str, str]:
    """A colour per method (the same method, the same colour on every plot of a page); `base` in grey."""
    palette = [f"C{i}" for i in range(10)]
    others = [m for m in sorted(methods.unique()) if m != "base"]
    return {"base": "0.35", **{m: palette[i % 10] for i, m in enumerate(others)}}


def _line(ax, rows: pd.DataFrame, column: str, label: str, color: str, band: str, ls: str = "-") -> None:
    stats = rows.groupby("x")[column].agg(["mean", "min", "max", "std", "count"]).sort_index()
    if stats["mean"].isna().all():
        return
    seeds = int(stats["count"].max())
    ax.plot(
        stats.index,
        stats["mean"],
        marker="o",
        ms=4,
        color=color,
        ls=ls,
        label=f"{label} ({seeds} seed{'s' if seeds > 1 else ''})",
    )
    if seeds > 1:
        low, high = (
            (stats["min"], stats["max"])
            if band == "minmax"
            else (stats["mean"] - stats["std"].fillna(0), stats["mean"] + stats["std"].fillna(0))
        )
        ax.fill_between(stats.index, low, high, color=color, alpha=0.18, lw=0)
    over = rows[rows["status"] == "over_budget"]
    if not over.empty:
        ax.scatter(over["x"], over[column], s=70, facecolors="none", edgecolors=_OVER, zorder=3, gid=_OVER_GID)


def _mark_over_budget(ax, rows: pd.DataFrame, x: str, y: str) -> None:
    over = rows[rows["status"].astype(str).str.contains("over_budget")]
    if not over.empty:
        ax.scatter(over[x], over[y], s=140, facecolors="none", edgecolors=_OVER, zorder=3, gid=_OVER_GID)


def _direction(ax, *, lower: bool, cheaper: bool = False) -> None:
    """An arrow marked "better" pointing the way results improve: beside the y axis on the right, or with
    `cheaper`, inside the axes towards the cheap-and-good corner."""
    tip = (0.04 if cheaper else 1.03, 0.06 if lower else 0.94)
    tail = (0.16 if cheaper else 1.03, 0.24 if lower else 0.76)
    ax.annotate(
        "better",
        xy=tip,
        xytext=tail,
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=8,
        color="0.2",
        rotation=0 if cheaper else 90,
        arrowprops={"arrowstyle": "-|>", "color": "0.2", "patchA": None, "shrinkA": 16},  # start clear of the text
        annotation_clip=False,
    )


def _finish(ax) -> None:
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if any(c.get_gid() == _OVER_GID for c in ax.collections):
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec=_OVER, ms=9))
        labels.append("over budget")
    if handles:
        ax.legend(handles, labels, fontsize=8, loc="best", framealpha=0.85)
