"""The fine-tuning methods on tiny-random: training is real, per-user data never leaks, budgets are obeyed.

Training tests build their own tiny model (`fresh_backbone`) rather than train the shared fixture.
"""

from __future__ import annotations

import random

import pytest
import torch

from lampbench.harness.run.method_config import build_config
from lampbench.harness.services.accounting import state_bytes, state_parameters
from lampbench.harness.services.backbone import Backbone
from lampbench.harness.services.budget import Clock
from lampbench.harness.services.models import tiny_random
from lampbench.methods.aloe import Aloe
from lampbench.methods.aloe.config import AloeConfig
from lampbench.methods.baseline.method import Base
from lampbench.methods.contract import Context
from lampbench.methods.dpo import Dpo
from lampbench.methods.dpo.config import DpoConfig
from lampbench.methods.lib import adapters
from lampbench.methods.lib.examples import history_examples, instruction, item_examples
from lampbench.methods.lib.train import NO_TIME, affordable_pairs, examples_seen, lr_factor
from lampbench.methods.oppu import LoraC, LoraCConfig, LoraP, LoraPConfig, Oppu, OppuConfig
from lampbench.tasks.specs import Query, User, get_task
from lampbench.tests.smollm2 import bench_run

TASK = get_task("lamp3")
INSTRUCTION = (
    "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5 without "
    "further explanation. review: "
)
WORDS = "good bad fine okay great poor nice awful decent superb".split()
EVERY_MODULE = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: What makes tiny-random (2 layers of width 32) learn in a few seconds: a big step on every module (`train` keys).
QUICK = {"learning_rate": 1e-2, "batch_size": 8, "alpha": 16, "target_modules": EVERY_MODULE, "schedule_by": "steps"}


def make(cls, *, train=(), **keys):
    """A method config: its defaults, `train` keys overlaid on the method's own training defaults, then `keys`."""
    return build_config(cls, {**keys, "train": dict(train)})


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The tiny model gains nothing from threads, and the machines these tests run on are often shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fresh_backbone() -> Backbone:
    return Backbone(*tiny_random(), name="tiny-random", batch_size=8)


def make_user(uid: str, label: str | None, *, n: int = 12, queries: int = 6, seed: int = 0) -> User:
    """A lamp3 user whose every score is `label` (or random scores when None)."""
    rng = random.Random(seed)

    def text() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(6)) + f" {uid}{rng.randrange(1000)}"

    def score() -> str:
        return label or rng.choice("12345")

    profile = tuple({"id": f"{uid}-{i}", "text": text(), "score": score()} for i in range(n))
    return User(uid, profile, tuple(Query(f"{uid}-q{i}", INSTRUCTION + text(), score()) for i in range(queries)))


def context(backbone, users=(), *, budget: float = 600.0, seed: int = 0, max_prompt_tokens: int = 256) -> Context:
    return Context(
        task=TASK, clock=Clock(budget), seed=seed, max_prompt_tokens=max_prompt_tokens, _backbone=backbone,
        eval_users=tuple(users),
    )  # fmt: skip


def personalize(method, ctx, user):
    with ctx.clock.charging():
        return method.personalize(ctx, user)


def fit(method, ctx, train):
    with ctx.clock.charging():
        method.fit(ctx, train)


def accuracy(answers: list[str], user: User) -> float:
    return sum(a.strip() == q.gold for a, q in zip(answers, user.queries, strict=True)) / len(answers)


# ---- examples


def test_history_items_become_task_examples_of_their_own_user(tiny_backbone):
    user = make_user("a", "4")
    ctx = context(tiny_backbone)
    examples = item_examples(ctx, user)
    assert [ex.target for ex in examples] == ["4"] * len(user.profile)
    assert [ex.prompt for ex in examples] == [INSTRUCTION + item["text"] for item in user.profile]
    # The instruction comes from the user's questions; LaMP's wording when none shows it.
    assert instruction(TASK, ["no instruction here"]) == INSTRUCTION
    assert item_examples(context(tiny_backbone), User("x", user.profile, ())) == examples
    lamp1 = Context(task=get_task("lamp1"), clock=Clock(1), _backbone=tiny_backbone)
    assert item_examples(lamp1, User("p", ({"id": "1", "title": "t", "abstract": "a"},), ())) == []


