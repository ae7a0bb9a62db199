"""The backbone on the tiny in-memory model: generation, hidden states, hooks, swappable LoRA adapters."""

from __future__ import annotations

import json

import pytest
import torch

from lampbench.harness.services.backbone import pad_batch
from lampbench.harness.services.models import load_backbone

PROMPTS = ["short", "a considerably longer prompt than the first one", "mid length prompt"]


def test_batched_generation_matches_one_by_one_and_keeps_order(tiny_backbone):
    together = tiny_backbone.generate(PROMPTS, max_new_tokens=6, batch_size=3)
    alone = [tiny_backbone.generate([p], max_new_tokens=6)[0] for p in PROMPTS]
    assert together == alone


def test_chat_template_is_used(tiny_backbone):
    ids = tiny_backbone.encode("hello")
    assert tiny_backbone.tokenizer.decode(ids).startswith("<|im_start|>user\nhello<|im_end|>")


def test_prompts_over_the_limit_are_cut_from_the_right(tiny_backbone):
    limit = tiny_backbone.max_prompt_tokens
    try:
        tiny_backbone.max_prompt_tokens = 10
        ids = tiny_backbone.encode("0123456789abcdefghij")
        assert (
            "0123456789" in tiny_backbone.tokenizer.decode(ids)
            and "a" not in tiny_backbone.tokenizer.decode(ids)[-30:-20]
        )
    finally:
        tiny_backbone.max_prompt_tokens = limit
    assert tiny_backbone.truncate("abcdef", 3) == "abc"


def test_hidden_states_shape_and_padding_independence(tiny_backbone):
    states = tiny_backbone.hidden_states(PROMPTS, batch_size=3)
    assert states.shape == (3, tiny_backbone.num_layers + 1, tiny_backbone.model.config.hidden_size)
    alone = tiny_backbone.hidden_states(PROMPTS[:1])
    assert torch.allclose(states[0], alone[0], atol=1e-4)


def test_hooks_are_removed_even_after_an_error(tiny_backbone):
    name = tiny_backbone.layer_module(0, "mlp")
    module = dict(tiny_backbone.model.named_modules())[name]
    seen = []
    with tiny_backbone.hooks({name: lambda mod, inputs, output: seen.append(output.shape)}):
        tiny_backbone.generate(["hi"], max_new_tokens=2)
    assert seen and not module._forward_hooks
    with pytest.raises(RuntimeError), tiny_backbone.hooks({name: lambda *a: None}):
        raise RuntimeError("boom")
    assert not module._forward_hooks
    with pytest.raises(KeyError, match="did you mean"), tiny_backbone.hooks({"model.layers.0.mpl": lambda *a: None}):
        pass


def test_a_hook_can_edit_the_output(tiny_backbone):
    plain = tiny_backbone.hidden_states(["edit me"])
    name = tiny_backbone.layer_module(tiny_backbone.num_layers - 1)

    def zero(module, inputs, output):
        hidden = output[0] if isinstance(output, tuple) else output
        return (torch.zeros_like(hidden), *output[1:]) if isinstance(output, tuple) else torch.zeros_like(hidden)

    with tiny_backbone.hooks({name: zero}):
        edited = tiny_backbone.hidden_states(["edit me"])
    assert not torch.allclose(plain[0, -1], edited[0, -1])
    assert torch.allclose(tiny_backbone.hidden_states(["edit me"]), plain)


