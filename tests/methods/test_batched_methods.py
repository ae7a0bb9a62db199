"""Per-user adapters and edits answered several users per batch give the answers they give one user at a time.

One table of cases (the PEFT pattern): each builds a method and random, non-zero per-user states on tiny-random
(no training: LoRA B, pieces, directions, vectors and interventions drawn at random, large enough to move the
answers), with one user left unpersonalized. Every user is asked a shared query, so a row given another user's
adapter or edit would change an answer; the other queries differ in length, so batches are left-padded.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable

import pytest
import torch
from torch.overrides import TorchFunctionMode

from lampbench.harness.run.method_config import build_config
from lampbench.harness.run.runner import RunSpec, run
from lampbench.harness.run.store import Store
from lampbench.harness.services.backbone import Backbone
from lampbench.harness.services.budget import Clock
from lampbench.harness.services.models import tiny_random
from lampbench.methods.contract import Context, Method
from lampbench.methods.registry import METHODS
from lampbench.tasks.specs import Query, get_task
from lampbench.tests.methods.fast import FAST

WORDS = "good bad fine okay great awful nice poor solid weak plot actors music long short".split()
SHARED = "What is the score of this review? The plot was good and the music was nice."
N_USERS = 5  # the last one is not personalized (state None)


def fresh_backbone() -> Backbone:
    model, tokenizer = tiny_random()
    return Backbone(model, tokenizer, name="tiny-random", batch_size=8)


def context(backbone: Backbone, batch_size: int) -> Context:
    return Context(
        task=get_task("lamp3"), clock=Clock(600), _backbone=backbone, batch_size=batch_size, max_prompt_tokens=96
    )


def queries(u: int) -> list[Query]:
    """The shared query, then 1-3 queries of different lengths of the user's own."""
    rng = random.Random(u)
    own = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 14))) for _ in range(1 + u % 3)]
    return [Query(f"u{u}-shared", SHARED, "")] + [Query(f"u{u}-q{i}", text, "") for i, text in enumerate(own)]


def rand(*shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape) * scale


# -- the cases: (method, states) for N_USERS users ---------------------------------------------------------------


def lora_states(method, backbone: Backbone) -> list:
    from lampbench.methods.lib.adapters import ensure_adapter, lora_config
    from lampbench.methods.oppu.method import USER

    ensure_adapter(backbone, USER, lora_config(method.config.train))
    shapes = backbone.adapter_state(USER)
    backbone.activate_lora([])
    backbone.model.eval()  # as after training: the new adapter's dropout off
    return [{k: rand(*v.shape, scale=0.5) for k, v in shapes.items()} for _ in range(N_USERS - 1)]


def lora_p(backbone):
    from lampbench.methods.oppu.method import LoraP

    method = LoraP()
    return method, lora_states(method, backbone)


def oppu(backbone):
    from lampbench.methods.oppu.method import Oppu

    method = Oppu()
    return method, lora_states(method, backbone)


def per_pcs(backbone):
    from lampbench.methods.perpcs.method import PerPcs
    from lampbench.methods.perpcs.pieces import Assembly, Pool

    layers = range(backbone.num_layers)
    modules = tuple(backbone.layer_module(layer, f"self_attn.{m}") for layer in layers for m in ("q_proj", "v_proj"))
    linear = dict(backbone.model.named_modules())
    sharers, r = 3, 4
    shape = {m: (linear[m].out_features, linear[m].in_features) for m in modules}
    pool = Pool(
        sharers=("s0", "s1", "s2"), modules=modules,
        A={m: rand(sharers, r, shape[m][1], scale=0.5) for m in modules},
        B={m: rand(sharers, shape[m][0], r, scale=0.5) for m in modules},
        gates={m: rand(sharers, shape[m][1]) for m in modules},
    )  # fmt: skip
    method = PerPcs()
    method._pool = pool
    states = []
    for u in range(N_USERS - 1):
        width = 1 + u % 2  # users assembled from one or two pieces per module: padded to the widest in a batch
        index = torch.stack([torch.randperm(sharers)[:width] for _ in modules]).to(torch.int16)
        states.append(Assembly(index, torch.rand(len(modules), width) + 0.1))
    return method, states


def chameleon(backbone, positions: str = "last"):
    from lampbench.methods.chameleon.config import ChameleonConfig
    from lampbench.methods.chameleon.directions import Directions
    from lampbench.methods.chameleon.method import Chameleon, ChameleonState

    method = Chameleon(ChameleonConfig(mode="user", positions=positions))
    d = backbone.model.config.hidden_size
    with torch.no_grad():  # MLP outputs that dominate the residual stream, so their edits show in the answers
        for layer in backbone.model.model.layers:
            layer.mlp.down_proj.weight.mul_(10)
    states = []
    for u in range(N_USERS - 1):
        layers = (0, 1) if u % 2 else (1,)  # users edit different layers
        directions = Directions(layers, rand(len(layers), d), rand(len(layers), d), (0.1,) * len(layers))
        history = "" if u < 2 else " ".join(WORDS[: 3 * u])  # history prompts of different lengths, or none
        states.append(ChameleonState(directions, history))
    return method, states


