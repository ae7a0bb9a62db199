"""The Python API: what `bench run`, `bench sweep` and `bench leaderboard` do, as functions (`harness/cli.py` is
built on them, and `import lampbench` re-exports them).

Everything is checked before anything is created: the method and its config, the task, the budget, the run options
and the data (loaded once, before the run folder exists). Bad input raises one of `user_errors()`, whose message
is one line naming the file, the entry and the problem; a failure inside a run is recorded in its run folder
(`status: error`, traceback in `log.txt`) and returned as its record, exactly as the CLI writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any


def user_errors() -> tuple[type[Exception], ...]:
    """The project's own errors: bad input, said in one line. Anything else is a bug."""
    from lampbench.harness.run.method_config import ConfigError
    from lampbench.methods.registry import UnknownMethod
    from lampbench.tasks.specs import DataError, UnknownTask

    return (ConfigError, DataError, UnknownMethod, UnknownTask)


def run(
    method: str,
    task: str,
    budget: str | float = "20m",
    *,
    config: Mapping[str, Any] | str | Path | None = None,
    sets: Mapping[str, Any] | None = None,
    out: str | Path = "runs",
    force: bool = False,
    progress: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Run one method on one task under a budget; returns the run record (the folder's `run.json`).

    Args:
        method: a registered name (`bench methods`) or `package.module:Class`.
        task: `lamp1` ... `lamp7` (`bench tasks`).
        budget: wall-clock budget for fit + personalize: `"90s"`, `"20m"`, `"1h30m"` or seconds.
        config: the method's config keys, as a mapping or a YAML file (`bench run --config`).
        sets: config keys that win over `config` (`bench run --set key=value`).
        out: the results directory.
        force: run again even if this exact configuration has finished.
        progress: show progress bars.
        **options: any `bench run` option by its field name in `RunSpec`: `data="synthetic"`, `users=20`,
            `seed=1`, `model="tiny-random"`, `dtype="bfloat16"`...

    Raises:
        ConfigError, DataError, UnknownMethod, UnknownTask: bad input, before anything is created.
    """
    from lampbench.harness.run.options import check_run_options
    from lampbench.harness.run.sweep import expand

    options = check_run_options(options)
    seed = options.pop("seed", 0)
    sets = {**_method_config(method, config), **dict(sets or {})}
    # One run: a list value is the value itself, not a grid, so each value goes in as a one-point grid.
    one_point = {method: {key: [value] for key, value in sets.items()}}
    (spec,) = expand([method], [task], [_budget(budget)], [seed], run_options=options, method_sets=one_point)
    return execute_checked(spec, out, force=force, progress=progress)


def _method_config(method: str, config: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """A method's config keys from a mapping or a YAML file; a file's bad key or value is reported with its name."""
    from lampbench.harness.run.method_config import ConfigError, build_config, read_yaml
    from lampbench.methods.registry import METHODS

    if not isinstance(config, str | Path):
        return dict(config or {})
    keys = read_yaml(Path(config))
    try:
        build_config(METHODS.get(method).Config, keys, where=f"{method} config")
    except ConfigError as e:
        raise ConfigError(f"{config}: {e}") from None
    return keys


def execute_checked(spec, out: str | Path, *, force: bool = False, progress: bool = False) -> dict[str, Any]:
    """Run a resolved `RunSpec` once its data loaded without error (a finished run is reused as it is)."""
    from lampbench.harness.run.inputs import checked_data
    from lampbench.harness.run.store import Store
    from lampbench.harness.run.sweep import execute
    from lampbench.methods.registry import METHODS
    from lampbench.tasks.specs import get_task

    if not force and Store(out).finished(spec.run_id):
        return execute(spec, str(out), force=False, progress=progress)
    with checked_data(spec, get_task(spec.task), with_train=METHODS.get(spec.method).uses_train_users):
        return execute(spec, str(out), force=force, progress=progress)


def sweep(
    methods: Iterable[str] = (),
    tasks: Iterable[str] = (),
    budgets: Iterable[str | float] = (),
    seeds: Iterable[int] = (),
    *,
    config: str | Path | None = None,
    sets: Mapping[str, Any] | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    cpus_per_run: int | None = None,
    out: str | Path = "runs",
    force: bool = False,
    on_done: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[list], None] | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """Run a grid of method x task x budget x seed; returns every run's record, failed ones included.

    `config` is a sweep YAML (`methods`, `tasks`, `budgets`, `seeds`, `run`, `set`); arguments given here win over
    it. `sets` applies config keys to every method that has them (a list is a grid). `**options` are run options
    as in `run`. Finished runs are reused unless `force`; a failing run does not stop the others.
    """
    from lampbench.harness.run.method_config import ConfigError
    from lampbench.harness.run.options import check_run_options
    from lampbench.harness.run.sweep import expand, read_sweep, run_sweep

    plan = read_sweep(Path(config)) if config else {}
    where = f"{config}: run option" if config else "run option"
    merged = {**check_run_options(plan.get("run") or {}, where, sweep=True), **check_run_options(options, sweep=True)}
    methods = list(methods) or plan.get("methods") or []
    if config:
        _check_plan_sets(Path(config), plan, methods)
    specs = expand(
        methods,
        list(tasks) or plan.get("tasks") or [],
        [_budget(b) for b in (list(budgets) or plan.get("budgets") or [])],
        [int(s) for s in (list(seeds) or plan.get("seeds") or [0])],
        run_options=merged, method_sets=plan.get("set") or {}, shared_sets=dict(sets or {}),
    )  # fmt: skip
    if not specs:
        raise ConfigError("the sweep has no runs: give methods, tasks and budgets, or a config file with them")
    if executor == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ConfigError("--executor ray needs Ray: pip install 'ray>=2.9'")
    _check_sweep_data(specs, out, force)
    if on_start is not None:
        on_start(specs)
    records: list[dict[str, Any]] = []

    def done(record: dict[str, Any]) -> None:
        records.append(record)
        if on_done is not None:
            on_done(record)

    run_sweep(
        specs, out, force=force, executor=executor, ray_address=ray_address, cpus_per_run=cpus_per_run, on_done=done
    )
    return records


def _check_plan_sets(path: Path, plan: dict[str, Any], methods: list[str]) -> None:
    """A sweep file's `set:` section checked against each method's config, the file named in the error."""
    from lampbench.harness.run.method_config import ConfigError, build_config
    from lampbench.harness.run.sweep import grid
    from lampbench.methods.registry import METHODS

    sets = plan.get("set") or {}
    if not isinstance(sets, dict) or not all(isinstance(v, dict) for v in sets.values()):
        raise ConfigError(f"{path}: set: expected a mapping of method -> config keys, e.g. set: {{rag: {{k: [1, 4]}}}}")
    for method in (m for m in methods if m in sets):
        for combo in grid(sets[method]):
            try:
                build_config(METHODS.get(method).Config, combo, where=f"{method} config")
            except ConfigError as e:
                raise ConfigError(f"{path}: set: {e}") from None


def leaderboard(
    out: str | Path = "runs", *, task: str | None = None, budgets: Collection[str | float] | None = None,
    aggregate: str = "best",
):  # fmt: skip
    """The leaderboard as a pandas DataFrame: one row per method, task, budget (and config), as `bench leaderboard`.

    `aggregate` folds seeds into the best seed ("best") or their mean ± std ("mean").
    """
    from lampbench.leaderboard.table import leaderboard as fold
    from lampbench.leaderboard.table import load_runs

    seconds = [_budget(b) for b in budgets] if budgets else None
    return fold(load_runs(Path(out), task=task, budgets=seconds), aggregate)


def _budget(value: str | float) -> float:
    """A budget in seconds; a bad one is a config error (one line), not a ValueError (a bug)."""
    from lampbench.harness.services.budget import parse_budget
    from lampbench.harness.run.method_config import ConfigError

    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return parse_budget(str(value))
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _check_sweep_data(specs: list, out: str | Path, force: bool) -> None:
    """Load each distinct data selection of the sweep once, so bad data stops it before any run folder exists."""
    from lampbench.harness.run.inputs import load_eval_and_train
    from lampbench.harness.run.store import Store
    from lampbench.methods.registry import METHODS
    from lampbench.tasks.specs import get_task

    store, seen = Store(out), set()
    for spec in specs:
        if not force and store.finished(spec.run_id):
            continue
        train = METHODS.get(spec.method).uses_train_users
        key = (spec.task, spec.data, spec.split, spec.time_split, spec.data_dir, spec.patch_known_defects, train)
        if key not in seen:
            seen.add(key)
            load_eval_and_train(spec, get_task(spec.task), with_train=train)


def version() -> str:
    """The installed lampbench version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("lampbench")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"
