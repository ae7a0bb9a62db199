"""Batched inference across users, streamed batch by batch (that every method answers at batch 8 as at batch 1 is
tests/methods/test_batched_methods.py)."""

from __future__ import annotations

import json

import pytest

from lampbench.harness.run.runner import RunSpec, run
from lampbench.harness.run.store import Store
from lampbench.methods.baseline.method import Base
from lampbench.methods.contract import Method


def spec(method: str = "base", **kw) -> RunSpec:
    values = {"method": method, "task": "lamp3", "budget": 120, "data": "synthetic", "users": 6, "train_users": 4,
              "model": "tiny-random", "max_prompt_tokens": 256}  # fmt: skip
    return RunSpec(**{**values, **kw})


def answers(record: dict, store: Store) -> dict[str, str]:
    lines = (store.run_dir(record["run_id"]) / "generations.jsonl").read_text().splitlines()
    return {line["id"]: line["raw"] for line in map(json.loads, lines)}


class OneUserAtATime(Method):
    """A plugin written before `predict_batch`: only `predict`, which the runner's default calls per user."""

    def personalize(self, ctx, user):
        return len(user.profile)

    def predict(self, ctx, state, queries):
        return ctx.backbone.generate([q.input for q in queries], max_new_tokens=ctx.task.max_new_tokens)


def test_the_default_predict_batch_answers_as_predict(tiny_backbone, cache, tmp_path):
    store = Store(tmp_path)
    plain = run(spec("plain", batch_size=4), OneUserAtATime(), store=store, progress=False, backbone=tiny_backbone)
    base = run(spec(batch_size=4), Base(), store=store, progress=False, backbone=tiny_backbone)
    assert plain["status"] == base["status"] == "ok"
    assert answers(plain, store) == answers(base, store)
    assert plain["predict_batches"] == {"4": 1, "2": 1}


class Recording(Base):
    """Base that logs the order of the runner's calls and fails on the second batch."""

    def __init__(self, config=None):
        super().__init__(config)
        self.calls: list[str] = []

    def personalize(self, ctx, user):
        self.calls.append("p")
        return None

    def predict_batch(self, ctx, items):
        self.calls.append(f"b{len(items)}")
        if self.calls.count("b4") == 2:
            raise RuntimeError("second batch lost")
        return super().predict_batch(ctx, items)


def test_batches_stream_and_a_failure_loses_only_the_batch_in_flight(tiny_backbone, cache, tmp_path):
    store = Store(tmp_path)
    method = Recording()
    record = run(spec("recording", users=10, batch_size=4), method, store=store, progress=False,
                 backbone=tiny_backbone)  # fmt: skip
    # Four users personalized (at most a batch of states held), answered together, then the next four.
    assert method.calls == ["p"] * 4 + ["b4"] + ["p"] * 4 + ["b4"]
    assert record["status"] == "error" and "second batch lost" in record["error"]
    assert len(answers(record, store)) == 4 and record["users"] == 4
    assert record["predict_batches"] == {"4": 1}


def test_a_batch_time_is_shared_by_query_count(tiny_backbone, cache, tmp_path):
    store = Store(tmp_path)
    record = run(spec(users=4, batch_size=8), Base(), store=store, progress=False, backbone=tiny_backbone)
    shares = [row["predict_s"] for row in record["per_user"]]
    assert len(set(shares)) == 1 and shares[0] > 0  # one batch of four one-query users: four equal shares
    assert record["predict_s"] == pytest.approx(4 * shares[0])
    assert record["dtype"] == "float32"


def test_the_dtype_is_in_the_record_and_the_index(cache, tmp_path):
    store = Store(tmp_path)
    record = run(spec(users=2, dtype="bfloat16", device="cpu"), Base(), store=store, progress=False)
    assert record["status"] == "ok" and record["dtype"] == "bfloat16"
    assert [line["dtype"] for line in store.index()] == ["bfloat16"]
    assert record["hardware"]["label"] and "torch" in record["versions"]