def chameleon_all(backbone):
    return chameleon(backbone, positions="all")


def chameleon_group(backbone):
    """Group mode: one set of directions for every user, each user's own history prompt (or none)."""
    from lampbench.methods.chameleon.config import ChameleonConfig
    from lampbench.methods.chameleon.method import Chameleon, ChameleonState

    _, states = chameleon(backbone)
    method = Chameleon(ChameleonConfig(mode="group"))
    method._group = states[1].directions
    return method, [ChameleonState(None, state.history) for state in states]


def stylevector(backbone):
    from lampbench.methods.stylevector.method import StyleVector

    d = backbone.model.config.hidden_size
    return StyleVector(), [rand(d, scale=2.0) for _ in range(N_USERS - 1)]


def perfit(backbone):
    from lampbench.methods.perfit import PerFit, PerFitConfig, Phi

    # Wide position windows (rows' windows start at different places under left padding), so that on this tiny
    # model the users' interventions show in the answers.
    cfg = PerFitConfig(layers=(0, 1), r1=4, r2=2, first_n=32, last_n=32)
    d = backbone.model.config.hidden_size

    def phi(r: int) -> Phi:
        return Phi(cfg.layers, rand(2, r, d, scale=0.5), rand(2, r, d, scale=0.5), rand(2, r, scale=0.5))

    method = PerFit(cfg)
    method._stage1 = phi(cfg.r1)
    return method, [phi(cfg.r2) for _ in range(N_USERS - 1)]


CASES: dict[str, Callable] = {
    "lora-p": lora_p,
    "oppu": oppu,
    "per-pcs": per_pcs,
    "chameleon": chameleon,
    "chameleon-all-positions": chameleon_all,
    "chameleon-group": chameleon_group,
    "stylevector": stylevector,
    "perfit": perfit,
}


# -- the one-user mechanisms the methods used before batching: each user's adapter or hook alone on the model ----


def generate(ctx: Context, prompts: list[str]) -> list[str]:
    return ctx.backbone.generate(prompts, max_new_tokens=ctx.task.max_new_tokens, batch_size=ctx.batch_size)


def lora_alone(method, ctx, state, qs):
    from lampbench.methods.lib.adapters import answering_with
    from lampbench.methods.lib.examples import fit_prompt
    from lampbench.methods.oppu.method import USER

    with answering_with(ctx.backbone, USER, state):
        return generate(ctx, [fit_prompt(ctx, q.input) for q in qs])


def per_pcs_alone(method, ctx, state, qs):
    from contextlib import nullcontext

    from lampbench.methods.lib.examples import fit_prompt
    from lampbench.methods.perpcs.pieces import applied

    with nullcontext() if state is None else applied(ctx.backbone, method._pool, state):
        return generate(ctx, [fit_prompt(ctx, q.input) for q in qs])


def chameleon_alone(method, ctx, state, qs):
    from lampbench.methods.chameleon.editing import edited

    cfg = method.config
    directions = None if state is None else state.directions if cfg.mode == "user" else method._group
    with edited(ctx.backbone, directions, edit=cfg.edit, scaling=cfg.scaling, positions=cfg.positions):
        return generate(ctx, method._answer_prompts(ctx, state, qs))


def stylevector_alone(method, ctx, state, qs):
    from contextlib import nullcontext

    from lampbench.methods.lib.examples import fit_prompt
    from lampbench.methods.stylevector.method import resolve_layer, steering

    cfg, backbone = method.config, ctx.backbone
    layer = backbone.layer_module(resolve_layer(backbone, cfg.layer))
    with nullcontext() if state is None else backbone.hooks({layer: steering(cfg.scale * state, cfg.positions)}):
        return generate(ctx, [fit_prompt(ctx, q.input) for q in qs])


def perfit_alone(method, ctx, state, qs):
    from lampbench.methods.lib.examples import fit_prompt
    from lampbench.methods.perfit.intervention import intervening

    cfg = method.config
    stages = [s for s in (method._stage1, state) if s is not None]
    with intervening(ctx.backbone, stages, cfg.layers, first_n=cfg.first_n, last_n=cfg.last_n):
        return generate(ctx, [fit_prompt(ctx, q.input) for q in qs])


