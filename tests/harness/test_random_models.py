"""`random:<shape>` models: the real 7B-8B architectures with random weights, made on the device in the dtype.

Nothing 7B is allocated here: the full shapes are built on torch's `meta` device (shapes without storage), which
also shows the weights are made where the device context says, not on the CPU first.
"""

from __future__ import annotations

import pytest
import torch

from lampbench.harness.services.backbone import Backbone
from lampbench.harness.services.models import _special_ids, check_model, tiny_tokenizer
from lampbench.harness.services.random_models import SHAPES, parameter_count, random_config, random_model
from lampbench.tasks.errors import ConfigError

#: The parameter counts the models' own releases publish (safetensors metadata of each hub repository).
PUBLISHED = {
    "llama-2-7b": 6_738_415_616, "mistral-7b": 7_248_023_552, "llama-3-8b": 8_030_261_248,
    "qwen2.5-7b": 7_615_616_512,
}  # fmt: skip


def _config(shape: str, scale: dict | None = None):
    tokenizer = tiny_tokenizer(vocab_size=SHAPES[shape][1]["vocab_size"])
    return random_config(f"random:{shape}", special_ids=_special_ids(tokenizer), scale=scale), tokenizer


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_full_shapes_have_the_published_parameter_counts(shape):
    config, tokenizer = _config(shape)
    assert parameter_count(config) == PUBLISHED[shape]  # by arithmetic, from the config
    model = random_model(config, device="meta", dtype=torch.bfloat16, attn="sdpa")
    params = list(model.parameters())
    assert sum(p.numel() for p in params) == PUBLISHED[shape]  # as built
    assert {p.device.type for p in params} == {"meta"} and {p.dtype for p in params} == {torch.bfloat16}
    assert len(tokenizer) == config.vocab_size  # every id the model can produce decodes


def test_a_scaled_down_shape_builds_answers_and_counts_on_cpu():
    small = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2}  # fmt: skip
    config, tokenizer = _config("qwen2.5-7b", small)  # q/k/v biases: the one shape that has them
    model = random_model(config, device="cpu", dtype=torch.bfloat16, attn="sdpa")
    assert sum(p.numel() for p in model.parameters()) == parameter_count(config)
    assert next(model.parameters()).dtype == torch.bfloat16
    again = random_model(config, device="cpu", dtype=torch.bfloat16, attn="sdpa")
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))  # seeded
    backbone = Backbone(model, tokenizer, name="random:qwen2.5-7b")
    (answer,) = backbone.generate(["hello"], max_new_tokens=5)
    assert isinstance(answer, str)


def test_random_names_are_checked():
    check_model("random:llama-2-7b")
    with pytest.raises(ConfigError, match="known: random:llama-2-7b, random:mistral-7b"):
        check_model("random:gpt-5")
