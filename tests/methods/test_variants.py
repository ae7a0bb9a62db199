"""The papers' settings as method options: +RAG / +PAG prompts of the PEFT methods, CHAMELEON's direction
identification and insight prompt, PerFit's stage-1 examples, Per-Pcs' sharer learning rate, ALOE's full recipe.

Tests that train or inject adapters build their own tiny backbone, so the session's `tiny_backbone` is unchanged.
"""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.harness.run.method_config import build_config
from lampbench.harness.services.budget import Clock
from lampbench.methods.aloe.config import AloeConfig
from lampbench.methods.chameleon import Chameleon, ChameleonConfig
from lampbench.methods.chameleon import method as chameleon_method
from lampbench.methods.chameleon.directions import find_directions, svd_direction
from lampbench.methods.contract import Context
from lampbench.methods.lib import prompt_variants
from lampbench.methods.lib.prompt_variants import Prompted, PromptVariant, VariantState, per_user_examples, prepare
from lampbench.methods.oppu import LoraP, LoraPConfig
from lampbench.methods.perfit import PerFit, PerFitConfig
from lampbench.methods.perpcs import PerPcs, PerPcsConfig
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.specs import Query, User, get_task
from lampbench.tests.methods.test_chameleon import FAST as CHAMELEON_FAST
from lampbench.tests.methods.test_chameleon import make_ctx, make_user
from lampbench.tests.methods.test_perfit import fresh_backbone, rating_user


def context(backbone, users=(), budget: float = 600, max_prompt_tokens: int = 400) -> Context:
    return Context(
        task=get_task("lamp3"), clock=Clock(budget), _backbone=backbone, eval_users=tuple(users),
        max_prompt_tokens=max_prompt_tokens,
    )  # fmt: skip


# -- +RAG / +PAG ----------------------------------------------------------------------------------------------


def distinct_user(uid: str = "a", n_items: int = 6) -> User:
    """A LaMP-3 user whose history items are told apart by a word of their own (w0, w1, ...)."""
    base = rating_user(uid, "4", n_items=n_items, n_queries=2)
    profile = tuple({**item, "text": f"w{i} plot music w{i}"} for i, item in enumerate(base.profile))
    return User(base.id, profile, base.queries)


def recorded_prompts(backbone, monkeypatch) -> list[str]:
    seen: list[str] = []
    generate = backbone.generate
    monkeypatch.setattr(backbone, "generate", lambda prompts, **kw: seen.extend(prompts) or generate(prompts, **kw))
    return seen


def test_rag_variant_trains_and_answers_with_retrieved_items(monkeypatch):
    backbone, user = fresh_backbone(), distinct_user()
    cfg = build_config(LoraPConfig, {"train": {"max_steps": 1, "batch_size": 4}, "prompt": {"mode": "rag", "k": 1}})
    ctx = context(backbone, [user])
    examples = per_user_examples(ctx, cfg.prompt, prepare(ctx, cfg.prompt, user), user)
    assert len(examples) == len(user.profile)
    for j, ex in enumerate(examples):  # each item is shown another item of the user's, never itself
        shown = ex.prompt.split("review:")[0]
        assert f"w{j} " not in shown and any(f"w{i} " in shown for i in range(len(user.profile)) if i != j)
    method = LoraP(cfg)
    with ctx.clock.charging():
        state = method.personalize(ctx, user)
    assert isinstance(state, Prompted) and state.state is not None and state.prompt.index is not None
    seen = recorded_prompts(backbone, monkeypatch)
    assert len(method.predict(ctx, state, user.queries)) == len(user.queries)
    assert all(" is the score for " in p for p in seen)  # LaMP's RAG item template in every answer prompt
    assert ctx.report["prompt_variant"]["mode"] == "rag" and json.dumps(ctx.report)


