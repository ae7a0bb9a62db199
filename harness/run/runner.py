"""One run: a method on a task's users under a wall-clock budget, written to the results store.

The order is fixed so every method is measured the same way: load data and the backbone (not charged), `fit` on
training users (charged), then for each evaluation user `personalize` (charged) and `predict` (timed apart).
Users are personalized one at a time and answered in batches across users (`harness/answering.py`); each batch's
answers are written to `generations.jsonl` as soon as they exist, so a crash loses at most the batch in flight; the
run is then recorded as `error`, with the traceback in `log.txt`. A run killed at any moment (or interrupted with
Ctrl-C, recorded as `interrupted`) continues when started again with the same spec: the users already answered are
kept and the budget already spent is carried over (`harness/progress.py`).
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import shutil
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lampbench.harness.services.accounting import state_bytes, state_parameters
from lampbench.harness.run.user_loop import UserLoop
from lampbench.harness.services.budget import Clock, overrun_allowance
from lampbench.harness.run.inputs import data_files, load_eval_and_train
from lampbench.harness.services.hardware import describe
from lampbench.harness.run.resume import FILES as PROGRESS_FILES
from lampbench.harness.run.resume import Progress
from lampbench.harness.run.options import RunSpec  # noqa: F401 - declared in spec.py, used here and by importers
from lampbench.harness.run.store import Store, write_json
from lampbench.methods.contract import Context, Method
from lampbench.tasks.specs import TaskSpec, User, get_task

log = logging.getLogger("lampbench")


def versions() -> dict[str, str]:
    """Versions of the software a result depends on."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("lampbench", "torch", "transformers", "peft", "trl", "sentence-transformers", "rank-bm25"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def run(
    spec: RunSpec,
    method: Method,
    *,
    store: Store,
    force: bool = False,
    progress: bool = True,
    backbone=None,
    embedder=None,
) -> dict[str, Any]:
    """Run `method` as `spec` says and return the run record (also written to `<out>/<run_id>/run.json`).

    `backbone` and `embedder` may be passed in already loaded (tests, sweeps); else they load from the spec.
    An unfinished run of the same spec (killed, interrupted, failed) is resumed; `force` starts it over.
    """
    task = get_task(spec.task)
    run_id = spec.run_id
    if not force and (done := store.finished(run_id)):
        done["reused"] = True
        return done
    out = store.run_dir(run_id)
    out.mkdir(parents=True, exist_ok=True)
    resume = None if force else Progress.load(out)
    if resume is None:
        for stale in ("generations.jsonl", "predictions.json", "metrics.json", "run.json", *PROGRESS_FILES):
            (out / stale).unlink(missing_ok=True)
        shutil.rmtree(out / "collective", ignore_errors=True)
    write_json(out / "config.json", {"run_id": run_id, **dataclasses.asdict(spec)})
    handler = logging.FileHandler(out / "log.txt", mode="a" if resume else "w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        return _run(spec, method, task, out, store, progress, backbone, embedder, resume)
    finally:
        log.removeHandler(handler)
        handler.close()


def _run(spec, method, task: TaskSpec, out: Path, store: Store, progress: bool, backbone, embedder, resume):
    started = datetime.now(UTC).isoformat(timespec="seconds")
    wall = time.perf_counter()
    clock = Clock(spec.budget)
    record: dict[str, Any] = {
        "run_id": spec.run_id, "method": spec.method, "task": task.name, "budget_s": spec.budget,
        "seed": spec.seed, "data": spec.data, "split": spec.split, "model": spec.model, "started": started,
        "status": "error", "versions": versions(),
    }  # fmt: skip
    machine = describe()  # the budget means something only on known hardware
    record["hardware"] = {k: v for k, v in machine.items() if k not in ("git", "versions")}
    record["git"] = machine["git"]
    record["versions"].update(machine["versions"])
    per_user: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []  # one per answered query, as written to generations.jsonl
    golds: dict[str, str | None] = {}
    timings = {"load_s": 0.0, "fit_s": 0.0, "personalize_s": 0.0, "predict_s": 0.0}
    ctx = None
    done = resume or Progress(out)  # what is answered so far, on disk as it is made
    try:
        t = time.perf_counter()
        users, train = load_eval_and_train(spec, task, with_train=type(method).uses_train_users)
        record["data_files"] = data_files(spec, task, with_train=bool(train))  # size and sha256 of what was read
        # The method sees evaluation users without their gold outputs: only the harness scores.
        golds = {q.id: q.gold for user in users for q in user.queries}
        users = [blind(user) for user in users]
        if backbone is None:
            from lampbench.harness.services.backbone import Backbone

            # A method config may ask for a 4-bit base (QLoRA-style training, CUDA + bitsandbytes only).
            four_bit = bool(spec.method_config.get("load_in_4bit", False))
            backbone = Backbone.load(
                spec.model, batch_size=spec.batch_size, load_in_4bit=four_bit, device=spec.device, dtype=spec.dtype,
                revision=spec.revision, chat_template=spec.chat_template,
                trust_remote_code=spec.trust_remote_code, attn=spec.attn,
            )  # fmt: skip
        timings["load_s"] = time.perf_counter() - t
        log.info("run %s: %d users, %d training users", spec.run_id, len(users), len(train))
        ctx = Context(
            task=task, clock=clock, seed=spec.seed, max_prompt_tokens=spec.max_prompt_tokens,
            batch_size=spec.batch_size, progress=progress, _backbone=backbone, _embedder=embedder,
            embedder_factory=lambda: _load_embedder(spec.embedder, backbone), eval_users=tuple(users),
        )  # fmt: skip
        record["dtype"] = str(backbone.dtype).removeprefix("torch.")
        _collective(ctx, method, train, out, timings, done)
        collective = method.collective_state()
        record["collective_state_bytes"] = state_bytes(collective)
        record["collective_parameters"] = state_parameters(collective)
        if resume is not None:
            per_user.extend(done.per_user)
            rows.extend(done.kept_generations())
            record.update(resumed=True, kept_users=len(done.per_user))
            log.info("resumed: %d users kept, %.1f s of budget already spent", len(done.per_user), clock.spent)
        kept = {row["user"] for row in per_user}
        todo = [user for user in users if user.id not in kept]
        with open(out / "generations.jsonl", "a", encoding="utf-8") as gen_file:
            loop = UserLoop(ctx, method, task, golds, gen_file, done)
            try:
                for user in _progress(todo, progress, f"{spec.method} on {task.name}", initial=len(kept)):
                    loop.add(user)
                loop.flush()
            finally:
                per_user.extend(loop.per_user)
                rows.extend(loop.lines)
        record["status"] = "over_budget" if clock.over_budget else "ok"
    except KeyboardInterrupt:
        log.warning("run interrupted after %d users; the same command continues it", len(per_user))
        record["status"] = "interrupted"
        if done.fit_spent is not None:
            done.mark(clock.spent)  # the time charged up to the interruption stays spent
    except Exception as e:  # noqa: BLE001 - any failure is recorded, and what was made is kept
        log.error("run failed:\n%s", traceback.format_exc())
        record["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
    timings["personalize_s"] = sum(row["personalize_s"] for row in per_user)
    timings["predict_s"] = sum(row["predict_s"] for row in per_user)
    record["predict_batches"] = done.batches
    record.update(_summary(task, spec, clock, timings, per_user, rows, ctx))
    record["wall_s"] = time.perf_counter() - wall
    write_json(
        out / "predictions.json", {"task": task.lamp, "golds": [{"id": r["id"], "output": r["answer"]} for r in rows]}
    )
    write_json(out / "metrics.json", record["metrics"])
    write_json(out / "run.json", record)
    if record["status"] == "interrupted":
        raise KeyboardInterrupt  # after the partial record is written; `bench run` exits 130
    if record["status"] != "error":
        store.add_to_index({k: v for k, v in record.items() if k not in ("per_user", "versions", "method_report")})
    return record


def blind(user: User) -> User:
    """The user as a method sees them at evaluation: their history and questions, no gold outputs."""
    return dataclasses.replace(user, queries=tuple(dataclasses.replace(q, gold=None) for q in user.queries))


def _collective(ctx: Context, method: Method, train, out: Path, timings: dict, done: Progress) -> None:
    """`fit` under the clock, or, resuming, its saved result when the method can reload it; the budget carried over.

    A `fit` redone on resume is charged afresh (so it gets the same share of the budget as the first time) and the
    time the kept users had spent is added after it; a reloaded one brings back the whole time spent before.
    """
    clock, folder, resumed = ctx.clock, out / "collective", done.fit_spent is not None
    if resumed and done.collective_saved and method.load_collective(ctx, folder):
        clock.carry(done.spent)
        timings["fit_s"] = done.fit_s
        log.info("fit: reloaded from %s", folder)
    else:
        users_spent = done.spent - done.fit_spent if resumed else 0.0
        t = time.perf_counter()
        with clock.charging():
            method.fit(ctx, train)
        timings["fit_s"] = time.perf_counter() - t
        folder.mkdir(exist_ok=True)
        done.collective_saved = bool(method.save_collective(ctx, folder))
        if not done.collective_saved:
            shutil.rmtree(folder, ignore_errors=True)
        done.fit_spent, done.fit_s = clock.spent, timings["fit_s"]
        clock.carry(users_spent)
    # What the method reported about the kept users, under what a redone `fit` just reported.
    merged = {**done.report, **ctx.report}
    ctx.report.clear()
    ctx.report.update(merged)
    done.mark(clock.spent)


def _summary(task, spec, clock, timings, per_user, rows, ctx) -> dict[str, Any]:
    """The run's scores and costs; `rows` are the generations.jsonl lines of every answered query.

    Scores: each metric after reading and on the raw generations (`_official`), with intervals over users
    (`tasks/stats.py`); each user's per-query outcomes go into their `per_user` row, for paired comparisons.
    """
    from lampbench.tasks.stats import score_rows

    n_queries = sum(row["queries"] for row in per_user)
    scores = score_rows(task, rows)
    for row in per_user:
        found = {v: by[str(row["user"])] for v, by in scores.outcomes.items() if str(row["user"]) in by}
        if found:
            row["outcomes"] = found
    read = {how: sum(r.get("read") == how for r in rows) for how in ("exact", "extracted", "unparsed")}
    n_users = len(per_user)
    return {
        "metrics": scores.metrics,
        "scoring_notes": list(scores.notes),
        "users": n_users,
        "queries": n_queries,
        "scored": sum(r["gold"] is not None for r in rows),
        "unparsed": sum(not r["parsed"] for r in rows),
        **({"read": read} if any("read" in r for r in rows) else {}),
        "budget_used_s": clock.spent,
        "overrun_allowance_s": overrun_allowance(spec.budget),
        **timings,
        "predict_s_per_query": timings["predict_s"] / n_queries if n_queries else None,
        "state_bytes_per_user": sum(r["state_bytes"] for r in per_user) / n_users if n_users else 0,
        "state_parameters_per_user": max((r["state_parameters"] for r in per_user), default=0),
        "method_report": ctx.report if ctx is not None else {},
        "per_user": per_user,
    }


def _load_embedder(name: str, backbone):
    from lampbench.harness.services.models import load_embedder

    return load_embedder(name, device=str(backbone.device))


def _progress(items: Sequence, enabled: bool, desc: str, initial: int = 0):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="user", initial=initial, total=initial + len(items))
