"""The runner's collective stage: `fit` under its budget, or a saved fit loaded in its place.

Three ways, by the run's options (`harness/services/budget.py` for the two budget modes):

- **shares** (`--budget` alone, as every run before `--fit-budget`): `fit` is charged to the run's one clock and
  takes its method's fixed share of it; a resumed run reloads it from its own folder (`collective/`).
- **separate** (`--fit-budget`): `fit` gets a clock of its own; the per-user stages then start on a fresh clock
  of `--budget`. The stage is looked up in the fit store first (`fit_store.py`) and, when another run made it,
  loaded and recorded as reused (`fit_reused`: from which run and folder, what it cost then) and charged to
  nothing here; else it runs and is saved there for the next run.
- **a shard** (`--shards`, `parts.py`): the fit the run's fit part made is loaded, never run again.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from lampbench.harness.run.fit_store import FitStore, fit_key
from lampbench.harness.run.options import RunSpec
from lampbench.harness.run.parts import Part
from lampbench.harness.run.record import RunRecord
from lampbench.harness.run.resume import Progress
from lampbench.harness.services.accounting import state_bytes, state_parameters
from lampbench.harness.services.budget import Clock, overrun_allowance
from lampbench.methods.contract import Context, Method

log = logging.getLogger("lampbench")


def has_fit(method: Method | type[Method]) -> bool:
    """Whether the method (or method class) has a collective stage of its own."""
    cls = method if isinstance(method, type) else type(method)
    return cls.fit is not Method.fit


def fit_over_budget(record: RunRecord) -> bool:
    """Whether this run's own `fit` went past its `--fit-budget` by more than the allowance (a reused fit: never)."""
    if record.fit_budget_s is None or record.fit_budget_used_s is None or record.fit_reused:
        return False
    return record.fit_budget_used_s > record.fit_budget_s + overrun_allowance(record.fit_budget_s)


def run_fit(
    ctx: Context, method: Method, spec: RunSpec, train, out: Path, record: RunRecord, done: Progress,
    fits: FitStore, part: Part | None = None,
) -> None:  # fmt: skip
    """The collective stage, one of the three ways of the module docstring; `ctx.clock` is the per-user stages'
    clock afterwards, with what a resumed run spent before carried over."""
    if spec.fit_budget is not None:
        record.budget_mode, record.fit_budget_s = "separate", spec.fit_budget
    if part is not None and not part.fit_only:
        _load_for_shard(ctx, method, record, done, part)
    elif spec.fit_budget is None:
        _shared(ctx, method, train, out, record, done)
    else:
        _separate(ctx, method, spec, train, record, done, fits)
    collective = method.collective_state()
    record.collective_state_bytes = state_bytes(collective)
    record.collective_parameters = state_parameters(collective)


def _shared(ctx: Context, method: Method, train, out: Path, record: RunRecord, done: Progress) -> None:
    """`fit` under the run's one clock, or, resuming, its saved result when the method can reload it.

    A `fit` redone on resume is charged afresh (so it gets the same share of the budget as the first time) and the
    time the kept users had spent is added after it; a reloaded one brings back the whole time spent before.
    """
    clock, folder, resumed = ctx.clock, out / "collective", done.fit_spent is not None
    if resumed and done.collective_saved and method.load_collective(ctx, folder):
        clock.carry(done.spent)
        record.fit_s = done.fit_s
        log.info("fit: reloaded from %s", folder)
    else:
        users_spent = done.spent - done.fit_spent if resumed else 0.0
        t = time.perf_counter()
        with clock.charging():
            method.fit(ctx, train)
        record.fit_s = time.perf_counter() - t
        folder.mkdir(exist_ok=True)
        done.collective_saved = bool(method.save_collective(ctx, folder))
        if not done.collective_saved:
            shutil.rmtree(folder, ignore_errors=True)
        done.fit_spent, done.fit_s = clock.spent, record.fit_s
        clock.carry(users_spent)
    record.fit_path = str(folder) if done.collective_saved else None
    _merge_report(ctx, done)
    done.mark(clock.spent)


