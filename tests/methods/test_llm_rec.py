"""`llm-rec`: a template per strategy, per-user and per-query selection, the answer layout, the budget fallback."""

from __future__ import annotations

import json
import typing

import pytest

from lampbench.harness.run.method_config import ConfigError, build_config
from lampbench.harness.services.budget import Clock
from lampbench.methods.contract import Context
from lampbench.methods.llm_rec.method import TEMPLATES, LlmRec, LlmRecConfig, LlmRecState, Strategy, strategy_prompt
from lampbench.tasks.specs import Query, User, get_task
from lampbench.tests.fakes import RecordingBackbone
from lampbench.tests.smollm2 import bench_run


def make_ctx(budget=100.0, max_prompt_tokens=2000) -> Context:
    return Context(task=get_task("lamp3"), clock=Clock(budget), max_prompt_tokens=max_prompt_tokens,
                   _backbone=RecordingBackbone("SUMMARY {i}"))  # fmt: skip


def review_user(uid: str, word: str, queries=("7",), n: int = 20) -> User:
    """A LaMP-3 user whose reviews are made of `word` and a number; a query mentions one of those numbers."""
    profile = tuple({"id": f"{uid}{i}", "text": f"{word}{i} {word} {word}", "score": str(1 + i % 5)} for i in range(n))
    asked = tuple(Query(f"q{uid}{n}", f"Score this. review: {word}{n} {word} great", "4") for n in queries)
    return User(uid, profile, asked)


def test_each_strategy_has_the_papers_template():
    assert set(TEMPLATES) == set(typing.get_args(Strategy))
    items = ['1 is the score for "a"', '2 is the score for "b"', '3 is the score for "c"']
    assert strategy_prompt("basic", items).endswith("paraphrase them.")
    assert "what else should I say if I want to recommend them to others?" in strategy_prompt("recommendation", items)
    assert strategy_prompt("engagement", items) == (
        'Summarize the commonalities among the following descriptions: 1 is the score for "a"; '
        '2 is the score for "b"; 3 is the score for "c".'
    )
    both = strategy_prompt("recommendation+engagement", items)
    assert both.startswith('The description of an item is as follows: 1 is the score for "a". What else should I say')
    assert both.endswith('similar attractive characteristics as the following descriptions: 2 is the score for "b"; '
                         '3 is the score for "c".')  # fmt: skip
    single = strategy_prompt("recommendation+engagement", items[:1])
    assert "attractive" not in single and single.endswith("recommend it to others?")
    for strategy in TEMPLATES:
        assert all(item in strategy_prompt(strategy, items) for item in items)


@pytest.mark.parametrize("strategy", list(TEMPLATES))
def test_the_summary_is_written_from_the_users_top_items(strategy):
    ctx, method = make_ctx(), LlmRec(LlmRecConfig(strategy=strategy, n_history=3))
    alpha, omega = review_user("1", "alpha"), review_user("2", "omega")
    states = [method.personalize(ctx, u) for u in (alpha, omega)]
    first, second = ctx.backbone.prompts
    assert first.count("is the score for") == 3 and "alpha7 alpha alpha" in first and "omega" not in first
    assert "omega7 omega omega" in second and "alpha" not in second
    assert states[0].summaries == {"q17": "SUMMARY 0"} and states[1].summaries == {"q27": "SUMMARY 1"}
    assert ctx.report["summaries"] == {"1": {"q17": "SUMMARY 0"}, "2": {"q27": "SUMMARY 1"}}


def test_the_answer_prompt_puts_the_summary_before_the_input():
    ctx, method = make_ctx(), LlmRec()
    user = review_user("1", "alpha")
    prompt = method.prompt(ctx, method.personalize(ctx, user), user.queries[0])
    assert prompt == f"### User History Summary:\nSUMMARY 0\n### User Instruction:\n{user.queries[0].input}"


