"""StyleVector: one d-vector per user, added exactly (scale * v) at one layer; anytime; hooks removed."""

from __future__ import annotations

import random

import pytest
import torch

from lampbench.harness.services.accounting import state_parameters
from lampbench.harness.services.budget import Clock
from lampbench.methods.contract import Context
from lampbench.methods.stylevector.method import StyleVector, StyleVectorConfig
from lampbench.tasks.specs import Query, User, get_task
from lampbench.tests.smollm2 import bench_run

# LaMP-3 (short answers keep generation on the random tiny model quick).
INSTRUCTION = (
    "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 without "
    "further explanation. review: "
)
WORDS = "good bad fine okay great awful nice poor solid weak".split()


def rating_user(uid: str, n_items: int = 6, n_queries: int = 2) -> User:
    rng = random.Random(uid)

    def review() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(5))

    profile = tuple({"id": f"{uid}-{i}", "text": review(), "score": str(1 + i % 5)} for i in range(n_items))
    return User(uid, profile, tuple(Query(f"{uid}-q{i}", INSTRUCTION + review(), "4") for i in range(n_queries)))


def context(backbone, users=(), budget: float = 600) -> Context:
    return Context(
        task=get_task("lamp3"), clock=Clock(budget), _backbone=backbone, eval_users=tuple(users), max_prompt_tokens=64
    )


def hooks_on(model) -> dict[str, tuple[int, int]]:
    """Forward and pre-forward hooks per module (the shared backbone may carry other methods' own hooks)."""
    return {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in model.named_modules()}


