"""CHAMELEON: the math on planted data, the hooks, the modes and the anytime fallbacks (tiny model or pure tensors)."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch

from lampbench.harness.services.budget import Clock
from lampbench.methods.chameleon import Chameleon, ChameleonConfig
from lampbench.methods.chameleon import method as chameleon_method
from lampbench.methods.chameleon.directions import Directions, find_directions, svd_direction, train_ccs
from lampbench.methods.chameleon.editing import edit_hook, edited
from lampbench.methods.chameleon.prompts import clean_insight, pair_prompt, templates
from lampbench.methods.chameleon.selfdata import SelfData, select_history
from lampbench.methods.contract import Context
from lampbench.tasks.specs import TASKS, Query, User, get_task
from lampbench.tests.smollm2 import bench_run

FAST = {"history_k": 3, "insight_max_tokens": 4, "ccs_epochs": 30, "ccs_restarts": 2}


# -- the math -------------------------------------------------------------------------------------------------


def test_svd_recovers_a_planted_direction():
    gen = torch.Generator().manual_seed(0)
    u = torch.nn.functional.normalize(torch.randn(64, generator=gen), dim=0)
    h = torch.rand(40, 1, generator=gen) * 3 + 1  # positive strengths along u
    h = h * u + 0.05 * torch.randn(40, 64, generator=gen)
    theta = svd_direction(h.unsqueeze(0))[0]
    assert torch.dot(theta, u) > 0.99  # found, and oriented along the embeddings


def test_ccs_separates_two_planted_clusters_without_labels():
    gen = torch.Generator().manual_seed(0)
    d, k = 16, 200
    delta = torch.nn.functional.normalize(torch.randn(d, generator=gen), dim=0)
    base = torch.randn(k, d, generator=gen) * 0.5 + 3.0  # shared offset: the pooled centring must remove it
    p = base + 1.5 * delta + 0.3 * torch.randn(k, d, generator=gen)
    n = base - 1.5 * delta + 0.3 * torch.randn(k, d, generator=gen)
    theta, loss, _ = train_ccs(p[None], n[None], restarts=2, epochs=200, lr=1e-2, weight_decay=0.01)
    score_p, score_n = p @ theta[0], n @ theta[0]
    accuracy = ((score_n > score_p).float().mean()).item()  # theta points from the personal side to the neutral
    assert accuracy > 0.97 and loss[0] < 0.05
    threshold = torch.cat([score_p, score_n]).median()
    labels = torch.cat([torch.zeros(k), torch.ones(k)])
    predicted = (torch.cat([score_p, score_n]) > threshold).float()
    assert max((predicted == labels).float().mean(), (predicted != labels).float().mean()) > 0.97


def test_the_layers_with_lowest_ccs_loss_are_chosen():
    gen = torch.Generator().manual_seed(1)
    k, d = 150, 12
    delta = torch.nn.functional.normalize(torch.randn(d, generator=gen), dim=0)
    noise = lambda: torch.randn(k, d, generator=gen)  # noqa: E731
    # Layer 0: P and N drawn alike (no hyperplane); layer 1: separated along delta.
    p = torch.stack([noise(), noise() + 2 * delta], dim=1)
    n = torch.stack([noise(), noise() - 2 * delta], dim=1)
    directions, losses = find_directions(p, n, n_layers=1, restarts=3, epochs=300, lr=1e-2, weight_decay=0.01)
    assert directions.layers == (1,) and losses[1] < losses[0]
    assert directions.theta_p.shape == directions.theta_n.shape == (1, d)
    assert directions.ccs_loss == (pytest.approx(losses[1]),)


def test_a_neutral_only_edit_removes_the_component_along_theta_n():
    gen = torch.Generator().manual_seed(0)
    theta_n = torch.randn(32, generator=gen) * 5
    x = torch.randn(2, 7, 32, generator=gen) * 3
    out = edit_hook(None, theta_n, scaling="projection", positions="all")(None, (), x.clone())
    assert (out @ theta_n).abs().max() < 1e-4
    # Whatever is orthogonal to theta^N is untouched.
    u = theta_n / theta_n.norm()
    assert torch.allclose(out, x - (x @ u).unsqueeze(-1) * u, atol=1e-5)


def test_the_personal_edit_doubles_the_component_along_theta_p_at_the_last_position_only():
    gen = torch.Generator().manual_seed(0)
    theta_p = torch.randn(16, generator=gen)
    u = theta_p / theta_p.norm()
    x = torch.randn(3, 5, 16, generator=gen)
    out = edit_hook(theta_p, None, scaling="projection", positions="last")(None, (), x.clone())
    assert torch.allclose(out[:, :-1], x[:, :-1])
    assert torch.allclose(out[:, -1] @ u, 2 * (x[:, -1] @ u), atol=1e-5)
    tanh = edit_hook(theta_p, None, scaling="tanh", positions="all")(None, (), x.clone())
    assert torch.allclose(tanh @ u, x @ u + torch.tanh(x @ u), atol=1e-5)


def test_pca_selection_keeps_the_items_with_the_longest_projections():
    rng = np.random.default_rng(0)
    e = rng.normal(scale=0.01, size=(20, 8))
    e[4, 0], e[11, 1] = 5.0, -4.0  # two items far out along their own axes
    assert select_history(e, 2) == [4, 11]
    assert select_history(e[:3], 5) == [0, 1, 2]


# -- prompts and pairs ----------------------------------------------------------------------------------------


def test_every_task_has_templates_with_the_insight_slot():
    for task in TASKS.values():
        t = templates(task)
        prompt = pair_prompt(t, "1. x", "a query", "INSIGHT-HERE", personal=True)
        assert "INSIGHT-HERE" in prompt and prompt.endswith("Your answer:")
    assert clean_insight("The user prefers: short, witty tweets.\nMore.", personal=True) == "short, witty tweets"
    assert clean_insight("Your answer should be neutral.", personal=False) == "be neutral"
    assert clean_insight('The user prefers "classic" movies.', personal=True) == '"classic" movies'
    assert clean_insight('"The user prefers comedies."', personal=True) == "comedies"
    assert clean_insight("", personal=False)  # a fallback, never an empty slot


def test_identical_pairs_are_dropped_and_counted():
    data = SelfData("h", ("1",), "p", "n", ("q1", "q2", "q3"), ("a", "b", "c"), ("4", "3 ", "x"), ("4", "3", "y"))
    assert data.kept == [2]
    record = data.record()
    assert record["pairs_kept"] == 1 and record["pairs_dropped"] == 2
    assert [p["kept"] for p in record["pairs"]] == [False, False, True]


def test_unseen_needs_the_group_mode():
    with pytest.raises(ValueError, match="mode=group"):
        ChameleonConfig(unseen=True)


# -- the method on the tiny model -----------------------------------------------------------------------------


class FakeEmbedder:
    """Deterministic pseudo-embeddings (the real embedder is not needed to test the plumbing)."""

    def encode(self, texts, normalize_embeddings=True, convert_to_numpy=True):
        rows = [np.random.default_rng(zlib.crc32(t.encode())).normal(size=16) for t in texts]
        return np.stack([r / np.linalg.norm(r) for r in rows])


class Untouchable(tuple):
    """A profile that fails the test if anyone reads it."""

    def _fail(self, *args):
        raise AssertionError("the unseen mode read an evaluation user's profile")

    __iter__ = __len__ = __getitem__ = __bool__ = _fail


def make_user(i: int, n_items: int = 5, profile=None) -> User:
    items = tuple({"id": f"9{i}{j}", "text": f"review {i}-{j} was " + "great " * j, "score": str(1 + j % 5)}
                  for j in range(n_items))  # fmt: skip
    query = Query(f"{i}", f"What is the score of the following review? review: item {i} is fine", "3")
    return User(f"u{i}", items if profile is None else profile, (query,))


def make_ctx(backbone, clock=None) -> Context:
    return Context(
        task=get_task("lamp3"), clock=clock or Clock(600), _backbone=backbone, _embedder=FakeEmbedder(),
        max_prompt_tokens=1024, batch_size=4,  # bytes: the tiny tokenizer is byte-level
    )  # fmt: skip


@pytest.fixture
def distinct_answers(monkeypatch):
    """The tiny random model answers both prompts alike; give each pair two different answers instead."""
    calls = []

    def answers(ctx, t, history, queries, insight_p, insight_n):
        calls.append(len(queries))
        return [f"{4}" for _ in queries], [f"{2} {q[-3:]}" for q in queries]

    monkeypatch.setattr(chameleon_method, "preference_answers", answers)
    return calls


def test_hooks_are_gone_after_the_context_exits(tiny_backbone):
    model = tiny_backbone.model
    mlps = [model.get_submodule(tiny_backbone.layer_module(i, "mlp")) for i in range(tiny_backbone.num_layers)]
    d = model.config.hidden_size
    gen = torch.Generator().manual_seed(0)
    directions = Directions((0, 1), torch.randn(2, d, generator=gen), torch.randn(2, d, generator=gen), (0.1, 0.2))
    ids = torch.tensor([tiny_backbone.encode("hello there")])
    with torch.inference_mode():
        plain = model(input_ids=ids).logits[0, -1]
        with edited(tiny_backbone, directions, edit="both", scaling="projection", positions="last"):
            assert all(len(m._forward_hooks) == 1 for m in mlps)
            changed = model(input_ids=ids).logits[0, -1]
        after = model(input_ids=ids).logits[0, -1]
    assert not torch.allclose(plain, changed) and torch.equal(plain, after)
    assert all(len(m._forward_hooks) == 0 for m in mlps)
    with pytest.raises(RuntimeError):
        with edited(tiny_backbone, directions, edit="both", scaling="projection", positions="last"):
            raise RuntimeError("boom")
    assert all(len(m._forward_hooks) == 0 for m in mlps)


def test_per_user_mode_finds_each_users_own_directions(tiny_backbone, distinct_answers):
    method = Chameleon(ChameleonConfig(**FAST))
    ctx = make_ctx(tiny_backbone)
    with ctx.clock.charging():
        states = [method.personalize(ctx, make_user(i)) for i in range(2)]
    assert all(s is not None and s.directions is not None and s.history for s in states)
    assert not torch.equal(states[0].directions.theta_n, states[1].directions.theta_n)
    answers = method.predict(ctx, states[0], make_user(0).queries)
    assert len(answers) == 1 and isinstance(answers[0], str)
    report = ctx.report
    assert report["personalized_fraction"] == 1.0 and report["pairs_kept"] == 2
    user = report["users"]["u0"]
    assert user["insight_personal"] and user["pairs"][0]["personal"] == "4" and len(user["layers"]) == 2
    assert len(user["ccs_loss_per_layer"]) == tiny_backbone.num_layers
    assert set(user["phase_s"]) == {"history", "insights", "pairs", "embeddings", "directions"}
    json.dumps(report)  # plain JSON, for run.json


def test_a_user_whose_pairs_are_all_identical_keeps_the_history_prompt_unedited(tiny_backbone, monkeypatch):
    monkeypatch.setattr(chameleon_method, "preference_answers", lambda ctx, t, h, qs, a, b: (["4"] * len(qs),) * 2)
    method = Chameleon(ChameleonConfig(**FAST))
    ctx = make_ctx(tiny_backbone)
    with ctx.clock.charging():
        state = method.personalize(ctx, make_user(0))
    assert state.directions is None and state.history
    assert ctx.report["fallback_reasons"] == {"no_pairs": 1} and ctx.report["pairs_dropped"] == 1
    assert ctx.report["history_only_users"] == 1 and ctx.report["personalized_fraction"] == 0.0


def test_the_control_answers_with_the_same_history_prompt_and_no_edit(tiny_backbone, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("edit=none writes no insights or pairs")

    monkeypatch.setattr(chameleon_method, "insights", never)
    monkeypatch.setattr(chameleon_method, "preference_answers", never)
    control, full = Chameleon(ChameleonConfig(edit="none", **FAST)), Chameleon(ChameleonConfig(**FAST))
    ctx = make_ctx(tiny_backbone)
    with ctx.clock.charging():
        state = control.personalize(ctx, make_user(0))
    assert state.directions is None and state.history and ctx.report["personalized_fraction"] == 1.0
    seen = []
    generate = tiny_backbone.generate
    record = lambda prompts, **kw: seen.extend(prompts) or generate(prompts, **kw)  # noqa: E731
    monkeypatch.setattr(tiny_backbone, "generate", record)
    answers = control.predict(ctx, state, make_user(0).queries)
    assert answers == full.predict(ctx, state, make_user(0).queries)  # no directions: nothing is edited
    assert seen[0] == seen[1] and seen[0].startswith("Suppose you are a user") and "item 0 is fine" in seen[0]


def slow_pairs(monkeypatch) -> list[float]:
    """Make each user's preference answers take ten seconds of a fake clock; returns that clock's time."""
    now = [0.0]

    def slow_answers(ctx, t, history, queries, insight_p, insight_n):
        now[0] += 10.0
        return ["4"] * len(queries), ["2"] * len(queries)

    monkeypatch.setattr(chameleon_method, "preference_answers", slow_answers)
    return now


def four_slow_users(backbone, monkeypatch, budget: float) -> tuple[Clock, Context, list[User], Chameleon]:
    """4 evaluation users sharing `budget` seconds of a fake clock on which each user's pairs take 10 s."""
    now = slow_pairs(monkeypatch)
    clock = Clock(budget, now=lambda: now[0])
    users = [make_user(i) for i in range(4)]
    ctx = make_ctx(backbone, clock)
    ctx.eval_users = tuple(users)
    return clock, ctx, users, Chameleon(ChameleonConfig(**FAST))


