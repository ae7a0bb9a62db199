"""Per-Pcs: sharer selection, gates, assembly on planted activations, the stored state, and the method under a budget.

Every test that trains or merges builds its own tiny backbone, so the session's shared `tiny_backbone` is never
changed.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

from lampbench.harness.run.method_config import build_config
from lampbench.harness.services.accounting import state_bytes
from lampbench.harness.services.budget import Clock
from lampbench.methods.lib.examples import fit_prompt
from lampbench.methods.lib.sharers import select_sharers
from lampbench.methods.perpcs import Assembly, PerPcs, PerPcsConfig, Pool
from lampbench.methods.perpcs.method import history_rows
from lampbench.methods.perpcs.pieces import (
    Assembler,
    answer_stacks,
    applied,
    delta_weights,
    gated,
    piece_scores,
    select,
)
from lampbench.tests.methods.test_perfit import context, fresh_backbone, hooks_on, rating_user
from lampbench.tests.smollm2 import bench_run

MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


def module_names(backbone) -> tuple[str, ...]:
    return tuple(f"{backbone.layer_module(i, 'self_attn')}.{m}" for i in range(backbone.num_layers) for m in MODULES)


def random_pool(backbone, sharers: int = 3, r: int = 2, seed: int = 0, zero_b: bool = False) -> Pool:
    gen = torch.Generator().manual_seed(seed)
    modules = dict(backbone.model.named_modules())
    A, B, gates = {}, {}, {}
    for name in module_names(backbone):
        d, n = modules[name].weight.shape
        A[name] = torch.randn(sharers, r, n, generator=gen)
        B[name] = torch.zeros(sharers, d, r) if zero_b else 0.1 * torch.randn(sharers, d, r, generator=gen)
        gates[name] = torch.randn(sharers, n, generator=gen)
    return Pool(tuple(f"s{i}" for i in range(sharers)), module_names(backbone), A, B, gates)


def test_the_gate_that_matches_a_planted_activation_scores_highest():
    gen = torch.Generator().manual_seed(0)
    gates = torch.randn(5, 32, generator=gen)
    planted = gates[3] * 4 + 0.3 * torch.randn(2, 7, 32, generator=gen)  # activations along piece 3's gate
    mask = torch.ones(2, 7)
    mask[1, 5:] = 0  # positions outside the target do not count
    scores = piece_scores(gates, planted, mask)
    assert scores.argmax(dim=-1).tolist() == [3, 3]
    assert scores[0, 3] == pytest.approx(7, abs=0.5) and scores[1, 3] == pytest.approx(5, abs=0.5)  # sum of cosines
    index, w = select(scores, 2, 32)
    assert index[:, 0].tolist() == [3, 3] and torch.allclose(w.sum(-1), torch.ones(2))
    top = scores[0].topk(2).values
    assert torch.allclose(w[0], torch.softmax(top / 32**0.5, dim=0))  # softmax(α / √n)


def test_assembly_picks_the_piece_whose_gate_matches_the_history():
    backbone = fresh_backbone()
    user = rating_user("u", "4", n_items=6)
    ctx = context(backbone, [user])
    cfg = build_config(PerPcsConfig, {"max_history": 0, "train": {"max_target_tokens": 8}})
    rows = history_rows(ctx, user, cfg)
    pool = random_pool(backbone, zero_b=True)  # no update: every module sees the base model's activations

    # Plant: sharer 1's gate at every module is the mean direction of that module's inputs on the target tokens.
    captured: dict[str, list[torch.Tensor]] = {name: [] for name in pool.modules}
    span = [0, 0]

    def capture(name):
        return lambda module, inputs, output: captured[name].append(inputs[0][0, span[0] : span[1]].mean(0))

    with torch.no_grad(), backbone.hooks({name: capture(name) for name in pool.modules}):
        for ids, bounds in rows:
            span[:] = bounds
            backbone.model(input_ids=torch.tensor([ids]))
    for name in pool.modules:
        pool.gates[name][1] = torch.stack(captured[name]).mean(0)

    assembler = Assembler(pool, k=1)
    with torch.no_grad(), assembler.installed(backbone):
        for ids, (lo, hi) in rows:
            assembler.mask = torch.zeros(1, len(ids))
            assembler.mask[0, lo:hi] = 1
            backbone.model(input_ids=torch.tensor([ids]))
            assembler.items += 1
    assembly = assembler.assembly()
    assert assembly.index.shape == (len(pool.modules), 1)
    assert assembly.index.flatten().tolist() == [1] * len(pool.modules)
    assert torch.allclose(assembly.weight, torch.ones_like(assembly.weight))  # top-1: weight 1 on every item
    assert all(counts == (0, 0) for counts in hooks_on(backbone.model).values())


def test_weights_are_averaged_over_history_items():
    backbone = fresh_backbone()
    pool = random_pool(backbone, sharers=4)
    assembler = Assembler(pool, k=2)
    ids = torch.randint(5, 200, (3, 12))
    with torch.no_grad(), assembler.installed(backbone):
        assembler.mask = torch.ones(3, 12)
        backbone.model(input_ids=ids)
        assembler.items += 3
    assembly = assembler.assembly()
    # Each item's top-2 weights sum to 1, so each module's averaged weights do too; the top 2 are kept, renormalised.
    assert torch.allclose(assembly.weight.sum(-1), torch.ones(len(pool.modules)), atol=1e-5)
    assert assembly.index.dtype == torch.int16 and assembly.index.shape[1] <= 2
    for i, m in enumerate(pool.modules):
        kept = assembly.index[i][assembly.weight[i] > 0].long()
        assert set(kept.tolist()) == set(assembler.totals[m].topk(len(kept)).indices.tolist())


def test_answering_holds_at_most_top_k_pieces_per_module_and_user():
    """However many pieces a user's items chose, the stored assembly and what answering a batch holds are bounded
    by top-k: U users x k·r x (n + d) numbers per module, counted in bytes."""
    backbone = fresh_backbone()
    pool = random_pool(backbone, sharers=8, r=2)
    k = 2
    assembler = Assembler(pool, k=k)
    with torch.no_grad(), assembler.installed(backbone):
        assembler.mask = torch.ones(8, 12)
        backbone.model(input_ids=torch.randint(5, 200, (8, 12)))  # 8 items choosing among 8 sharers
        assembler.items += 8
    assert max(int((t > 0).sum()) for t in assembler.totals.values()) > k  # the items chose more than k in all
    assembly = assembler.assembly()
    modules = len(pool.modules)
    assert assembly.index.shape == (modules, k) and state_bytes(assembly) == modules * k * (2 + 4)

    users = [assembly, assembly, None, assembly]
    stacks = answer_stacks(pool, users)
    shapes = {m: (pool.B[m].shape[1], pool.A[m].shape[2]) for m in pool.modules}  # (d, n)
    bound = len(users) * sum(k * 2 * (d + n) for d, n in shapes.values()) * 4  # fp32 here
    assert sum(s.nbytes for s in stacks.values()) == bound
    # ... against every sharer the items ever chose, as the assembly kept before.
    everything = len(users) * sum(8 * 2 * (d + n) for d, n in shapes.values()) * 4
    assert bound <= everything * k / 8


def test_assembling_runs_the_model_only_as_far_as_the_last_piece():
    """Per-Pcs' assembly reads nothing past the last module with pieces: the LM head never runs."""
    backbone = fresh_backbone()
    user = rating_user("e1", "5", n_items=4)
    ctx = context(backbone, [user], _embedder=ClusteredEmbedder())
    method = PerPcs(fast())
    method._pool = random_pool(backbone)
    calls = []
    with backbone.hooks({"lm_head": lambda module, inputs, output: calls.append(1)}), ctx.clock.charging():
        state = method.personalize(ctx, user)
    assert calls == [] and state is not None and ctx.report["users"][0]["items_assembled"] == 4


