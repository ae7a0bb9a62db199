"""PerFit: the LoReFT intervention, its hooks, the two stages, the budget, and a learning test on tiny-random.

Every test that trains builds its own tiny backbone, so the session's shared `tiny_backbone` is never changed.
"""

from __future__ import annotations

import random

import pytest
import torch

from lampbench.harness.services.accounting import state_parameters
from lampbench.harness.services.backbone import Backbone
from lampbench.harness.services.budget import Clock
from lampbench.harness.services.models import tiny_random
from lampbench.methods.contract import Context
from lampbench.methods.perfit import PerFit, PerFitConfig, Phi
from lampbench.methods.perfit.intervention import (
    LoReFT,
    TrainablePhi,
    default_layers,
    intervening,
    loreft,
    prompt_mask,
    template_margins,
)
from lampbench.tasks.specs import Query, User, get_task
from lampbench.tests.smollm2 import bench_run

INSTRUCTION = (
    "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 without "
    "further explanation. review: "
)
WORDS = "good bad fine okay great awful nice poor solid weak".split()


def fresh_backbone() -> Backbone:
    model, tokenizer = tiny_random()
    return Backbone(model, tokenizer, name="tiny-random", batch_size=8)


def rating_user(uid: str, score: str, n_items: int = 16, n_queries: int = 6, seed: int = 0) -> User:
    """A LaMP-3 user who gives every review the same score."""
    rng = random.Random(f"{uid}:{seed}")

    def review() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(6))

    profile = tuple({"id": f"{uid}-{i}", "text": review(), "score": score} for i in range(n_items))
    queries = tuple(Query(f"{uid}-q{i}", INSTRUCTION + review(), score) for i in range(n_queries))
    return User(uid, profile, queries)


def context(backbone: Backbone, users=(), budget: float = 600, **kw) -> Context:
    return Context(
        task=get_task("lamp3"), clock=Clock(budget), _backbone=backbone, eval_users=tuple(users),
        max_prompt_tokens=64, **kw,
    )  # fmt: skip


def hooks_on(model) -> dict[str, tuple[int, int]]:
    """Forward and pre-forward hooks per module (the shared backbone may carry other methods' own hooks)."""
    return {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in model.named_modules()}


def test_phi_with_w_equal_r_and_zero_bias_is_the_identity():
    torch.manual_seed(0)
    module = LoReFT(32, 4)
    h = torch.randn(3, 5, 32)
    assert torch.allclose(module(h), h, atol=1e-6)  # a fresh intervention starts as the identity
    R = module.R.detach()
    assert torch.allclose(loreft(h, R, R, torch.zeros(4)), h, atol=1e-6)
    assert not torch.allclose(loreft(h, R, R, torch.ones(4)), h, atol=1e-3)  # and it is not trivially so