def test_each_user_stage_stops_at_its_fair_share_and_keeps_its_history(tiny_backbone, monkeypatch):
    clock, ctx, users, method = four_slow_users(tiny_backbone, monkeypatch, 40)
    with clock.charging():
        first = method.personalize(ctx, users[0])  # its share: 40 / 4 = 10 s, all spent by its pairs
    assert first.directions is None and first.history
    assert ctx.report["fallback_reasons"] == {"budget": 1} and ctx.report["history_only_users"] == 1
    assert clock.spent == pytest.approx(10.0)  # the three users after it keep their 30 s


def test_a_user_whose_share_cannot_pay_for_the_stage_is_not_started_and_leaves_it_to_the_next(
    tiny_backbone, monkeypatch
):
    """Pairs take 10 s; 4 users share 38 s. Cutting each user at their share, none would finish (9.5, 9.3, 9, 8 s);
    skipping the one whose share is short of the measured cost lets the users after it finish."""
    clock, ctx, users, method = four_slow_users(tiny_backbone, monkeypatch, 38)
    with clock.charging():
        states = [method.personalize(ctx, user) for user in users]
    report = ctx.report
    assert [s.directions is not None for s in states] == [False, False, True, True]
    assert all(s.history for s in states)  # the skipped ones answer with their history prompt, unedited
    assert report["fallback_reasons"] == {"budget": 2} and report["personalized_fraction"] == 0.5
    assert report["users"]["u1"]["phase_s"]["pairs"] == 0.0  # not started: its 9.3 s could not pay for 10
    assert clock.spent == pytest.approx(30.0)


