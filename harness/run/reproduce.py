"""Paper presets: one table of a paper as a sweep (`configs/papers/<name>.yaml`), overridden, planned and estimated.

A preset is a sweep file (`bench sweep --config` runs it as it is) with a `paper:` section that a plain sweep
ignores:

    paper:
      paper: chameleon                    # its figures: leaderboard/reference/chameleon.json
      table: Table 1
      backbone: Mistral-7B-Instruct-v0.3  # which of the table's backbones the preset reproduces
      cells:                              # each method label of the table -> our method and the keys that pick it
        Instruct Model: {method: chameleon, set: {edit: none}}
        CHAMELEON: {method: chameleon, set: {edit: both}}
      settings:                           # every setting: what the paper says (null: it leaves it open), ours, why
        - {name: backbone, paper: "Mistral-7B-Instruct-v0.3 (4.1)", ours: "the same"}

`bench reproduce NAME` (`harness/entrypoints/reproduce_cli.py`) runs it; `--model`, `--users`, `--data`, `--budget`,
`--task` and `--set` override it, and `load_preset` lists each override that leaves the paper's setting as a
deviation, so the output can say it plainly. `estimate` turns earlier runs' measured costs into hours.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from lampbench.harness.run.method_config import ConfigError, flatten_config
from lampbench.harness.run.options import RunSpec, SweepSpec
from lampbench.harness.run.store import Store
from lampbench.harness.run.sweep import expand, load_sweep
from lampbench.harness.services.budget import format_seconds
from lampbench.tasks.specs import get_task

#: The run options a reproduction may override, and how a deviation names them.
RUN_OVERRIDES = ("model", "users", "train_users", "data")


def presets_dir() -> Path:
    """The folder of the packaged presets (`configs/papers/`)."""
    return Path(str(files("lampbench.configs") / "papers"))


def preset_names() -> list[str]:
    """Every packaged preset's name, sorted."""
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def preset_path(name: str) -> Path:
    """The file of preset `name` (or `name` itself when it is a YAML file).

    Raises:
        ConfigError: no such preset (with the closest names).
    """
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        return Path(name)
    path = presets_dir() / f"{name}.yaml"
    if not path.is_file():
        close = difflib.get_close_matches(name, preset_names(), n=3)
        hint = f"did you mean {' or '.join(close)}?" if close else f"known: {', '.join(preset_names())}"
        raise ConfigError(f"unknown preset {name!r}; {hint} (bench reproduce --list)")
    return path


@dataclass(frozen=True)
class Cell:
    """One method label of a paper's table and the runs that answer it: `method` whose config has `keys`."""

    label: str
    method: str
    keys: dict[str, Any]

    def matches(self, spec: RunSpec) -> bool:
        if spec.method != self.method:
            return False
        config = flatten_config(spec.method_config)
        return all(_same(config.get(k), v) for k, v in self.keys.items())


def _same(a: Any, b: Any) -> bool:
    """Config values compared as JSON (a tuple and a list alike, `1` and `1.0` alike)."""
    norm = (lambda v: float(v)) if isinstance(a, int | float) and isinstance(b, int | float) else (lambda v: v)
    return json.dumps(norm(a), default=list) == json.dumps(norm(b), default=list)


@dataclass(frozen=True)
class Preset:
    """A preset as its file says, its sweep resolved (overrides applied) and the deviations the overrides make."""

    name: str
    path: Path
    sweep: SweepSpec
    paper: str
    table: str
    backbone: str
    cells: tuple[Cell, ...]
    settings: tuple[dict[str, Any], ...]
    deviations: tuple[str, ...]

    def specs(self) -> list[RunSpec]:
        return expand(self.sweep)

    def cell_of(self, spec: RunSpec) -> Cell | None:
        return next((c for c in self.cells if c.matches(spec)), None)

    @property
    def title(self) -> str:
        return f"{self.paper} {self.table} ({self.backbone})"


def load_preset(name: str, overrides: Mapping[str, Any] | None = None) -> Preset:
    """Preset `name` with `overrides` (`model`, `users`, `data`, `budgets`, `tasks`, `sets`, `executor`, ...).

    Raises:
        ConfigError: no such preset, a bad `paper:` section, a task not in the preset, a bad override.
    """
    path = preset_path(name)
    given = {k: v for k, v in (overrides or {}).items() if v is not None and v != () and v != {}}
    original = load_sweep(path)
    if "tasks" in given:
        known = [get_task(t).name for t in original.tasks]
        missing = [t for t in given["tasks"] if get_task(t).name not in known]
        if missing:
            raise ConfigError(f"{path}: task(s) {', '.join(missing)} not in the preset; it has {', '.join(known)}")
    sweep = load_sweep(path, given)
    paper = dict(sweep.paper)
    for key in ("paper", "table", "backbone", "cells"):
        if not paper.get(key):
            raise ConfigError(f"{path}: paper.{key} is missing (a preset's paper: section has paper, table, "
                              "backbone, cells, settings)")  # fmt: skip
    preset = Preset(
        name=path.stem, path=path, sweep=sweep, paper=str(paper["paper"]), table=str(paper["table"]),
        backbone=str(paper["backbone"]), cells=_cells(path, paper["cells"]),
        settings=tuple(paper.get("settings") or ()), deviations=tuple(_deviations(original, sweep, given)),
    )  # fmt: skip
    _check_cells(preset)
    return preset