def test_a_stored_assembly_reproduces_the_same_adapter_when_reloaded():
    backbone = fresh_backbone()
    pool = random_pool(backbone)
    assembly = Assembly(
        index=torch.tensor([[0, 2]] * len(pool.modules), dtype=torch.int16),
        weight=torch.tensor([[0.7, 0.3]] * len(pool.modules)),
    )
    buffer = io.BytesIO()
    torch.save({"index": assembly.index, "weight": assembly.weight}, buffer)  # tensors only: nothing pickled
    buffer.seek(0)
    reloaded = Assembly(**torch.load(buffer, weights_only=True))
    dense, again = delta_weights(pool, assembly), delta_weights(pool, reloaded)
    assert all(torch.equal(dense[m], again[m]) for m in pool.modules)
    name = pool.modules[0]
    expected = 0.7 * pool.B[name][0] @ pool.A[name][0] + 0.3 * pool.B[name][2] @ pool.A[name][2]
    assert torch.allclose(dense[name], expected, atol=1e-5)

    # Answering with the hooks is the base model with ΔW added to its weights.
    ids = torch.randint(5, 200, (2, 10))
    with torch.no_grad():
        with applied(backbone, pool, reloaded):
            hooked = backbone.model(input_ids=ids).logits
        modules = dict(backbone.model.named_modules())
        for m in pool.modules:
            modules[m].weight += dense[m]
        merged = backbone.model(input_ids=ids).logits
        for m in pool.modules:
            modules[m].weight -= dense[m]
    assert torch.allclose(hooked, merged, atol=1e-4)