def test_ccs_stops_when_told_and_keeps_its_probes():
    from lampbench.methods.chameleon.directions import CHECK_EVERY

    gen = torch.Generator().manual_seed(0)
    p, n = torch.randn(1, 6, 4, generator=gen) + 2, torch.randn(1, 6, 4, generator=gen) - 2
    theta, loss, done = train_ccs(p, n, restarts=2, epochs=1000, lr=1e-2, weight_decay=0.01, stop=lambda: True)
    assert done == CHECK_EVERY and theta.shape == (1, 4) and torch.isfinite(loss).all()


def test_group_mode_gives_one_set_of_directions_for_many_users(tiny_backbone, distinct_answers):
    method = Chameleon(ChameleonConfig(mode="group", group_size=3, **FAST))
    ctx = make_ctx(tiny_backbone)
    with ctx.clock.charging():
        method.fit(ctx, [make_user(i) for i in range(10, 15)])
        states = [method.personalize(ctx, make_user(i)) for i in range(3)]
    group = method.collective_state()
    assert isinstance(group, Directions) and len(group.layers) == 2
    assert distinct_answers == [1, 1, 1]  # three training users sampled, one query each
    assert all(s.directions is None and s.history for s in states)  # the directions are shared, not per user
    assert ctx.report["group"]["users_used"] == 3 and ctx.report["group"]["pairs_kept"] == 3
    assert ctx.report["personalized_fraction"] == 1.0
    assert len(method.predict(ctx, states[0], make_user(0).queries)) == 1


