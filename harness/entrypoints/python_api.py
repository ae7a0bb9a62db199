"""The Python API: what `bench run`, `bench sweep` and `bench leaderboard` do, as functions (`harness/entrypoints/
cli.py` is built on them, and `import lampbench` re-exports them).

Everything is checked before anything is created: the method and its config, the task, the budget, the run options
and the data (loaded once, before the run folder exists). Bad input raises a `UserError` (`tasks/errors.py`),
whose message is one line naming the file, the entry and the problem; a failure inside a run is recorded in its run
folder (`status: error`, traceback in `log.txt`) and returned as its record, exactly as the CLI writes it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Collection, Iterable, Mapping
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

from lampbench.harness.run.inputs import load_eval_and_train
from lampbench.harness.run.method_config import ConfigError, build_config, read_yaml
from lampbench.harness.run.options import SweepSpec, budget_seconds, check_run_options
from lampbench.harness.run.store import Store
from lampbench.harness.run.sweep import check_shards, execute, expand, load_sweep, run_sweep
from lampbench.harness.services.models import check_model
from lampbench.leaderboard.table import leaderboard as fold
from lampbench.leaderboard.table import load_runs
from lampbench.methods.registry import METHODS
from lampbench.tasks.errors import UserError
from lampbench.tasks.specs import get_task

Record = dict[str, Any]


def user_errors() -> tuple[type[Exception], ...]:
    """The project's own errors: bad input, said in one line. Anything else is a bug."""
    return (UserError,)


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
    executor: str = "local",
    ray_address: str | None = None,
    cpus_per_run: int | None = None,
    **options: Any,
) -> Record:
    """Run one method on one task under a budget; returns the run record (the folder's `run.json`).

    Args:
        method: a registered name (`bench methods`) or `package.module:Class`.
        task: `lamp1` ... `lamp7` (`bench tasks`).
        budget: wall-clock budget for fit + personalize: `"90s"`, `"20m"`, `"1h30m"` or seconds (more than 0).
        config: the method's config keys, as a mapping or a YAML file (`bench run --config`).
        sets: config keys that win over `config` (`bench run --set key=value`).
        out: the results directory.
        force: run again even if this exact configuration has finished.
        progress: show progress bars.
        executor, ray_address, cpus_per_run: where a run with `shards=N` runs its shards (`"ray"`; the cluster at
            `ray_address`, else `$RAY_ADDRESS`, else a local instance) and the CPUs each shard reserves.
        **options: any `bench run` option by its field name in `RunSpec`: `data="synthetic"`, `users=20`,
            `seed=1`, `model="tiny-random"`, `dtype="bfloat16"`, `fit_budget="5m"`, `shards=2`...

    Raises:
        UserError: bad input (`ConfigError`, `DataError`, `UnknownMethod`, `UnknownTask`), before anything is created.
    """
    options = check_run_options(options)
    seed = options.pop("seed", 0)
    fit_budget = options.pop("fit_budget", None)
    sets = {**_method_config(method, config), **dict(sets or {})}
    # One run: a list value is the value itself, not a grid, so each value goes in as a one-point grid.
    one_point = {method: {key: [value] for key, value in sets.items()}}
    plan = SweepSpec(methods=(method,), tasks=(task,), budgets=(budget,), seeds=(seed,), run=options,
                     method_sets=one_point, fit_budgets=(fit_budget,) if fit_budget else (), executor=executor,
                     ray_address=ray_address, cpus_per_run=cpus_per_run)  # fmt: skip
    (spec,) = expand(plan)
    check_shards([spec], plan.executor)
    return execute_checked(spec, out, force=force, progress=progress, plan=plan)


def _method_config(method: str, config: Mapping[str, Any] | str | Path | None) -> dict[str, Any]:
    """A method's config keys from a mapping or a YAML file; a file's bad key or value is reported with its name."""
    if not isinstance(config, str | Path):
        return dict(config or {})
    keys = read_yaml(Path(config))
    try:
        build_config(METHODS.get(method).Config, keys, where=f"{method} config")
    except ConfigError as e:
        raise ConfigError(f"{config}: {e}") from None
    return keys


