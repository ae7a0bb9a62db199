"""Sweeps: method x task x budget x seed (x method-config grids) expanded into runs, run locally or on Ray.

A sweep is written once, on the command line or in YAML (`configs/*.yaml`):

    methods: [base, rag, chameleon]
    tasks: [lamp2]
    budgets: [10m, 20m, 30m, 40m]
    seeds: [0, 1, 2]
    run: {data: synthetic, users: 20}          # any `bench run` option
    set:                                       # method config per method; a list is a grid
      rag: {k: [1, 4]}
      chameleon: {mode: group, group_size: [1, 10, 100]}

Its keys are `SweepSpec`'s fields (`harness/run/options.py`; `executor`, `cpus_per_run`... too), as are
`bench sweep`'s options and `lampbench.sweep`'s keywords; `bench regress` reads its suite the same way.
Finished runs are skipped (the run cache), a failing run does not stop the others, and the sweep ends with a
count of ok / over_budget / error / reused. Every run lands in the same results store as `bench run`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from lampbench.harness.run.inputs import RunInputs
from lampbench.harness.run.method_config import ConfigError, build_config, config_keys, read_yaml
from lampbench.harness.run.options import RunSpec, SweepSpec, sweep_keys
from lampbench.harness.run.runner import run
from lampbench.harness.run.shards import ray_resources, ray_session, run_sharded
from lampbench.harness.run.store import Store
from lampbench.methods.registry import METHODS
from lampbench.tasks.specs import get_task

log = logging.getLogger("lampbench")

_RUN_FIELDS = {f.name for f in dataclasses.fields(RunSpec)} - {"method", "task", "budget", "seed", "method_config"}


def grid(values: dict[str, Any]) -> list[dict[str, Any]]:
    """`{"k": [1, 4], "mode": "group"}` -> `[{"k": 1, "mode": "group"}, {"k": 4, "mode": "group"}]`."""
    keys = list(values)
    choices = [v if isinstance(v, list) else [v] for v in values.values()]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*choices)]


def read_sweep(path: Path) -> dict[str, Any]:
    """A sweep file's mapping, checked for unknown keys (its keys are `SweepSpec`'s)."""
    data = read_yaml(path)
    known = sweep_keys()
    unknown = set(data) - set(known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown sweep key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    unknown_run = set(data.get("run") or {}) - _RUN_FIELDS
    if unknown_run:
        raise ConfigError(f"{path}: unknown run option(s) {', '.join(sorted(unknown_run))}")
    return data


def load_sweep(path: str | Path | None = None, given: Mapping[str, Any] | None = None) -> SweepSpec:
    """The sweep of a YAML file (or none) overlaid by `given`: the options typed on the command line, or the API's
    keywords, by SweepSpec field or run option name. None and empty sequences in `given` count as not given.

    Raises:
        ConfigError: a bad value; one from the file names the file.
    """
    where = f"{path}: " if path else ""
    plan = read_sweep(Path(path)) if path else {}
    keys = sweep_keys()
    try:
        from_file = SweepSpec(**{keys[k]: v for k, v in plan.items() if v is not None})
    except ConfigError as e:
        raise ConfigError(f"{where}{e}") from None
    fields = {f.name for f in dataclasses.fields(SweepSpec)}
    given = {k: _materialised(v) for k, v in (given or {}).items()}
    given = {k: v for k, v in given.items() if v is not None and v != ()}
    typed_run = {k: v for k, v in given.items() if k not in fields}
    sweep = dataclasses.replace(
        from_file, **{k: v for k, v in given.items() if k in fields}, run={**from_file.run, **typed_run}
    )
    if path:
        _check_method_sets(sweep, where)
    return sweep


def _materialised(value: Any) -> Any:
    """An iterable the API was given (a generator, a list) as a tuple; text and mappings as they are."""
    is_sequence = isinstance(value, Iterable) and not isinstance(value, str | Mapping)
    return tuple(value) if is_sequence else value


def _check_method_sets(sweep: SweepSpec, where: str) -> None:
    """A sweep file's `set:` section checked against each method's config, the file named in the error."""
    for method in (m for m in sweep.methods if m in sweep.method_sets):
        for combo in grid(sweep.method_sets[method]):
            try:
                build_config(METHODS.get(method).Config, combo, where=f"{method} config")
            except ConfigError as e:
                raise ConfigError(f"{where}set: {e}") from None


def expand(sweep: SweepSpec) -> list[RunSpec]:
    """Every run of the sweep, as resolved `RunSpec`s (method configs validated against each method).

    `sweep.method_sets` holds per-method config (lists are grids); `sweep.sets` (from `--set`) applies each key
    to the methods whose config has it, and a key that no method has is an error.
    """
    if not (sweep.methods and sweep.tasks and sweep.budgets):
        raise ConfigError("the sweep has no runs: give methods, tasks and budgets, or a config file with them")
    tasks = [get_task(t).name for t in sweep.tasks]
    classes = {m: METHODS.get(m) for m in sweep.methods}
    keys = {m: set(config_keys(c.Config)) for m, c in classes.items()}
    orphan = [k for k in sweep.sets if not any(k in known for known in keys.values())]
    if orphan:
        raise ConfigError(f"--set {', '.join(orphan)}: no method of this sweep has such a config key")
    specs = []
    for method in sweep.methods:
        own = {k: v for k, v in sweep.sets.items() if k in keys[method]}
        for combo in grid({**own, **sweep.method_sets.get(method, {})}):
            config = dataclasses.asdict(build_config(classes[method].Config, combo, where=f"{method} config"))
            fit_budgets = sweep.fit_budgets or (None,)  # none: one budget for fit and users (shares)
            for task, budget, fit_budget, seed in itertools.product(tasks, sweep.budgets, fit_budgets, sweep.seeds):
                run_options = {**sweep.run, "fit_budget": fit_budget} if fit_budget else sweep.run
                specs.append(
                    RunSpec(method=method, task=task, budget=budget, seed=seed, method_config=config, **run_options)
                )
    return specs


def execute(
    spec: RunSpec, out: str, force: bool = False, progress: bool = False, data: RunInputs | None = None,
    ray_address: str | None = None, cpus_per_run: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Run one spec in this process: resolve its method, build its config, run, return the record.

    `data` is the run's users, loaded already (else the runner loads them). A spec with `shards` > 1 is run
    over Ray from here (`shards.py`: each shard reserves a device, `cpus_per_run` CPUs on CPU nodes).
    """
    if spec.shards > 1:
        return run_sharded(spec, out, force=force, address=ray_address, cpus_per_run=cpus_per_run)
    cls = METHODS.get(spec.method)
    config = build_config(cls.Config, spec.method_config, where=f"{spec.method} config")
    return run(spec, cls(config), store=Store(out), force=force, progress=progress, data=data)