ALONE: dict[str, Callable] = {
    "lora-p": lora_alone, "oppu": lora_alone, "per-pcs": per_pcs_alone, "chameleon": chameleon_alone,
    "chameleon-all-positions": chameleon_alone, "chameleon-group": chameleon_alone,
    "stylevector": stylevector_alone, "perfit": perfit_alone,
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_batched_answers_equal_one_user_at_a_time(case: str):
    torch.manual_seed(0)
    backbone = fresh_backbone()
    method, states = CASES[case](backbone)
    assert isinstance(method, Method)
    items = [(state, queries(u)) for u, state in enumerate([*states, None])]

    alone = [method.predict(context(backbone, 1), state, qs) for state, qs in items]  # batch 1: no padding
    # ... which are what each user's adapter or hook alone on the model gives (the code before batching):
    assert alone == [ALONE[case](method, context(backbone, 1), state, qs) for state, qs in items]
    together = method.predict_batch(context(backbone, 8), items)
    assert together == alone
    # Another order puts other users side by side in a batch: still each user's own answers.
    order = [3, 0, 4, 2, 1]
    assert method.predict_batch(context(backbone, 4), [items[i] for i in order]) == [alone[i] for i in order]

    # The states matter: users asked the same question answer differently, so a row given another user's state
    # would have been caught above (in group mode every user has the same edit: it need only show).
    shared = [answers[0] for answers in alone]
    assert len(set(shared)) >= (2 if case == "chameleon-group" else 3), shared


def test_per_user_loras_inject_nothing_and_leave_the_base():
    """Per-user LoRAs answer through hooks on the LoRA layers: no adapter is injected for them, every hook is gone
    afterwards, and the backbone answers as its base."""
    torch.manual_seed(0)
    backbone = fresh_backbone()
    prompts = [q.input for q in queries(1)]
    base = backbone.generate(prompts, max_new_tokens=8)
    method, states = lora_p(backbone)
    adapters = backbone.adapters
    items = [(state, queries(u)) for u, state in enumerate(states)]
    method.predict_batch(context(backbone, 2), items)
    assert backbone.adapters == adapters
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in backbone.model.modules())
    assert backbone.generate(prompts, max_new_tokens=8) == base


class Counting(TorchFunctionMode):
    """Counts torch functions by name, and matmul-like calls with a float32 operand."""

    MATMUL = {"matmul", "__matmul__", "bmm", "baddbmm", "einsum", "linear", "mm", "addmm"}

    def __init__(self):
        super().__init__()
        self.calls: dict[str, int] = {}
        self.fp32_matmuls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        self.calls[name] = self.calls.get(name, 0) + 1
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if name in self.MATMUL and any(t.dtype == torch.float32 for t in tensors):
            self.fp32_matmuls += 1
        return func(*args, **(kwargs or {}))

    def per_pass(self) -> float:
        """fp32 matmuls per forward pass (one embedding lookup per pass)."""
        return self.fp32_matmuls / self.calls["embedding"]


@pytest.mark.parametrize("case", ["lora-p", "per-pcs", "perfit", "stylevector", "chameleon"])
def test_on_a_bf16_model_per_row_edits_compute_in_bf16(case: str):
    """The states are fp32 (as stored); the hooks cast them once and add no fp32 matmul to the model's own."""
    torch.manual_seed(0)
    backbone = fresh_backbone()
    method, states = CASES[case](backbone)
    backbone.model.to(torch.bfloat16)
    items = [(state, queries(u)) for u, state in enumerate([*states, None])]
    with Counting() as base:
        backbone.generate([q.input for _, qs in items for q in qs], max_new_tokens=4)
    with Counting() as edited:
        method.predict_batch(context(backbone, 8), items)
    assert edited.calls["embedding"] > 0 and edited.per_pass() == base.per_pass()


#: Methods whose users share one model, so `predict_batch` puts every user of a batch through one `generate`.
SHARED_MODEL = ["base", "rag", "pag", "llm-rec", "lora-c", "aloe", "dpo"]
#: The LoRA methods train an adapter per user: seconds a pair of runs here, so they are marked slow.
PER_USER = [
    *(pytest.param(name, marks=pytest.mark.slow) for name in ("lora-p", "oppu", "per-pcs")),
    "chameleon", "stylevector", "perfit",
]  # fmt: skip


@pytest.mark.parametrize("name", [*SHARED_MODEL, *PER_USER])
def test_runs_at_batch_8_answer_as_at_batch_1(name, cache, tmp_path):
    """Through the runner (as `bench run` does): prompts of different lengths, left-padded together across users
    (each with its own trained state, for the per-user methods), get the answers they get one user at a time.

    Each run gets a fresh backbone: OPPU and Per-Pcs merge their task LoRA into the one they are given.
    """
    cls = METHODS.get(name)
    config = dataclasses.asdict(build_config(cls.Config, FAST.get(name, {})))
    store, got = Store(tmp_path), {}
    for size in (1, 8):
        spec = RunSpec(
            method=name, task="lamp3", budget=300, method_config=config, data="synthetic", users=5, train_users=4,
            model="tiny-random", max_prompt_tokens=256, batch_size=size,
        )  # fmt: skip
        record = run(spec, cls(build_config(cls.Config, config)), store=store, progress=False,
                     backbone=fresh_backbone())  # fmt: skip
        assert record["status"] == "ok", record.get("error")
        lines = (store.run_dir(record["run_id"]) / "generations.jsonl").read_text().splitlines()
        got[size] = {line["id"]: line["raw"] for line in map(json.loads, lines)}, record["predict_batches"]
    assert got[8][0] == got[1][0] and len(got[1][0]) == 5
    assert got[1][1] == {"1": 5} and got[8][1] == {"5": 1}  # five one-query users: five batches of 1, one of 5
