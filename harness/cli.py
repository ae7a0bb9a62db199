"""`bench`: run methods on LaMP tasks under a budget, manage data, score files, read results.

Heavy imports (torch, transformers) happen inside the commands that need them, so `bench --help` is instant.
Bad input ends with one line on stderr saying what is wrong and where, and exit code 2.
"""

from __future__ import annotations

import inspect
import json
import os
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


# Options shared by `bench run` and `bench sweep` (a sweep accepts every option of a run).
Data = Annotated[str, typer.Option(help="lamp (official files) or synthetic (offline, planted signal).")]
Split = Annotated[str, typer.Option(help="Evaluation split: dev, test (no golds) or train.")]
Users = Annotated[int | None, typer.Option(help="Evaluate on N users (all when omitted).")]
Select = Annotated[str, typer.Option(help="Which users: most-active or random.")]
MaxProfile = Annotated[int | None, typer.Option(help="Keep at most N history items per user.")]
TrainUsers = Annotated[int | None, typer.Option(help="Training users for methods with a collective stage.")]
Model = Annotated[str, typer.Option(help="smollm2 (embedded), tiny-random, a hub name or a folder.")]
Embedder = Annotated[str, typer.Option(help="Sentence embedder (default: the packaged MiniLM).")]
MaxPromptTokens = Annotated[int, typer.Option(help="Prompt budget in tokens (LaMP uses 512).")]
BatchSize = Annotated[int, typer.Option(help="Generation batch size.")]
Sets = Annotated[list[str] | None, typer.Option("--set", help="Method config key=value (repeatable).")]
Out = Annotated[Path, typer.Option(help="Results directory.")]
Force = Annotated[bool, typer.Option(help="Run again even if this exact configuration has finished.")]


def _run_options(**options) -> dict:
    """`bench run`/`bench sweep` options as RunSpec fields (paths as strings, so specs hash and serialize)."""
    options["data_dir"] = str(options["data_dir"]) if options["data_dir"] else None
    return options