def test_a_history_item_is_never_conditioned_on_itself(tiny_backbone):
    user = make_user("h", None, n=6)
    ctx = context(tiny_backbone, max_prompt_tokens=2048)  # room for every item in full (the tokenizer is bytes)
    examples = history_examples(ctx, user, k=3, source="history", per_user=6)
    assert len(examples) == 6
    for item, ex in zip(user.profile, examples, strict=True):
        assert ex.target == item["score"] and ex.prompt.endswith(item["text"])
        assert ex.prompt.count(item["text"]) == 1  # in the input, not among the retrieved items
        assert ex.prompt.count(" is the score for ") == 3 and ex.input == INSTRUCTION + item["text"]
    both = history_examples(ctx, user, k=1, source="both", per_user=2)
    assert [ex.target for ex in both[:6]] == [q.gold for q in user.queries] and len(both) == 8


# ---- training is real


@pytest.fixture(scope="module")
def two_users_trained():
    """lora-p trained on two users whose labels differ, on its own tiny model; the base's answers and weights before."""
    backbone = fresh_backbone()
    users = [make_user("a", "5", seed=1), make_user("b", "1", seed=2)]
    ctx = context(backbone, users, budget=120)
    base_answers = Base().predict(ctx, None, users[0].queries)
    base_weights = [(p, p.data_ptr(), p.detach().clone()) for p in backbone.model.parameters()]
    method = LoraP(make(LoraPConfig, train={**QUICK, "epochs": 20}))
    states = {u.id: personalize(method, ctx, u) for u in users}
    return ctx, method, users, states, base_answers, base_weights


def test_lora_p_learns_each_users_label(two_users_trained):
    ctx, method, users, states, base_answers, _ = two_users_trained
    assert accuracy(base_answers, users[0]) == 0
    for user in users:
        assert accuracy(method.predict(ctx, states[user.id], user.queries), user) >= 0.8
    assert ctx.report["per_user_totals"] == {
        "users": 2, "trained": 2, "steps": 80, "examples_seen": 480, "skipped": {}
    }  # fmt: skip


def test_lora_c_learns_the_task_format():
    backbone = fresh_backbone()
    train = [make_user(f"t{i}", None, seed=10 + i) for i in range(4)]
    held_out = make_user("e", None, seed=99)
    ctx = context(backbone, [held_out])
    parsed = lambda answers: sum(TASK.parse(a).ok and a.strip() in "12345" for a in answers) / len(answers)  # noqa: E731
    assert parsed(Base().predict(ctx, None, held_out.queries)) == 0
    method = LoraC(make(LoraCConfig, train={**QUICK, "epochs": 5}, source="both"))
    fit(method, ctx, train)
    report = ctx.report["collective"]
    assert report["examples"] == 4 * (12 + 6) and report["steps"] == 45 and report["last_loss"] < report["first_loss"]
    assert parsed(method.predict(ctx, None, held_out.queries)) >= 0.8
    assert state_parameters(method.collective_state()) > 0


def test_dpo_reward_margin_grows():
    backbone = fresh_backbone()
    train = [make_user(f"d{i}", str(1 + i % 5), n=6, queries=2, seed=20 + i) for i in range(4)]
    train_keys = {**QUICK, "grad_accum": 1, "learning_rate": 5e-3, "r": 8, "epochs": 6}
    config = make(DpoConfig, train=train_keys, max_pairs=16, history_k=1)
    method = Dpo(config)
    ctx = context(backbone, budget=300)
    fit(method, ctx, train)
    report = ctx.report["collective"]
    assert report["pairs_made"] == 16 and report["steps"] == 12
    assert report["first_margin"] == pytest.approx(0, abs=1e-4)  # the policy starts as the reference
    assert report["last_margin"] > 0.05
    dropouts = [m.p for name, m in backbone.model.named_modules() if name.endswith("lora_dropout.dpo")]
    assert dropouts and set(dropouts) == {config.train.dropout}  # the shared model's dropout is left as it was
    assert backbone.model.training is False and backbone.adapters == ("dpo",)


