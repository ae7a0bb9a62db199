"""`pag`: the profile prompt per task, Per-Pcs' answer layout, seeded per-user sampling, the budget fallback."""

from __future__ import annotations

import json

import pytest

from lampbench.harness.run.method_config import ConfigError, build_config
from lampbench.harness.services.budget import Clock
from lampbench.methods.contract import Context
from lampbench.methods.lib.profiles import GENERIC_PROFILE_PROMPT, PROFILE_PROMPTS, profile_prompt, sample_items
from lampbench.methods.pag.method import Pag, PagConfig
from lampbench.tasks.specs import TASKS, Query, User, get_task
from lampbench.tests.fakes import RecordingBackbone
from lampbench.tests.smollm2 import bench_run


def make_ctx(task="lamp3", budget=100.0, seed=0, max_prompt_tokens=2000) -> Context:
    return Context(
        task=get_task(task), clock=Clock(budget), seed=seed, max_prompt_tokens=max_prompt_tokens,
        _backbone=RecordingBackbone(),
    )  # fmt: skip


def review_user(uid: str, word: str, n: int = 30) -> User:
    """A LaMP-3 user whose every review is made of `word` and a number, so their items are recognizable."""
    profile = tuple({"id": f"{uid}{i}", "text": f"{word}{i} {word} {word}", "score": str(1 + i % 5)} for i in range(n))
    query = Query(f"q{uid}", f"What is the score of the following review? review: {word}7 {word} great", "4")
    return User(uid, profile, (query,))


def test_every_lamp_task_has_a_profile_prompt_and_other_tasks_the_generic_one():
    lamp = {name for name in TASKS if name.startswith("lamp")}
    assert set(PROFILE_PROMPTS) == lamp
    assert profile_prompt("longlamp-review", []).startswith(GENERIC_PROFILE_PROMPT)
    assert PROFILE_PROMPTS["lamp3"].startswith("Based on this users' past reviews, what are the most common scores")


def test_the_profile_prompt_shows_ten_cut_items_of_the_user():
    ctx, user = make_ctx(), review_user("1", "alpha")
    long_user = User("1", tuple({**item, "text": item["text"] + " pad" * 300} for item in user.profile), user.queries)
    state = Pag(PagConfig(item_words=6)).personalize(ctx, long_user)
    (prompt,) = ctx.backbone.prompts
    assert prompt.startswith(PROFILE_PROMPTS["lamp3"]) and prompt.endswith("Answer:") and "User History:" in prompt
    assert prompt.count("is the score for") == 10 and "pad pad pad" in prompt and prompt.count("pad") == 30
    assert state.profile == "PROFILE: likes five stars" and state.rag is None
    assert ctx.report["profiles"] == {"1": state.profile} and ctx.report["personalized_users"] == 1


def test_sampling_is_seeded_and_per_user():
    alpha, omega = review_user("1", "alpha"), review_user("2", "omega")
    assert sample_items(alpha, 10, seed=0) == sample_items(alpha, 10, seed=0)
    assert sample_items(alpha, 10, seed=0) != sample_items(alpha, 10, seed=1)
    ids = lambda items: [item["id"][1:] for item in items]  # noqa: E731 - item numbers without the user prefix
    assert ids(sample_items(alpha, 10, seed=0)) != ids(sample_items(omega, 10, seed=0))
    assert len(sample_items(User("3", alpha.profile[:4], ()), 10, seed=0)) == 4

    ctx, method = make_ctx(), Pag(PagConfig(k=2))
    states = {u.id: method.personalize(ctx, u) for u in (alpha, omega)}
    prompts = list(ctx.backbone.prompts)
    answers = {u.id: method.prompt(ctx, states[u.id], u.queries[0]) for u in (alpha, omega)}
    assert "alpha" in prompts[0] and "omega" not in prompts[0]
    assert "omega" in prompts[1] and "alpha" not in prompts[1]
    assert "omega" not in answers["1"] and "alpha" not in answers["2"]


