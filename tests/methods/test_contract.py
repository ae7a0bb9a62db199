"""Every registered method through fit / personalize / predict on the tiny model (PEFT's table pattern).

A new method gets this test for free; `fast.FAST` holds the config overrides that keep it quick on `tiny-random`.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from lampbench.harness.run.method_config import build_config
from lampbench.harness.run.runner import RunSpec, run
from lampbench.harness.run.store import Store
from lampbench.methods.registry import METHODS
from lampbench.tests.methods.fast import FAST

TASKS = ["lamp3", "lamp2", "lamp7"]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", sorted(METHODS.entries()))
def test_method_contract(name, task, tiny_backbone, cache, tmp_path):
    cls = METHODS.get(name)
    config = build_config(cls.Config, FAST.get(name, {}))
    spec = RunSpec(
        method=name, task=task, budget=120, method_config=dataclasses.asdict(config), data="synthetic", users=3,
        train_users=4, model="tiny-random", max_prompt_tokens=256,
    )  # fmt: skip
    store = Store(tmp_path / "runs")
    record = run(spec, cls(config), store=store, progress=False, backbone=tiny_backbone)
    assert record["status"] == "ok", record.get("error")

    out = store.run_dir(spec.run_id)
    config_json = json.loads((out / "config.json").read_text())
    assert config_json["method_config"] == json.loads(json.dumps(dataclasses.asdict(config)))  # tuples -> lists
    predictions = json.loads((out / "predictions.json").read_text())
    lines = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert predictions["task"] in ("LaMP_2", "LaMP_3", "LaMP_7")
    assert [p["id"] for p in predictions["golds"]] == [line["id"] for line in lines] and len(lines) == record["queries"]
    assert all(isinstance(line["raw"], str) and isinstance(line["parsed"], bool) for line in lines)
    assert set(json.loads((out / "metrics.json").read_text())) == set(record["metrics"]) and record["metrics"]
    assert record["unparsed"] == sum(not line["parsed"] for line in lines)
    for row in record["per_user"]:
        assert row["state_bytes"] >= 0 and row["state_parameters"] >= 0 and row["personalize_s"] >= 0
    assert record["budget_used_s"] <= record["fit_s"] + record["personalize_s"] + 1e-6
    assert [r["run_id"] for r in store.index()] == [spec.run_id]


LONG_INPUT_BUDGET = 64  # tokens; tiny-random's tokenizer is byte-level, so every synthetic input is longer


@pytest.mark.parametrize("name", sorted(METHODS.entries()))
def test_one_prompt_budget_for_every_method(name, tiny_backbone, cache, tmp_path, monkeypatch):
    """No prompt reaching the model exceeds --max-prompt-tokens, and a long input is answered cut as base cuts it."""
    from lampbench.tasks.prompts import fit_input

    seen: list[tuple[bool, str]] = []  # (answering?, user prompt) for every prompt the model is given
    answering = [False]
    encode = tiny_backbone.encode

    def recording_encode(prompt: str) -> list[int]:
        seen.append((answering[0], prompt))
        return encode(prompt)

    monkeypatch.setattr(tiny_backbone, "encode", recording_encode)
    cls = METHODS.get(name)
    config = build_config(cls.Config, FAST.get(name, {}))
    method = cls(config)
    for stage in ("predict", "predict_batch"):
        inner = getattr(method, stage)

        def wrapped(*args, _inner=inner, **kwargs):
            answering[0] = True
            try:
                return _inner(*args, **kwargs)
            finally:
                answering[0] = False

        monkeypatch.setattr(method, stage, wrapped)
    spec = RunSpec(
        method=name, task="lamp3", budget=60, method_config=dataclasses.asdict(config), data="synthetic", users=2,
        train_users=3, model="tiny-random", max_prompt_tokens=LONG_INPUT_BUDGET,
    )  # fmt: skip
    store = Store(tmp_path / "runs")
    record = run(spec, method, store=store, progress=False, backbone=tiny_backbone)
    assert record["status"] == "ok", record.get("error")

    count = tiny_backbone.count_tokens
    over = [p for _, p in seen if count(p) > LONG_INPUT_BUDGET]
    assert not over, f"{name}: {len(over)} prompts over the budget, e.g. {over[0]!r}"
    inputs = {q.input for user in _users(spec) for q in user.queries}
    assert all(count(i) > LONG_INPUT_BUDGET for i in inputs)
    expected = {fit_input(i, LONG_INPUT_BUDGET, count, tiny_backbone.truncate) for i in inputs}
    answered = {p for is_answer, p in seen if is_answer}
    assert answered == expected, f"{name} answered with prompts other than the cut inputs"
    report = record["method_report"]
    if name in ("rag", "pag", "llm-rec"):
        assert report.get("personalization_cut", 0) + report.get("fallback_users", 0) >= 1


def _users(spec):
    from lampbench.harness.run.inputs import load_eval_and_train
    from lampbench.tasks.specs import get_task

    users, _ = load_eval_and_train(spec, get_task(spec.task), with_train=False)
    return users