@pytest.mark.parametrize(("deadline", "expected"), [(100, 20), (20, 10), (5, 0)])
def test_dpo_gets_only_the_pairs_the_time_left_affords(deadline, expected):
    """One timed batch of 4 pairs takes 2 s: 0.5 s a pair for the reference, 1.5 s more per epoch of training.

    The timed batch's reference is done (and kept): n pairs cost (n - 4) x 0.5 + n x 1.5 s of the time left.
    """
    backbone = fresh_backbone()
    slow = SlowModel(backbone, seconds=2.0)
    ctx = Context(task=TASK, clock=slow.clock(100), _backbone=backbone)
    pairs = [(f"prompt {i}", "good", "bad") for i in range(20)]
    try:
        with ctx.clock.charging():
            n = affordable_pairs(ctx, pairs, make(DpoConfig, train={"batch_size": 4, "epochs": 1.0}).train, deadline)
    finally:
        slow.close()
    assert n == expected  # (deadline - 2 s + 2 s) / (0.5 s x 4), at most all 20, none below one batch


def test_with_vs_without_history_pairs_are_the_models_answers_with_and_without_history(tiny_backbone, monkeypatch):
    # tiny-random says the same thing whatever it is asked, so a stand-in model answers with its prompt's length.
    monkeypatch.setattr(Dpo, "_pair_answers", staticmethod(lambda ctx, prompts: [f"<{len(p)}>" for p in prompts]))
    train = [make_user(f"s{i}", str(1 + i), n=4, queries=1, seed=30 + i) for i in range(2)]
    ctx = context(tiny_backbone, max_prompt_tokens=2048)
    method = Dpo(DpoConfig(pairs="with-vs-without-history", history_k=1, max_pairs=3))
    examples = method._examples(ctx, train)
    pairs, made = method.make_pairs(ctx, examples)
    assert len(examples) == 10 and made["answered"] == 8  # one batch of 8 was enough for 3 pairs
    assert len(pairs) == made["pairs_made"] == 3
    inputs = {ex.prompt: ex.input for ex in examples}
    assert all(chosen == f"<{len(p)}>" and rejected == f"<{len(inputs[p])}>" for p, chosen, rejected in pairs)
    # Without history in the prompt both sides are the same answer: no pair is made, and the drops are counted.
    plain = Dpo(DpoConfig(pairs="with-vs-without-history", history_k=0))
    pairs, made = plain.make_pairs(ctx, plain._examples(ctx, train))
    assert pairs == [] and made["equal_dropped"] == made["answered"] == 10


# ---- per-user data, budgets, adapters


def test_per_user_data_never_leaks_into_another_users_adapter(monkeypatch):
    a, b = make_user("a", "5", seed=1), make_user("b", "1", seed=2)
    config = make(LoraPConfig, train={**QUICK, "max_steps": 3})
    seen: dict[str, list[str]] = {}
    train = adapters.train_sft

    def spy(ctx, examples, cfg, **kw):
        seen[ctx.report.get("_who")] = [ex.prompt for ex in examples]
        return train(ctx, examples, cfg, **kw)

    monkeypatch.setattr(adapters, "train_sft", spy)
    ctx = context(fresh_backbone(), [a, b])
    states = {}
    for user in (a, b):
        ctx.report["_who"] = user.id
        states[user.id] = personalize(LoraP(config), ctx, user)
    for user in (a, b):
        assert seen[user.id] == [INSTRUCTION + item["text"] for item in user.profile]

    # b's adapter is the same whether or not a was trained before it on the same backbone.
    alone = context(fresh_backbone(), [b])
    assert all(torch.equal(states["b"][k], v) for k, v in personalize(LoraP(config), alone, b).items())


@pytest.mark.parametrize("cls", [LoraP, LoraC, Oppu, Aloe, Dpo])
def test_a_budget_too_small_for_one_step_answers_with_the_base_model(cls):
    backbone = fresh_backbone()
    user = make_user("z", "3")
    ctx = context(backbone, [user], budget=0.0)
    config = make(cls.Config, train={"r": 8}) if cls is Dpo else cls.Config()
    method = cls(config)
    if cls.uses_train_users:
        fit(method, ctx, [make_user("t", "2")])
        assert ctx.report["collective"]["skipped"] == NO_TIME and method.collective_state() is None
    state = personalize(method, ctx, user)
    if "per_user_totals" in ctx.report:
        assert ctx.report["per_user_totals"]["skipped"] == {NO_TIME: 1} and state is None
        assert ctx.report["personalized_fraction"] == 0.0  # the leaderboard's coverage
    answers = method.predict(ctx, state, user.queries)
    if cls in (LoraP, LoraC, Oppu):
        assert answers == Base().predict(ctx, None, user.queries)
    assert len(answers) == len(user.queries)