def test_the_state_is_one_d_vector(tiny_backbone):
    user, before = rating_user("a"), hooks_on(tiny_backbone.model)
    method, ctx = StyleVector(StyleVectorConfig(max_items=4)), context(tiny_backbone, [user])
    with ctx.clock.charging():
        state = method.personalize(ctx, user)
    d = tiny_backbone.model.config.hidden_size
    assert isinstance(state, torch.Tensor) and state.shape == (d,) and state.dtype == torch.float32
    assert state_parameters(state) == d and bool(state.abs().sum() > 0)
    assert ctx.report["users"][0] == {"user": "a", "history": 6, "planned": 4, "used": 4}
    assert hooks_on(tiny_backbone.model) == before


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_the_states_are_read_from_a_pass_that_stops_at_the_layer(tiny_backbone, pooling):
    """`response_states` gives the full pass's hidden state at the layer, without running a later layer or the LM
    head (no logits over the vocabulary)."""
    from lampbench.harness.services.backbone import pad_batch
    from lampbench.methods.stylevector.method import response_states

    backbone = tiny_backbone
    prompts, responses = ["a short prompt", "a somewhat longer prompt than that"], ["4", "great plot, good actors"]
    ran = []
    later = {name: (lambda n: lambda module, inputs, output: ran.append(n))(name) for name in ("lm_head", "model.norm")}
    with backbone.hooks({**later, backbone.layer_module(1): lambda module, inputs, output: ran.append("layer 1")}):
        states = response_states(backbone, 0, prompts, responses, pooling)
    assert ran == []
    tokenizer = backbone.tokenizer
    encoded = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in responses]
    rows = [backbone.encode(p) + r for p, r in zip(prompts, encoded, strict=True)]
    ids, mask = pad_batch(rows, tokenizer.pad_token_id, left=True)
    with torch.no_grad():
        hidden = backbone.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[1]
    for i, r in enumerate(encoded):
        expected = hidden[i, -1] if pooling == "last" else hidden[i, -len(r) :].mean(0)
        assert torch.allclose(states[i], expected, atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_the_vector_is_zero_when_the_user_writes_like_the_model(tiny_backbone, monkeypatch, pooling):
    user = rating_user("a", n_items=3)
    targets = [item["score"] for item in user.profile]
    monkeypatch.setattr(tiny_backbone, "generate", lambda prompts, **kw: targets[: len(prompts)])
    method, ctx = StyleVector(StyleVectorConfig(pooling=pooling)), context(tiny_backbone, [user])
    with ctx.clock.charging():
        state = method.personalize(ctx, user)
    assert torch.equal(state, torch.zeros_like(state))


def _layer_input(backbone, layer: int, run):
    """What decoder layer `layer` receives in the prompt pass of `run()` (the output of layer - 1)."""
    seen: list[torch.Tensor] = []
    handle = backbone.model.model.layers[layer].register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    try:
        run()
    finally:
        handle.remove()
    return seen[0]


@pytest.mark.parametrize("positions", ["last", "all"])
def test_it_adds_exactly_scale_times_v_at_the_chosen_layer(tiny_backbone, positions):
    user, before = rating_user("a"), hooks_on(tiny_backbone.model)
    v = torch.randn(tiny_backbone.model.config.hidden_size)
    method = StyleVector(StyleVectorConfig(layer=0, scale=2.5, positions=positions))
    ctx = context(tiny_backbone)
    base = _layer_input(tiny_backbone, 1, lambda: method.predict(ctx, None, user.queries))
    steered = _layer_input(tiny_backbone, 1, lambda: method.predict(ctx, v, user.queries))
    diff = steered - base
    assert torch.allclose(diff[:, -1], (2.5 * v).expand_as(diff[:, -1]), atol=1e-5)
    if positions == "last":
        assert torch.equal(diff[:, :-1], torch.zeros_like(diff[:, :-1]))  # earlier prompt positions untouched
    else:
        assert torch.allclose(diff, (2.5 * v).expand_as(diff), atol=1e-5)
    assert hooks_on(tiny_backbone.model) == before


def test_no_time_means_no_vector_and_base_answers(tiny_backbone):
    user = rating_user("a", n_queries=2)
    method, ctx = StyleVector(), context(tiny_backbone, [user], budget=0)
    with ctx.clock.charging():
        state = method.personalize(ctx, user)
    assert state is None and ctx.report["totals"] == {"steered_users": 0, "base_users": 1, "items_used": 0}
    assert ctx.report["personalized_fraction"] == 0.0
    prompts = [tiny_backbone.truncate(q.input, ctx.max_prompt_tokens) for q in user.queries]
    assert method.predict(ctx, None, user.queries) == tiny_backbone.generate(prompts, max_new_tokens=8)


@pytest.mark.slow
def test_bench_run_on_smollm2(tmp_path):
    """`bench run --method stylevector` on the real SmolLM2 and 2 synthetic users (LaMP-3: short answers, so that
    the model's own answers to the history items are quick to generate on a CPU)."""
    record, _ = bench_run(
        tmp_path, "--method", "stylevector", "--task", "lamp3", "--users", "2", "--max-profile", "4",
        "--max-prompt-tokens", "64", "--budget", "5m", sets=("max_items=4",),
    )  # fmt: skip
    assert record["status"] == "ok" and record["model"] == "smollm2" and record["users"] == 2
    assert record["method_report"]["totals"]["steered_users"] >= 1
    for row, user in zip(record["per_user"], record["method_report"]["users"], strict=True):
        assert (row["state_parameters"], row["state_bytes"]) == ((576, 576 * 4) if user["used"] else (0, 0))
    assert 0 <= record["metrics"]["mae"] <= 4


def test_max_items_0_spends_the_users_share_on_spread_items_and_never_overruns(tiny_backbone, monkeypatch):
    """Each batch of 4 items costs 2 fake seconds; 7 s allow 3 batches (6 s), not a 4th that would end at 8 s."""
    import lampbench.methods.stylevector.method as sv

    now = [0.0]
    real = sv.response_states

    def slow(*args, **kwargs):
        now[0] += 1.0
        return real(*args, **kwargs)

    monkeypatch.setattr(sv, "response_states", slow)
    user = rating_user("a", n_items=20)
    for budget, used in ((7, 12), (100, 20)):
        now[0] = 0.0
        ctx = Context(
            task=get_task("lamp3"), clock=Clock(budget, now=lambda: now[0]), _backbone=tiny_backbone,
            eval_users=(user,), max_prompt_tokens=64, batch_size=4,
        )  # fmt: skip
        with ctx.clock.charging():
            state = StyleVector(StyleVectorConfig(max_items=0)).personalize(ctx, user)
        assert state is not None and ctx.report["users"][0]["used"] == used and ctx.clock.spent <= budget
    assert sv.spread_order(5) == [0, 4, 1, 3, 2]  # a cut list still covers the profile's start, end and middle
