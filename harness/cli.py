"""`bench`: run methods on LaMP tasks under a budget, manage data, score files, read results.

Heavy imports (torch, transformers) happen inside the commands that need them, so `bench --help` is instant.
Bad input ends with one line on stderr saying what is wrong and where, and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
data_app = typer.Typer(no_args_is_help=True, help="Download LaMP files and see what is on disk.")
app.add_typer(data_app, name="data")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="LaMP data folder (else $LAMPBENCH_DATA, else the user cache).")
]
TimeSplit = Annotated[bool, typer.Option("--time-split", help="LaMP's time-based split instead of the user split.")]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _user_errors():
    """The exceptions that mean bad input (one line to the user), not a bug (a traceback)."""
    from lampbench.harness.config import ConfigError
    from lampbench.methods.registry import UnknownMethod
    from lampbench.tasks.specs import DataError, UnknownTask

    return (ConfigError, DataError, UnknownMethod, UnknownTask, ValueError, FileNotFoundError)


@app.command()
def run(
    method: Annotated[str, typer.Option(help="Method name (`bench methods`) or package.module:Class.")],
    task: Annotated[str, typer.Option(help="Task name (`bench tasks`).")],
    budget: Annotated[str, typer.Option(help="Wall-clock budget for fit + personalize: 90s, 20m, 1h30m.")] = "20m",
    data: Annotated[str, typer.Option(help="lamp (official files) or synthetic (offline, planted signal).")] = "lamp",
    split: Annotated[str, typer.Option(help="Evaluation split: dev, test (no golds) or train.")] = "dev",
    time_split: TimeSplit = False,
    data_dir: DataDir = None,
    users: Annotated[int | None, typer.Option(help="Evaluate on N users (all when omitted).")] = None,
    select: Annotated[str, typer.Option(help="Which users: most-active or random.")] = "most-active",
    seed: Annotated[int, typer.Option(help="Seed for user selection and the method.")] = 0,
    max_profile: Annotated[int | None, typer.Option(help="Keep at most N history items per user.")] = None,
    train_users: Annotated[int | None, typer.Option(help="Training users for methods with a collective stage.")] = None,
    model: Annotated[str, typer.Option(help="smollm2 (embedded), tiny-random, a hub name or a folder.")] = "smollm2",
    embedder: Annotated[
        str, typer.Option(help="Sentence embedder (default: the packaged MiniLM).")
    ] = "all-MiniLM-L6-v2",
    max_prompt_tokens: Annotated[int, typer.Option(help="Prompt budget in tokens (LaMP uses 512).")] = 512,
    batch_size: Annotated[int, typer.Option(help="Generation batch size.")] = 8,
    config: Annotated[Path | None, typer.Option(help="YAML file of method config keys.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Method config key=value (repeatable).")] = None,
    out: Annotated[Path, typer.Option(help="Results directory.")] = Path("runs"),
    force: Annotated[bool, typer.Option(help="Run again even if this exact configuration has finished.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Run one method on one task under a budget and store the result."""
    import logging
    import warnings

    from lampbench.harness.budget import format_seconds, parse_budget
    from lampbench.harness.config import build_config, parse_sets, read_yaml
    from lampbench.harness.runner import RunSpec
    from lampbench.harness.runner import run as run_method
    from lampbench.harness.store import Store
    from lampbench.methods.registry import METHODS
    from lampbench.tasks.specs import get_task

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    warnings.filterwarnings("ignore")
    try:
        task_spec = get_task(task)
        seconds = parse_budget(budget)
        cls = METHODS.get(method)
        layers = [read_yaml(config)] if config else []
        method_config = build_config(cls.Config, *layers, parse_sets(set_ or []), where=f"{method} config")
        import dataclasses

        spec = RunSpec(
            method=method, task=task_spec.name, budget=seconds, method_config=dataclasses.asdict(method_config),
            data=data, split=split, time_split=time_split, data_dir=str(data_dir) if data_dir else None,
            users=users, select=select, seed=seed, max_profile=max_profile, train_users=train_users, model=model,
            embedder=embedder, max_prompt_tokens=max_prompt_tokens, batch_size=batch_size,
        )  # fmt: skip
        if data == "lamp":
            _check_lamp_data(spec, task_spec)
        record = run_method(spec, cls(method_config), store=Store(out), force=force, progress=not quiet)
    except _user_errors() as e:
        _fail(str(e))
    tag = " (reused a finished run; --force to rerun)" if record.get("reused") else ""
    typer.echo(f"{record['run_id']}: {record['status']}{tag}")
    if record.get("error"):
        typer.echo(f"  error: {record['error']}  (traceback in {out / record['run_id'] / 'log.txt'})")
    metrics = "  ".join(f"{k}={v:.4f}" for k, v in record.get("metrics", {}).items())
    typer.echo(
        f"  {metrics or 'no metrics (no golds)'}  unparsed={record.get('unparsed', 0)}/{record.get('queries', 0)}"
    )
    typer.echo(
        f"  budget {format_seconds(record['budget_s'])}: used {record.get('budget_used_s', 0):.1f}s "
        f"(fit {record.get('fit_s', 0):.1f}s, personalize {record.get('personalize_s', 0):.1f}s); "
        f"predict {record.get('predict_s', 0):.1f}s; state {record.get('state_bytes_per_user', 0):.0f} B/user"
    )
    typer.echo(f"  results in {out / record['run_id']}")
    if record["status"] == "error":
        raise typer.Exit(1)