def test_adapters_swap_in_and_out_without_touching_the_base(two_users_trained):
    ctx, method, users, states, base_answers, base_weights = two_users_trained
    backbone = ctx.backbone
    for user in (users[0], users[1], users[0], users[1]):  # swapped in, out, and back
        assert accuracy(method.predict(ctx, states[user.id], user.queries), user) >= 0.8
    assert Base().predict(ctx, None, users[0].queries) == base_answers  # between answers the model is the base
    # The same base tensors, never reloaded nor changed (injection only wraps the modules that hold them).
    now = {id(p) for p in backbone.model.parameters()}
    assert all(id(p) in now and p.data_ptr() == ptr and torch.equal(p, old) for p, ptr, old in base_weights)
    # A state is the adapter's weights and nothing else: r * (in + out) per adapted module, in fp32.
    d, kv, mlp = 32, 16, 64
    shapes = [(d, d), (d, kv), (d, kv), (d, d), (d, mlp), (d, mlp), (mlp, d)]  # q k v o gate up down
    per_layer = sum(method.config.train.r * (i + o) for i, o in shapes)
    state = states["a"]
    assert all(".user." in k and "lora_" in k for k in state)
    assert state_parameters(state) == 2 * per_layer
    assert state_bytes(state) == 4 * 2 * per_layer + sum(len(k) for k in state)  # the harness counts names too


def test_oppu_merges_the_task_lora_then_trains_users_on_top():
    backbone = fresh_backbone()
    train = [make_user(f"t{i}", None, seed=10 + i) for i in range(3)]
    user = make_user("u", "2", seed=5)
    ctx = context(backbone, [user])
    method = Oppu(make(OppuConfig, train={**QUICK, "max_steps": 4}, task={"source": "both"}))
    fit(method, ctx, train)
    assert ctx.report["collective"]["merged"] and backbone.adapters == ()
    with_task = backbone.hidden_states([user.queries[0].input])
    state = personalize(method, ctx, user)
    assert set(backbone.adapters) == {"user"} and ctx.report["users"][0]["steps"] == 4
    method.predict(ctx, state, user.queries)
    assert torch.allclose(backbone.hidden_states([user.queries[0].input]), with_task, atol=1e-5)


def test_full_fine_tuning_cannot_train_quantized_weights():
    backbone = fresh_backbone()
    backbone.model.is_loaded_in_4bit = True  # what transformers sets on a model loaded with --quantize 4bit
    method = Aloe(make(AloeConfig, mode="full", train={"max_steps": 1, "batch_size": 4, "grad_accum": 1}))
    with pytest.raises(ValueError, match="quantized weights cannot be trained"):
        method.fit(context(backbone), [make_user("u1", "4")])


def test_full_fine_tuning_trains_every_weight():
    backbone = fresh_backbone()
    before = {n: p.detach().clone() for n, p in backbone.model.named_parameters()}
    flags = [p.requires_grad for p in backbone.model.parameters()]
    ctx = context(backbone)
    method = Aloe(
        make(AloeConfig, mode="full", train={"max_steps": 2, "batch_size": 4, "grad_accum": 1}, full_learning_rate=1e-3)
    )
    fit(method, ctx, [make_user("t", None, n=4, queries=2)])
    assert ctx.report["collective"]["steps"] == 2
    changed = [n for n, p in backbone.model.named_parameters() if not torch.equal(p, before[n])]
    assert len(changed) == len(before) and state_parameters(method.collective_state()) == sum(
        p.numel() for p in before.values()
    )
    assert [p.requires_grad for p in backbone.model.parameters()] == flags