def test_lora_adapters_swap_without_reloading_the_base():
    from peft import LoraConfig

    from lampbench.harness.services.backbone import Backbone
    from lampbench.harness.services.models import tiny_random

    backbone = Backbone(*tiny_random(), name="tiny")
    base_logits = backbone.hidden_states(["who am i"])
    n = backbone.add_lora(LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    assert n == sum(t.numel() for t in backbone.adapter_state().values()) > 0
    trainable = {name for name, p in backbone.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    assert torch.allclose(backbone.hidden_states(["who am i"]), base_logits)  # B = 0: the base model

    torch.manual_seed(1)
    user_a = {k: torch.randn_like(v) for k, v in backbone.adapter_state().items()}
    user_b = {k: torch.randn_like(v) for k, v in backbone.adapter_state().items()}
    backbone.load_adapter(user_a)
    out_a = backbone.hidden_states(["who am i"])
    backbone.load_adapter(user_b)
    out_b = backbone.hidden_states(["who am i"])
    backbone.load_adapter(user_a)
    assert torch.allclose(backbone.hidden_states(["who am i"]), out_a)
    assert not torch.allclose(out_a, out_b)
    with backbone.adapter_disabled():
        assert torch.allclose(backbone.hidden_states(["who am i"]), base_logits)
    backbone.reset_adapter()
    assert torch.allclose(backbone.hidden_states(["who am i"]), base_logits)
    with pytest.raises(KeyError, match="does not belong"):
        backbone.load_adapter({"model.layers.0.mlp.up_proj.weight": torch.zeros(1)})


def test_pad_batch_pads_right_or_left():
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=0, left=True)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_load_options_on_tiny_random():
    plain = load_backbone("tiny-random", batch_size=2, device="cpu")
    assert plain.dtype == torch.float32 and plain.model.config._attn_implementation == "sdpa"
    half = load_backbone("tiny-random", batch_size=2, device="cpu", dtype="bfloat16", attn="eager")
    assert half.dtype == torch.bfloat16 and half.model.config._attn_implementation == "eager"
    assert len(half.generate(PROMPTS, max_new_tokens=3)) == 3
    raw = load_backbone("tiny-random", batch_size=2, device="cpu", chat_template=False)
    assert "<|im_start|>" not in raw.tokenizer.decode(raw.encode("hello"))
    with pytest.raises(ValueError, match="choose one of auto, float32, bfloat16, float16"):
        load_backbone("tiny-random", batch_size=2, device="cpu", dtype="fp8")
    with pytest.raises(ValueError, match="flash_attention_2 needs"):  # no flash-attn package, or no CUDA
        load_backbone("tiny-random", batch_size=2, device="cpu", attn="flash_attention_2")


def test_cpu_bf16_is_read_from_the_processor_flags(tmp_path, monkeypatch, caplog):
    from lampbench.harness.services import models

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile\n")
    assert models.cpu_bf16(info) is True
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert models.cpu_bf16(info) is False
    info.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")  # Arm
    assert models.cpu_bf16(info) is True
    assert models.cpu_bf16(tmp_path / "missing") is None
    monkeypatch.setattr(models, "cpu_bf16", lambda: False)
    assert models.resolve_dtype("bfloat16", "cpu") == torch.bfloat16  # still runs, emulated
    assert "no native bf16" in caplog.text
    assert models.resolve_dtype("auto", "cpu") == torch.float32
    assert models.resolve_dtype("auto", "cuda") == torch.bfloat16


def test_quantize_is_checked_before_loading(monkeypatch, tmp_path):
    from lampbench.harness.services import models
    from lampbench.tasks.errors import ConfigError

    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    models.check_quantize("none", "cpu", str(folder))
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        models.check_quantize("4bit", "cpu", str(folder))
    with pytest.raises(ConfigError, match="random weights"):
        models.check_quantize("8bit", "cuda:0", "random:llama-2-7b")
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"bitsandbytes package: pip install 'lampbench\[quantize\]'"):
        models.check_quantize("4bit", "cuda:0", str(folder))
    with pytest.raises(ConfigError, match="has no config.json"):
        models.check_model(str(tmp_path))


def test_quantize_and_decoding_are_run_options_of_every_method():
    from lampbench.harness.run.options import RunSpec
    from lampbench.tasks.errors import ConfigError

    plain = RunSpec(method="base", task="lamp3", budget=60)
    assert RunSpec(method="base", task="lamp3", budget=60, quantize="none").run_id == plain.run_id  # old ids stay
    assert RunSpec(method="base", task="lamp3", budget=60, quantize="4bit").run_id != plain.run_id
    assert RunSpec(method="base", task="lamp3", budget=60, decoding="sample").run_id != plain.run_id
    for bad in ({"temperature": 0}, {"top_p": 1.5}, {"top_k": -1}, {"device": "gpu0"}):
        with pytest.raises(ConfigError):
            RunSpec(method="base", task="lamp3", budget=60, **bad)


def test_the_runner_decodes_as_the_run_says(tiny_backbone, tmp_path, cache):
    from lampbench.harness.run.options import RunSpec
    from lampbench.harness.run.runner import run
    from lampbench.harness.run.store import Store
    from lampbench.methods.baseline import Base

    spec = RunSpec(method="base", task="lamp3", budget=60, data="synthetic", users=2, model="tiny-random",
                   decoding="sample", temperature=0.7, top_k=5, top_p=0.8, seed=3)  # fmt: skip
    saved = tiny_backbone.decoding
    try:
        record = run(spec, Base(Base.Config()), store=Store(tmp_path), progress=False, backbone=tiny_backbone)
        assert (tiny_backbone.decoding.sample, tiny_backbone.decoding.temperature) == (True, 0.7)
        assert (tiny_backbone.decoding.top_k, tiny_backbone.decoding.top_p, tiny_backbone.decoding.seed) == (5, 0.8, 3)
    finally:
        tiny_backbone.decoding = saved
    assert record["status"] == "ok" and record["device"] == {"asked": None, "used": "cpu"}
    config = json.loads((tmp_path / record["run_id"] / "config.json").read_text())
    assert (config["decoding"], config["quantize"]) == ("sample", "none")
