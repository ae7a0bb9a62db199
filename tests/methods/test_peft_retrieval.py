"""`peft-retrieval` (Per-Pcs App. G): retrieval by cosine, the composed LoRA is the weighted sum, batching, resuming.

Tests that inject adapters build their own tiny backbone, so the session's shared `tiny_backbone` is never changed.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from lampbench.harness.run.method_config import build_config
from lampbench.harness.run.runner import RunSpec, run
from lampbench.harness.run.store import Store
from lampbench.harness.services.budget import Clock
from lampbench.methods.contract import Context
from lampbench.methods.lib.adapters import answering_with, ensure_adapter, lora_config
from lampbench.methods.lib.examples import fit_prompt
from lampbench.methods.peft_retrieval import PeftRetrieval, PeftRetrievalConfig, Retrieved, compose
from lampbench.methods.peft_retrieval.method import COMPOSED, SHARER, Pool, weights
from lampbench.tasks.specs import Query, User, get_task
from lampbench.tests.methods.fast import FAST
from lampbench.tests.methods.test_batched_methods import fresh_backbone, queries


class AxisEmbedder:
    """Each text is the unit vector of the axis its first word names ("a0 ..." -> e0): similarity is planted."""

    def encode(self, texts, normalize_embeddings=True, convert_to_numpy=True):
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i, int(text.split()[0][1:])] = 1.0
        return out


def context(backbone, batch_size: int = 8, budget: float = 600) -> Context:
    return Context(
        task=get_task("lamp3"), clock=Clock(budget), _backbone=backbone, _embedder=AxisEmbedder(),
        batch_size=batch_size, max_prompt_tokens=96,
    )  # fmt: skip


def planted_pool(backbone, sharers: int = 3, seed: int = 0) -> Pool:
    """A pool of random sharer LoRAs (the shapes of the method's own) whose embeddings are the axes e0, e1, ..."""
    ensure_adapter(backbone, SHARER, lora_config(PeftRetrievalConfig().train))
    shapes = backbone.adapter_state(SHARER)
    backbone.remove_lora(SHARER)
    gen = torch.Generator().manual_seed(seed)
    loras = tuple({k: 0.5 * torch.randn(*v.shape, generator=gen) for k, v in shapes.items()} for _ in range(sharers))
    return Pool(tuple(f"s{i}" for i in range(sharers)), torch.eye(sharers, 4), loras)


def user(uid: str, axes: list[int]) -> User:
    profile = tuple({"id": f"{uid}-{i}", "text": f"a{a} review text", "score": "4"} for i, a in enumerate(axes))
    return User(uid, profile, (Query(f"{uid}-q", "What is the score of this review? review: fine", ""),))


def test_the_top_k_by_cosine_get_normalised_weights():
    got = weights(np.array([0.1, 0.9, -0.5, 0.3]), 2, "cosine")
    assert got.index == (1, 3) and got.weight == pytest.approx((0.75, 0.25))
    assert weights(np.array([-0.2, -0.1]), 2, "cosine").weight == (0.5, 0.5)  # nothing similar: equal weights
    assert weights(np.array([0.1, 0.9, 0.3]), 2, "uniform") == Retrieved((1, 2), (0.5, 0.5))
    assert weights(np.array([0.4]), 3, "cosine") == Retrieved((0,), (1.0,))  # k larger than the pool


def test_the_composed_lora_is_the_weighted_sum_of_the_sharers_updates():
    pool = planted_pool(fresh_backbone())
    state = Retrieved((2, 0), (0.7, 0.3))
    composed = compose(pool, state, width=3)  # one slot more than chosen: zero padded
    for key in (k for k in pool.loras[0] if ".lora_A." in k):
        b = key.replace(".lora_A.", ".lora_B.")
        want = sum(w * pool.loras[i][b] @ pool.loras[i][key] for i, w in zip(state.index, state.weight, strict=True))
        a_c, b_c = composed[key.replace(SHARER, COMPOSED)], composed[b.replace(SHARER, COMPOSED)]
        assert a_c.shape[0] == 3 * pool.loras[0][key].shape[0]
        assert torch.allclose(b_c @ a_c, want, atol=1e-5)


def test_personalize_retrieves_the_most_similar_sharers_and_stores_only_indices():
    method = PeftRetrieval(PeftRetrievalConfig(top_k=2))
    backbone = fresh_backbone()
    method._pool = planted_pool(backbone)
    ctx = context(backbone)
    with ctx.clock.charging():
        near_1 = method.personalize(ctx, user("a", [1, 1, 1, 0]))  # mean (0.25, 0.75): closest to s1, then s0
        empty = method.personalize(ctx, User("b", (), ()))
    assert near_1.index == (1, 0) and near_1.weight == pytest.approx((0.75, 0.25))
    assert empty is None and ctx.report["fallback_reasons"] == {"no_history": 1}
    assert ctx.report["users"] == [{"user": "a", "sharers": [{"sharer": "s1", "weight": 0.75},
                                                              {"sharer": "s0", "weight": 0.25}]}]  # fmt: skip
    json.dumps(ctx.report)


def test_batched_answers_equal_each_user_alone_with_their_composed_lora():
    torch.manual_seed(0)
    backbone = fresh_backbone()
    method = PeftRetrieval(PeftRetrievalConfig(top_k=2))
    method._pool = pool = planted_pool(backbone)
    states = [Retrieved((0, 1), (0.5, 0.5)), Retrieved((2,), (1.0,)), Retrieved((1, 2), (0.9, 0.1)), None]
    items = [(state, queries(u)) for u, state in enumerate(states)]
    alone = [method.predict(context(backbone, 1), state, qs) for state, qs in items]
    config = lora_config(dataclasses.replace(method.config.train, r=16, alpha=16))
    ensure_adapter(backbone, COMPOSED, config)
    for (state, qs), answers in zip(items, alone, strict=True):  # the composed LoRA as a plain adapter gives the same
        ctx = context(backbone, 1)
        with answering_with(backbone, COMPOSED, None if state is None else compose(pool, state, 2)):
            direct = backbone.generate([fit_prompt(ctx, q.input) for q in qs], max_new_tokens=ctx.task.max_new_tokens)
        assert direct == answers
    backbone.remove_lora(COMPOSED)
    assert method.predict_batch(context(backbone, 8), items) == alone
    assert len({answers[0] for answers in alone}) >= 3, alone  # users' adapters differ, and so do their answers


def test_the_pool_is_saved_and_restored_for_a_resumed_run(tmp_path):
    backbone = fresh_backbone()
    method = PeftRetrieval()
    method._pool = pool = planted_pool(backbone)
    assert method.save_collective(context(backbone), tmp_path)
    again = PeftRetrieval()
    assert again.load_collective(context(fresh_backbone()), tmp_path)
    assert again._pool.sharers == pool.sharers and torch.equal(again._pool.embeddings, pool.embeddings)
    assert all(torch.equal(a[k], b[k]) for a, b in zip(again._pool.loras, pool.loras, strict=True) for k in a)
    assert again._task is None


@pytest.mark.slow
def test_runs_at_batch_8_answer_as_at_batch_1(cache, tmp_path):
    """Through the runner, sharers trained and users retrieved: batching across users changes no answer."""
    config = dataclasses.asdict(build_config(PeftRetrievalConfig, FAST["peft-retrieval"]))
    store, got = Store(tmp_path), {}
    for size in (1, 8):
        spec = RunSpec(
            method="peft-retrieval", task="lamp3", budget=300, method_config=config, data="synthetic", users=5,
            train_users=4, model="tiny-random", max_prompt_tokens=256, batch_size=size,
        )  # fmt: skip
        record = run(spec, PeftRetrieval(build_config(PeftRetrievalConfig, config)), store=store, progress=False,
                     backbone=fresh_backbone())  # fmt: skip
        assert record["status"] == "ok", record.get("error")
        lines = (store.run_dir(record["run_id"]) / "generations.jsonl").read_text().splitlines()
        got[size] = {line["id"]: line["raw"] for line in map(json.loads, lines)}
        assert record["method_report"]["pool"]["sharers"] == 2
    assert got[8] == got[1] and len(got[1]) == 5