def test_unseen_mode_never_reads_evaluation_profiles(tiny_backbone, distinct_answers):
    method = Chameleon(ChameleonConfig(mode="group", unseen=True, group_size=2, **FAST))
    ctx = make_ctx(tiny_backbone)
    with ctx.clock.charging():
        method.fit(ctx, [make_user(i) for i in range(10, 12)])
        user = make_user(0, profile=Untouchable())
        state = method.personalize(ctx, user)
    assert state.history == "" and state.directions is None
    assert len(method.predict(ctx, state, user.queries)) == 1


def test_out_of_time_users_fall_back_to_base(tiny_backbone, distinct_answers):
    now = [0.0]
    clock = Clock(10, now=lambda: now[0])
    method = Chameleon(ChameleonConfig(**FAST))
    ctx = make_ctx(tiny_backbone, clock)
    with clock.charging():
        first = method.personalize(ctx, make_user(0))
        now[0] = 11.0  # the budget runs out
        second = method.personalize(ctx, make_user(1))
    assert first is not None and second is None
    assert ctx.report["personalized_fraction"] == 0.5 and ctx.report["fallback_reasons"] == {"budget": 1}
    assert method.predict(ctx, None, make_user(1).queries) == tiny_backbone.generate(
        [make_user(1).queries[0].input], max_new_tokens=ctx.task.max_new_tokens
    )