def test_r_stays_orthonormal_while_training():
    torch.manual_seed(0)
    phi = TrainablePhi([3], 32, 4)
    before = phi.export().R[0]
    optimizer = torch.optim.AdamW(phi.param_groups(weight_decay=0.1), lr=0.05)  # decay on W only
    h, goal = torch.randn(64, 32), torch.randn(64, 32)
    for _ in range(20):
        loss = ((phi.apply(3, h) - goal) ** 2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    R = phi.export().R[0]
    assert not torch.allclose(R, before, atol=1e-3)  # R did move
    assert torch.allclose(R @ R.T, torch.eye(4), atol=1e-5)


def test_prompt_mask_marks_first_and_last_prompt_positions():
    mask = prompt_mask(torch.tensor([2, 0]), torch.tensor([6, 3]), 8, first_n=2, last_n=1)
    assert mask[0].tolist() == [False, False, True, True, False, False, False, True]
    assert mask[1].tolist() == [True, True, True, False, False, False, False, False]  # short prompt: covered whole


def test_positions_are_counted_within_the_users_content_not_the_template(tiny_backbone):
    prefix, suffix = template_margins(tiny_backbone)
    assert prefix > 0 and suffix > 0  # tiny-random has a ChatML template, as SmolLM2 does
    prompt = "0123456789abcdefghij"
    ids = tiny_backbone.encode(prompt)
    content = tiny_backbone.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert ids[prefix : len(ids) - suffix] == content
    with intervening(tiny_backbone, [Recorder()], [0], first_n=3, last_n=2) as positions:
        with torch.inference_mode():
            tiny_backbone.model(input_ids=torch.tensor([ids]))
        marked = positions.mask[0].nonzero().flatten().tolist()
    end = len(ids) - suffix
    assert marked == [prefix, prefix + 1, prefix + 2, end - 2, end - 1]  # the content's first 3 and last 2 tokens


def test_default_layers_follow_the_models_depth_and_the_papers_batch_sizes():
    assert default_layers(30) == (0, 3, 7, 11) and default_layers(32) == (0, 4, 8, 12)
    assert default_layers(2) == (0,) and default_layers(4) == (0, 1)
    cfg = PerFitConfig()
    assert (cfg.batch_for("lamp3"), cfg.batch_for("lamp5"), cfg.batch_for("lamp2")) == (2, 4, 16)
    assert PerFitConfig(batch_size=8).batch_for("lamp3") == 8


def test_defaults_run_on_tiny_random():
    backbone = fresh_backbone()
    user = rating_user("a", "4")
    method, ctx = PerFit(), context(backbone, [user])
    with ctx.clock.charging():
        method.fit(ctx, [rating_user("t", "2")])
        state = method.personalize(ctx, user)
    assert method.layers(ctx) == (0,) and ctx.report["layers"] == [0]
    assert state is None or state.layers == (0,)
    assert len(method.predict(ctx, state, user.queries)) == len(user.queries)


class Recorder:
    """A stage that changes nothing and records the shapes it was applied to."""

    def __init__(self):
        self.calls: list[tuple[int, tuple[int, ...]]] = []

    def apply(self, layer, h):
        self.calls.append((layer, tuple(h.shape)))
        return h


def test_answering_intervenes_on_the_prompt_pass_only_and_removes_its_hooks(tiny_backbone):
    recorder, before = Recorder(), hooks_on(tiny_backbone.model)
    prompts = ["a short one", "a much longer prompt than the other"]
    with intervening(tiny_backbone, [recorder], [0, 1], first_n=3, last_n=2) as positions:
        tiny_backbone.generate(prompts, max_new_tokens=4, batch_size=2)
        assert positions.mask is None  # the last call was a decoding step
    assert [layer for layer, _ in recorder.calls] == [0, 1]  # once per layer: the prompt pass, not the 3 decode steps
    assert recorder.calls[0][1][:2] == (2, max(len(tiny_backbone.encode(p)) for p in prompts))
    assert hooks_on(tiny_backbone.model) == before


def test_hooks_are_removed_when_the_block_fails(tiny_backbone):
    before = hooks_on(tiny_backbone.model)
    with pytest.raises(RuntimeError, match="boom"):
        with intervening(tiny_backbone, [Recorder()], [1], first_n=7, last_n=7):
            raise RuntimeError("boom")
    assert hooks_on(tiny_backbone.model) == before


def test_a_layer_the_model_lacks_is_an_error(tiny_backbone):
    user = rating_user("a", "4")
    with pytest.raises(ValueError, match="decoder layers"):
        PerFit(PerFitConfig(stages=2, layers=(5,))).personalize(context(tiny_backbone, [user]), user)


def test_stage_two_leaves_stage_one_alone_and_stores_only_its_own_parameters():
    backbone = fresh_backbone()
    train = [rating_user(f"t{i}", "3", n_items=8) for i in range(2)]
    user = rating_user("a", "4", n_items=8)
    cfg = PerFitConfig(layers=(0, 1), r1=4, r2=2, epochs1=1, epochs2=2, batch_size=8, learning_rate=1e-2)
    method, ctx = PerFit(cfg), context(backbone, [user])
    grads, hooks = [p.requires_grad for p in backbone.model.parameters()], hooks_on(backbone.model)
    with ctx.clock.charging():
        method.fit(ctx, train)
        stage1 = method.collective_state()
        frozen = {k: getattr(stage1, k).clone() for k in ("R", "W", "b")}
        state = method.personalize(ctx, user)
    assert ctx.report["stage1"]["steps"] == 2 and ctx.report["users"][0]["steps"] == 2
    assert all(torch.equal(getattr(method.collective_state(), k), v) for k, v in frozen.items())
    assert isinstance(state, Phi) and state.layers == (0, 1)
    d = backbone.model.config.hidden_size
    assert state_parameters(state) == 2 * cfg.r2 * (2 * d + 1)  # r2 (2d + 1) per intervened layer
    assert state_parameters(method.collective_state()) == 2 * cfg.r1 * (2 * d + 1)
    assert torch.allclose(state.R[0] @ state.R[0].T, torch.eye(cfg.r2), atol=1e-5)
    assert not torch.allclose(state.W, state.R)  # stage 2 learnt something
    assert len(method.predict(ctx, state, user.queries)) == len(user.queries)
    assert [p.requires_grad for p in backbone.model.parameters()] == grads  # the backbone is handed back as it came
    assert hooks_on(backbone.model) == hooks


def test_the_ablations_keep_only_their_stage():
    backbone = fresh_backbone()
    train, user = [rating_user("t", "3", n_items=8)], rating_user("a", "4", n_items=8)
    only1 = PerFit(PerFitConfig(stages=1, layers=(0,), epochs1=1, batch_size=8))
    ctx = context(backbone, [user])
    with ctx.clock.charging():
        only1.fit(ctx, train)
        assert only1.collective_state() is not None and only1.personalize(ctx, user) is None
    only2 = PerFit(PerFitConfig(stages=2, layers=(0,), epochs2=1, batch_size=8))
    ctx = context(backbone, [user])
    with ctx.clock.charging():
        only2.fit(ctx, train)
        assert only2.collective_state() is None and ctx.report["stage1"] == {"skipped": "stages=2"}
        assert isinstance(only2.personalize(ctx, user), Phi)


def test_no_time_for_a_step_answers_with_what_it_has(tiny_backbone):
    user = rating_user("a", "4", n_items=4, n_queries=2)
    method, ctx = PerFit(PerFitConfig(layers=(0, 1))), context(tiny_backbone, [user], budget=0)
    with ctx.clock.charging():
        method.fit(ctx, [rating_user("t", "3", n_items=4)])
        state = method.personalize(ctx, user)
    assert state is None and method.collective_state() is None
    no_step = "budget too small for one training step"
    assert ctx.report["stage1"]["skipped"] == ctx.report["users"][0]["skipped"] == no_step
    assert ctx.report["personalized_fraction"] == 0.0
    prompts = [tiny_backbone.truncate(q.input, ctx.max_prompt_tokens) for q in user.queries]
    assert method.predict(ctx, state, user.queries) == tiny_backbone.generate(prompts, max_new_tokens=8)


def test_per_user_reft_learns_each_users_label():
    """Two users who always give the same score (2 and 5): per-user ReFT takes each user's accuracy above base.

    Without a chat template the content's last positions are the prompt's last, where the random two-layer model
    responds to an edit; through a template's fixed tail (13 tokens here) its near-uniform attention and RMS norms
    dilute an edit of the content below what a few steps can learn.
    """
    backbone = fresh_backbone()
    backbone.tokenizer.chat_template = None
    task = get_task("lamp3")
    users = [rating_user("a", "2"), rating_user("b", "5")]
    cfg = PerFitConfig(stages=2, layers=(0, 1), r2=4, learning_rate=5e-2, epochs2=6, max_target_tokens=2, batch_size=16)
    method, ctx = PerFit(cfg), context(backbone, users)

    def accuracy(answers, user):
        return sum(task.parse(a).answer == q.gold for a, q in zip(answers, user.queries, strict=True)) / len(answers)

    for user in users:
        base = backbone.generate([q.input for q in user.queries], max_new_tokens=task.max_new_tokens)
        with ctx.clock.charging():
            state = method.personalize(ctx, user)
        tuned = method.predict(ctx, state, user.queries)
        assert accuracy(tuned, user) > accuracy(base, user), (base, tuned, ctx.report["users"][-1])
        assert accuracy(tuned, user) >= 0.8


@pytest.mark.slow
def test_bench_run_on_smollm2(tmp_path):
    """`bench run --method perfit` on the real SmolLM2: stage 1 on 2 training users, stage 2 on 2 users."""
    record, _ = bench_run(
        tmp_path, "--method", "perfit", "--task", "lamp3", "--users", "2", "--train-users", "2", "--max-profile", "4",
        "--max-prompt-tokens", "64", "--budget", "5m",
        sets=("batch_size=2", "epochs1=1", "epochs2=1", "stage1_fraction=0.3"),
    )  # fmt: skip
    assert record["status"] == "ok" and record["model"] == "smollm2" and record["users"] == 2
    report = record["method_report"]
    per_layer = 2 * 576 + 1  # SmolLM2's hidden size is 576; default layers (0, 3, 7, 11)
    assert report["stage1"]["steps"] >= 1 and record["collective_parameters"] == 4 * 8 * per_layer
    for row, user in zip(record["per_user"], report["users"], strict=True):
        assert row["state_parameters"] == (4 * 2 * per_layer if user["steps"] else 0)
    assert 0 <= record["metrics"]["mae"] <= 4
