"""The training engines' paths at 7B on one GPU, pinned on CPU: no DataParallel, DPO without a chat template,
checkpointing switchable, full fine-tuning in the model's dtype, the warm-up outside the budget, the LM head only
where a target is predicted."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.harness.services.backbone import Backbone
from lampbench.harness.services.models import tiny_random
from lampbench.methods.aloe import Aloe
from lampbench.methods.aloe.config import AloeConfig
from lampbench.methods.contract import Context
from lampbench.methods.dpo import Dpo
from lampbench.methods.dpo.config import DpoConfig
from lampbench.methods.lib import train as engine
from lampbench.methods.lib.examples import item_examples
from lampbench.methods.lib.loop import LoopConfig, checkpointing_on, target_log_probs, train_parameters
from lampbench.methods.oppu import LoraP, LoraPConfig
from lampbench.tasks.errors import ConfigError
from lampbench.tests.methods.test_finetune import QUICK, TASK, SlowModel, context, fit, make, make_user, personalize


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def backbone(**kwargs) -> Backbone:
    return Backbone(*tiny_random(), name="tiny-random", batch_size=8, **kwargs)


def dpo_config(**train) -> DpoConfig:
    keys = {**QUICK, "grad_accum": 1, "learning_rate": 5e-3, "r": 8, "epochs": 2, **train}
    return make(DpoConfig, train=keys, max_pairs=8, history_k=1)


DPO_USERS = [make_user(f"d{i}", str(1 + i % 5), n=6, queries=2, seed=20 + i) for i in range(4)]


def test_training_never_wraps_the_model_in_data_parallel_with_several_gpus_visible(monkeypatch):
    """transformers' Trainer wraps in `nn.DataParallel` when `torch.cuda.device_count() > 1`; nothing here does."""

    class Refused(torch.nn.Module):
        def __init__(self, *args, **kwargs):
            raise AssertionError("nn.DataParallel")

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.nn, "DataParallel", Refused)
    monkeypatch.setattr(torch.nn.parallel, "DataParallel", Refused)
    model = backbone()
    user = make_user("a", "5", seed=1)
    ctx = context(model, [user])
    personalize(LoraP(make(LoraPConfig, train={**QUICK, "max_steps": 2})), ctx, user)
    fit(Dpo(dpo_config(max_steps=1)), ctx, DPO_USERS)
    assert ctx.report["users"][0]["steps"] == 2 and ctx.report["collective"]["steps"] == 1
    assert {p.device.type for p in model.model.parameters()} == {"cpu"}  # trained where the backbone put it


@pytest.mark.parametrize("template", ["none", "switched off"])
def test_dpo_without_a_chat_template_trains_plain_prompts_as_it_answers(template, monkeypatch):
    """A base model (no chat template), or `--no-chat-template`: DPO's rows are the prompts `generate` sees."""
    if template == "none":
        model = backbone()
        model.tokenizer.chat_template = None
    else:
        model = backbone(chat_template=False)
    seen: list[list[int]] = []
    rows = engine._pair_rows

    def spy(bb, pairs, cfg):
        out = rows(bb, pairs, cfg)
        seen.extend(good[0] for good, _ in out)
        assert all(good[0] == bad[0] for good, bad in out)
        return out

    monkeypatch.setattr(engine, "_pair_rows", spy)
    ctx = context(model)
    method = Dpo(dpo_config())
    fit(method, ctx, DPO_USERS)
    report = ctx.report["collective"]
    assert report["steps"] == 2 and report["pairs_made"] == 8 and method.collective_state() is not None
    start = model.tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert seen and all(start not in ids for ids in seen)  # no template around the prompt
    prompts = [ex.prompt for ex in method._examples(ctx, DPO_USERS)]
    assert set(map(tuple, seen)) <= {tuple(model.encode(p)) for p in prompts}  # exactly what answering encodes


def checkpointed_forwards(model: Backbone) -> tuple[list[bool], object]:
    """At each forward pass that records gradients (training: answering and DPO's reference run without), whether
    the layers checkpoint (the flag set and the model in train mode); a hook on the embeddings."""
    flags: list[bool] = []

    def hook(module, args):
        if torch.is_grad_enabled():
            flags.append(model.model.is_activation_checkpointing and model.model.training)

    return flags, model.model.get_input_embeddings().register_forward_pre_hook(hook)