def test_a_zero_gate_halves_the_piece_and_gates_are_the_only_trainable_thing():
    backbone = fresh_backbone()
    pool = random_pool(backbone, sharers=1)
    A = {m: pool.A[m][0] for m in pool.modules}
    B = {m: pool.B[m][0] for m in pool.modules}
    gates = {m: torch.zeros(pool.A[m].shape[-1]) for m in pool.modules}
    half = Assembly(torch.zeros(len(pool.modules), 1, dtype=torch.int16), torch.full((len(pool.modules), 1), 0.5))
    ids = torch.randint(5, 200, (1, 9))
    with torch.no_grad():
        with gated(backbone, A, B, gates):
            gated_out = backbone.model(input_ids=ids).logits
        with applied(backbone, pool, half):
            half_out = backbone.model(input_ids=ids).logits
    assert torch.allclose(gated_out, half_out, atol=1e-5)  # sigmoid(0) = 1/2


class ClusteredEmbedder:
    """Embeds a text by the first letter of its first word: one cluster per letter."""

    def encode(self, texts):
        return np.stack([np.eye(8)[ord(t.split()[0][0]) % 8] for t in texts])


def test_sharers_are_the_most_active_user_of_each_cluster():
    def user(uid: str, letter: str, n: int):
        u = rating_user(uid, "3", n_items=n)
        profile = tuple({**item, "text": f"{letter}word {item['text']}"} for item in u.profile)
        return type(u)(u.id, profile, u.queries)

    users = [user("a1", "a", 3), user("a2", "a", 9), user("b1", "b", 5), user("b2", "b", 4), user("c1", "c", 2)]
    ctx = context(fresh_backbone(), _embedder=ClusteredEmbedder())
    chosen = select_sharers(ctx, users, 3, embed_items=4, seed=0)
    assert sorted(u.id for u in chosen) == ["a2", "b1", "c1"]
    assert [u.id for u in select_sharers(ctx, users[:2], 5, embed_items=4, seed=0)] == ["a1", "a2"]


def test_embedding_the_candidates_stops_at_its_deadline():
    """Each embedding call (one chunk of 8 texts: two users of 4 items) costs 10 fake seconds; a 25-s deadline
    allows two chunks, not a third: the clusters are those of the 4 users embedded in time."""
    now = [0.0]

    class SlowEmbedder(ClusteredEmbedder):
        def encode(self, texts):
            now[0] += 10.0
            return super().encode(texts)

    users = [rating_user(f"u{i}", "3", n_items=4, seed=i) for i in range(10)]
    ctx = context(fresh_backbone(), _embedder=SlowEmbedder())
    ctx.clock = Clock(100, now=lambda: now[0])
    with ctx.clock.charging():
        chosen = select_sharers(ctx, users, 3, embed_items=4, seed=0, deadline=25, chunk_texts=8)
    assert ctx.clock.spent == 20 and {u.id for u in chosen} <= {"u0", "u1", "u2", "u3"} and chosen


def train_users(n: int = 3) -> list:
    return [rating_user(f"t{i}", str(1 + i % 5), n_items=6, n_queries=2, seed=i) for i in range(n)]


FAST = {
    "sharers": 2, "gate_steps": 3, "gate_batch_size": 3,
    "train": {"max_steps": 2, "batch_size": 4, "max_target_tokens": 8},
    "task": {"target_modules": ("q_proj", "v_proj")},
}  # fmt: skip


def fast(**keys) -> PerPcsConfig:
    """`FAST`, with `keys` on top."""
    return build_config(PerPcsConfig, FAST, keys)


