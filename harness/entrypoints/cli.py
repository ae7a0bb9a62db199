"""`bench`: run methods on LaMP tasks under a budget, manage data, score files, read results.

Heavy imports (torch, transformers, pandas) happen where they are used, so `bench --help` is instant. Commands
raise the project's errors and `BenchGroup` (`harness/entrypoints/console.py`) turns them into one line on stderr
and exit status 2, a bug into `internal error: ...` and exit 1. The commands are built on the Python API
(`harness/entrypoints/python_api.py`); `bench run` and `bench sweep` take their options from `RunSpec` and
`SweepSpec` (`harness/run/options.py`).
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

import typer

from lampbench.harness.entrypoints import python_api as api
from lampbench.harness.entrypoints.console import (
    VERBOSE_HELP,
    BenchGroup,
    RunsFailed,
    console_logging,
    with_run_options,
)
from lampbench.harness.entrypoints.leaderboard_cli import register as register_leaderboard
from lampbench.harness.entrypoints.reproduce_cli import register as register_reproduce
from lampbench.harness.run.method_config import config_help, parse_sets
from lampbench.harness.run.options import SweepSpec
from lampbench.harness.run.sweep import expand, load_sweep
from lampbench.harness.services.budget import format_seconds
from lampbench.leaderboard.regress import compare, current_metrics, read_baseline, write_baseline
from lampbench.methods.registry import METHODS
from lampbench.tasks.data import describe, resolve_data_dir, split_files
from lampbench.tasks.download import download, file_record
from lampbench.tasks.metrics import score_files
from lampbench.tasks.specs import TASKS, get_task
from lampbench.tasks.stats import metrics_line

app = typer.Typer(cls=BenchGroup, add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
data_app = typer.Typer(no_args_is_help=True, help="Download LaMP files and see what is on disk.")
app.add_typer(data_app, name="data")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="LaMP data folder (else $LAMPBENCH_DATA, else the user cache).")
]
TimeSplit = Annotated[bool, typer.Option("--time-split", help="LaMP's time-based split instead of the user split.")]


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bench (lampbench) {api.version()}")
        raise typer.Exit()


@app.callback()
def _bench(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Run methods on LaMP tasks under a budget, manage data, score files, read results."""
    ctx.find_root().command.verbose = verbose
    console_logging(verbose=verbose)


Sets = Annotated[list[str] | None, typer.Option("--set", help="Method config key=value (repeatable).")]
Out = Annotated[Path, typer.Option(help="Results directory.")]
Force = Annotated[bool, typer.Option(help="Run again even if this exact configuration has finished.")]


@app.command()
@with_run_options(sweep=False)
def run(
    method: Annotated[str, typer.Option(help="Method name (`bench methods`) or package.module:Class.")],
    task: Annotated[str, typer.Option(help="Task name (`bench tasks`).")],
    budget: Annotated[
        str, typer.Option(help="Wall-clock budget for fit + personalize (with --fit-budget: personalize): 90s, 20m.")
    ] = "20m",
    config: Annotated[Path | None, typer.Option(help="YAML file of method config keys.")] = None,
    set_: Sets = None,
    out: Out = Path("runs"),
    force: Force = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
    executor: Annotated[
        Literal["local", "ray"], typer.Option(help="Where --shards run: ray (a cluster, or a local instance).")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster address (else $RAY_ADDRESS, else a local instance).")
    ] = None,
    cpus_per_run: Annotated[
        int | None, typer.Option(min=1, help="CPUs each shard reserves (default: a whole node, or one GPU's share).")
    ] = None,
    typed: dict | None = None,
) -> None:
    """Run one method on one task under a budget and store the result."""
    _quiet_libraries()
    sets = parse_sets(set_ or [])
    ray = {"executor": executor, "ray_address": ray_address, "cpus_per_run": cpus_per_run}
    record = api.run(
        method, task, budget, config=config, sets=sets, out=out, force=force, progress=not quiet, **ray,
        **(typed or {}),
    )  # fmt: skip
    _print_record(record, out)
    _exit_for([record], out)