def test_the_group_stage_keeps_the_users_finished_in_time(tiny_backbone, monkeypatch):
    now = slow_pairs(monkeypatch)
    clock = Clock(25, now=lambda: now[0])
    method = Chameleon(ChameleonConfig(mode="group", group_size=5, fit_share=1.0, **FAST))
    ctx = make_ctx(tiny_backbone, clock)
    with clock.charging():
        method.fit(ctx, [make_user(i) for i in range(10, 15)])
    group = ctx.report["group"]
    assert group["users_planned"] == 5 and group["users_used"] == 2 and method.collective_state() is not None
    with clock.charging():  # the budget is spent: a user gets the group directions on the bare input
        state = method.personalize(ctx, make_user(20))
    assert (
        state.directions is None and state.history == "" and ctx.report["fallback_reasons"] == {"budget_no_history": 1}
    )


@pytest.mark.slow
def test_end_to_end_with_the_real_smollm2(tmp_path):
    """`bench run --method chameleon` on the embedded SmolLM2, two synthetic users, tiny token counts."""
    # The budget is a cap, not a cost: generous, so that a busy machine still personalizes both users.
    record, _ = bench_run(
        tmp_path, "--method", "chameleon", "--task", "lamp3", "--users", "2", "--budget", "10m",
        sets=("history_k=2", "insight_max_tokens=6", "ccs_epochs=50", "ccs_restarts=2"),
    )  # fmt: skip
    assert record["status"] == "ok" and record["queries"] == 2 and 0 <= record["metrics"]["mae"] <= 4
    report = record["method_report"]
    assert report["personalized_users"] + report["fallback_users"] == 2
    assert all(u["insight_personal"] and len(u["pairs"]) == 1 for u in report["users"].values())
    assert report["pairs_kept"] + report["pairs_dropped"] == 2 and set(report["phase_s"]) >= {"insights", "pairs"}
