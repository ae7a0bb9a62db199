"""`--shards N` (with `--executor ray`): one run's evaluation users spread over N devices.

The run is done in parts (`parts.py`), each a Ray task on a device of its own (one GPU, or a whole CPU node, as
a sweep's runs are placed: `ray_resources`), each through the runner in its own folder under the run's:

1. the collective stage, once: `fit` runs and is saved (the run's folder in one-budget mode, the fit store with
   `--fit-budget`); a method with a collective stage it cannot save cannot be sharded;
2. the N shards at once: each loads that fit and personalizes and answers every N-th user, under its share of
   the per-user budget (the per-user budget times its share of the users: each user gets what one device would
   give them, and the per-user deadlines are computed within the shard);
3. the merge, here: every user once, generations and per-user rows in the run's user order, scores over all of
   them, costs summed, and `shards` listing each part's users, hardware, times and status. `devices` says how
   many devices ran the per-user stages: the leaderboard keys rows by it (a budget on 8 GPUs is not one on 1).

A shard whose worker is lost (a dead node, out of memory) is retried alone by Ray; rerunning the command reuses the
finished parts and resumes the others where they stopped (each part's folder has its own progress files). Every
part reads the data and writes its folder itself: on a cluster the results folder must be on a shared filesystem.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lampbench.harness.run.fit_stage import has_fit
from lampbench.harness.run.method_config import ConfigError, build_config
from lampbench.harness.run.options import RunSpec
from lampbench.harness.run.parts import Part, merged_order
from lampbench.harness.run.record import IndexLine, RunRecord
from lampbench.harness.run.runner import run, score_answers, write_results
from lampbench.harness.run.store import FINISHED, Store, write_json
from lampbench.harness.services.budget import overrun_allowance
from lampbench.methods.registry import METHODS
from lampbench.tasks.specs import get_task

log = logging.getLogger("lampbench")

#: Report keys recomputed from the merged counts (`Context.personalized`), not added up.
_COVERAGE = "personalized_fraction"


def ray_resources(nodes: list[dict[str, float]], cpus_per_run: int | None = None) -> tuple[int, int]:
    """(CPUs, GPUs) each run (or shard) reserves, from the alive nodes' resources (Ray's `{"CPU": n, "GPU": m}`).

    CPU nodes: all of a node's CPUs (the smallest node's, so that every node can take a run), or
    `cpus_per_run`. GPU nodes: one GPU and the CPUs that go with it (a node's CPUs over its GPUs), or
    `cpus_per_run`.
    """
    if not nodes:
        raise ValueError("the Ray cluster has no alive node")
    with_gpus = [n for n in nodes if n.get("GPU", 0) >= 1]
    if with_gpus:
        share = min(int(n.get("CPU", 1) // n["GPU"]) for n in with_gpus)
        return cpus_per_run or max(1, share), 1
    return cpus_per_run or max(1, min(int(n.get("CPU", 1)) for n in nodes)), 0


@contextmanager
def ray_session(address: str | None) -> Iterator[Any]:
    """The `ray` module, connected to `address` (None: `$RAY_ADDRESS`, else a local instance started here)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'ray>=2.9'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()


def _part(spec: RunSpec, out: str, force: bool, part: Part, threads: int | None) -> dict[str, Any]:
    """One part in this process (a Ray worker): its status, error and folder (the record is in the folder)."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    cls = METHODS.get(spec.method)
    method = cls(build_config(cls.Config, spec.method_config, where=f"{spec.method} config"))
    record = run(spec, method, store=Store(out), force=force, progress=False, part=part)
    return {"status": record["status"], "error": record.get("error"), "reused": bool(record.get("reused"))}


def run_sharded(
    spec: RunSpec, out: str | Path, *, force: bool = False, address: str | None = None, cpus_per_run: int | None = None
) -> dict[str, Any]:
    """Run `spec` as its collective stage and `spec.shards` shards on Ray, merge them; returns the run's record.

    A finished run is reused (`reused` set), as the runner does; `force` redoes every part.
    """
    store, wall = Store(out), time.perf_counter()
    if not force and (done := store.finished(spec.run_id)):
        return {**done.to_json(), "reused": True}
    run_dir = store.run_dir(spec.run_id)
    root = str(Path(out).resolve())
    with ray_session(address) as ray:
        cpus, gpus = ray_resources([n["Resources"] for n in ray.nodes() if n.get("Alive")], cpus_per_run)
        log.info("shards: %d, each on %d CPU(s) and %d GPU(s)", spec.shards, cpus, gpus)
        # max_retries: a part whose worker died is run again, alone, and resumes from its own progress files.
        remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=2)(_part)
        fit_part = Part(spec.shards)
        outcomes = {"fit": _outcome(ray, remote.remote(spec, root, force, fit_part, cpus))}
        fit = RunRecord.load(fit_part.folder(run_dir) / "run.json")
        if fit is None or fit.status not in FINISHED:
            return _failed(store, spec, f"the collective stage failed: {outcomes['fit'].get('error')}")
        if has_fit(METHODS.get(spec.method)) and fit.fit_path is None:
            return _failed(store, spec, f"{spec.method} does not save its collective stage, so it cannot be sharded")
        per_user_budget = spec.budget - (fit.budget_used_s if spec.fit_budget is None else 0.0)
        parts = [Part(spec.shards, k, per_user_budget, fit.fit_path) for k in range(spec.shards)]
        pending = {remote.remote(spec, root, force, p, cpus): p for p in parts}
        for ref, p in pending.items():
            outcomes[p.name] = _outcome(ray, ref)
    records = [RunRecord.load(p.folder(run_dir) / "run.json") for p in parts]
    rows = [line for p in parts for line in _generations(p.folder(run_dir))]
    record = merge(spec, fit, records, outcomes, rows)
    record.wall_s = time.perf_counter() - wall
    order = {row.user: i for i, row in enumerate(record.per_user)}
    rows.sort(key=lambda line: order.get(line["user"], len(order)))  # stable: a user's queries stay in order
    write_json(run_dir / "config.json", {"run_id": spec.run_id, **dataclasses.asdict(spec)})
    with open(run_dir / "generations.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in rows)
    write_results(run_dir, record, get_task(spec.task), rows)
    if record.status in FINISHED:
        store.add_to_index(IndexLine(record, spec.method_config))
    return record.to_json()


def merge(
    spec: RunSpec, fit: RunRecord, shards: list[RunRecord | None], outcomes: dict[str, dict], rows: list[dict]
) -> RunRecord:
    """The run's record from its fit part's and its shards' (a shard without a record counts as failed)."""
    record = dataclasses.replace(fit, per_user=[], method_report={}, status="ok", error=None, budget_s=spec.budget)
    done = [r for r in shards if r is not None]
    per_user = merged_order([r.per_user for r in done])
    score_answers(record, get_task(spec.task), per_user, [r for r in rows if r["user"] in {u.user for u in per_user}])
    record.budget_used_s = fit.budget_used_s + sum(r.budget_used_s for r in done)
    record.overrun_allowance_s = overrun_allowance(spec.budget)
    record.load_s = max((r.load_s for r in [fit, *done]), default=0.0)
    record.predict_batches = _summed([r.predict_batches for r in done])
    record.method_report = merged_report(fit.method_report, [r.method_report for r in done])
    record.devices = spec.shards
    record.shards = [_shard_row("fit", fit, outcomes.get("fit", {}))] + [
        _shard_row(str(k), r, outcomes.get(str(k), {})) for k, r in enumerate(shards)
    ]
    failed = [f"shard {k}: {r.error if r else outcomes.get(str(k), {}).get('error')}"
              for k, r in enumerate(shards) if r is None or r.status not in FINISHED]  # fmt: skip
    if failed:
        record.status, record.error = "error", "; ".join(failed)
    elif fit.status == "over_budget" or any(r.status == "over_budget" for r in done):
        record.status = "over_budget"
    return record


def merged_report(fit: dict[str, Any], shards: list[dict[str, Any]]) -> dict[str, Any]:
    """The method's report of a sharded run: the fit part's, then the shards' added up (numbers summed, lists
    joined, counts by key summed) and the coverage recomputed from the summed counts."""
    out = dict(fit)
    for report in shards:
        for key, value in report.items():
            if key in fit or key == _COVERAGE:
                continue  # the collective stage's, once
            out[key] = _added(out[key], value) if key in out else value
    users = out.get("personalized_users", 0) + out.get("fallback_users", 0)
    if users:
        out[_COVERAGE] = out.get("personalized_users", 0) / users
    return out


def _added(a: Any, b: Any) -> Any:
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    if isinstance(a, dict) and isinstance(b, dict):
        return {**a, **{k: _added(a[k], v) if k in a else v for k, v in b.items()}}
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return a + b
    return a


def _summed(counts: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            out[k] = out.get(k, 0) + v
    return out


def _shard_row(name: str, record: RunRecord | None, outcome: dict[str, Any]) -> dict[str, Any]:
    """One part in the run's `shards`: its users, hardware, budget, times and status."""
    if record is None:
        return {"shard": name, "status": outcome.get("status", "error"), "error": outcome.get("error")}
    return {
        "shard": name, "users": record.users, "status": record.status, "reused": bool(outcome.get("reused")),
        "hardware": record.hardware, "budget_s": record.budget_s, "budget_used_s": record.budget_used_s,
        "wall_s": record.wall_s, "load_s": record.load_s, "fit_s": record.fit_s,
        "personalize_s": record.personalize_s, "predict_s": record.predict_s, "started": record.started,
    }  # fmt: skip


def _outcome(ray, ref) -> dict[str, Any]:
    """A part's outcome; a worker that failed for good (retries spent) is an error of that part only."""
    try:
        return ray.get(ref)
    except Exception as e:  # noqa: BLE001 - a lost worker fails its part; the others are merged
        log.error("a shard's Ray worker failed: %s", e)
        return {"status": "error", "error": f"{type(e).__name__}: {e}".splitlines()[0]}


def _failed(store: Store, spec: RunSpec, error: str) -> dict[str, Any]:
    """The run's record when it cannot be sharded or its collective stage failed."""
    log.error("run %s: %s", spec.run_id, error)
    record = RunRecord(
        run_id=spec.run_id, method=spec.method, task=spec.task, budget_s=spec.budget, seed=spec.seed, data=spec.data,
        split=spec.split, model=spec.model, error=error, devices=spec.shards,
    )  # fmt: skip
    store.run_dir(spec.run_id).mkdir(parents=True, exist_ok=True)
    write_json(store.run_dir(spec.run_id) / "run.json", record.to_json())
    return record.to_json()


def _generations(folder: Path) -> list[dict[str, Any]]:
    path = folder / "generations.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