@app.command()
@with_run_options(sweep=True)
def sweep(
    config: Annotated[
        Path | None, typer.Option(help="Sweep YAML (methods, tasks, budgets, seeds, run, set...: the options below).")
    ] = None,
    out: Out = Path("runs"),
    force: Force = False,
    typed: dict | None = None,
) -> None:
    """Run a grid of method x task x budget x seed; finished runs are reused, failures do not stop the rest.

    Options typed here win over the sweep file's values (run options over its `run:` section), which win over the
    defaults.
    """
    _quiet_libraries()

    def start(plan: SweepSpec, specs: list) -> None:
        typer.echo(f"sweep: {len(specs)} runs into {out} ({plan.executor})")

    records = api.sweep(config=config, out=out, force=force, on_done=_echo_done, on_start=start, **(typed or {}))
    counts = _counts(records)
    typer.echo("summary: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("ok", "over_budget", "error", "reused")))
    _exit_for(records, out)


def _counts(records: list[dict]) -> Counter:
    return Counter("reused" if r.get("reused") else r["status"] for r in records)


def _exit_for(records: list[dict], out: Path) -> None:
    """Exit 130 when a run was interrupted, 1 when one ended in `error` (saying where its traceback is)."""
    if any(r.get("status") == "interrupted" for r in records):
        raise typer.Exit(130)
    failed = [r for r in records if r.get("status") == "error"]
    if failed:
        raise RunsFailed(failed, out)


@app.command()
def regress(
    suite: Annotated[
        Path, typer.Option(help="Sweep YAML of the suite, with `tolerances`: the minimum drop per metric that counts.")
    ] = Path("configs/ci-small.yaml"),
    baseline: Annotated[Path, typer.Option(help="Baseline JSON: metrics and per-user scores.")] = Path(
        "leaderboard/baseline.json"
    ),
    out: Out = Path("runs/regress"),
    update: Annotated[bool, typer.Option(help="Write the suite's current scores as the new baseline.")] = False,
    force: Force = False,
) -> None:
    """Run a small suite (a sweep) and compare it with a committed baseline; exit 1 on a regression.

    A regression is a drop whose paired bootstrap interval over users excludes 0 (and exceeds the suite's
    tolerance for that metric), after reading answers or on the raw generations; each line prints the interval.
    """
    _quiet_libraries()
    plan = load_sweep(suite)
    counts = _counts(api.run_plan(plan, out, force=force, on_done=_echo_done))
    metrics = current_metrics(expand(plan), out)
    if update:
        write_baseline(baseline, metrics)
        typer.echo(f"baseline written: {baseline} ({len(metrics)} runs)")
        return
    report = compare(metrics, read_baseline(baseline), plan.tolerances)
    for line in report.lines:
        typer.echo(line)
    typer.echo(f"regress: {len(report.regressions)} regression(s) over {len(metrics)} runs ({dict(counts)})")
    if report.regressions:
        raise typer.Exit(1)


def _quiet_libraries() -> None:
    """Libraries' own warnings and progress bars off (the log goes to the console as `bench` set it up)."""
    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # "Loading weights" bars on every model load


def _echo_done(record: dict) -> None:
    detail = record.get("error") or metrics_line(record.get("metrics") or {})
    typer.echo(f"  {record['run_id']}: {'reused' if record.get('reused') else record['status']}  {detail}")


def _print_record(record: dict, out: Path) -> None:
    tag = " (reused a finished run; --force to rerun)" if record.get("reused") else ""
    typer.echo(f"{record['run_id']}: {record['status']}{tag}")
    if record.get("error"):
        typer.echo(f"  error: {record['error']}  (traceback in {out / record['run_id'] / 'log.txt'})")
    metrics = metrics_line(record.get("metrics", {}))
    typer.echo(
        f"  {metrics or 'no metrics (no golds)'}  unparsed={record.get('unparsed', 0)}/{record.get('queries', 0)}"
    )
    separate = record.get("fit_budget_s") is not None  # --fit-budget: the collective stage has its own line
    stages = f"personalize {record.get('personalize_s', 0):.1f}s"
    if not separate:
        stages = f"fit {record.get('fit_s', 0):.1f}s, {stages}"
    typer.echo(
        f"  {'per-user budget' if separate else 'budget'} {format_seconds(record['budget_s'])}: used "
        f"{record.get('budget_used_s', 0):.1f}s ({stages}); predict {record.get('predict_s', 0):.1f}s; "
        f"state {record.get('state_bytes_per_user', 0):.0f} B/user"
    )
    if record.get("fit_budget_s") is not None:
        reused = record.get("fit_reused")
        how = f"reused from {reused['run_id']} ({reused['path']})" if reused else "made by this run"
        typer.echo(
            f"  fit budget {format_seconds(record['fit_budget_s'])}: used {record.get('fit_budget_used_s') or 0:.1f}s,"
            f" {how}"
        )
    if record.get("devices", 1) > 1:
        typer.echo(f"  {record['devices']} devices: {len(record.get('shards') or []) - 1} shards after one fit")
    typer.echo(f"  results in {out / record['run_id']}")


@data_app.command("download")
def data_download(
    task: Annotated[str, typer.Argument(help="Task name, e.g. lamp3.")],
    split: Annotated[Literal["train", "dev", "test"], typer.Option(help="train, dev or test.")] = "dev",
    time_split: TimeSplit = False,
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option(help="Download again even if the files are there.")] = False,
) -> None:
    """Stream the official LaMP files to the data folder, with a progress bar."""
    paths = download(get_task(task), split, resolve_data_dir(data_dir), time_split=time_split, force=force)
    for path in paths:
        typer.echo(str(path))


