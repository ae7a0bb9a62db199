"""The runner's bookkeeping: reuse, --force, over-budget, crashes that keep what was made, splits without golds."""

from __future__ import annotations

import json

import pytest

from lampbench.harness.run import runner as runner_module
from lampbench.harness.services.budget import Clock
from lampbench.harness.run.runner import RunSpec, run
from lampbench.harness.run.store import Store
from lampbench.methods.baseline.method import Base


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