def test_the_method_builds_a_pool_and_stores_only_indices_and_weights():
    backbone = fresh_backbone()
    users = [rating_user("e1", "5", n_items=5), rating_user("e2", "2", n_items=3)]
    ctx = context(backbone, users, _embedder=ClusteredEmbedder())
    method = PerPcs(fast())
    with ctx.clock.charging():
        method.fit(ctx, train_users())
    pool = method.collective_state()["pool"]
    report = ctx.report
    assert len(pool.sharers) == 2 and report["pool"]["sharers"] == 2
    assert report["task_adaptation"]["train_users"] == 1 and report["task_adaptation"]["merged"]
    assert all(row["lora"]["steps"] == 2 and row["gates"]["steps"] == 3 for row in report["sharer_training"])
    assert any(pool.gates[m].abs().sum() > 0 for m in pool.modules)  # gates moved off zero
    assert backbone.adapters == ()  # the sharers' adapter is gone: the pool lives in hooks
    assert all(counts == (0, 0) for counts in hooks_on(backbone.model).values())

    with ctx.clock.charging():
        state = method.personalize(ctx, users[0])
    assert isinstance(state, Assembly) and state.index.shape[0] == len(pool.modules)
    assert ctx.report["users"][0]["items_assembled"] == 5 and ctx.report["personalized_fraction"] == 1.0
    # A user's state is a few bytes per module, against the LoRA matrices of one sharer.
    lora_bytes = sum(pool.A[m][0].numel() + pool.B[m][0].numel() for m in pool.modules) * 4
    assert state_bytes(state) < lora_bytes / 4
    answers = method.predict(ctx, state, users[0].queries)
    assert len(answers) == len(users[0].queries) and all(isinstance(a, str) for a in answers)


def test_the_pool_and_task_lora_round_trip_through_the_run_folder(tmp_path):
    """A resumed run reloads Per-Pcs' `fit` (safetensors, nothing pickled): the same pool, the same merged base."""
    users = [rating_user("e1", "5", n_items=5)]
    first, ctx = PerPcs(fast()), context(fresh_backbone(), users, _embedder=ClusteredEmbedder())
    with ctx.clock.charging():
        first.fit(ctx, train_users())
    assert first.save_collective(ctx, tmp_path) and (tmp_path / "per-pcs.safetensors").is_file()
    again, again_ctx = PerPcs(fast()), context(fresh_backbone(), users)
    assert again.load_collective(again_ctx, tmp_path)
    saved, loaded = first.collective_state(), again.collective_state()
    pool, pool_again = saved["pool"], loaded["pool"]
    assert pool_again.sharers == pool.sharers and pool_again.modules == pool.modules
    for part in ("A", "B", "gates"):
        assert all(torch.equal(getattr(pool, part)[m], getattr(pool_again, part)[m]) for m in pool.modules)
    assert all(torch.equal(saved["task_lora"][k], v) for k, v in loaded["task_lora"].items())
    prompt = [users[0].queries[0].input]
    assert again_ctx.backbone.adapters == ()  # the task LoRA is folded into the base, as `fit` left it
    assert torch.allclose(again_ctx.backbone.hidden_states(prompt), ctx.backbone.hidden_states(prompt), atol=1e-6)
    with ctx.clock.charging(), again_ctx.clock.charging():
        state, state_again = first.personalize(ctx, users[0]), again.personalize(again_ctx, users[0])
    assert torch.equal(state.index, state_again.index) and torch.allclose(state.weight, state_again.weight)
    assert first.predict(ctx, state, users[0].queries) == again.predict(again_ctx, state_again, users[0].queries)


def test_without_time_the_method_answers_with_the_base():
    backbone = fresh_backbone()
    user = rating_user("e1", "5", n_items=4)
    ctx = context(backbone, [user], budget=1e-9, _embedder=ClusteredEmbedder())
    method = PerPcs(fast())
    with ctx.clock.charging():
        method.fit(ctx, train_users())
        state = method.personalize(ctx, user)
    assert method.collective_state() is None and state is None
    assert ctx.report["pool"]["sharers"] == 0 and ctx.report["personalized_fraction"] == 0.0
    assert all(row["lora"]["skipped"] for row in ctx.report["sharer_training"])
    prompts = [fit_prompt(ctx, q.input) for q in user.queries]
    base = backbone.generate(prompts, max_new_tokens=ctx.task.max_new_tokens)
    assert method.predict(ctx, state, user.queries) == base