@data_app.command("info")
def data_info(
    task: Annotated[str, typer.Argument(help="Task name, e.g. lamp3.")],
    time_split: TimeSplit = False,
    data_dir: DataDir = None,
) -> None:
    """What is on disk for a task: users, queries and profile sizes per split."""
    task_spec = get_task(task)
    root = resolve_data_dir(data_dir)
    rows = describe(task_spec, root, time_split=time_split, warn=_warn)
    if not rows:
        typer.echo(
            f"no {task_spec.name} files under {root}; get them with `bench data download {task_spec.name} --split dev`"
        )
        return
    for r in rows:
        typer.echo(
            f"{task_spec.name} {r['split']:5}  users={r['users']}  queries={r['queries']}  "
            f"profile min/median/mean/max={r['profile_min']}/{r['profile_median']}/{r['profile_mean']:.1f}/"
            f"{r['profile_max']}  golds={'yes' if r['has_golds'] else 'no'}  {r['bytes'] / 1e6:.1f} MB  {r['path']}"
        )
        _echo_checksums(task_spec, r["split"], root, time_split)


def _echo_checksums(task_spec, split: str, root: Path, time_split: bool) -> None:
    """One line per file of a split: its size, sha256, and whether it still is what was downloaded."""
    said = {True: "as downloaded", False: "changed since download", None: "not downloaded by lampbench"}
    for path in split_files(task_spec, split, root, time_split=time_split):
        if path is not None and path.exists():
            f = file_record(path, root)
            typer.echo(f"  {path.name}  {f['bytes']} B  sha256 {f['sha256']}  {said[f['as_downloaded']]}")


@app.command()
def methods(
    name: Annotated[str | None, typer.Argument(help="A method: its description and config fields.")] = None,
) -> None:
    """The registered methods and the package each comes from; with a NAME, its description and config."""
    if name is None:
        for entry in METHODS.entries().values():
            typer.echo(f"{entry.name:14} {entry.origin:22} {entry.target}")
        return
    cls = METHODS.get(name)
    entry = METHODS.entries().get(name)
    typer.echo(f"{name}  ({entry.target if entry else name}, from {entry.origin if entry else 'a module path'})")
    typer.echo(_doc(cls))
    rows = config_help(cls.Config)
    typer.echo(f"\nconfig ({cls.Config.__name__}; set with --set key=value or --config file.yaml):")
    if not rows:
        typer.echo("  (no config fields)")
    width = max((len(r[0]) for r in rows), default=0)
    for field_name, kind, default, text in rows:
        typer.echo(f"  {field_name:{width}}  {kind}  = {default}")
        if text:
            typer.echo(f"  {'':{width}}    {text}")


@app.command()
def tasks(
    name: Annotated[str | None, typer.Argument(help="A task: labels, metrics, prompt, generation length.")] = None,
) -> None:
    """The LaMP tasks, their kind, labels and metrics; with a NAME, everything about the task."""
    if name is None:
        listed = list(TASKS.values())
        name_w, lamp_w = max(len(t.name) for t in listed), max(len(t.lamp) for t in listed)  # columns fit the longest
        metrics_w = max(len(", ".join(t.metrics)) for t in listed)
        for t in listed:
            aliases = f" (alias {', '.join(t.aliases)})" if t.aliases else ""
            labels = f"{len(t.labels)} labels" if t.labels else "free text"
            metrics = ", ".join(t.metrics)
            typer.echo(
                f"{t.name:{name_w}} {t.lamp:{lamp_w}} {t.kind:14} {labels:10} {metrics:{metrics_w}} {t.description}"
                f"{aliases}"
            )
        return
    t = get_task(name)
    aliases = f"; alias {', '.join(t.aliases)}" if t.aliases else ""
    typer.echo(f"{t.name}  ({t.lamp}, files under {t.path}/{aliases}): {t.description}")
    typer.echo(f"kind: {t.kind}")
    typer.echo(f"labels: {', '.join(t.labels) if t.labels else 'none (free text)'}")
    typer.echo(f"metrics: {t.metrics[0]} (headline){''.join(', ' + m for m in t.metrics[1:])}")
    typer.echo(f"generation: at most {t.max_new_tokens} new tokens")
    target = f" (the output field: {t.profile_target})" if t.profile_target else ""
    typer.echo(f"history item fields: {', '.join(t.profile_fields)}{target}")
    typer.echo("prompt: the task input as LaMP writes it; with retrieved history (RAG), LaMP's prompt:")
    typer.echo(f"  {t.rag_prompt('<task input>', '<items>')}")
    typer.echo(f'  where <items> joins, with ", and ", one per retrieved item: {t.rag_item}')


def _doc(obj) -> str:
    return inspect.cleandoc(obj.__doc__ or "(no description)")


@app.command()
def score(
    golds: Annotated[Path, typer.Argument(help="Official outputs file with the golds.")],
    preds: Annotated[Path, typer.Argument(help="Predictions in the same format.")],
    task: Annotated[str, typer.Option(help="Task name, e.g. lamp3.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Score a predictions file as LaMP's own evaluator would."""
    result = score_files(get_task(task), golds, preds, warn=_warn)
    if as_json:
        typer.echo(json.dumps({**result.metrics, "n": result.n, "unscorable": result.unscorable}))
        return
    for name, value in result.metrics.items():
        typer.echo(f"{name}: {value:.4f}")
    for note in result.notes:
        typer.echo(f"note: {note}")


register_leaderboard(app)
register_reproduce(app)


def main() -> None:
    """Console entry point (errors and exit statuses: `harness/entrypoints/console.py`)."""
    app()


if __name__ == "__main__":
    main()
