"""The regression check: a small suite's per-user scores against a committed baseline, by statistics.

The baseline is a JSON file keyed by a readable run key (`task/method/budget/seed` plus the method config keys whose
values are not the method's defaults: what the suite sets), so a diff of the file in a pull request says what moved,
and a method that gains a config field, or moves a default, keeps its key (a moved default shows in the scores).
Each entry keeps the run's metrics (to read) and its per-user outcomes (to test): for each user, the per-query
outcomes that LaMP's metrics are computed from, after reading answers (`read`) and on the raw generations
(`official`).

A run regresses when a metric dropped and the drop is real: the paired bootstrap interval of the change, over the
users both runs answered (`tasks/stats.py`), lies wholly on the worse side of 0, and the drop is larger than the
suite's `tolerances` for that metric (a minimum effect; 0 when not given). Noise, a BLAS difference between two
CPUs that flips one answer, passes; a drop every user shares fails. A run that errored or is missing regresses.
With fewer than 2 shared users there is no interval, and any drop beyond the tolerance counts.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lampbench.harness.run.method_config import flatten_config
from lampbench.harness.run.store import FINISHED, Store
from lampbench.harness.services.budget import format_seconds
from lampbench.methods.registry import METHODS
from lampbench.tasks.files import write_json
from lampbench.tasks.specs import DataError, get_task
from lampbench.tasks.stats import VARIANTS, paired, stats_from_outcomes

#: Used for a metric the suite gives no tolerance: any drop whose interval excludes 0.
DEFAULT_TOLERANCE = 0.0


def run_key(spec) -> str:
    """A readable key for a run of the suite (a RunSpec): its config keys that differ from the method's defaults.

    A nested method config shows as dotted keys (`train.epochs=budget`).
    """
    defaults = flatten_config(dataclasses.asdict(METHODS.get(spec.method).Config()))
    changed = {k: v for k, v in flatten_config(spec.method_config).items() if k not in defaults or defaults[k] != v}
    config = ",".join(f"{k}={v}" for k, v in sorted(changed.items()))
    return f"{spec.task}/{spec.method}/{format_seconds(spec.budget)}/s{spec.seed}" + (f"/{config}" if config else "")


def current_metrics(specs, out: Path | str) -> dict[str, dict[str, Any]]:
    """`{run key: {"task", "status", "metrics", "users": {user: {"read": [...], "official": [...]}}}}` for the
    suite's runs, read from their run folders."""
    store = Store(out)
    found = {}
    for spec in specs:
        record = store.record(spec.run_id)
        if record is None:
            found[run_key(spec)] = {"task": spec.task, "status": "missing", "metrics": {}, "users": {}}
            continue
        found[run_key(spec)] = {
            "task": spec.task, "status": record.status, "metrics": record.metrics or {},
            "users": record.outcomes_by_user(),
        }  # fmt: skip
    return found


def write_baseline(path: Path, metrics: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, dict(sorted(metrics.items())))


def read_baseline(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: no baseline file; create one with `bench regress --update`") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected an object of run key -> metrics")
    return data


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)


def _task(key: str, entry: dict[str, Any]) -> str:
    return entry.get("task") or key.split("/", 1)[0]


def _changes(key: str, now: dict, base: dict, tolerances: dict[str, float]) -> tuple[list[str], list[str]]:
    """Lines for each metric and variant: (regressions, the rest), each with the paired interval."""
    spec = get_task(_task(key, base))
    worse, fine = [], []
    for variant in VARIANTS:
        before = {u: o[variant] for u, o in base["users"].items() if variant in o}
        after = {u: o[variant] for u, o in now["users"].items() if variant in o}
        if not before or not after:
            continue
        a, b = stats_from_outcomes(spec, after), stats_from_outcomes(spec, before)
        for metric in spec.metrics:
            change = paired(a, b, metric)
            name = metric if variant == "read" else f"{metric}_official"
            if change is None:
                worse.append(f"{name}: no user in common with the baseline")
                continue
            tolerance = float(tolerances.get(metric, DEFAULT_TOLERANCE))
            shown = f"gain {change.gain:+.4f}"
            if change.low is not None:
                shown += f" [{change.low:+.4f}, {change.high:+.4f}]"
            shown += f" over {change.shared} users" + ("" if change.same_users else " (the user sets differ)")
            real = change.high < 0 if change.low is not None else change.gain < 0
            if real and -change.gain > tolerance + 1e-12:
                worse.append(f"{name} dropped: {shown}, beyond tolerance {tolerance}")
            else:
                fine.append(f"{name} {shown}")
    return worse, fine


def compare(current: dict[str, dict], baseline: dict[str, dict], tolerances: dict[str, float]) -> Report:
    """Every run of the baseline checked against the current suite; a line per run, regressions named."""
    report = Report()
    for key, base in sorted(baseline.items()):
        now = current.get(key)
        if now is None or now["status"] not in FINISHED:
            report.regressions.append(key)
            report.lines.append(f"REGRESSION {key}: {'not in the suite' if now is None else now['status']}")
            continue
        if not base.get("users"):
            report.regressions.append(key)
            report.lines.append(f"REGRESSION {key}: the baseline has no per-user scores; rewrite it with --update")
            continue
        worse, fine = _changes(key, now, base, tolerances)
        if worse:
            report.regressions.append(key)
            report.lines.append(f"REGRESSION {key}: " + "; ".join(worse))
        else:
            report.lines.append(f"ok {key}: " + "; ".join(fine))
    for key in sorted(set(current) - set(baseline)):
        report.lines.append(f"new {key}: not in the baseline (run with --update to add it)")
    return report