def test_budget_is_shared_fairly_among_users():
    now = [0.0]
    users = [make_user(f"u{i}", "1", n=n) for i, n in enumerate((10, 20, 30))]
    ctx = Context(task=TASK, clock=Clock(60, now=lambda: now[0]), eval_users=tuple(users))
    with ctx.clock.charging():
        equal, proportional = LoraPConfig(), LoraPConfig(budget_split="proportional")
        assert ctx.user_deadline(users[0], equal.budget_split) == pytest.approx(20)
        assert ctx.user_deadline(users[0], proportional.budget_split) == pytest.approx(10)
        now[0] = 5.0  # the first user finished early: the others share what is left
        assert ctx.user_deadline(users[1], equal.budget_split) == pytest.approx(5 + 55 / 2)
        assert ctx.user_deadline(users[1], proportional.budget_split) == pytest.approx(5 + 55 * 20 / 50)
        assert ctx.user_deadline(users[2], equal.budget_split) == pytest.approx(60)
        assert ctx.user_deadline(make_user("stranger", "1"), equal.budget_split) == pytest.approx(60)


def test_schedule_and_counts():
    cfg = make(LoraPConfig, train={"warmup_ratio": 0.1, "schedule_by": "steps"}).train
    assert [round(lr_factor(s, 20, cfg, 0.0), 3) for s in (0, 1, 2, 10, 19)] == [0.5, 1.0, 1.0, 0.556, 0.056]
    # Out of time at 90% of the stage: the schedule is near its end whatever the step count says.
    assert lr_factor(3, 100, cfg, 0.9) == pytest.approx(1 - 0.8 / 0.9)
    assert examples_seen(10, 4, 1, 3) == 10 and examples_seen(10, 4, 1, 4) == 14 and examples_seen(10, 4, 2, 2) == 10


# ---- no step the clock cannot afford; budget-filling training


class SlowModel:
    """Fake time that advances `seconds` with every forward pass of the model (a slow step, without waiting)."""

    def __init__(self, backbone, seconds: float = 1.0):
        self.now, self.seconds = 0.0, seconds
        self._handle = backbone.model.get_input_embeddings().register_forward_pre_hook(self._tick)

    def _tick(self, module, args) -> None:
        self.now += self.seconds

    def clock(self, budget: float) -> Clock:
        return Clock(budget, now=lambda: self.now)

    def close(self) -> None:
        self._handle.remove()


def test_no_trainer_step_runs_past_the_deadline():
    """ALOE's step is several micro-batches: 3 forward passes of 1 s here. Under a 10-s budget the trainer takes
    3 steps (9 s) and not a 4th, which would end at 12 s: the clock is asked before a step, not only after."""
    backbone = fresh_backbone()
    slow = SlowModel(backbone)
    train = [make_user(f"t{i}", None, n=6, queries=4, seed=40 + i) for i in range(3)]
    ctx = Context(task=TASK, clock=slow.clock(10), _backbone=backbone, max_prompt_tokens=256)
    method = Aloe(make(AloeConfig, train={"batch_size": 2, "grad_accum": 3}, history_per_user=4))
    try:
        fit(method, ctx, train)
    finally:
        slow.close()
    report = ctx.report["collective"]
    assert report["examples"] == 24 and report["planned_steps"] == 4
    assert report["steps"] == 3 and report["stopped_by_budget"] and ctx.clock.spent == 9 <= ctx.clock.budget


def test_a_first_step_that_cannot_end_in_time_is_abandoned_not_overrun():
    """ALOE's step of 3 micro-batches of 1 s under a 2.5-s budget: abandoned after its first micro-batch."""
    backbone = fresh_backbone()
    slow = SlowModel(backbone)
    ctx = Context(task=TASK, clock=slow.clock(2.5), _backbone=backbone, max_prompt_tokens=256)
    method = Aloe(make(AloeConfig, train={"batch_size": 2, "grad_accum": 3}, history_per_user=4))
    try:
        fit(method, ctx, [make_user("t", None, n=6, queries=4, seed=40)])
    finally:
        slow.close()
    report = ctx.report["collective"]
    assert report["steps"] == 0 and report["skipped"] == NO_TIME and method.collective_state() is None
    assert ctx.clock.spent == 1 <= ctx.clock.budget