def test_pag_variant_answers_under_the_profile_and_plain_is_unchanged(monkeypatch):
    backbone, user = fresh_backbone(), distinct_user()
    monkeypatch.setattr(prompt_variants, "write_profile", lambda ctx, user, **kw: "most common positive score: 4")
    method = PerPcs(build_config(PerPcsConfig, {"prompt": {"mode": "pag", "k": 1}}))  # no pool: the base answers
    ctx = context(backbone, [user])
    with ctx.clock.charging():
        state = method.personalize(ctx, user)
    assert isinstance(state, Prompted) and state.prompt.profile == "most common positive score: 4"
    seen = recorded_prompts(backbone, monkeypatch)
    method.predict(ctx, state, user.queries)
    assert all(p.startswith("### User Profile:\nmost common positive score: 4\n### User History:\n") for p in seen)
    assert all("### User Instruction:\nWhat is the score" in p for p in seen)
    assert ctx.report["profiles"] == {user.id: "most common positive score: 4"}
    plain = PerPcs()
    with ctx.clock.charging():
        assert plain.personalize(ctx, user) is None  # the plain method's state is what it always was


def test_a_user_without_a_profile_answers_from_the_plain_input():
    backbone, user = fresh_backbone(), distinct_user()
    ctx = context(backbone, [user])
    prompt = prompt_variants.answer_prompt(ctx, PromptVariant(mode="pag"), VariantState(), user.queries[0])
    assert prompt == prompt_variants.fit_prompt(ctx, user.queries[0].input)


def test_a_rag_variant_without_items_is_one_line_from_bench(cache, tmp_path):
    result = CliRunner().invoke(
        app,
        ["run", "--method", "oppu", "--task", "lamp3", "--data", "synthetic", "--model", "tiny-random",
         "--out", str(tmp_path / "runs"), "--set", "prompt.mode=rag", "--set", "prompt.k=0"],
        prog_name="bench", env={"COLUMNS": "300"},
    )  # fmt: skip
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "k must be at least 1" in result.output and not (tmp_path / "runs").exists()


# -- CHAMELEON --------------------------------------------------------------------------------------------------


def planted_pairs(seed: int = 1, k: int = 60, d: int = 8):
    gen = torch.Generator().manual_seed(seed)
    delta = torch.nn.functional.normalize(torch.randn(d, generator=gen), dim=0)
    p = torch.stack([torch.randn(k, d, generator=gen) + 2 * delta for _ in range(3)], dim=1)
    n = torch.stack([torch.randn(k, d, generator=gen) - 2 * delta for _ in range(3)], dim=1)
    return p, n


@pytest.mark.parametrize("identification", ["svd", "ccs"])
def test_svd_only_and_ccs_only_change_the_directions_not_the_layers(identification):
    p, n = planted_pairs()
    kw = {"n_layers": 2, "restarts": 2, "epochs": 100, "lr": 1e-2, "weight_decay": 0.01}
    hybrid, losses = find_directions(p, n, **kw)
    other, other_losses = find_directions(p, n, identification=identification, **kw)
    assert other.layers == hybrid.layers and other_losses == losses
    if identification == "svd":
        assert torch.allclose(other.theta_p, hybrid.theta_p)
        assert torch.allclose(other.theta_n, svd_direction(n.transpose(0, 1))[list(other.layers)])
    else:
        assert torch.equal(other.theta_n, hybrid.theta_n) and torch.equal(other.theta_p, -hybrid.theta_n)


def test_chameleon_answers_with_its_personal_insight_when_asked(tiny_backbone, monkeypatch):
    monkeypatch.setattr(
        chameleon_method, "preference_answers", lambda ctx, t, h, qs, a, b: (["4"] * len(qs), ["2"] * len(qs))
    )
    monkeypatch.setattr(chameleon_method, "insights", lambda ctx, t, h, n: ("five-star reviews", "be generic"))
    method = Chameleon(ChameleonConfig(answer_prompt="insight", directions="svd", **CHAMELEON_FAST))
    ctx = make_ctx(tiny_backbone)
    with ctx.clock.charging():
        state = method.personalize(ctx, make_user(0))
    assert state.insight == "five-star reviews" and state.directions is not None
    seen = recorded_prompts(tiny_backbone, monkeypatch)
    method.predict(ctx, state, make_user(0).queries)
    assert "The user prefers five-star reviews." in seen[0] and "item 0 is fine" in seen[0]
    report = ctx.report
    assert report["answer_prompt"] == "insight" and report["directions"] == "svd"
    assert report["answered_with"] == {"insight": 1} and report["users"]["u0"]["answered_with"] == "insight"