def test_bm25_selects_per_query_and_recency_once_per_user():
    user = review_user("1", "alpha", queries=("3", "12"))
    ctx = make_ctx()
    state = LlmRec(LlmRecConfig(n_history=2)).personalize(ctx, user)
    assert len(ctx.backbone.prompts) == 2 and state.summaries == {"q13": "SUMMARY 0", "q112": "SUMMARY 1"}
    assert "alpha3 alpha" in ctx.backbone.prompts[0] and "alpha12 alpha" in ctx.backbone.prompts[1]

    ctx = make_ctx()
    state = LlmRec(LlmRecConfig(n_history=2, select="recency")).personalize(ctx, user)
    (prompt,) = ctx.backbone.prompts  # one generation shared by both queries
    assert "alpha19 alpha" in prompt and "alpha18 alpha" in prompt  # the last items in file order
    assert set(state.summaries.values()) == {"SUMMARY 0"} and len(state.summaries) == 2


def test_the_summary_prompt_and_the_answer_fit_their_budgets():
    ctx, method = make_ctx(max_prompt_tokens=80), LlmRec(LlmRecConfig(n_history=4))
    user = review_user("1", "alpha")
    user = User("1", tuple({**item, "text": item["text"] + " more" * 80} for item in user.profile), user.queries)
    state = method.personalize(ctx, user)
    (summary_prompt,) = ctx.backbone.prompts
    assert ctx.backbone.count_tokens(summary_prompt) <= 80 and summary_prompt.count("is the score for") == 4
    long_summary = LlmRec().prompt(ctx, type(state)({"q17": "word " * 200}), user.queries[0])
    assert ctx.backbone.count_tokens(long_summary) <= 80 and long_summary.endswith(user.queries[0].input)


def test_an_expired_clock_falls_back_to_the_plain_input():
    ctx, method = make_ctx(budget=0), LlmRec()
    user = review_user("1", "alpha")
    state = method.personalize(ctx, user)
    assert state.summaries == {} and ctx.backbone.prompts == []
    method.predict(ctx, state, user.queries)
    assert ctx.backbone.prompts == [user.queries[0].input]
    assert ctx.report["fallback_users"] == 1 and ctx.report["personalized_users"] == 0
    assert ctx.report["personalized_fraction"] == 0.0


def test_strategy_is_validated():
    assert build_config(LlmRecConfig, {"strategy": "engagement"}).strategy == "engagement"
    with pytest.raises(ConfigError, match="must be one of"):
        build_config(LlmRecConfig, {"strategy": "engagment"})
    with pytest.raises(ValueError, match="strategy must be one of"):
        LlmRecConfig(strategy="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_history"):
        LlmRecConfig(n_history=0)


@pytest.mark.slow
def test_end_to_end_on_smollm2(tmp_path):
    record, run_dir = bench_run(
        tmp_path, "--method", "llm-rec", "--task", "lamp3", "--users", "2", "--budget", "2m",
        sets=("strategy=engagement", "summary_max_new_tokens=16", "n_history=2"),
    )  # fmt: skip
    assert record["status"] == "ok" and record["model"] == "smollm2" and record["queries"] == 2
    report = record["method_report"]
    assert report["personalized_users"] == 2 and len(report["summaries"]) == 2
    assert all(row["state_bytes"] > 0 for row in record["per_user"])
    lines = [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(line["raw"] for line in lines)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["method_config"]["strategy"] == "engagement"


def test_a_long_input_keeps_its_tokens_and_the_summary_is_cut_to_nothing():
    ctx = make_ctx(max_prompt_tokens=20)
    method = LlmRec()
    state = LlmRecState({"q": "a long summary " * 10})
    long = Query("q", "review: " + " ".join(["w"] * 40), None)
    assert method.prompt(ctx, state, long) == " ".join(long.input.split()[:20])
    assert ctx.report["personalization_cut"] == 1
    short = Query("q", "review: fine", None)
    prompt = method.prompt(ctx, state, short)
    assert prompt.startswith("### User History Summary:\na long") and prompt.endswith("review: fine")
    assert ctx.backbone.count_tokens(prompt) <= 20 and ctx.report["personalization_cut"] == 1