def execute_checked(
    spec, out: str | Path, *, force: bool = False, progress: bool = False, plan: SweepSpec | None = None
) -> Record:
    """Run a resolved `RunSpec` once its data loaded without error (a finished run is reused as it is); `plan`
    says where a sharded run's shards go (its executor's Ray address and CPUs per shard)."""
    ray = {"ray_address": plan.ray_address, "cpus_per_run": plan.cpus_per_run} if plan else {}
    if not force and Store(out).finished(spec.run_id):
        return execute(spec, str(out), force=False, progress=progress, **ray)
    data = load_eval_and_train(spec, get_task(spec.task), with_train=METHODS.get(spec.method).uses_train_users)
    return execute(spec, str(out), force=force, progress=progress, data=data, **ray)


def sweep(
    methods: Iterable[str] = (),
    tasks: Iterable[str] = (),
    budgets: Iterable[str | float] = (),
    seeds: Iterable[int] = (),
    *,
    config: str | Path | None = None,
    out: str | Path = "runs",
    force: bool = False,
    on_done: Callable[[Record], None] | None = None,
    on_start: Callable[[SweepSpec, list], None] | None = None,
    **options: Any,
) -> list[Record]:
    """Run a grid of method x task x budget x seed; returns every run's record, failed ones included.

    `config` is a sweep YAML (`methods`, `tasks`, `budgets`, `seeds`, `run`, `set`...: `SweepSpec`'s fields);
    what is given here wins over it. `**options` are the other `SweepSpec` fields (`sets`: config keys for every
    method that has them, a list a grid; `executor`, `ray_address`, `cpus_per_run`) and run options as in `run`.
    Finished runs are reused unless `force`; a failing run does not stop the others.
    """
    given = {"methods": methods, "tasks": tasks, "budgets": budgets, "seeds": seeds, **options}
    return run_plan(load_sweep(config, given), out, force=force, on_done=on_done, on_start=on_start)


def run_plan(
    plan: SweepSpec,
    out: str | Path,
    *,
    force: bool = False,
    on_done: Callable[[Record], None] | None = None,
    on_start: Callable[[SweepSpec, list], None] | None = None,
) -> list[Record]:
    """Run a resolved sweep (`sweep`, `bench regress`): its runs and their data checked, then every run."""
    specs = expand(plan)
    check_shards(specs, plan.executor)
    if plan.executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError("--executor ray needs Ray: pip install 'ray>=2.9'")
    _check_sweep_data(specs, out, force)
    if on_start is not None:
        on_start(plan, specs)
    records: list[Record] = []

    def done(record: Record) -> None:
        records.append(record)
        if on_done is not None:
            on_done(record)

    run_sweep(specs, out, plan, force=force, on_done=done)
    return records


def leaderboard_table(
    out: str | Path = "runs", *, task: str | None = None, budgets: Collection[str | float] | None = None,
    aggregate: str = "best",
):  # fmt: skip
    """The leaderboard as a pandas DataFrame: one row per method, task, budget (and config), as `bench leaderboard`.

    `aggregate` folds seeds into the best seed ("best") or their mean ± std ("mean").
    """
    seconds = [budget_seconds(b) for b in budgets] if budgets else None
    return fold(load_runs(Path(out), task=task, budgets=seconds), aggregate)


def _check_sweep_data(specs: list, out: str | Path, force: bool) -> None:
    """Load each distinct data selection of the sweep once and check each model, so bad data or a missing model
    stops it before any run folder exists."""
    store, seen = Store(out), set()
    for spec in specs:
        if not force and store.finished(spec.run_id):
            continue
        train = METHODS.get(spec.method).uses_train_users
        key = (spec.task, spec.data, spec.split, spec.time_split, spec.data_dir, spec.patch_known_defects, train)
        if key not in seen:
            seen.add(key)
            load_eval_and_train(spec, get_task(spec.task), with_train=train)
        model = (spec.model, spec.revision, spec.trust_remote_code)
        if model not in seen:  # a model that does not exist stops the sweep too (a run checks its device itself)
            seen.add(model)
            check_model(spec.model, revision=spec.revision, trust_remote_code=spec.trust_remote_code)


def version() -> str:
    """The installed lampbench version."""
    try:
        return installed("lampbench")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"