def test_epochs_budget_fills_each_users_share_and_ends_within_it():
    """`epochs: budget`: each user trains until their share is spent (far past the paper's 2 epochs), never over."""
    backbone = fresh_backbone()
    slow = SlowModel(backbone)
    users = [make_user("a", "5", seed=1), make_user("b", "1", seed=2)]
    ctx = Context(task=TASK, clock=slow.clock(40), _backbone=backbone, eval_users=tuple(users), max_prompt_tokens=256)
    method = LoraP(make(LoraPConfig, train={**QUICK, "schedule_by": "budget", "epochs": "budget", "max_steps": 1000}))
    try:
        for user in users:
            personalize(method, ctx, user)
    finally:
        slow.close()
    rows = ctx.report["users"]
    assert [r["steps"] for r in rows] == [20, 20] and [r["seconds"] for r in rows] == [20, 20]
    assert all(r["fills_budget"] and r["planned_steps"] is None and r["epochs_done"] == 10 for r in rows)
    assert ctx.clock.spent == 40 and not ctx.clock.over_budget
    assert rows[0]["last_loss"] < rows[0]["first_loss"]


def test_epochs_budget_lays_the_learning_rate_schedule_over_the_time():
    """The schedule warms up and decays over the steps the time affords, measured as training goes."""
    from lampbench.methods.lib import train as train_module

    backbone = fresh_backbone()
    slow = SlowModel(backbone)
    user = make_user("a", "5", seed=1)
    ctx = Context(task=TASK, clock=slow.clock(30), _backbone=backbone, eval_users=(user,), max_prompt_tokens=256)
    factors: list[float] = []
    original = train_module.lr_factor

    def spy(step, total, cfg, time_fraction):
        factors.append(original(step, total, cfg, time_fraction))
        return factors[-1]

    train = {**QUICK, "schedule_by": "budget", "epochs": "budget", "warmup_ratio": 0.1, "max_steps": 1000}
    cfg = make(LoraPConfig, train=train)
    try:
        train_module.lr_factor = spy
        personalize(LoraP(cfg), ctx, user)
    finally:
        train_module.lr_factor = original
        slow.close()
    assert ctx.report["users"][0]["steps"] == 30
    peak = factors.index(max(factors))
    # Warm-up from ~0 (the first step is not measured yet) to a peak near 10% of the 30 steps, then decay to ~0.
    assert 0 <= factors[0] <= 0.01 and 2 <= peak <= 4 and factors[-1] < 0.1
    assert all(a >= b for a, b in zip(factors[peak:], factors[peak + 1 :], strict=False))


def test_dpo_with_epochs_budget_trains_past_one_epoch_within_the_budget():
    backbone = fresh_backbone()
    train = [make_user(f"d{i}", str(1 + i % 5), n=6, queries=2, seed=20 + i) for i in range(4)]
    train_keys = {**QUICK, "grad_accum": 1, "learning_rate": 5e-3, "r": 8, "epochs": "budget"}
    config = make(DpoConfig, train=train_keys, max_pairs=8, history_k=1)
    method = Dpo(config)
    slow = SlowModel(backbone)
    ctx = Context(task=TASK, clock=slow.clock(40), _backbone=backbone, max_prompt_tokens=256)
    try:
        fit(method, ctx, train)
    finally:
        slow.close()
    report = ctx.report["collective"]
    assert report["pairs_made"] == 8 and report["fills_budget"] and report["steps"] > 1  # one epoch is 1 step
    assert ctx.clock.budget - 10 <= ctx.clock.spent <= ctx.clock.budget


def test_the_plain_loop_never_starts_a_step_it_cannot_afford_and_can_fill_its_time():
    """The loop of PerFit and Per-Pcs' gates: a fake step of 1 s; 7 planned steps under a 4.5-s deadline run 4."""
    from lampbench.methods.lib.loop import LoopConfig, train_parameters

    backbone = fresh_backbone()
    slow = SlowModel(backbone)
    ctx = Context(task=TASK, clock=slow.clock(100), _backbone=backbone, max_prompt_tokens=256)
    shift = torch.nn.Parameter(torch.zeros(backbone.model.config.hidden_size))

    def add(module, inputs, output):
        return (output[0] + shift, *output[1:]) if isinstance(output, tuple) else output + shift

    examples = item_examples(ctx, make_user("a", "5", n=8))
    loop = LoopConfig(learning_rate=1e-2, max_grad_norm=1.0, batch_size=2)
    hooks = lambda: backbone.hooks({backbone.layer_module(0): add})  # noqa: E731
    try:
        with ctx.clock.charging():
            fixed = train_parameters(ctx, examples, [{"params": [shift]}], loop, steps=7, deadline=4.5, seed=0,
                                     hooks=hooks())  # fmt: skip
            start = ctx.clock.spent
            filled = train_parameters(ctx, examples, [{"params": [shift]}], loop, steps=None, deadline=start + 12,
                                      seed=0, hooks=hooks())  # fmt: skip
    finally:
        slow.close()
    assert fixed.steps == 4 and fixed.stopped_by_budget and fixed.seconds == 4
    assert filled.steps == 12 and filled.seconds == 12 and filled.report()["epochs_done"] == 3
    assert shift.abs().sum() > 0