def _safe_execute(spec: RunSpec, out: str, force: bool, threads: int | None = None) -> dict[str, Any]:
    """`execute`, with any failure turned into an `error` record; `threads` sets torch's CPU threads first."""
    try:
        if threads:
            import torch

            torch.set_num_threads(threads)
        return execute(spec, out, force)
    except Exception as e:  # noqa: BLE001 - one failing run must not stop the sweep
        log.error("run %s failed before starting:\n%s", spec.run_id, traceback.format_exc())
        return _error_record(spec, e)


def _error_record(spec: RunSpec, error: BaseException) -> dict[str, Any]:
    return {"run_id": spec.run_id, "status": "error", "error": f"{type(error).__name__}: {error}".splitlines()[0]}


def run_sweep(
    specs: list[RunSpec],
    out: Path | str,
    sweep: SweepSpec | None = None,
    *,
    force: bool = False,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> Counter:
    """Run every spec (finished ones are reused unless `force`) where `sweep` says; returns counts by outcome.

    A failing run is recorded as `error` and the others go on. Budgets are wall-clock, so runs never share a
    device unless told: locally they run one after another; on Ray each run reserves a whole node's CPUs
    (`cpus_per_run` to reserve fewer, so several runs share a node) or one GPU on GPU nodes, and its torch
    threads are set to the CPUs it holds.
    """
    sweep = sweep or SweepSpec()
    check_shards(specs, sweep.executor)
    counts: Counter = Counter()
    records: Iterable[dict[str, Any]]
    sharded, single = [s for s in specs if s.shards > 1], [s for s in specs if s.shards == 1]
    if sweep.executor == "ray":
        records = _ray_records(single, str(Path(out).resolve()), force, sweep.ray_address, sweep.cpus_per_run)
    else:
        records = (_safe_execute(spec, str(out), force, sweep.cpus_per_run) for spec in single)
    # A sharded run spreads over the cluster itself: run from here, one after another, after the others.
    sharded_records = (execute(s, str(out), force, False, None, sweep.ray_address, sweep.cpus_per_run) for s in sharded)
    for record in itertools.chain(records, sharded_records):
        counts["reused" if record.get("reused") else record["status"]] += 1
        if on_done is not None:
            on_done(record)
    return counts


def check_shards(specs: list[RunSpec], executor: str) -> None:
    """`--shards` needs the Ray executor (each shard is a device of a cluster, or of this machine).

    Raises:
        ConfigError: a spec with more than one shard and another executor.
    """
    sharded = [s for s in specs if s.shards > 1]
    if sharded and executor != "ray":
        raise ConfigError(f"--shards {sharded[0].shards} needs --executor ray (each shard runs on a Ray worker)")


def _ray_records(specs: list[RunSpec], out: str, force: bool, address: str | None, cpus_per_run: int | None):
    """Each run a Ray task holding `ray_resources`; yields records as runs finish (a lost worker is an error)."""
    if not specs:
        return
    with ray_session(address) as ray:
        nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        cpus, gpus = ray_resources(nodes, cpus_per_run)
        log.info("ray: each run reserves %d CPU(s) and %d GPU(s)", cpus, gpus)
        remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_safe_execute)
        pending = {remote.remote(spec, out, force, cpus): spec for spec in specs}
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(done)
            try:
                yield ray.get(done)
            except Exception as e:  # noqa: BLE001 - a killed worker (out of memory, lost node) fails one run only
                log.error("run %s: its Ray worker failed: %s", spec.run_id, e)
                yield _error_record(spec, e)
