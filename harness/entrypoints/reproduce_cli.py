"""`bench reproduce NAME`: a paper's table run as a sweep, then the paper's figures printed beside ours.

Registered on the main `bench` app by `harness/entrypoints/cli.py`. The presets are `configs/papers/*.yaml`
(`harness/run/reproduce.py`), the papers' figures `leaderboard/reference/*.json` (`leaderboard/reproduce.py`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Annotated

import typer

from lampbench.harness.entrypoints import python_api as api
from lampbench.harness.entrypoints.console import RunsFailed
from lampbench.harness.run.method_config import parse_sets
from lampbench.harness.run.options import Data, Executor
from lampbench.harness.run.reproduce import Preset, describe_run, estimate, load_preset, preset_names, run_options
from lampbench.harness.services.budget import format_seconds
from lampbench.leaderboard.reproduce import compare, lines
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.stats import metrics_line


def register(app: typer.Typer) -> None:
    """Add `reproduce` to `app`."""
    app.command()(reproduce)


def reproduce(
    name: Annotated[
        str | None, typer.Argument(help="A preset (`bench reproduce --list`) or a preset YAML file.")
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the presets and exit.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Print the plan and its estimated hours; run nothing.")] = False,
    out: Annotated[Path, typer.Option(help="Results directory.")] = Path("runs"),
    model: Annotated[str | None, typer.Option(help="Another backbone than the paper's (e.g. tiny-random).")] = None,
    users: Annotated[int | None, typer.Option(help="Evaluate on N users instead of the paper's.", min=1)] = None,
    train_users: Annotated[
        int | None, typer.Option(help="Training users instead of the paper's (collective stages).", min=0)
    ] = None,
    data: Annotated[Data | None, typer.Option(help="lamp (the paper's) or synthetic (offline).")] = None,
    budget: Annotated[str | None, typer.Option(help="Budgets instead of the preset's: 30s or 1m,5m.")] = None,
    task: Annotated[str | None, typer.Option(help="Only these of the preset's tasks: lamp2 or lamp2,lamp3.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Method config key=value for every method that has it.")
    ] = None,
    executor: Annotated[Executor | None, typer.Option(help="local or ray (each run a Ray task).")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address (e.g. auto).")] = None,
    force: Annotated[bool, typer.Option(help="Run again even if a run has finished.")] = False,
) -> None:
    """Run a paper's table (a preset) as a sweep, then print the paper's figures beside ours with 95% intervals.

    Finished runs are reused, so the same command resumes. `--model`, `--users`, `--train-users`, `--data`,
    `--budget`, `--task` and `--set` override the preset; the output then says which settings are not the paper's.
    """
    if list_:
        for preset in (load_preset(n) for n in preset_names()):
            typer.echo(f"{preset.name:18} {preset.title}: {len(preset.specs())} runs")
        return
    if name is None:
        raise ConfigError("give a preset name (bench reproduce --list shows them)")
    overrides = {
        "model": model, "users": users, "train_users": train_users, "data": data, "executor": executor,
        "ray_address": ray_address,
        "budgets": tuple(b for b in budget.split(",") if b) if budget else None,
        "tasks": tuple(t for t in task.split(",") if t) if task else None,
        "sets": parse_sets(set_ or []),
    }  # fmt: skip
    preset = load_preset(name, overrides)
    _header(preset, out)
    if dry_run:
        _plan(preset, out)
        return
    warnings.filterwarnings("ignore")  # libraries' own warnings, and their progress bars, off as in `bench run`
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    records = api.run_plan(preset.sweep, out, force=force, on_done=_echo_done)
    typer.echo("")
    typer.echo(f"{preset.title} beside ours:")
    for line in lines(compare(preset, out)):
        typer.echo(f"  {line}")
    _say_deviations(preset)
    failed = [r for r in records if r.get("status") == "error"]
    if failed:
        raise RunsFailed(failed, out)


def _header(preset: Preset, out: Path) -> None:
    options = ", ".join(f"{k}={v}" for k, v in run_options(preset).items())
    typer.echo(f"reproduce {preset.name}: {preset.title}; {len(preset.specs())} runs into {out} "
               f"({preset.sweep.executor})")  # fmt: skip
    typer.echo(f"  run options: {options}")
    _say_deviations(preset)


def _say_deviations(preset: Preset) -> None:
    if preset.deviations:
        typer.echo("  NOT THE PAPER'S SETTINGS (overridden here): " + "; ".join(preset.deviations))
    else:
        typer.echo("  settings: the preset's, as stated in configs/papers/" + preset.path.name)


def _plan(preset: Preset, out: Path) -> None:
    """Every run with its estimated hours, then the preset's settings: what the paper says, ours, why."""
    found = estimate(preset.specs(), out)
    typer.echo("plan:")
    for e in found:
        if e.reused:
            cost = "finished already (reused)"
        elif e.seconds is None:
            cost = "no measurement (no earlier run of this method, task and model in --out)"
        else:
            cost = f"~{e.seconds / 3600:.2f} h (from {e.measured} earlier run(s) on {e.hardware})"
        typer.echo(f"  {describe_run(e.spec, preset)}: {cost}")
    known = [e.seconds for e in found if e.seconds is not None]
    unknown = len(found) - len(known)
    tail = f"; {unknown} run(s) without a measurement" if unknown else ""
    typer.echo(f"estimated: {sum(known) / 3600:.2f} h for {len(known)} run(s){tail}")
    typer.echo("settings (paper: what it states; ours: what this preset runs):")
    for s in preset.settings:
        stated = s.get("paper") or "not stated"
        why = f" -- {s['why']}" if s.get("why") else ""
        typer.echo(f"  {s.get('name')}: paper: {stated}; ours: {s.get('ours', 'the same')}{why}")


def _echo_done(record: dict) -> None:
    detail = record.get("error") or metrics_line(record.get("metrics") or {})
    status = "reused" if record.get("reused") else record["status"]
    budget = format_seconds(record["budget_s"]) if record.get("budget_s") else ""
    typer.echo(f"  {record['run_id']}: {status} {budget}  {detail}")