@pytest.mark.slow
def test_bench_run_with_epochs_budget_uses_most_of_its_budget(tmp_path):
    """Real time, through `bench run`: lora-p filling a 20-s budget on tiny-random ends within it.

    Slow: real time on a busy machine; a smaller budget may leave no step.
    """
    record, _ = bench_run(
        tmp_path, "--method", "lora-p", "--task", "lamp2", "--model", "tiny-random", "--users", "2",
        "--budget", "20s", "--max-profile", "8", sets=("train.epochs=budget", "train.batch_size=4"), timeout=300,
    )  # fmt: skip
    assert record["status"] == "ok"
    users = record["method_report"]["users"]
    assert all(u["fills_budget"] and u["epochs_done"] > 2 for u in users)  # lora-p's recipe: 2 epochs
    assert 0.7 * 20 <= record["budget_used_s"] <= 20.5


def test_perfit_with_epochs_budget_fills_each_users_share():
    from lampbench.methods.perfit import PerFit, PerFitConfig

    backbone = fresh_backbone()
    slow = SlowModel(backbone)
    users = [make_user("a", "5", n=6, seed=1), make_user("b", "1", n=6, seed=2)]
    ctx = Context(task=TASK, clock=slow.clock(20), _backbone=backbone, eval_users=tuple(users), max_prompt_tokens=256)
    method = PerFit(PerFitConfig(stages=2, layers=(0,), epochs2="budget", learning_rate=1e-2))
    try:
        states = [personalize(method, ctx, user) for user in users]
    finally:
        slow.close()
    rows = ctx.report["users"]
    assert [r["steps"] for r in rows] == [10, 10] and all(r["fills_budget"] for r in rows)
    assert all(state is not None for state in states) and ctx.clock.spent == 20


# ---- resume: the collective stage saved and reloaded


@pytest.mark.parametrize("cls", [LoraC, Oppu])
def test_the_task_lora_round_trips_through_the_run_folder(cls, tmp_path):
    """What `fit` learnt, saved and loaded into a fresh backbone, answers as before; nothing is pickled."""
    train = [make_user(f"t{i}", None, seed=10 + i) for i in range(3)]
    user = make_user("u", "2", seed=5)
    source = {"task": {"source": "both"}} if cls is Oppu else {"source": "both"}
    config = make(cls.Config, train={**QUICK, "max_steps": 3}, **source)
    first, first_ctx = cls(config), context(fresh_backbone(), [user])
    fit(first, first_ctx, train)
    assert first.save_collective(first_ctx, tmp_path) and (tmp_path / "task.safetensors").is_file()
    again, again_ctx = cls(config), context(fresh_backbone(), [user])
    assert cls(config).load_collective(again_ctx, tmp_path / "missing") is False
    assert again.load_collective(again_ctx, tmp_path)
    saved, loaded = first.collective_state(), again.collective_state()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    prompt = [user.queries[0].input]
    if cls is Oppu:  # folded into the base weights, as `fit` left them
        assert again_ctx.backbone.adapters == ()
        assert torch.allclose(again_ctx.backbone.hidden_states(prompt), first_ctx.backbone.hidden_states(prompt))
    else:
        assert first.predict(first_ctx, None, user.queries) == again.predict(again_ctx, None, user.queries)
        assert again_ctx.backbone.adapters == ("task",)  # injected, switched off between answers
        with adapters.answering_with(first_ctx.backbone, "task", saved):
            before = first_ctx.backbone.hidden_states(prompt)
        with adapters.answering_with(again_ctx.backbone, "task", loaded):
            after = again_ctx.backbone.hidden_states(prompt)
        assert torch.allclose(before, after) and not torch.allclose(after, fresh_backbone().hidden_states(prompt))


