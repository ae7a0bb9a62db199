"""`bench` commands that read results: `leaderboard`, `plot ...` and `site`.

Registered on the main `bench` app by `harness/entrypoints/cli.py`; the leaderboard modules import pandas and
matplotlib where they use them, so `bench --help` stays instant. Every command reads the results directory `--out`
(default `runs/`). Bad input raises a `UserError`, which `bench` prints as one line (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from lampbench.harness.run.options import budget_seconds
from lampbench.leaderboard import plots
from lampbench.leaderboard.cost import with_costs
from lampbench.leaderboard.render import render
from lampbench.leaderboard.site import build_site
from lampbench.leaderboard.table import leaderboard as fold
from lampbench.leaderboard.table import load_runs

plot_app = typer.Typer(no_args_is_help=True, help="Plots of results as PNG and SVG (matplotlib).")

Out = Annotated[Path, typer.Option(help="Results directory.")]
Task = Annotated[str, typer.Option(help="Task name, e.g. lamp3.")]
Metric = Annotated[str | None, typer.Option(help="A metric of the task (default: its headline metric).")]
Budgets = Annotated[str | None, typer.Option("--budget", help="Only these budgets: 20m or 10m,20m.")]
Band = Annotated[Literal["minmax", "std"], typer.Option(help="The band over seeds: minmax or std (mean ± std).")]
Aggregate = Annotated[
    Literal["best", "mean"], typer.Option(help="Fold seeds into the best seed or their mean ± std: best or mean.")
]
AmortiseOver = Annotated[
    int | None,
    typer.Option(min=1, help="Also show the cost per user at N users: fit / N + per-user adaptation time."),
]
To = Annotated[
    Path | None,
    typer.Option(help="Output file: .png or .svg, or a name without either suffix for both (default: <task>-<plot>)."),
]


def register(app: typer.Typer) -> None:
    """Add the result-reading commands to `app`."""
    app.command()(leaderboard)
    app.add_typer(plot_app, name="plot")
    app.command()(site)


def _budgets(text: str | None) -> list[float] | None:
    return [budget_seconds(b) for b in text.split(",")] if text else None


def leaderboard(
    task: Annotated[str | None, typer.Option(help="Only this task.")] = None,
    budget: Budgets = None,
    aggregate: Aggregate = "best",
    fmt: Annotated[
        Literal["table", "markdown", "csv", "json"], typer.Option("--format", help="table, markdown, csv or json.")
    ] = "table",
    hardware: Annotated[
        str | None, typer.Option(help="Only runs whose hardware label contains this (case-insensitive), e.g. H100.")
    ] = None,
    amortise_over: AmortiseOver = None,
    out: Out = Path("runs"),
) -> None:
    """One row per method, task, budget, config, hardware and dtype: metrics with 95% intervals over users (after
    reading answers, and official: the raw generations as LaMP scores them), gain over base, costs, coverage, status.

    Rows are ranked by the metric after reading. Gain: over `base` at the same budget; positive = better for every
    metric (MAE/RMSE included); [low, high] its paired interval over shared users, * when that excludes 0.

    Coverage: users personalized within the budget (run.json `method_report.personalized_fraction`; else 1.0 if ok).

    Cost/user: fit / N + per-user adaptation seconds, at N = the run's users and at --amortise-over N. Fit budget:
    --fit-budget, or `shares` (one budget split by the method's fixed shares); devices: --shards.

    Markdown pastes into a paper or a pull request; csv and json keep raw numbers.
    """
    runs = load_runs(out, task=task, budgets=_budgets(budget), hardware=hardware)
    typer.echo(render(with_costs(fold(runs, aggregate), amortise_over), fmt, aggregate=aggregate))


def _save(figure, to: Path | None, default: str) -> None:
    for path in plots.save(figure, to or Path(default)):
        typer.echo(f"wrote {path}")


@plot_app.command("budget-curve")
def budget_curve(
    task: Task,
    metric: Metric = None,
    gain: Annotated[bool, typer.Option(help="Add a panel with the gain over base (when base was run).")] = True,
    personal: Annotated[
        bool, typer.Option(help="Add a panel with the personalization gain (when --profiles shuffled runs exist).")
    ] = True,
    band: Band = "minmax",
    axis: Annotated[
        Literal["budget", "fit-budget"],
        typer.Option(help="budget (the per-user budget, each line at one fit budget) or fit-budget (the reverse)."),
    ] = "budget",
    to: To = None,
    out: Out = Path("runs"),
) -> None:
    """The metric (and the gain over base, the personalization gain) against the budget in minutes: one line per
    method (dashed: its shuffled-history control), seeds as a band. `--axis fit-budget`: against the fit budget."""
    runs = load_runs(out, task=task)
    figure = plots.budget_curve(runs, task=task, metric=metric, gain=gain, band=band, personal=personal, axis=axis)
    _save(figure, to, f"{task}-budget-curve" if axis == "budget" else f"{task}-fit-budget-curve")


def _setting(task: str, key: str, metric, budget, band: str, x_label, to, out: Path, name: str) -> None:
    runs = load_runs(out, task=task, budgets=_budgets(budget), config_keys=[key])
    figure = plots.setting_curve(runs, task=task, key=key, metric=metric, band=band, x_label=x_label)
    _save(figure, to, f"{task}-{name}")


XLabel = Annotated[str | None, typer.Option(help="The x axis label (default: the key's known label, else the key).")]


def _setting_command(name: str, default_key: str, doc: str) -> None:
    """Register `bench plot NAME`: the metric against a method config value (`--key`, default `default_key`)."""

    def command(
        task: Task,
        key: Annotated[str, typer.Option(help="The method config key on the x axis.")] = default_key,
        metric: Metric = None,
        budget: Budgets = None,
        band: Band = "minmax",
        x_label: XLabel = None,
        to: To = None,
        out: Out = Path("runs"),
    ) -> None:
        _setting(task, key, metric, budget, band, x_label, to, out, name)

    command.__doc__ = doc
    plot_app.command(name)(command)


_setting_command(
    "group-size", "group_size",
    "The metric against the group size (a method config value; CHAMELEON's `group_size`), per method and budget.",
)  # fmt: skip
_setting_command(
    "history-size", "history_k",
    "The metric against the history items used per user (CHAMELEON's `history_k`), per method and budget.",
)  # fmt: skip


@plot_app.command("cost")
def cost(
    task: Task,
    cost: Annotated[
        Literal["state", "time", "per-user"],
        typer.Option(help="state (per-user state bytes), time (adaptation seconds) or per-user (amortised cost)."),
    ] = "state",
    metric: Metric = None,
    budget: Budgets = None,
    aggregate: Aggregate = "mean",
    amortise_over: AmortiseOver = None,
    to: To = None,
    out: Out = Path("runs"),
) -> None:
    """Cost against quality: per-user state bytes, adaptation time or the cost per user (fit / N + per-user
    adaptation, at the run's users or --amortise-over N; log x) against the metric."""
    board = fold(load_runs(out, task=task, budgets=_budgets(budget)), aggregate)
    figure = plots.cost_scatter(board, task=task, metric=metric, cost=cost, amortise_over=amortise_over)
    _save(figure, to, f"{task}-cost-{cost}")


@plot_app.command("break-even")
def break_even(
    task: Task,
    metric: Metric = None,
    budget: Budgets = None,
    aggregate: Aggregate = "mean",
    up_to: Annotated[int, typer.Option(min=10, help="The largest number of users N on the x axis.")] = 10_000,
    to: To = None,
    out: Out = Path("runs"),
) -> None:
    """Cost per user against the users N sharing the fit (fit / N + per-user time: where a collective method gets
    cheaper than a per-user one), and the metric against the run's total compute."""
    board = fold(load_runs(out, task=task, budgets=_budgets(budget)), aggregate)
    _save(plots.break_even(board, task=task, metric=metric, up_to=up_to), to, f"{task}-break-even")


def site(
    to: Annotated[Path, typer.Option(help="The folder to write the site into.")] = Path("site"),
    aggregate: Aggregate = "mean",
    band: Band = "minmax",
    out: Out = Path("runs"),
) -> None:
    """A static site: index.html and one page per task with its sortable leaderboard and plots (no server)."""
    pages = build_site(out, to, aggregate=aggregate, band=band)
    typer.echo(f"wrote {len(pages)} pages to {to}: open {to / 'index.html'}")