def _cells(path: Path, cells: Any) -> tuple[Cell, ...]:
    if not isinstance(cells, Mapping):
        raise ConfigError(f"{path}: paper.cells must map each table label to {{method: ..., set: {{...}}}}")
    out = []
    for label, cell in cells.items():
        if not isinstance(cell, Mapping) or "method" not in cell:
            raise ConfigError(f"{path}: paper.cells.{label}: needs method (and optionally set)")
        out.append(Cell(str(label), str(cell["method"]), flatten_config(dict(cell.get("set") or {}))))
    return tuple(out)


def _check_cells(preset: Preset) -> None:
    """Each cell is answered by some run of the sweep, and no run answers two cells."""
    specs = preset.specs()
    for cell in preset.cells:
        if not any(cell.matches(s) for s in specs):
            raise ConfigError(f"{preset.path}: paper.cells.{cell.label}: no run of the sweep is {cell.method} with "
                              f"{cell.keys or 'its config'}")  # fmt: skip
    for spec in specs:
        labels = [c.label for c in preset.cells if c.matches(spec)]
        if len(labels) > 1:
            raise ConfigError(f"{preset.path}: run {spec.run_id} answers cells {', '.join(labels)}: tell them apart")


def _deviations(original: SweepSpec, sweep: SweepSpec, given: Mapping[str, Any]) -> list[str]:
    """Each override that changes the preset: `model=tiny-random (the preset's: mistralai/...)`."""
    out = []
    for key in RUN_OVERRIDES:
        if key in given and sweep.run.get(key) != original.run.get(key):
            out.append(f"{key}={sweep.run.get(key)} (the preset's: {original.run.get(key, 'default')})")
    if sweep.budgets != original.budgets:
        shown = ",".join(format_seconds(b) for b in sweep.budgets)
        out.append(f"budget={shown} (the preset's: {','.join(format_seconds(b) for b in original.budgets)})")
    if sweep.tasks != original.tasks:
        out.append(f"tasks={','.join(sweep.tasks)} (the preset's: {','.join(original.tasks)})")
    if sweep.sets:
        out.append("method config " + ", ".join(f"{k}={v}" for k, v in sweep.sets.items()) + " (--set)")
    return out


@dataclass(frozen=True)
class Estimate:
    """One planned run's cost: `seconds` (None: no measurement), from `measured` earlier runs on `hardware`."""

    spec: RunSpec
    seconds: float | None
    reused: bool = False
    measured: int = 0
    hardware: str = ""


def estimate(specs: list[RunSpec], out: Path | str) -> list[Estimate]:
    """Each run's cost, from the measured costs of earlier runs in `out` of the same method, task and model.

    Runs of the same method config are preferred, then any config of the method. Loading and the collective
    stage count as measured; personalizing and answering are scaled by the planned
    users (per measured user, the median over the earlier runs); adaptation is capped at the planned budget.
    A run that has finished already costs nothing (it is reused).
    """
    store = Store(out)
    earlier = [line for line in store.indexed() if line.record.users and line.record.wall_s]
    found = []
    for spec in specs:
        if store.finished(spec.run_id):
            found.append(Estimate(spec, 0.0, reused=True))
            continue
        kin = [e for e in earlier if (e.record.method, e.record.task, e.record.model) == (spec.method, spec.task,
                                                                                          spec.model)]  # fmt: skip
        alike = [e.record for e in kin if _same(e.method_config, spec.method_config)]
        same = alike or [e.record for e in kin]  # the same method config where measured, else any of the method's
        if not same or spec.users is None:
            found.append(Estimate(spec, None))
            continue
        fixed = statistics.median(r.fit_s for r in same)
        adapt = statistics.median(r.personalize_s / r.users for r in same)
        answer = statistics.median(r.predict_s / r.users for r in same)
        load = statistics.median(r.load_s for r in same)
        seconds = load + min(fixed + adapt * spec.users, spec.budget) + answer * spec.users
        labels = sorted({str((r.hardware or {}).get("label") or "unknown") for r in same})
        found.append(Estimate(spec, seconds, measured=len(same), hardware=", ".join(labels)))
    return found


def describe_run(spec: RunSpec, preset: Preset) -> str:
    """`lamp2 chameleon [CHAMELEON] 2h, 100 users (random), seed 0`."""
    cell = preset.cell_of(spec)
    users = f"{spec.users} users ({spec.select})" if spec.users else "all users"
    label = f"[{cell.label}]" if cell else "[no cell of the table]"
    return f"{spec.task} {spec.method} {label} {format_seconds(spec.budget)}, {users}, seed {spec.seed}"


def run_options(preset: Preset) -> dict[str, Any]:
    """The run options every run of the preset shares (for the plan's header)."""
    spec = preset.specs()[0]
    keys = ("data", "split", "time_split", "select", "users", "train_users", "model", "max_prompt_tokens", "decoding")
    values = dataclasses.asdict(spec)
    return {k: values[k] for k in keys}