@pytest.mark.parametrize("cls", [Aloe, Dpo])
def test_aloe_and_dpo_loras_round_trip_too(cls, tmp_path):
    train = [make_user(f"d{i}", str(1 + i % 5), n=6, queries=2, seed=20 + i) for i in range(2)]
    dpo = cls is Dpo
    config = make(cls.Config, train={**QUICK, "max_steps": 2, **({"r": 8} if dpo else {})}, history_per_user=2,
                  **({"max_pairs": 4} if dpo else {}))  # fmt: skip
    first, ctx = cls(config), context(fresh_backbone())
    fit(first, ctx, train)
    assert first.collective_state() is not None and first.save_collective(ctx, tmp_path)
    again, again_ctx = cls(config), context(fresh_backbone())
    assert again.load_collective(again_ctx, tmp_path) and again_ctx.backbone.adapters == (cls.ADAPTER,)
    saved, loaded = first.collective_state(), again.collective_state()
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    user = make_user("u", "2", seed=5)
    answers = [m.predict(c, m.personalize(c, user), user.queries) for m, c in ((first, ctx), (again, again_ctx))]
    assert answers[0] == answers[1]
    assert not Aloe(AloeConfig(mode="full")).save_collective(ctx, tmp_path)  # a copy of the model: fit is redone


def test_a_stage_that_trained_nothing_is_saved_as_nothing(tmp_path):
    ctx = context(fresh_backbone(), budget=0.0)
    method = Oppu(OppuConfig())
    fit(method, ctx, [make_user("t", "2")])
    assert method.save_collective(ctx, tmp_path)
    again = Oppu(OppuConfig())
    assert again.load_collective(context(fresh_backbone()), tmp_path) and again.collective_state() is None


# ---- the real model, end to end


SLOW_SETS = {  # a step or two of a small batch
    "lora-c": ["train.batch_size=2", "train.max_steps=2"],
    "lora-p": ["train.batch_size=2", "train.max_steps=1"],
    "oppu": ["train.batch_size=2", "train.max_steps=1"],
    "aloe": ["train.batch_size=2", "train.grad_accum=1", "train.max_steps=2", "history_per_user=2"],
    "dpo": [
        "train.batch_size=2",
        "train.max_steps=2",
        "max_pairs=4",
        "history_per_user=2",
        "train.r=16",
        "train.alpha=8",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(SLOW_SETS))
def test_end_to_end_on_smollm2(method, tmp_path):
    """`bench run` on the embedded SmolLM2 with 2 synthetic users; `max_steps` bounds the work, not the budget.

    The budget is roomy so that a loaded machine (a step can take 10x longer on two busy cores) still trains.
    """
    task = "lamp2" if method in ("aloe", "dpo") else "lamp3"
    record, _ = bench_run(
        tmp_path, "--method", method, "--task", task, "--users", "2", "--train-users", "4", "--budget", "2m",
        "--max-profile", "12", "--max-prompt-tokens", "128", sets=tuple(SLOW_SETS[method]),
    )  # fmt: skip
    assert record["status"] == "ok" and record["queries"] == 2
    report = record["method_report"]
    trained = [report["collective"]] if "collective" in report else []
    trained += report.get("users", [])
    assert trained[0]["steps"] >= 1 and trained[0]["examples_seen"] >= 1
    assert all(r["steps"] >= 1 or r["skipped"] == NO_TIME for r in trained)  # a later user may find no time left
    if method in ("lora-p", "oppu"):  # a trained user's state is its adapter
        users = {r["user"]: r for r in report["users"]}
        assert all((row["state_parameters"] > 0) == (users[row["user"]]["steps"] > 0) for row in record["per_user"])
    else:
        assert record["collective_parameters"] > 0


def test_coverage_gives_a_reason_only_to_users_left_unpersonalized():
    """A trained user is personalized with no fallback reason; an untrained one says why (budget or no history)."""
    from lampbench.methods.lib.outcome import Outcome

    ctx = Context(task=get_task("lamp2"), clock=Clock(60))
    users = [User(id=str(i), profile=(), queries=()) for i in range(3)]
    adapters.record_user(ctx, users[0], Outcome(examples=4, steps=2))
    adapters.record_user(ctx, users[1], Outcome(examples=4, skipped=NO_TIME))
    adapters.record_user(ctx, users[2], Outcome(examples=0))
    assert ctx.report["personalized_users"] == 1
    assert ctx.report["fallback_reasons"] == {"budget": 1, "no_history": 1}
