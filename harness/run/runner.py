"""One run: a method on a task's users under a wall-clock budget, written to the results store.

The order is fixed so every method is measured the same way, one function per stage: `_load` the data and the
backbone (not charged), `_fit` on training users (charged), `_answer`: for each evaluation user `personalize`
(charged) and `predict` (timed apart), and `_finish`: score, total the costs and write the record
(`harness/run/record.py`). Users are personalized one at a time and answered in batches across users
(`harness/run/user_loop.py`); each batch's answers are written to `generations.jsonl` as soon as they exist, so a
crash loses at most the batch in flight; the run is then recorded as `error`, with the traceback in `log.txt`. A run
killed at any moment (or interrupted with Ctrl-C, recorded as `interrupted`) continues when started again with the
same spec: the users already answered are kept and the budget already spent is carried over
(`harness/run/resume.py`).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lampbench.harness.run.fit_stage import fit_over_budget, run_fit
from lampbench.harness.run.fit_store import FitStore
from lampbench.harness.run.inputs import RunInputs, data_files, load_eval_and_train
from lampbench.harness.run.options import RunSpec
from lampbench.harness.run.parts import Part
from lampbench.harness.run.record import IndexLine, RunRecord, UserRow
from lampbench.harness.run.resume import FILES as PROGRESS_FILES
from lampbench.harness.run.resume import Progress
from lampbench.harness.run.store import Store, write_json
from lampbench.harness.run.user_loop import UserLoop
from lampbench.harness.services.backbone import Backbone, Decoding
from lampbench.harness.services.budget import Clock, overrun_allowance
from lampbench.harness.services.devices import claim, peak_memory, reset_peak_memory
from lampbench.harness.services.hardware import describe
from lampbench.harness.services.models import check_load, load_backbone, load_embedder
from lampbench.methods.contract import Context, Method
from lampbench.tasks.specs import TaskSpec, User, get_task
from lampbench.tasks.stats import score_rows

__all__ = ["RunInputs", "RunSpec", "blind", "run"]

log = logging.getLogger("lampbench")

#: Prompts answered in batch and one at a time when the model is not fp32 (`RunRecord.batch1`), outside the budget.
BATCH1_SAMPLE = 8


def run(
    spec: RunSpec,
    method: Method,
    *,
    store: Store,
    force: bool = False,
    progress: bool = True,
    backbone: Backbone | None = None,
    embedder=None,
    data: RunInputs | None = None,
    part: Part | None = None,
) -> dict[str, Any]:
    """Run `method` as `spec` says and return the run record, as `<out>/<run_id>/run.json` holds it.

    `data` (the run's users, `inputs.load_eval_and_train`), `backbone` and `embedder` may be passed in already
    loaded (the Python API, tests, sweeps); else they load from the spec. An unfinished run of the same spec
    (killed, interrupted, failed) is resumed; `force` starts it over. A finished run is reused: its record comes
    back with `reused` set. `part` runs one part of a sharded run in its own folder (`parts.py`), not indexed.
    """
    task = get_task(spec.task)
    if spec.max_new_tokens is not None:  # `--max-new-tokens`: the one generation length every method answers with
        task = dataclasses.replace(task, max_new_tokens=spec.max_new_tokens)
    out = store.run_dir(spec.run_id) if part is None else part.folder(store.run_dir(spec.run_id))
    if not force and (done := store.finished(spec.run_id) if part is None else _finished_part(out)):
        return {**done.to_json(), "reused": True}
    check_loading(spec, loaded=backbone is not None)
    task.metric.ready()  # what scoring needs of this machine (METEOR's WordNet), said before the run folder exists
    resume = _prepare(spec, out, force)
    handler = logging.FileHandler(out / "log.txt", mode="a" if resume else "w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        record = _run(spec, method, task, out, progress, data, backbone, embedder, resume, FitStore(store.root), part)
    finally:
        log.removeHandler(handler)
        handler.close()
    if record.status == "interrupted":
        raise KeyboardInterrupt  # after the partial record is written; `bench run` exits 130
    if record.status != "error" and part is None:
        store.add_to_index(IndexLine(record, spec.method_config))
    return record.to_json()


def _finished_part(out: Path) -> RunRecord | None:
    record = RunRecord.load(out / "run.json")
    return record if record is not None and record.status in ("ok", "over_budget") else None


def check_loading(spec: RunSpec, *, loaded: bool = False) -> None:
    """What could stop the model loading, checked before a run folder exists: the device (claimed here, before
    CUDA starts: `devices.claim`), the model, `--quantize`, `--dtype` and `--attn`; `loaded`: the caller brought
    the backbone.

    Raises:
        ConfigError: an unknown or absent device, a model that does not exist, a quantization that cannot run.
    """
    if not loaded:
        check_load(
            spec.model, device=claim(spec.device).device, quantize=spec.quantize, dtype=spec.dtype, attn=spec.attn,
            revision=spec.revision, trust_remote_code=spec.trust_remote_code,
        )  # fmt: skip


def _prepare(spec: RunSpec, out: Path, force: bool) -> Progress | None:
    """The run folder with the run's config; what an unfinished run made is kept (and returned) unless `force`."""
    out.mkdir(parents=True, exist_ok=True)
    resume = None if force else Progress.load(out)
    if resume is None:
        for stale in ("generations.jsonl", "predictions.json", "metrics.json", "run.json", *PROGRESS_FILES):
            (out / stale).unlink(missing_ok=True)
        shutil.rmtree(out / "collective", ignore_errors=True)
    write_json(out / "config.json", {"run_id": spec.run_id, **dataclasses.asdict(spec)})
    return resume


@dataclass
class _Answered:
    """What a run has answered: each user's row and each query's generations.jsonl line."""

    per_user: list[UserRow] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


def _run(spec, method, task, out, progress, data, backbone, embedder, resume: Progress | None, fits: FitStore,
         part: Part | None = None) -> RunRecord:  # fmt: skip
    """The stages in order; whatever ends them (done, Ctrl-C, an error), the record is finished and written."""
    wall = time.perf_counter()
    clock = Clock(spec.budget)
    record = _new_record(spec, task)
    done = resume or Progress(out)  # what is answered so far, on disk as it is made
    answered, ctx = _Answered(), None
    try:
        users, train, golds, backbone = _load(spec, task, method, record, data, backbone)
        if part is not None and not part.fit_only:  # a shard: its users and their share of the per-user budget
            users, all_users = part.users(users), len(users)
            clock.budget = record.budget_s = (part.budget or 0.0) * len(users) / max(1, all_users)
        elif part is not None:  # the fit part: no users
            users = []
        log.info("run %s: %d users, %d training users", spec.run_id, len(users), len(train))
        ctx = Context(
            task=task, clock=clock, seed=spec.seed, max_prompt_tokens=spec.max_prompt_tokens,
            batch_size=spec.batch_size, progress=progress, _backbone=backbone, _embedder=embedder,
            embedder_factory=lambda: load_embedder(spec.embedder, device=str(backbone.device)),
            eval_users=tuple(users), answer=spec.answer,
        )  # fmt: skip
        run_fit(ctx, method, spec, train, out, record, done, fits, part)
        if resume is not None:
            _keep(resume, record, answered, clock)
        _answer(ctx, method, users, golds, f"{spec.method} on {task.name}", done, answered)
        record.status = "over_budget" if clock.over_budget or fit_over_budget(record) else "ok"
    except KeyboardInterrupt:
        log.warning("run interrupted after %d users; the same command continues it", len(answered.per_user))
        record.status = "interrupted"
        if done.fit_spent is not None:
            done.mark(clock.spent)  # the time charged up to the interruption stays spent
    except Exception as e:  # noqa: BLE001 - any failure is recorded, and what was made is kept
        log.error("run failed:\n%s", traceback.format_exc())
        record.error = f"{type(e).__name__}: {e}".splitlines()[0]
    _finish(record, task, clock, ctx, done, answered)
    record.wall_s = time.perf_counter() - wall
    write_results(out, record, task, answered.rows)
    return record


def _new_record(spec: RunSpec, task: TaskSpec) -> RunRecord:
    """What is known before anything runs: the spec, the software, the machine (a budget means something only on
    known hardware)."""
    machine = describe()
    return RunRecord(
        run_id=spec.run_id, method=spec.method, task=task.name, budget_s=spec.budget, seed=spec.seed, data=spec.data,
        split=spec.split, model=spec.model, profiles=spec.profiles, answer=spec.answer,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        versions=machine["versions"], git=machine["git"],
        hardware={k: v for k, v in machine.items() if k not in ("git", "versions")},
    )  # fmt: skip


def _load(spec, task, method, record: RunRecord, data, backbone) -> tuple[list[User], list[User], dict, Backbone]:
    """The users (blinded) and their golds, the training users and the backbone; not charged to the budget."""
    t = time.perf_counter()
    if data is None:
        data = load_eval_and_train(spec, task, with_train=type(method).uses_train_users)
    record.data_files = data_files(spec, task, with_train=bool(data.train))  # size and sha256 of what was read
    # The method sees evaluation users without their gold outputs: only the harness scores.
    golds = {q.id: q.gold for user in data.users for q in user.queries}
    users = [blind(user) for user in data.users]
    reset_peak_memory()
    if backbone is None:
        device = claim(spec.device)  # the device `run` claimed (the same answer again)
        backbone = load_backbone(
            spec.model, batch_size=spec.batch_size, device=device.device, quantize=spec.quantize, dtype=spec.dtype,
            revision=spec.revision, chat_template=spec.chat_template, trust_remote_code=spec.trust_remote_code,
            attn=spec.attn,
        )  # fmt: skip
        record.device = device.describe()
    else:
        record.device = {"asked": spec.device, "used": str(backbone.device)}
    backbone.decoding = Decoding(
        sample=spec.decoding == "sample", temperature=spec.temperature, top_k=spec.top_k, top_p=spec.top_p,
        seed=spec.seed,
    )  # fmt: skip
    record.load_s = time.perf_counter() - t
    record.dtype, record.quantize = str(backbone.dtype).removeprefix("torch."), spec.quantize
    prompts = [q.input for user in users for q in user.queries][:BATCH1_SAMPLE]
    if (record.dtype != "float32" or spec.quantize != "none") and spec.batch_size > 1 and len(prompts) > 1:
        record.batch1 = backbone.batch1_agreement(
            prompts, max_new_tokens=task.max_new_tokens, batch_size=min(spec.batch_size, len(prompts))
        )
    return users, data.train, golds, backbone


def blind(user: User) -> User:
    """The user as a method sees them at evaluation: their history and questions, no gold outputs."""
    return dataclasses.replace(user, queries=tuple(dataclasses.replace(q, gold=None) for q in user.queries))


def _keep(resume: Progress, record: RunRecord, answered: _Answered, clock: Clock) -> None:
    """A resumed run's users answered before it stopped, and their generations, kept as they are."""
    answered.per_user.extend(resume.per_user)
    answered.rows.extend(resume.kept_generations())
    record.resumed, record.kept_users = True, len(resume.per_user)
    log.info("resumed: %d users kept, %.1f s of budget already spent", len(resume.per_user), clock.spent)


def _answer(ctx: Context, method: Method, users, golds, desc: str, done: Progress, answered: _Answered) -> None:
    """Personalize and answer the users not answered yet (`desc` names the progress bar); `answered` gathers their
    rows and generations as they are made, also when a user fails."""
    kept = {row.user for row in answered.per_user}
    todo = [user for user in users if user.id not in kept]
    with open(done.out / "generations.jsonl", "a", encoding="utf-8") as gen_file:
        loop = UserLoop(ctx, method, ctx.task, golds, gen_file, done)
        try:
            for user in _progress(todo, ctx.progress, desc, initial=len(kept)):
                loop.add(user)
            loop.flush()
        finally:
            answered.per_user.extend(loop.per_user)
            answered.rows.extend(loop.lines)


def _finish(record: RunRecord, task: TaskSpec, clock: Clock, ctx: Context | None, done: Progress, answered: _Answered):
    """The run's scores and costs, into its record."""
    score_answers(record, task, answered.per_user, answered.rows)
    record.budget_used_s, record.overrun_allowance_s = clock.spent, overrun_allowance(record.budget_s)
    record.predict_batches = done.batches
    record.method_report = ctx.report if ctx is not None else {}
    record.peak_gpu_memory_bytes = peak_memory(record.device["used"]) if record.device else None


def score_answers(record: RunRecord, task: TaskSpec, per_user: list[UserRow], rows: list[dict[str, Any]]) -> None:
    """The scores of the answered users (`rows`: their generations.jsonl lines) and their summed costs, into `record`.

    Scores: each metric after reading and on the raw generations (`_official`), with intervals over users
    (`tasks/stats.py`); each user's per-query outcomes go into their row, for paired comparisons. A sharded run
    merges its shards through this too (`shards.py`).
    """
    scores = score_rows(task, rows)
    for row in per_user:
        found = {v: by[str(row.user)] for v, by in scores.outcomes.items() if str(row.user) in by}
        if found:
            row.outcomes = found
    n_users, n_queries = len(per_user), sum(row.queries for row in per_user)
    record.metrics, record.scoring_notes = scores.metrics, list(scores.notes)
    record.users, record.queries, record.per_user = n_users, n_queries, per_user
    record.scored = sum(r["gold"] is not None for r in rows)
    record.unparsed = sum(not r["parsed"] for r in rows)
    if any("read" in r for r in rows):
        record.read = {how: sum(r.get("read") == how for r in rows) for how in ("exact", "extracted", "unparsed")}
    record.personalize_s = sum(row.personalize_s for row in per_user)
    record.predict_s = sum(row.predict_s for row in per_user)
    record.predict_s_per_query = record.predict_s / n_queries if n_queries else None
    record.state_bytes_per_user = sum(row.state_bytes for row in per_user) / n_users if n_users else 0
    record.state_parameters_per_user = max((row.state_parameters for row in per_user), default=0)


def write_results(out: Path, record: RunRecord, task: TaskSpec, rows: list[dict[str, Any]]) -> None:
    """The run's files: the official predictions format, the metrics, and the record."""
    predictions = [{"id": r["id"], "output": r["answer"]} for r in rows]
    write_json(out / "predictions.json", {"task": task.lamp, "golds": predictions})
    write_json(out / "metrics.json", record.metrics)
    write_json(out / "run.json", record.to_json())


def _progress(items: Sequence, enabled: bool, desc: str, initial: int = 0):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="user", initial=initial, total=initial + len(items))