def _separate(ctx: Context, method: Method, spec: RunSpec, train, record: RunRecord, done: Progress, fits) -> None:
    """`fit` on a clock of its own (or the fit store's entry for it); then the per-user clock, carried over."""
    users_clock = ctx.clock
    fit_clock = Clock(spec.fit_budget, own_stage=True)
    ctx.clock = fit_clock
    try:
        if has_fit(method):
            key = fit_key(spec, train, _label(record))
            entry = fits.find(key)
            if entry is not None and method.load_collective(ctx, entry.folder):
                _reused(ctx, spec, record, entry)
            else:
                _fit_and_save(ctx, method, spec, train, record, fits, key)
        record.fit_budget_used_s = record.fit_budget_used_s or fit_clock.spent
    finally:
        ctx.clock = users_clock
    if done.fit_spent is not None:
        users_clock.carry(done.spent)  # a resumed run: what the kept users spent
    done.fit_spent, done.fit_s = record.fit_budget_used_s, record.fit_s
    _merge_report(ctx, done)
    done.mark(users_clock.spent)


def _fit_and_save(ctx: Context, method: Method, spec: RunSpec, train, record: RunRecord, fits, key) -> None:
    t = time.perf_counter()
    with ctx.clock.charging():
        method.fit(ctx, train)
    record.fit_s, record.fit_budget_used_s = time.perf_counter() - t, ctx.clock.spent
    meta = {
        "run_id": spec.run_id, "seed": spec.seed, "fit_s": record.fit_s, "fit_budget_used_s": ctx.clock.spent,
        "over_budget": fit_over_budget(record), "report": dict(ctx.report),
    }  # fmt: skip
    entry = fits.save(key, meta, lambda folder: method.save_collective(ctx, folder))
    if entry is None:
        log.info("fit: %s does not save its collective stage; every run makes its own", spec.method)
    else:
        record.fit_path = str(entry.folder)
        log.info("fit: saved to %s for every run that asks for the same", entry.folder)


def _reused(ctx: Context, spec: RunSpec, record: RunRecord, entry) -> None:
    """A saved fit loaded: its cost recorded as it was, its report restored, charged to nothing here."""
    meta = entry.meta
    record.fit_s, record.fit_budget_used_s = float(meta["fit_s"]), float(meta["fit_budget_used_s"])
    ctx.report.update(meta.get("report") or {})
    record.fit_path = str(entry.folder)
    if meta.get("run_id") != spec.run_id:
        record.fit_reused = {
            "run_id": meta.get("run_id"), "path": str(entry.folder), "seed": meta.get("seed"),
            "fit_s": record.fit_s, "fit_budget_used_s": record.fit_budget_used_s, "made": meta.get("made"),
        }  # fmt: skip
        log.info("fit: reused %s (made by run %s in %.1f s)", entry.folder, meta.get("run_id"), record.fit_s)


def _load_for_shard(ctx: Context, method: Method, record: RunRecord, done: Progress, part: Part) -> None:
    """A shard loads the fit its run's fit part made (charged there, once); a method without one loads nothing."""
    if has_fit(method):
        folder = Path(part.fit_folder or "")
        if not part.fit_folder or not method.load_collective(ctx, folder):
            raise RuntimeError(f"shard {part.index}: the run's collective stage is not in {folder}")
        record.fit_path = str(folder)
        log.info("shard %s: fit loaded from %s", part.index, folder)
    if done.fit_spent is not None:
        ctx.clock.carry(done.spent)
    done.fit_spent = done.fit_spent or 0.0
    done.mark(ctx.clock.spent)


def _label(record: RunRecord) -> str:
    return str((record.hardware or {}).get("label") or "unknown")


def _merge_report(ctx: Context, done: Progress) -> None:
    """What the method reported about the kept users, under what a redone `fit` just reported."""
    merged: dict[str, Any] = {**done.report, **ctx.report}
    ctx.report.clear()
    ctx.report.update(merged)