def _check_lamp_data(spec, task_spec) -> None:
    """Download missing official files before the run starts (so the user sees the progress bar first)."""
    from lampbench.tasks.data import resolve_data_dir
    from lampbench.tasks.download import ensure_split

    root = resolve_data_dir(Path(spec.data_dir) if spec.data_dir else None)
    ensure_split(task_spec, spec.split, root, time_split=spec.time_split)


@data_app.command("download")
def data_download(
    task: Annotated[str, typer.Argument(help="Task name, e.g. lamp3.")],
    split: Annotated[str, typer.Option(help="train, dev or test.")] = "dev",
    time_split: TimeSplit = False,
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option(help="Download again even if the files are there.")] = False,
) -> None:
    """Stream the official LaMP files to the data folder, with a progress bar."""
    from lampbench.tasks.data import resolve_data_dir
    from lampbench.tasks.download import download
    from lampbench.tasks.specs import get_task

    try:
        paths = download(get_task(task), split, resolve_data_dir(data_dir), time_split=time_split, force=force)
    except _user_errors() as e:
        _fail(str(e))
    for path in paths:
        typer.echo(str(path))


@data_app.command("info")
def data_info(
    task: Annotated[str, typer.Argument(help="Task name, e.g. lamp3.")],
    time_split: TimeSplit = False,
    data_dir: DataDir = None,
) -> None:
    """What is on disk for a task: users, queries and profile sizes per split."""
    from lampbench.tasks.data import describe, resolve_data_dir
    from lampbench.tasks.specs import get_task

    try:
        task_spec = get_task(task)
        root = resolve_data_dir(data_dir)
        rows = describe(task_spec, root, time_split=time_split)
    except _user_errors() as e:
        _fail(str(e))
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


@app.command()
def methods() -> None:
    """The registered methods and the package each comes from."""
    from lampbench.methods.registry import METHODS

    for entry in METHODS.entries().values():
        typer.echo(f"{entry.name:14} {entry.origin:22} {entry.target}")


@app.command()
def tasks() -> None:
    """The LaMP tasks, their kind, labels and metrics."""
    from lampbench.tasks.specs import TASKS

    for t in TASKS.values():
        aliases = f" (alias {', '.join(t.aliases)})" if t.aliases else ""
        labels = f"{len(t.labels)} labels" if t.labels else "free text"
        typer.echo(f"{t.name:7} {t.lamp:7} {t.kind:14} {labels:10} {', '.join(t.metrics):16} {t.description}{aliases}")


@app.command()
def score(
    golds: Annotated[Path, typer.Argument(help="Official outputs file with the golds.")],
    preds: Annotated[Path, typer.Argument(help="Predictions in the same format.")],
    task: Annotated[str, typer.Option(help="Task name, e.g. lamp3.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Score a predictions file as LaMP's own evaluator would."""
    from lampbench.tasks.metrics import score_files
    from lampbench.tasks.specs import get_task

    try:
        result = score_files(get_task(task), golds, preds)
    except _user_errors() as e:
        _fail(str(e))
    if as_json:
        typer.echo(json.dumps({**result.metrics, "n": result.n, "unscorable": result.unscorable}))
        return
    for name, value in result.metrics.items():
        typer.echo(f"{name}: {value:.4f}")
    for note in result.notes:
        typer.echo(f"note: {note}")


from lampbench.leaderboard.commands import register as _register_leaderboard  # noqa: E402 - after `app`

_register_leaderboard(app)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