def test_insight_prompt_needs_the_users_history():
    with pytest.raises(ConfigError, match="answer_prompt=insight"):
        ChameleonConfig(mode="group", unseen=True, answer_prompt="insight")


# -- PerFit, Per-Pcs, ALOE ----------------------------------------------------------------------------------------


def test_perfit_stage_one_learns_from_the_same_examples_as_oppus_task_lora(tiny_backbone):
    train = [rating_user(f"t{i}", "3", n_items=8, n_queries=3) for i in range(2)]
    for source, per_user in (("queries", 3), ("history", 8)):
        cfg = PerFitConfig() if source == "queries" else PerFitConfig(stage1_source=source)
        ctx = context(tiny_backbone, budget=0)  # no time for a step: the examples are still counted
        with ctx.clock.charging():
            PerFit(cfg).fit(ctx, train)
        assert ctx.report["stage1"]["examples"] == 2 * per_user


def test_perpcs_sharers_train_at_table_3s_rate_and_the_task_lora_at_oppus():
    cfg = PerPcsConfig()
    assert [cfg.sharer_train(t).learning_rate for t in ("lamp1", "lamp2", "lamp3", "lamp4", "lamp5", "lamp7")] == [
        1e-5, 2e-5, 1e-5, 2e-5, 2e-5, 1e-5,
    ]  # fmt: skip
    assert cfg.sharer_train("lamp3").batch_size == 2 and cfg.train.learning_rate == 1e-4
    assert PerPcsConfig(sharer_learning_rate=1e-4).sharer_train("lamp3").learning_rate == 1e-4
    with pytest.raises(ConfigError, match="sharer_learning_rate"):
        PerPcsConfig(sharer_learning_rate=-1.0)


def test_aloes_full_fine_tuning_recipe_is_expressible():
    cfg = build_config(
        AloeConfig, {"mode": "full", "full_learning_rate": 1e-5, "train": {"batch_size": 1, "grad_accum": 48}}
    )
    assert (cfg.mode, cfg.full_learning_rate, cfg.train.batch_size * cfg.train.grad_accum) == ("full", 1e-5, 48)


@pytest.mark.parametrize("mode", ["rag", "pag"])
def test_variant_prompts_keep_the_runs_prompt_budget(mode, monkeypatch):
    backbone, user = fresh_backbone(), distinct_user(n_items=4)
    long = User(user.id, user.profile, (Query("q", user.queries[0].input + " very long review" * 40, "4"),))
    monkeypatch.setattr(prompt_variants, "write_profile", lambda ctx, user, **kw: "a profile " * 30)
    ctx, variant = context(backbone, [long], max_prompt_tokens=96), PromptVariant(mode=mode, k=2)
    state = prepare(ctx, variant, long)
    prompts = [prompt_variants.answer_prompt(ctx, variant, state, long.queries[0])]
    prompts += [ex.prompt for ex in per_user_examples(ctx, variant, state, long)]
    assert all(backbone.count_tokens(p) <= 96 for p in prompts)
    shown = prompts[0].startswith("### User Profile:") if mode == "pag" else " is the score for " in prompts[0]
    assert shown or ctx.report["personalization_cut"] == 1  # what did not fit is counted, as every method's


def test_group_mode_writes_each_users_insight_for_the_insight_prompt(tiny_backbone):
    from lampbench.methods.chameleon.directions import Directions

    d = tiny_backbone.model.config.hidden_size
    method = Chameleon(ChameleonConfig(mode="group", answer_prompt="insight", **CHAMELEON_FAST))
    method._group = Directions((0,), torch.ones(1, d), torch.ones(1, d), (0.1,))
    ctx = make_ctx(tiny_backbone)
    with ctx.clock.charging():
        state = method.personalize(ctx, make_user(0))
    assert state.directions is None and state.history and state.insight  # c^P written from their own history
    assert ctx.report["answered_with"] == {"insight": 1} and ctx.report["phase_s"]["insights"] > 0