@app.command()
def run(
    method: Annotated[str, typer.Option(help="Method name (`bench methods`) or package.module:Class.")],
    task: Annotated[str, typer.Option(help="Task name (`bench tasks`).")],
    budget: Annotated[str, typer.Option(help="Wall-clock budget for fit + personalize: 90s, 20m, 1h30m.")] = "20m",
    data: Data = "lamp",
    split: Split = "dev",
    time_split: TimeSplit = False,
    data_dir: DataDir = None,
    users: Users = None,
    select: Select = "most-active",
    seed: Annotated[int, typer.Option(help="Seed for user selection and the method.")] = 0,
    max_profile: MaxProfile = None,
    train_users: TrainUsers = None,
    model: Model = "smollm2",
    embedder: Embedder = "all-MiniLM-L6-v2",
    max_prompt_tokens: MaxPromptTokens = 512,
    batch_size: BatchSize = 8,
    config: Annotated[Path | None, typer.Option(help="YAML file of method config keys.")] = None,
    set_: Sets = None,
    out: Out = Path("runs"),
    force: Force = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Run one method on one task under a budget and store the result."""
    from lampbench.harness.config import parse_sets, read_yaml
    from lampbench.harness.sweep import execute, expand

    _quiet_libraries()
    try:
        options = _run_options(
            data=data, split=split, time_split=time_split, data_dir=data_dir, users=users, select=select,
            max_profile=max_profile, train_users=train_users, model=model, embedder=embedder,
            max_prompt_tokens=max_prompt_tokens, batch_size=batch_size,
        )  # fmt: skip
        sets = {**(read_yaml(config) if config else {}), **parse_sets(set_ or [])}
        # One run: a list value is the value itself, not a grid, so each value goes in as a one-point grid.
        one_point = {method: {key: [value] for key, value in sets.items()}}
        (spec,) = expand([method], [task], [budget], [seed], run_options=options, method_sets=one_point)
        if data == "lamp":
            _check_lamp_data(spec)
        record = execute(spec, str(out), force=force, progress=not quiet)
    except _user_errors() as e:
        _fail(str(e))
    _print_record(record, out)
    if record["status"] == "error":
        raise typer.Exit(1)


@app.command()
def sweep(
    methods: Annotated[str | None, typer.Option(help="Comma-separated methods.")] = None,
    task: Annotated[str | None, typer.Option(help="Comma-separated tasks.")] = None,
    budgets: Annotated[str | None, typer.Option(help="Comma-separated budgets, e.g. 10m,20m,30m,40m.")] = None,
    seeds: Annotated[str | None, typer.Option(help="Comma-separated seeds.")] = None,
    config: Annotated[Path | None, typer.Option(help="Sweep YAML (methods, tasks, budgets, seeds, run, set).")] = None,
    executor: Annotated[
        str, typer.Option(help="local (one run after another) or ray (each run a Ray task).")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster address (e.g. auto); local when omitted.")
    ] = None,
    data: Data = "lamp",
    split: Split = "dev",
    time_split: TimeSplit = False,
    data_dir: DataDir = None,
    users: Users = None,
    select: Select = "most-active",
    max_profile: MaxProfile = None,
    train_users: TrainUsers = None,
    model: Model = "smollm2",
    embedder: Embedder = "all-MiniLM-L6-v2",
    max_prompt_tokens: MaxPromptTokens = 512,
    batch_size: BatchSize = 8,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Method config key=v or key=v1,v2 (a grid); repeatable.")
    ] = None,
    out: Out = Path("runs"),
    force: Force = False,
) -> None:
    """Run a grid of method x task x budget x seed; finished runs are reused, failures do not stop the rest."""
    from lampbench.harness.config import parse_sets
    from lampbench.harness.sweep import expand, read_sweep, run_sweep

    _quiet_libraries()
    try:
        plan = read_sweep(config) if config else {}
        cli_options = _run_options(
            data=data, split=split, time_split=time_split, data_dir=data_dir, users=users, select=select,
            max_profile=max_profile, train_users=train_users, model=model, embedder=embedder,
            max_prompt_tokens=max_prompt_tokens, batch_size=batch_size,
        )  # fmt: skip
        # The YAML's `run:` options apply where the command line left an option at its default.
        defaults = {p.name: p.default for p in inspect.signature(sweep).parameters.values()}
        from_yaml = {k: v for k, v in (plan.get("run") or {}).items() if cli_options.get(k) == defaults.get(k)}
        options = {**cli_options, **from_yaml}
        shared = {k: _grid_value(v) for k, v in parse_sets(set_ or []).items()}
        specs = expand(
            _listed(methods) or plan.get("methods") or [],
            _listed(task) or plan.get("tasks") or [],
            _listed(budgets) or [str(b) for b in plan.get("budgets") or []],
            [int(s) for s in (_listed(seeds) or plan.get("seeds") or [0])],
            run_options=options, method_sets=plan.get("set") or {}, shared_sets=shared,
        )  # fmt: skip
        if not specs:
            _fail("the sweep has no runs: give --methods, --task and --budgets, or a --config with them")
        typer.echo(f"sweep: {len(specs)} runs into {out} ({executor})")
        counts = run_sweep(specs, out, force=force, executor=executor, ray_address=ray_address, on_done=_echo_done)
    except _user_errors() as e:
        _fail(str(e))
    typer.echo("summary: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("ok", "over_budget", "error", "reused")))
    if counts.get("error"):
        raise typer.Exit(1)


@app.command()
def regress(
    suite: Annotated[Path, typer.Option(help="Sweep YAML of the suite, with `tolerances` per metric.")] = Path(
        "configs/ci-small.yaml"
    ),
    baseline: Annotated[Path, typer.Option(help="Baseline metrics JSON.")] = Path("leaderboard/baseline.json"),
    out: Out = Path("runs/regress"),
    update: Annotated[bool, typer.Option(help="Write the suite's current metrics as the new baseline.")] = False,
    force: Force = False,
) -> None:
    """Run a small suite and compare it with a committed baseline; exit 1 on a regression."""
    from lampbench.harness.sweep import expand, read_sweep, run_sweep
    from lampbench.leaderboard.regress import compare, current_metrics, read_baseline, write_baseline

    _quiet_libraries()
    try:
        plan = read_sweep(suite)
        specs = expand(
            plan.get("methods") or [], plan.get("tasks") or [], [str(b) for b in plan.get("budgets") or []],
            plan.get("seeds") or [0], run_options=plan.get("run") or {}, method_sets=plan.get("set") or {},
        )  # fmt: skip
        counts = run_sweep(specs, out, force=force, on_done=_echo_done)
        metrics = current_metrics(specs, out)
        if update:
            write_baseline(baseline, metrics)
            typer.echo(f"baseline written: {baseline} ({len(metrics)} runs)")
            return
        report = compare(metrics, read_baseline(baseline), plan.get("tolerances") or {})
    except _user_errors() as e:
        _fail(str(e))
    for line in report.lines:
        typer.echo(line)
    typer.echo(f"regress: {len(report.regressions)} regression(s) over {len(metrics)} runs ({dict(counts)})")
    if report.regressions:
        raise typer.Exit(1)


def _listed(text: str | None) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()] if text else []


def _grid_value(value):
    """`--set k=1,2,4` in a sweep is the grid [1, 2, 4]; a value without commas stays as it is."""
    import yaml

    if isinstance(value, str) and "," in value:
        return [yaml.safe_load(part) for part in value.split(",")]
    return value


def _quiet_libraries() -> None:
    import logging
    import warnings

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # "Loading weights" bars on every model load


def _echo_done(record: dict) -> None:
    from lampbench.tasks.stats import metrics_line

    detail = record.get("error") or metrics_line(record.get("metrics") or {})
    typer.echo(f"  {record['run_id']}: {'reused' if record.get('reused') else record['status']}  {detail}")


def _print_record(record: dict, out: Path) -> None:
    from lampbench.harness.budget import format_seconds
    from lampbench.tasks.stats import metrics_line

    tag = " (reused a finished run; --force to rerun)" if record.get("reused") else ""
    typer.echo(f"{record['run_id']}: {record['status']}{tag}")
    if record.get("error"):
        typer.echo(f"  error: {record['error']}  (traceback in {out / record['run_id'] / 'log.txt'})")
    metrics = metrics_line(record.get("metrics", {}))
    typer.echo(
        f"  {metrics or 'no metrics (no golds)'}  unparsed={record.get('unparsed', 0)}/{record.get('queries', 0)}"
    )
    typer.echo(
        f"  budget {format_seconds(record['budget_s'])}: used {record.get('budget_used_s', 0):.1f}s "
        f"(fit {record.get('fit_s', 0):.1f}s, personalize {record.get('personalize_s', 0):.1f}s); "
        f"predict {record.get('predict_s', 0):.1f}s; state {record.get('state_bytes_per_user', 0):.0f} B/user"
    )
    typer.echo(f"  results in {out / record['run_id']}")


def _check_lamp_data(spec) -> None:
    """Download missing official files before the run starts (so the user sees the progress bar first)."""
    from lampbench.tasks.data import resolve_data_dir
    from lampbench.tasks.download import ensure_split
    from lampbench.tasks.specs import get_task

    root = resolve_data_dir(Path(spec.data_dir) if spec.data_dir else None)
    ensure_split(get_task(spec.task), spec.split, root, time_split=spec.time_split)


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
        rows = describe(task_spec, root, time_split=time_split, warn=lambda m: typer.echo(f"warning: {m}", err=True))
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
        _echo_checksums(task_spec, r["split"], root, time_split)


def _echo_checksums(task_spec, split: str, root: Path, time_split: bool) -> None:
    """One line per file of a split: its size, sha256, and whether it still is what was downloaded."""
    from lampbench.tasks.data import split_files
    from lampbench.tasks.download import file_record

    said = {True: "as downloaded", False: "changed since download", None: "not downloaded by lampbench"}
    for path in split_files(task_spec, split, root, time_split=time_split):
        if path is not None and path.exists():
            f = file_record(path, root)
            typer.echo(f"  {path.name}  {f['bytes']} B  sha256 {f['sha256']}  {said[f['as_downloaded']]}")


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
        result = score_files(get_task(task), golds, preds, warn=lambda m: typer.echo(f"warning: {m}", err=True))
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
