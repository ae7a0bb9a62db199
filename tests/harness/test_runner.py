"""The runner's bookkeeping: reuse, --force, over-budget, crashes that keep what was made, splits without golds."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lampbench.harness.run import runner as runner_module
from lampbench.harness.run.inputs import RunInputs, load_eval_and_train
from lampbench.harness.run.record import RunRecord
from lampbench.harness.run.runner import RunSpec, run
from lampbench.harness.run.store import Store
from lampbench.harness.services.budget import Clock
from lampbench.methods.baseline.method import Base
from lampbench.tasks.specs import get_task


def spec(**kw) -> RunSpec:
    values = {"method": "base", "task": "lamp3", "budget": 60, "data": "synthetic", "users": 4, "model": "tiny-random"}
    return RunSpec(**{**values, **kw})


class CrashOnThirdUser(Base):
    def __init__(self, config=None):
        super().__init__(config)
        self.seen = 0

    def personalize(self, ctx, user):
        self.seen += 1
        if self.seen == 3:
            raise RuntimeError("user three is cursed")
        return {"note": "x" * 10}


def test_a_crash_keeps_the_predictions_already_made(tiny_backbone, cache, tmp_path):
    store = Store(tmp_path)
    record = run(spec(method="crashy"), CrashOnThirdUser(), store=store, progress=False, backbone=tiny_backbone)
    out = store.run_dir(record["run_id"])
    assert record["status"] == "error" and record["error"] == "RuntimeError: user three is cursed"
    assert len((out / "generations.jsonl").read_text().splitlines()) == 2
    assert len(json.loads((out / "predictions.json").read_text())["golds"]) == 2
    assert record["metrics"] and record["users"] == 2
    assert "user three is cursed" in (out / "log.txt").read_text() and "Traceback" in (out / "log.txt").read_text()
    assert store.index() == []  # an error is not a result
    assert json.loads((out / "run.json").read_text())["status"] == "error"


def test_identical_runs_are_reused_unless_forced(tiny_backbone, cache, tmp_path):
    store = Store(tmp_path)
    first = run(spec(), Base(), store=store, progress=False, backbone=tiny_backbone)
    again = run(spec(), Base(), store=store, progress=False, backbone=tiny_backbone)
    assert again["reused"] and again["run_id"] == first["run_id"]
    forced = run(spec(), Base(), store=store, progress=False, backbone=tiny_backbone, force=True)
    assert "reused" not in forced
    assert spec(seed=1).run_id != spec().run_id and spec(users=5).run_id != spec().run_id
    assert len(store.index()) == 1


def test_over_budget_is_recorded(tiny_backbone, cache, tmp_path, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(runner_module, "Clock", lambda budget: Clock(budget, now=lambda: now[0]))

    class Slow(Base):
        def personalize(self, ctx, user):
            now[0] += 40  # 4 users x 40 s against 60 s + 30 s allowance
            return None

    record = run(spec(method="slow"), Slow(), store=Store(tmp_path), progress=False, backbone=tiny_backbone)
    assert record["status"] == "over_budget" and record["budget_used_s"] == 160


def test_test_split_has_predictions_but_no_metrics(tiny_backbone, cache, tmp_path):
    store = Store(tmp_path)
    record = run(spec(split="test", users=2), Base(), store=store, progress=False, backbone=tiny_backbone)
    assert record["status"] == "ok" and record["metrics"] == {} and record["queries"] == 2
    assert len(json.loads((store.run_dir(record["run_id"]) / "predictions.json").read_text())["golds"]) == 2


def test_a_wrong_answer_count_is_an_error(tiny_backbone, cache, tmp_path):
    class Short(Base):
        def predict(self, ctx, state, queries):
            return []

    record = run(spec(method="short"), Short(), store=Store(tmp_path), progress=False, backbone=tiny_backbone)
    assert record["status"] == "error" and "returned 0 answers for 1 queries" in record["error"]


@pytest.mark.parametrize("retriever", ["bm25", "dense", "recency", "random"])
def test_rag_retrievers(retriever, tiny_backbone, cache, tmp_path):
    from lampbench.methods.rag.method import Rag, RagConfig

    config = RagConfig(k=2, retriever=retriever)
    record = run(spec(method="rag", method_config={"k": 2, "retriever": retriever}), Rag(config),
                 store=Store(tmp_path), progress=False, backbone=tiny_backbone)  # fmt: skip
    assert record["status"] == "ok", record.get("error")
    assert record["state_bytes_per_user"] > 0


def test_bm25_retrieves_the_matching_item(tiny_backbone):
    from lampbench.harness.services.budget import Clock
    from lampbench.methods.contract import Context
    from lampbench.methods.rag.method import Rag, RagConfig
    from lampbench.tasks.specs import Query, User, get_task

    task = get_task("lamp3")
    profile = (
        {"id": "1", "text": "the blender is loud", "score": "2"},
        {"id": "2", "text": "lovely soft blanket for winter", "score": "5"},
        {"id": "3", "text": "the kettle leaks", "score": "1"},
    )
    ctx = Context(task=task, clock=Clock(10), _backbone=tiny_backbone)
    method = Rag(RagConfig(k=1))
    state = method.personalize(ctx, User("u", profile, (Query("q", "review: a warm blanket", "5"),)))
    assert method.retrieve(ctx, state, "warm blanket") == [profile[1]]
    assert method.prompt(ctx, state, Query("q", "review: a warm blanket")).startswith('5 is the score for "lovely soft')


def test_a_method_never_sees_the_evaluation_golds(tiny_backbone, cache, tmp_path):
    seen: list = []

    class Peeking(Base):
        def personalize(self, ctx, user):
            seen.extend(q.gold for u in ctx.eval_users for q in u.queries)
            seen.extend(q.gold for q in user.queries)

        def predict(self, ctx, state, queries):
            seen.extend(q.gold for q in queries)
            return super().predict(ctx, state, queries)

    store = Store(tmp_path)
    record = run(spec(method="peeking"), Peeking(), store=store, progress=False, backbone=tiny_backbone)
    assert record["status"] == "ok" and record["metrics"] and seen and set(seen) == {None}
    lines = [json.loads(line) for line in (store.run_dir(record["run_id"]) / "generations.jsonl").open()]
    assert all(line["gold"] is not None for line in lines)  # the harness still scores against them


class Reporting(Base):
    """Reports its coverage and something large the index need not carry."""

    def personalize(self, ctx, user):
        ctx.personalized(user, done=user.id != ctx.eval_users[0].id, reason="first")
        ctx.report.setdefault("users", {})[user.id] = "x" * 100
        return None


def test_the_record_reads_back_as_written_and_the_index_carries_what_the_leaderboard_reads(
    tiny_backbone, cache, tmp_path
):
    store = Store(tmp_path)
    s = spec(method="reporting", method_config={"note": 1})
    record = run(s, Reporting(), store=store, progress=False, backbone=tiny_backbone)
    on_disk = json.loads((store.run_dir(s.run_id) / "run.json").read_text())
    assert RunRecord.from_json(on_disk).to_json() == on_disk == json.loads(json.dumps(record))
    read = store.record(s.run_id)
    assert read.users == 4 and [row.user for row in read.per_user] == [row["user"] for row in on_disk["per_user"]]
    assert read.coverage == 0.75 and set(read.outcomes_by_user()) == {str(row.user) for row in read.per_user}
    (line,) = store.index()
    assert "per_user" not in line and "versions" not in line
    assert line["method_report"] == {"personalized_fraction": 0.75} and line["method_config"] == {"note": 1}
    (indexed,) = store.indexed()
    assert indexed.record.coverage == 0.75 and indexed.record.metrics == record["metrics"]


def test_the_runner_answers_the_users_it_is_handed(tiny_backbone, cache, tmp_path):
    s = spec()
    users, _ = load_eval_and_train(s, get_task(s.task), with_train=False)
    data = RunInputs(users[:2], [])
    record = run(s, Base(), store=Store(tmp_path), progress=False, backbone=tiny_backbone, data=data)
    assert record["status"] == "ok" and [row["user"] for row in record["per_user"]] == [u.id for u in users[:2]]


def test_the_runner_imports_without_torch():
    """The runner imports the backbone's module at its top; torch loads only when a model does."""
    code = (
        "import sys, lampbench.harness.run.runner, lampbench.harness.services.models; "
        "print([m for m in ('torch', 'transformers', 'pandas', 'matplotlib') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