def test_the_answer_prompt_has_per_pcs_sections_in_order():
    ctx, user = make_ctx(), review_user("1", "alpha")
    query = user.queries[0]
    plain = Pag().prompt(ctx, Pag().personalize(ctx, user), query)
    assert plain == f"### User Profile:\nPROFILE: likes five stars\n### User Instruction:\n{query.input}"
    assert "### User History:" not in plain

    method = Pag(PagConfig(k=2))
    with_history = method.prompt(ctx, method.personalize(ctx, user), query)
    at = [with_history.index(s) for s in ("### User Profile:", "### User History:", "### User Instruction:")]
    assert at == sorted(at) and with_history.endswith(query.input)
    history = with_history[at[1] : at[2]]
    assert history.count("is the score for") == 2 and '"alpha7 alpha alpha"' in history  # BM25's best match first


def test_retrieved_history_fits_the_prompt_budget():
    ctx = make_ctx(max_prompt_tokens=60)
    user = review_user("1", "alpha")
    user = User("1", tuple({**item, "text": item["text"] + " more" * 80} for item in user.profile), user.queries)
    method = Pag(PagConfig(k=4))
    prompt = method.prompt(ctx, method.personalize(ctx, user), user.queries[0])
    assert "### User History:" in prompt and ctx.backbone.count_tokens(prompt) <= 60


def test_an_expired_clock_falls_back_to_the_plain_input():
    ctx, user = make_ctx(budget=0), review_user("1", "alpha")
    method = Pag(PagConfig(k=1))
    state = method.personalize(ctx, user)
    assert state.profile is None and ctx.backbone.prompts == []
    assert method.predict(ctx, state, user.queries) == ["PROFILE: likes five stars"]
    assert ctx.backbone.prompts == [user.queries[0].input]
    assert ctx.report["fallback_users"] == 1 and ctx.report["personalized_fraction"] == 0.0
    assert ctx.report["fallback_reasons"] == {"budget": 1}


def test_config_is_validated():
    assert build_config(PagConfig, {"k": 1, "n_items": 3}) == PagConfig(k=1, n_items=3)
    with pytest.raises(ValueError, match="k must be"):
        PagConfig(k=-1)
    with pytest.raises(ConfigError, match="did you mean"):
        build_config(PagConfig, {"n_item": 3})


@pytest.mark.slow
def test_end_to_end_on_smollm2(tmp_path):
    record, run_dir = bench_run(
        tmp_path, "--method", "pag", "--task", "lamp3", "--users", "2", "--budget", "2m",
        sets=("profile_max_new_tokens=16", "k=1"),
    )  # fmt: skip
    assert record["status"] == "ok" and record["model"] == "smollm2" and record["queries"] == 2
    report = record["method_report"]
    assert report["personalized_users"] == 2 and len(report["profiles"]) == 2
    assert all(row["state_bytes"] > 0 for row in record["per_user"])
    lines = [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(line["raw"] for line in lines)
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "run.json", "metrics.json", "predictions.json"}


def test_a_long_input_keeps_its_tokens_and_the_profile_gives_way():
    """The one prompt budget: the input is cut as base cuts it; the history goes first, then the profile."""
    ctx, user = make_ctx(max_prompt_tokens=30), review_user("1", "alpha")
    method = Pag(PagConfig(k=2, profile_prompt_tokens=2000))
    state = method.personalize(ctx, user)
    tight = Query("q", "review: " + " ".join(["w"] * 18), None)  # 19 tokens: room for the frame and the profile
    prompt = method.prompt(ctx, state, tight)
    assert prompt.endswith(tight.input) and "### User Profile:" in prompt and "### User History:" not in prompt
    assert ctx.backbone.count_tokens(prompt) <= 30 and ctx.report["personalization_cut"] == 0
    long = Query("q2", "review: " + " ".join(["w"] * 60), None)
    assert method.prompt(ctx, state, long) == " ".join(long.input.split()[:30])  # what base is given
    assert ctx.report["personalization_cut"] == 1
