"""Greedy is greedy: a model's own generation_config.json cannot change the run's decoding; eos is every eos id."""

from __future__ import annotations

import pytest
import torch

from lampbench.harness.services.backbone import Backbone, Decoding
from lampbench.harness.services.models import load_backbone, tiny_random

PROMPTS = ["short", "a considerably longer prompt than the first one", "mid length prompt", "the weather is"]
TOKENS = 12


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The same tiny model saved twice: plainly, and with a generation_config.json that samples, penalises
    repetition and lists extra eos ids (as Qwen2.5's does)."""
    from transformers import GenerationConfig

    root = tmp_path_factory.mktemp("models")
    model, tokenizer = tiny_random()
    plain, hub = root / "plain", root / "hub"
    model.save_pretrained(plain)
    tokenizer.save_pretrained(plain)
    rare = len(tokenizer) - 1  # never produced by this model's answers (checked below)
    model.generation_config = GenerationConfig(
        do_sample=True, temperature=0.7, top_k=20, top_p=0.8, repetition_penalty=1.3, no_repeat_ngram_size=2,
        eos_token_id=[tokenizer.eos_token_id, rare], pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    model.save_pretrained(hub)
    tokenizer.save_pretrained(hub)
    return plain, hub, rare


def test_greedy_answers_ignore_the_models_generation_config(folders):
    plain, hub, rare = folders
    plain_bb = load_backbone(str(plain), device="cpu", batch_size=2)
    hub_bb = load_backbone(str(hub), device="cpu", batch_size=2)
    assert hub_bb.model.generation_config.repetition_penalty == 1.3  # the folder's file was read
    expected = plain_bb.generate(PROMPTS, max_new_tokens=TOKENS)
    assert hub_bb.generate(PROMPTS, max_new_tokens=TOKENS) == expected
    assert hub_bb.generate(PROMPTS, max_new_tokens=TOKENS) == expected  # not sampled: the same every time
    assert all(rare not in plain_bb.tokenizer(a, add_special_tokens=False)["input_ids"] for a in expected)
    # What transformers does with a bare greedy config: fills the rest from the folder's file, so answers move.
    from transformers import GenerationConfig

    ids, mask = next(hub_bb._batches(PROMPTS, 4))[1:]
    bare = GenerationConfig(do_sample=False, max_new_tokens=TOKENS, pad_token_id=hub_bb.tokenizer.pad_token_id)
    with torch.inference_mode():
        filled = hub_bb.model.generate(input_ids=ids, attention_mask=mask, generation_config=bare)
    config = hub_bb.generation_config(TOKENS)
    with torch.inference_mode(), hub_bb._only(config):
        ours = hub_bb.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
    assert not torch.equal(filled, ours)
    assert hub_bb.model.generation_config.repetition_penalty == 1.3  # put back after answering


def test_eos_is_the_models_list_and_the_tokenizers(folders):
    plain, hub, rare = folders
    hub_bb = load_backbone(str(hub), device="cpu")
    tokenizer = hub_bb.tokenizer
    assert set(hub_bb.eos_ids) == {tokenizer.eos_token_id, rare}
    assert hub_bb.generation_config(4).eos_token_id == list(hub_bb.eos_ids)
    # An eos id of the model's own list ends an answer: the plain answer's second token stops it.
    model, _ = tiny_random()
    plain_bb = Backbone(model, tokenizer)
    first = _new_ids(plain_bb, PROMPTS[0])
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, first[1]]
    stopped = Backbone(model, tokenizer)
    assert _new_ids(stopped, PROMPTS[0]) == first[:2]
    assert stopped.generate(PROMPTS[:1], max_new_tokens=TOKENS) == [tokenizer.decode(first[:2]).strip()]


def _new_ids(backbone: Backbone, prompt: str) -> list[int]:
    """The ids `backbone.generate` answers `prompt` with."""
    _, ids, mask = next(backbone._batches([prompt], 1))
    config = backbone.generation_config(TOKENS)
    with torch.inference_mode(), backbone._only(config):
        out = backbone.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
    return out[0, ids.shape[1] :].tolist()


def test_sampling_is_seeded_and_leaves_the_global_random_state_alone():
    model, tokenizer = tiny_random()
    greedy = Backbone(model, tokenizer).generate(PROMPTS, max_new_tokens=TOKENS)
    hot = Decoding(sample=True, temperature=5.0, top_k=0, top_p=1.0, seed=1)
    sampled = Backbone(model, tokenizer, decoding=hot)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = sampled.generate(PROMPTS, max_new_tokens=TOKENS)
    assert torch.equal(torch.rand(1), before)  # sampling drew from its own stream
    assert sampled.generate(PROMPTS, max_new_tokens=TOKENS) == first  # same seed, same answers
    assert first != greedy
    other = Backbone(model, tokenizer, decoding=Decoding(sample=True, temperature=5.0, top_k=0, top_p=1.0, seed=2))
    assert other.generate(PROMPTS, max_new_tokens=TOKENS) != first
    config = Backbone(model, tokenizer, decoding=Decoding(sample=True)).generation_config(8)
    assert (config.do_sample, config.temperature, config.top_k, config.top_p) == (True, 0.1, 10, 0.9)  # PerFit's


def test_batch1_agreement_counts_matching_answers(tiny_backbone):
    found = tiny_backbone.batch1_agreement(PROMPTS, max_new_tokens=6, batch_size=4)
    assert found["sample"] == 4 and found["agreed"] == 4 and found["batch_size"] == 4 and found["seconds"] >= 0
