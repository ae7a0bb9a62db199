"""One run: a method on a task's users under a wall-clock budget, written to the results store.

The order is fixed so every method is measured the same way: load data and the backbone (not charged), `fit` on
training users (charged), then for each evaluation user `personalize` (charged) and `predict` (timed apart).
Each answer is written to `generations.jsonl` as soon as it exists, so a crash in one user loses nothing
already made; the run is then recorded as `error`, with the traceback in `log.txt`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import platform
import re
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lampbench.harness.accounting import state_bytes, state_parameters
from lampbench.harness.budget import Clock, format_seconds, overrun_allowance
from lampbench.harness.data import load_eval_and_train
from lampbench.harness.store import Store, write_json
from lampbench.methods.api import Context, Method
from lampbench.tasks.specs import TaskSpec, User, get_task

log = logging.getLogger("lampbench")


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run; its hash names the run folder.

    Attributes mirror `bench run`'s options; `method_config` is the method's fully resolved config as a dict.
    """

    method: str
    task: str
    budget: float
    method_config: dict[str, Any] = field(default_factory=dict)
    data: str = "lamp"  # "lamp" (official files) or "synthetic"
    split: str = "dev"
    time_split: bool = False
    data_dir: str | None = None
    users: int | None = None
    select: str = "most-active"
    seed: int = 0
    max_profile: int | None = None
    train_users: int | None = None
    model: str = "smollm2"
    embedder: str = "all-MiniLM-L6-v2"
    max_prompt_tokens: int = 512
    batch_size: int = 8

    @property
    def run_id(self) -> str:
        blob = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:10]
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.method).strip("-")
        return f"{self.task}-{slug}-{format_seconds(self.budget)}-s{self.seed}-{digest}"


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
    """
    task = get_task(spec.task)
    run_id = spec.run_id
    if not force and (done := store.finished(run_id)):
        done["reused"] = True
        return done
    out = store.run_dir(run_id)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("generations.jsonl", "predictions.json", "metrics.json", "run.json"):
        (out / stale).unlink(missing_ok=True)
    write_json(out / "config.json", {"run_id": run_id, **dataclasses.asdict(spec)})
    handler = logging.FileHandler(out / "log.txt", mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        return _run(spec, method, task, out, store, progress, backbone, embedder)
    finally:
        log.removeHandler(handler)
        handler.close()


def _run(spec, method, task: TaskSpec, out: Path, store: Store, progress: bool, backbone, embedder):
    started = datetime.now(UTC).isoformat(timespec="seconds")
    wall = time.perf_counter()
    clock = Clock(spec.budget)
    record: dict[str, Any] = {
        "run_id": spec.run_id, "method": spec.method, "task": task.name, "budget_s": spec.budget,
        "seed": spec.seed, "data": spec.data, "split": spec.split, "model": spec.model, "started": started,
        "status": "error", "versions": versions(),
    }  # fmt: skip
    per_user: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []  # one per answered query, as written to generations.jsonl
    golds: dict[str, str | None] = {}
    timings = {"load_s": 0.0, "fit_s": 0.0, "personalize_s": 0.0, "predict_s": 0.0}
    ctx = None
    try:
        t = time.perf_counter()
        users, train = load_eval_and_train(spec, task, with_train=type(method).uses_train_users)
        # The method sees evaluation users without their gold outputs: only the harness scores.
        golds = {q.id: q.gold for user in users for q in user.queries}
        users = [blind(user) for user in users]
        if backbone is None:
            from lampbench.harness.backbone import Backbone

            # A method config may ask for a 4-bit base (QLoRA-style training, CUDA + bitsandbytes only).
            four_bit = bool(spec.method_config.get("load_in_4bit", False))
            backbone = Backbone.load(spec.model, batch_size=spec.batch_size, load_in_4bit=four_bit)
        timings["load_s"] = time.perf_counter() - t
        log.info("run %s: %d users, %d training users", spec.run_id, len(users), len(train))
        ctx = Context(
            task=task, clock=clock, seed=spec.seed, max_prompt_tokens=spec.max_prompt_tokens,
            batch_size=spec.batch_size, progress=progress, _backbone=backbone, _embedder=embedder,
            embedder_factory=lambda: _load_embedder(spec.embedder, backbone), eval_users=tuple(users),
        )  # fmt: skip
        t = time.perf_counter()
        with clock.charging():
            method.fit(ctx, train)
        timings["fit_s"] = time.perf_counter() - t
        collective = method.collective_state()
        record["collective_state_bytes"] = state_bytes(collective)
        record["collective_parameters"] = state_parameters(collective)
        with open(out / "generations.jsonl", "w", encoding="utf-8") as gen_file:
            for user in _progress(users, progress, f"{spec.method} on {task.name}"):
                row, lines = _one_user(ctx, method, task, user, golds, gen_file)
                per_user.append(row)
                rows.extend(lines)
                timings["personalize_s"] += row["personalize_s"]
                timings["predict_s"] += row["predict_s"]
        record["status"] = "over_budget" if clock.over_budget else "ok"
    except Exception as e:  # noqa: BLE001 - any failure is recorded, and what was made is kept
        log.error("run failed:\n%s", traceback.format_exc())
        record["error"] = f"{type(e).__name__}: {e}".splitlines()[0]
    record.update(_summary(task, spec, clock, timings, per_user, rows, ctx))
    record["wall_s"] = time.perf_counter() - wall
    write_json(
        out / "predictions.json", {"task": task.lamp, "golds": [{"id": r["id"], "output": r["answer"]} for r in rows]}
    )
    write_json(out / "metrics.json", record["metrics"])
    write_json(out / "run.json", record)
    if record["status"] != "error":
        store.add_to_index({k: v for k, v in record.items() if k not in ("per_user", "versions", "method_report")})
    return record


def blind(user: User) -> User:
    """The user as a method sees them at evaluation: their history and questions, no gold outputs."""
    return dataclasses.replace(user, queries=tuple(dataclasses.replace(q, gold=None) for q in user.queries))


def _one_user(
    ctx: Context, method: Method, task: TaskSpec, user: User, golds: dict[str, str | None], gen_file
) -> tuple[dict, list[dict]]:
    t = time.perf_counter()
    with ctx.clock.charging():
        state = method.personalize(ctx, user)
    personalize_s = time.perf_counter() - t
    t = time.perf_counter()
    raw = method.predict(ctx, state, user.queries)
    predict_s = time.perf_counter() - t
    if len(raw) != len(user.queries):
        raise RuntimeError(
            f"{method.__class__.__name__}.predict returned {len(raw)} answers for {len(user.queries)} queries"
        )
    lines = []
    for query, text in zip(user.queries, raw, strict=True):
        parsed = task.parse(text)
        line = {
            "id": query.id,
            "user": user.id,
            "raw": text,
            "answer": parsed.answer,
            "parsed": parsed.ok,
            "gold": golds.get(query.id),
        }
        lines.append(line)
        gen_file.write(json.dumps(line, ensure_ascii=False) + "\n")
    gen_file.flush()
    row = {
        "user": user.id, "queries": len(user.queries), "profile": len(user.profile),
        "personalize_s": personalize_s, "predict_s": predict_s,
        "state_bytes": state_bytes(state), "state_parameters": state_parameters(state),
    }  # fmt: skip
    return row, lines


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
    from lampbench.harness.models import load_embedder

    return load_embedder(name, device=str(backbone.device))


def _progress(items: Sequence, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="user")
