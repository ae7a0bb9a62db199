"""Fake results for the leaderboard, plot and site tests: run folders and index records as the runner writes them.

No model and no data: the numbers are made up so that more budget helps, `chameleon` beats `rag` beats `base`,
and seeds differ a little. Two tasks, so that both metric directions show: lamp3 (MAE, lower is better) and
lamp2 (accuracy, higher is better). lamp3 runs carry per-user outcomes (4 users, 2 queries each) and intervals as
the runner writes them, the official figure 0.5 worse than the read one; lamp2 runs have none, as runs made before
intervals existed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lampbench.harness.run.record import IndexLine, RunRecord, UserRow
from lampbench.harness.run.store import Store, write_json
from lampbench.tasks.specs import TASKS
from lampbench.tasks.stats import intervals, metrics_of, user_stats

HARDWARE = {"label": "Fake CPU x1 cpu, no gpu", "cpu": "Fake CPU", "cores": 2}
USERS = ("u0", "u1", "u2", "u3")


def rating_run(mae: float, phase: float = 0.0, official_shift: float = 0.5) -> tuple[dict, dict]:
    """Metrics (with intervals) and per-user outcomes of a lamp3 run whose MAE is `mae`.

    Each query's error is `mae` plus a zero-mean wiggle that depends on `phase` (a method's own noise); the raw
    generations (official) are off by `official_shift` more.
    """
    wiggle = [0.25 * math.sin(1.7 * k + phase) for k in range(2 * len(USERS))]
    errors = [mae + w - sum(wiggle) / len(wiggle) for w in wiggle]
    users = [u for u in USERS for _ in range(2)]
    metrics: dict[str, Any] = {}
    outcomes: dict[str, dict[str, list]] = {}
    for variant, shift in (("read", 0.0), ("official", official_shift)):
        pairs = [(3.0, 3.0 + e + shift) for e in errors]
        stats = user_stats(TASKS["lamp3"], users, pairs)
        values, found = metrics_of(TASKS["lamp3"], stats.table.sum(0)), intervals(stats)
        suffix = "" if variant == "read" else "_official"
        for m in ("mae", "rmse"):
            metrics[f"{m}{suffix}"] = float(values[m])
            metrics[f"{m}{suffix}_ci_low"], metrics[f"{m}{suffix}_ci_high"] = found[m]
        for user, pair in zip(users, pairs, strict=True):
            outcomes.setdefault(user, {}).setdefault(variant, []).append(list(pair))
    return metrics, outcomes


BUDGETS = (60.0, 300.0, 600.0)
SEEDS = (0, 1, 2)
METHODS = {"base": 0.0, "rag": 0.1, "chameleon": 0.2}  # how much each method helps at the largest budget
DEFAULTS = {"base": {}, "rag": {"k": 4}, "chameleon": {"group_size": 100, "history_k": 10}}


def add_run(
    store: Store,
    *,
    task: str,
    method: str,
    budget: float,
    seed: int,
    metrics: dict[str, float],
    status: str = "ok",
    method_config: dict[str, Any] | None = None,
    report: dict[str, Any] | None = None,
    state_bytes: float = 0.0,
    parameters: int = 0,
    fit_s: float = 0.0,
    personalize_s: float = 0.0,
    outcomes: dict[str, dict[str, list]] | None = None,
    hardware: dict[str, Any] | None = HARDWARE,
    dtype: str | None = "float32",
    read: dict[str, int] | None = None,
    profiles: str = "own",
) -> str:
    """Write one run's folder (config.json, run.json, metrics.json) and, unless it failed, its index line.

    `outcomes` (user -> variant -> per-query outcomes) go into run.json's `per_user` rows as the runner writes them.
    """
    config = method_config or {}
    tag = "-".join(f"{k}{v}" for k, v in sorted(config.items()))
    run_id = f"{task}-{method}-{int(budget)}s-s{seed}-{tag or 'default'}" + (f"-{dtype}" if dtype != "float32" else "")
    run_id += "" if hardware is HARDWARE else f"-{(hardware or {}).get('cpu', 'unknown')}".replace(" ", "")
    run_id += "" if profiles == "own" else f"-{profiles}"
    record = RunRecord(
        run_id=run_id, method=method, task=task, budget_s=budget, seed=seed, data="synthetic", split="dev",
        model="tiny-random", status=status, metrics=metrics if status != "error" else {}, users=4, queries=8, scored=8,
        unparsed=0, fit_s=fit_s, personalize_s=personalize_s, predict_s=0.8, predict_s_per_query=0.1,
        state_bytes_per_user=state_bytes, state_parameters_per_user=parameters, collective_state_bytes=0,
        collective_parameters=0, hardware=hardware or None, dtype=dtype, read=read or None, method_report=report or {},
        error="RuntimeError: out of memory" if status == "error" else None, profiles=profiles,
        per_user=[UserRow(user=u, queries=len(o["read"]), outcomes=o) for u, o in (outcomes or {}).items()],
    )  # fmt: skip
    out = store.run_dir(run_id)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", {"run_id": run_id, "method": method, "task": task, "method_config": config})
    write_json(out / "metrics.json", record.metrics)
    write_json(out / "run.json", record.to_json())
    if status != "error":
        store.add_to_index(IndexLine(record, config))
    return run_id


def write_results(root: Path, *, lamp2: bool = True) -> Store:
    """A small sweep: 3 methods x 3 budgets x 3 seeds on lamp3 (and lamp2), plus a group-size and a history-size
    sweep of chameleon on lamp3 (whose 10m default-config runs they replace, as a rerun would), and on lamp2 a
    `dpo` that ran over budget with one seed and failed with another."""
    store = Store(root)
    for method, lift in METHODS.items():
        for budget in BUDGETS:
            for seed in SEEDS:
                gain = 0.0 if method == "base" else lift * budget / BUDGETS[-1]
                noise = 0.01 * (seed - 1)
                personal = method != "base"
                costs = {
                    "state_bytes": 4096.0 * (1 + 9 * (method == "chameleon")) if personal else 0.0,
                    "parameters": 2048 if method == "chameleon" else 0,
                    "fit_s": 0.4 * budget if method == "chameleon" else 0.0,
                    "personalize_s": 0.3 * budget if personal else 0.01,
                }
                report = {"personalized_fraction": min(1.0, budget / 300)} if method == "chameleon" else None
                run = {"method": method, "budget": budget, "seed": seed, "method_config": DEFAULTS[method], **costs}
                metrics, outcomes = rating_run(0.9 - gain + noise, phase=len(method) + seed)
                read = {"exact": 6, "extracted": 1 + (method == "base"), "unparsed": 1 - (method == "base")}
                add_run(store, task="lamp3", report=report, metrics=metrics, outcomes=outcomes, read=read, **run)
                if lamp2:
                    add_run(
                        store, task="lamp2", metrics={"accuracy": 0.3 + gain + noise, "f1": 0.2 + gain + noise}, **run
                    )
    for size in (25, 50, 100):
        for seed in SEEDS:
            mae = 0.8 - 0.001 * size + 0.01 * seed
            config = {"group_size": size, "history_k": 10}
            metrics, outcomes = rating_run(mae, phase=seed)
            add_run(store, task="lamp3", method="chameleon", budget=600.0, seed=seed, method_config=config,
                    metrics=metrics, outcomes=outcomes, state_bytes=40960.0, fit_s=100.0)  # fmt: skip
    for k in (5, 10, 20):
        for seed in SEEDS:
            mae = 0.75 - 0.004 * k + 0.01 * seed
            config = {"group_size": 100, "history_k": k}
            metrics, outcomes = rating_run(mae, phase=seed)
            add_run(store, task="lamp3", method="chameleon", budget=600.0, seed=seed, method_config=config,
                    metrics=metrics, outcomes=outcomes, state_bytes=40960.0, fit_s=100.0)  # fmt: skip
    if not lamp2:
        return store
    add_run(store, task="lamp2", method="dpo", budget=600.0, seed=0, status="over_budget", metrics={"accuracy": 0.45,
            "f1": 0.3}, state_bytes=2**20, parameters=500_000, personalize_s=700.0)  # fmt: skip
    add_run(store, task="lamp2", method="dpo", budget=600.0, seed=1, status="error", metrics={})
    return store
