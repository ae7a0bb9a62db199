"""Per-user LoRAs answered together through one batched low-rank product per layer (`harness/services/lora_batch.py`).

The reference is PEFT's own mixed adapter batches (`adapter_names=`), which lora-p and oppu answered through before:
each user's weights in an injected slot, each row routed to its owner's slot inside every LoRA layer. Greedy
answers must be the same, and a forward pass must cost two batched matmuls per LoRA layer whatever the number of
users. Also here: a collective adapter is copied in once, not at every answer batch (DPO's, ALOE's, lora-c's).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from lampbench.methods.lib.adapters import answering_with, ensure_adapter, generate_users, lora_config
from lampbench.methods.lib.rows import Rows, answer_rows
from lampbench.methods.oppu.config import LoraPConfig
from lampbench.methods.oppu.method import USER
from lampbench.tests.methods.test_batched_methods import N_USERS, Counting, context, fresh_backbone, queries, rand


def setup(backbone):
    """Random per-user LoRA weights of lora-p's shape (the last user has none), and its LoraConfig."""
    config = lora_config(LoraPConfig().train)
    ensure_adapter(backbone, USER, config)
    shapes = backbone.adapter_state(USER)
    backbone.activate_lora([])
    backbone.model.eval()
    states = [{k: rand(*v.shape, scale=0.5) for k, v in shapes.items()} for _ in range(N_USERS - 1)]
    return [*states, None], config


@contextmanager
def peft_mixed(backbone, config, states, rows: Rows):
    """The PEFT path: user j's weights in slot `user-row{j}`, every LoRA layer told each row's slot."""
    from peft.tuners.lora import LoraLayer

    names = []
    for j, state in enumerate(states):
        if state is None:
            names.append("__base__")
            continue
        slot = f"{USER}-row{j}"
        ensure_adapter(backbone, slot, config)
        backbone.load_adapter({k.replace(f".{USER}.", f".{slot}."): v for k, v in state.items()}, slot)
        names.append(slot)
    backbone.activate_lora([])
    layers = [m for m in backbone.model.modules() if isinstance(m, LoraLayer)]
    for layer in layers:
        for slot in set(names) & set(layer.lora_dropout):
            layer.lora_dropout[slot].eval()

    def pre_forward(module, args, kwargs):
        kwargs["adapter_names"] = [names[o] for o in rows.owners]
        return args, kwargs

    handles = [layer.register_forward_pre_hook(pre_forward, with_kwargs=True) for layer in layers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def test_greedy_answers_equal_peft_mixed_adapter_batches():
    torch.manual_seed(0)
    backbone = fresh_backbone()
    states, config = setup(backbone)
    prompts = [[q.input for q in queries(u)] for u in range(N_USERS)]
    ctx = context(backbone, 8)
    peft = answer_rows(ctx, prompts, states, lambda chunk, rows: peft_mixed(backbone, config, chunk, rows))
    batched = generate_users(ctx, prompts, USER, states, config)
    assert batched == peft
    assert len({answers[0] for answers in batched}) >= 3  # the shared query: the adapters change the answers
    # Users in another order share other batches (and chunks of 3 users): still each user's own answers.
    order = [4, 2, 0, 3, 1]
    again = generate_users(context(backbone, 3), [prompts[i] for i in order], USER, [states[i] for i in order], config)
    assert again == [peft[i] for i in order]


def forward_with(backbone, install, states, ids):
    """Logits of one forward pass of `ids` (row i owned by user i) with `install`'s per-row LoRAs, and the counts."""
    rows = Rows(range(len(states)))
    rows(list(range(len(states))))
    counting = Counting()
    with torch.inference_mode(), install(states, rows), counting:
        logits = backbone.model(input_ids=ids).logits
    return logits, counting


def batched(backbone, config):
    """An `answer_rows` install of the batched per-row LoRAs, as `generate_users` builds it."""
    from lampbench.harness.services.lora_batch import lora_pairs, row_hooks, stack_modules
    from lampbench.methods.lib.adapters import lora_scaling

    def install(chunk, rows):
        users = [None if s is None else lora_pairs(s, USER, lora_scaling(config)) for s in chunk]
        return backbone.hooks(row_hooks(stack_modules(users, dtype=backbone.dtype, device="cpu"), rows))

    return install


def test_one_forward_costs_two_batched_matmuls_per_lora_layer_whatever_the_users():
    from peft.tuners.lora import LoraLayer

    torch.manual_seed(0)
    backbone = fresh_backbone()
    states, config = setup(backbone)
    lora_layers = sum(isinstance(m, LoraLayer) for m in backbone.model.modules())
    ids = torch.randint(5, 200, (len(states), 9))
    peft_logits, _ = forward_with(backbone, lambda c, r: peft_mixed(backbone, config, c, r), states, ids)
    logits, counts = forward_with(backbone, batched(backbone, config), states, ids)
    assert torch.allclose(logits, peft_logits, atol=1e-5)
    assert counts.calls.get("bmm") == counts.calls.get("baddbmm") == lora_layers
    # One user or five: the same work per layer.
    _, one = forward_with(backbone, batched(backbone, config), [states[0]] * len(states), ids)
    assert one.calls.get("bmm") == one.calls.get("baddbmm") == lora_layers


def test_on_a_bf16_model_the_per_row_update_computes_in_bf16():
    torch.manual_seed(0)
    backbone = fresh_backbone()
    states, config = setup(backbone)  # fp32 weights, as training stores them
    backbone.model.to(torch.bfloat16)
    prompts = [[q.input for q in queries(u)] for u in range(N_USERS)]
    with Counting() as base:
        plain = backbone.generate([p for ps in prompts for p in ps], max_new_tokens=8)
    with Counting() as lora:
        answers = generate_users(context(backbone, 8), prompts, USER, states, config)
    assert [a for ps in answers for a in ps] != plain  # the adapters act

    def per_pass(counts: Counting) -> float:  # one embedding lookup per forward pass
        return counts.fp32_matmuls / counts.calls["embedding"]

    assert per_pass(lora) == per_pass(base)  # the model's own fp32 matmuls (rotary) only: the LoRAs add none


def test_a_collective_adapter_is_copied_in_once_while_it_holds_the_state():
    torch.manual_seed(0)
    backbone = fresh_backbone()
    states, _ = setup(backbone)
    params = dict(backbone.model.named_parameters())
    name = next(iter(states[0]))

    def copies_when_answering(state) -> bool:
        before = params[name]._version
        with answering_with(backbone, USER, state):
            pass
        return params[name]._version != before

    assert copies_when_answering(states[0])  # first time: copied in
    assert not copies_when_answering(states[0])  # the adapter still holds it: no copy
    assert copies_when_answering(states[1])  # another state
    with torch.no_grad():
        params[name].add_(1.0)  # an optimizer step, say
    assert copies_when_answering(states[1])
    backbone.reset_adapter(USER)
    assert copies_when_answering(states[1])
    assert torch.equal(params[name], states[1][name])
