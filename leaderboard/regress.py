"""The regression check: a small suite's metrics against a committed baseline, with tolerances per metric.

The baseline is a JSON file keyed by a readable run key (`task/method/budget/seed` plus the method config
when it is not the default), so a diff of the file in a pull request says what moved. A run is a regression
when a metric got worse than the baseline by more than its tolerance (direction-aware: MAE/RMSE up, the rest
down), when it errored, or when a baseline run is missing from the suite.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lampbench.harness.budget import format_seconds
from lampbench.harness.store import Store, write_json
from lampbench.tasks.specs import LOWER_IS_BETTER, DataError

#: Used for a metric the suite gives no tolerance.
DEFAULT_TOLERANCE = 0.0


def run_key(spec) -> str:
    """A readable key for a run of the suite (a RunSpec)."""
    config = ",".join(f"{k}={v}" for k, v in sorted(spec.method_config.items()))
    return f"{spec.task}/{spec.method}/{format_seconds(spec.budget)}/s{spec.seed}" + (f"/{config}" if config else "")


def current_metrics(specs, out: Path | str) -> dict[str, dict[str, Any]]:
    """`{run key: {"status": ..., "metrics": {...}}}` for the suite's runs, read from their run folders."""
    store = Store(out)
    found = {}
    for spec in specs:
        path = store.run_dir(spec.run_id) / "run.json"
        record = json.loads(path.read_text()) if path.exists() else {"status": "missing", "metrics": {}}
        found[run_key(spec)] = {"status": record["status"], "metrics": record.get("metrics", {})}
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


def compare(current: dict[str, dict], baseline: dict[str, dict], tolerances: dict[str, float]) -> Report:
    """Every run of the baseline checked against the current suite; a line per run, regressions named."""
    report = Report()
    for key, base in sorted(baseline.items()):
        now = current.get(key)
        if now is None or now["status"] not in ("ok", "over_budget"):
            status = "not in the suite" if now is None else now["status"]
            report.regressions.append(key)
            report.lines.append(f"REGRESSION {key}: {status}")
            continue
        worse = []
        for metric, old in base.get("metrics", {}).items():
            new = now["metrics"].get(metric)
            tolerance = float(tolerances.get(metric, DEFAULT_TOLERANCE))
            if new is None:
                worse.append(f"{metric} missing (baseline {old:.4f})")
                continue
            delta = new - old if metric in LOWER_IS_BETTER else old - new  # > 0 means worse
            if delta > tolerance + 1e-12:
                worse.append(f"{metric} {old:.4f} -> {new:.4f} (worse by {delta:.4f} > tolerance {tolerance})")
        if worse:
            report.regressions.append(key)
            report.lines.append(f"REGRESSION {key}: " + "; ".join(worse))
        else:
            shown = ", ".join(f"{m}={v:.4f}" for m, v in now["metrics"].items())
            report.lines.append(f"ok {key}: {shown}")
    for key in sorted(set(current) - set(baseline)):
        report.lines.append(f"new {key}: not in the baseline (run with --update to add it)")
    return report