def test_a_sharers_gates_keep_their_time_when_its_lora_runs_over(monkeypatch):
    from lampbench.methods.perpcs import method as module

    backbone = fresh_backbone()
    now = [0.0]
    ctx = context(backbone, [rating_user("e1", "5")], _embedder=ClusteredEmbedder())
    ctx.clock = Clock(1000, now=lambda: now[0])
    real = module.train_adapter

    def slow_lora(*args, **kwargs):
        out = real(*args, **kwargs)
        now[0] += 900.0  # past the sharer's whole share (the pool's 0.7 x 1000 s), within the run's budget
        return out

    monkeypatch.setattr(module, "train_adapter", slow_lora)
    method = PerPcs(fast(sharers=1, task_adapt=False))
    with ctx.clock.charging():
        method.fit(ctx, train_users())
    (row,) = ctx.report["sharer_training"]
    assert row["lora"]["steps"] == 2 and row["gates"]["steps"] == 3  # the gates still trained
    assert ctx.report["pool"]["sharers"] == 1


@pytest.mark.parametrize(("budget", "items"), [(120, 8), (100, 6), (50, 2)])
def test_assembly_stops_at_the_users_deadline(budget, items):
    """Batches of two items, each taking 30 s: 120 s afford all 4; with 100 s a 4th batch would end at 120, so 3
    run; with 50 s one (a second would end at 60). No batch starts that the time left cannot afford."""
    backbone = fresh_backbone()
    now = [0.0]
    user = rating_user("e1", "5", n_items=8)
    ctx = context(backbone, [user], _embedder=ClusteredEmbedder())
    ctx.clock = Clock(budget, now=lambda: now[0])
    method = PerPcs(fast(assemble_batch_size=2))
    method._pool = random_pool(backbone)
    original = backbone.model.forward

    def slow_forward(*args, **kwargs):
        now[0] += 30.0
        return original(*args, **kwargs)

    backbone.model.forward = slow_forward
    with ctx.clock.charging():
        state = method.personalize(ctx, user)
    assert ctx.report["users"][0]["items_assembled"] == items and state is not None


@pytest.mark.slow
def test_bench_run_on_smollm2(tmp_path):
    """`bench run --method per-pcs` on the real SmolLM2: 2 sharers among 3 training users, 2 target users."""
    record, _ = bench_run(
        tmp_path, "--method", "per-pcs", "--task", "lamp3", "--users", "2", "--train-users", "3", "--max-profile",
        "4", "--max-prompt-tokens", "64", "--budget", "5m",
        sets=("sharers=2", "top_k=2", "train.batch_size=2", "train.max_steps=1", "gate_steps=2", "gate_batch_size=2"),
    )  # fmt: skip
    assert record["status"] == "ok" and record["model"] == "smollm2" and record["users"] == 2
    report = record["method_report"]
    assert report["pool"]["sharers"] == 2 and report["task_adaptation"]["merged"]
    modules = 30 * 4  # SmolLM2: 30 layers, q/k/v/o
    assert report["pool"]["modules"] == modules
    for row, user in zip(record["per_user"], report["users"], strict=True):
        assert user["items_assembled"] == 4
        # (sharer index int16, weight fp32) for at most 2 sharers per module: a few hundred bytes to ~1.5 KB.
        assert 0 < row["state_bytes"] <= modules * 2 * 6
    assert 0 <= record["metrics"]["mae"] <= 4


def test_defaults_follow_table_3_per_task():
    """Sharer LoRA epochs and batch, gate batch, steps, rate and top-k: the paper's per-task values unless set."""
    cfg = PerPcsConfig()
    assert cfg.sharer_recipe("lamp3") == (2.0, 2, 4) and cfg.for_task("lamp3") == (1, 100, 1e-5)
    assert cfg.sharer_recipe("lamp2") == (3.0, 6, 6) and cfg.for_task("lamp2") == (3, 100, 2e-5)
    assert cfg.sharer_recipe("lamp7") == (2.0, 16, 6) and cfg.for_task("lamp7") == (2, 50, 2e-5)
    mine = build_config(PerPcsConfig, {"train.epochs": "budget", "sharer_batch_size": 8, "gate_batch_size": 2})
    mine = build_config(PerPcsConfig, dataclasses.asdict(mine), {"top_k": 4})  # a resolved config round-trips
    assert mine.sharer_recipe("lamp3") == ("budget", 8, 2) and mine.for_task("lamp3")[0] == 4
    with pytest.raises(ValueError, match="epochs"):
        build_config(PerPcsConfig, {"train": {"epochs": -1.0}})