@pytest.mark.parametrize(("setting", "expected"), [("on", True), ("off", False), ("auto", False)])
def test_checkpointing_is_switchable_for_lora_dpo_and_the_plain_loop(setting, expected):
    model = backbone()
    flags, handle = checkpointed_forwards(model)
    user = make_user("a", "5", seed=1)
    ctx = context(model, [user])
    try:
        personalize(
            LoraP(make(LoraPConfig, train={**QUICK, "max_steps": 1, "gradient_checkpointing": setting})), ctx, user
        )
        fit(Dpo(dpo_config(max_steps=1, gradient_checkpointing=setting)), ctx, DPO_USERS)
        shift = torch.nn.Parameter(torch.zeros(model.model.config.hidden_size))
        hooks = model.hooks(
            {model.layer_module(0): lambda m, i, o: (o[0] + shift, *o[1:]) if isinstance(o, tuple) else o + shift}
        )
        loop = LoopConfig(learning_rate=1e-2, max_grad_norm=1.0, batch_size=4, gradient_checkpointing=setting)
        with ctx.clock.charging():
            outcome = train_parameters(
                ctx, item_examples(ctx, user), [{"params": [shift]}], loop, steps=1, deadline=None, seed=0, hooks=hooks
            )
    finally:
        handle.remove()
    assert outcome.steps == 1 and ctx.report["collective"]["steps"] == 1
    assert len(flags) == 1 + 3  # the warm-up pass (the first training only), then a step each: lora-p, DPO, the loop
    assert all(f == expected for f in flags)
    assert not model.model.is_activation_checkpointing and not model.model.training  # put back as it was


def test_checkpointing_auto_is_on_on_cuda_for_full_fine_tuning_and_dpo_only():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert checkpointing_on("auto", cuda, heavy=True) and not checkpointing_on("auto", cuda, heavy=False)
    assert not checkpointing_on("auto", cpu, heavy=True) and checkpointing_on("on", cpu, heavy=False)
    assert not checkpointing_on("off", cuda, heavy=True)


@pytest.mark.parametrize("full_dtype", ["model", "float32"])
def test_full_fine_tuning_keeps_the_models_dtype_unless_asked_and_copies_nothing(full_dtype):
    model = backbone()
    model.model.to(torch.bfloat16)
    ctx = context(model)
    method = Aloe(make(AloeConfig, mode="full", full_dtype=full_dtype, full_learning_rate=1e-2,
                       train={"max_steps": 1, "batch_size": 4, "grad_accum": 1}))  # fmt: skip
    fit(method, ctx, [make_user("t", None, n=4, queries=2)])
    assert ctx.report["collective"]["steps"] == 1
    dtype = torch.bfloat16 if full_dtype == "model" else torch.float32
    assert {p.dtype for p in model.model.parameters()} == {dtype}
    weights = dict(model.model.named_parameters())
    state = method.collective_state()
    assert state.keys() == weights.keys()  # the weights themselves, not a CPU copy of the model
    assert all(state[n].data_ptr() == weights[n].data_ptr() for n in state)


def test_the_first_training_is_warmed_up_outside_the_budget():
    """A forward pass costs 1 s of fake time. lora-p's first user: 1 warm-up pass (not charged), then 2 steps of
    1 pass each (charged); the second user: no warm-up."""
    model = backbone()
    slow = SlowModel(model)
    users = [make_user("a", "5", seed=1), make_user("b", "1", seed=2)]
    ctx = Context(task=TASK, clock=slow.clock(100), _backbone=model, eval_users=tuple(users), max_prompt_tokens=256)
    method = LoraP(make(LoraPConfig, train={**QUICK, "max_steps": 2}))
    try:
        personalize(method, ctx, users[0])
        assert ctx.clock.spent == 2 and slow.now == 3 and ctx.report["warm_up_s"] == 1
        personalize(method, ctx, users[1])
        assert ctx.clock.spent == 4 and slow.now == 5
    finally:
        slow.close()
    assert [u["seconds"] for u in ctx.report["users"]] == [2, 2]


def test_the_lm_head_runs_only_where_a_target_is_predicted_and_agrees_with_the_full_logits():
    model = backbone()
    rows = [([5, 6, 7, 8], [9, 10]), ([11, 12], [13, 14, 15])]
    logps, row = target_log_probs(model.model, rows, model.tokenizer.pad_token_id)
    calls = []
    handle = model.model.get_output_embeddings().register_forward_hook(lambda m, i, o: calls.append(o.shape))
    try:
        target_log_probs(model.model, rows, model.tokenizer.pad_token_id)
    finally:
        handle.remove()
    assert calls == [torch.Size([5, model.model.config.vocab_size])]  # 5 target tokens, not 2 x 5 positions
    expected = []
    for prompt, target in rows:
        full = model.model(input_ids=torch.tensor([prompt + target])).logits[0].log_softmax(-1)
        expected += [full[len(prompt) - 1 + j, t] for j, t in enumerate(target)]
    assert torch.allclose(logps, torch.stack(expected), atol=1e-5) and row.tolist() == [0, 0, 1, 1, 1]


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is not None, reason="bitsandbytes is installed")
def test_an_8bit_optimizer_without_bitsandbytes_is_one_line_and_exit_2(tmp_path, cache):
    with pytest.raises(ConfigError, match="optimizer adamw-8bit needs bitsandbytes"):
        make(AloeConfig, train={"optimizer": "adamw-8bit"})
    result = CliRunner().invoke(
        app, ["run", "--method", "aloe", "--task", "lamp3", "--data", "synthetic", "--model", "tiny-random",
              "--out", str(tmp_path), "--set", "train.optimizer=paged-adamw-8bit"], prog_name="bench",
    )  # fmt: skip
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "needs bitsandbytes: pip install bitsandbytes" in result.output
    assert not any(tmp_path.rglob("config.json"))  # no run folder
