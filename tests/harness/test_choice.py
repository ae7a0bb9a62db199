"""Answers read by choice (`--answer choice`): the scores, the per-row edits, the runner's mode, what a user sees."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Sequence

import pytest
import torch
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.harness.run.method_config import build_config
from lampbench.harness.run.runner import RunSpec, run
from lampbench.harness.run.store import Store
from lampbench.harness.services.choice import choice_scores, choice_tokens
from lampbench.methods.baseline.method import Base
from lampbench.methods.contract import Method
from lampbench.methods.registry import METHODS
from lampbench.tasks.specs import TASKS, get_task
from lampbench.tests.methods.fast import FAST

PROMPTS = ["short", "a considerably longer prompt than the first one", "mid length prompt"]
TAGS = ["sci-fi", "based on a book", "comedy", "dark comedy"]


def full_forward(backbone, prompt: str, tokens: Sequence[int], edit=None) -> float:
    """A choice's log-likelihood the slow way: one full forward over prompt + choice, every position scored."""
    ids = backbone.encode(prompt)
    with torch.inference_mode(), backbone.hooks(edit or {}):
        logp = backbone.model(input_ids=torch.tensor([ids + list(tokens)])).logits[0].float().log_softmax(-1)
    return sum(logp[len(ids) - 1 + j, t].item() for j, t in enumerate(tokens))


def test_scores_over_the_shared_cache_equal_full_forwards(tiny_backbone):
    chosen = choice_tokens(tiny_backbone.tokenizer, TAGS)
    assert len({len(t) for t in chosen.tokens}) > 1  # choices of different lengths share the steps
    for idx, ids, mask in tiny_backbone._batches(PROMPTS, 3):  # one left-padded batch of three lengths
        with torch.inference_mode():
            scores = choice_scores(tiny_backbone.model, ids, mask, chosen.tokens, pad_id=0)
        for row, i in enumerate(idx):
            expected = [full_forward(tiny_backbone, PROMPTS[i], t) for t in chosen.tokens]
            assert scores[row].tolist() == pytest.approx(expected, abs=1e-3)


def test_generate_inside_choosing_answers_the_most_likely_choice(tiny_backbone):
    chosen = choice_tokens(tiny_backbone.tokenizer, TAGS)
    with tiny_backbone.choosing(TAGS) as counted:
        answers = tiny_backbone.generate(PROMPTS, max_new_tokens=12, batch_size=2)
    assert counted.answers == len(PROMPTS)
    for prompt, answer in zip(PROMPTS, answers, strict=True):
        scores = [full_forward(tiny_backbone, prompt, t) for t in chosen.tokens]
        assert answer == TAGS[scores.index(max(scores))]
    assert tiny_backbone._chosen is None  # generation again after the block


def test_per_row_edits_follow_each_prompt_into_its_choices(tiny_backbone):
    """A per-row edit (a steering vector per user at the last position, as StyleVector and CHAMELEON apply theirs)
    scores each prompt's choices as that prompt alone, under its own edit, scores them."""
    hidden = tiny_backbone.model.config.hidden_size
    vectors = torch.randn(len(PROMPTS), hidden, generator=torch.Generator().manual_seed(0))
    owners, calls = [], []

    def on_batch(idx):
        calls.append(list(idx))
        owners[:] = list(idx)

    def steer(v):
        def hook(module, inputs, output):
            h = output[0] if isinstance(output, tuple) else output
            h = torch.cat([h[:, :-1], h[:, -1:] + v()[:, None]], dim=1)
            return (h, *output[1:]) if isinstance(output, tuple) else h

        return hook

    layer = tiny_backbone.layer_module(0)
    chosen = choice_tokens(tiny_backbone.tokenizer, TAGS)
    ((idx, ids, mask),) = tiny_backbone._batches(PROMPTS, 3)
    with torch.inference_mode(), tiny_backbone.hooks({layer: steer(lambda: vectors[owners])}):
        on_batch(idx)
        together = choice_scores(tiny_backbone.model, ids, mask, chosen.tokens, pad_id=0,
                                 on_rows=lambda prompts: on_batch([idx[p] for p in prompts]))  # fmt: skip
    assert calls[1] == [i for i in idx for _ in TAGS]  # each row again, once per choice
    steps = calls[1:]
    assert len(steps) > 1 and all(len(b) < len(a) for a, b in itertools.pairwise(steps))  # scored choices leave
    for row, i in enumerate(idx):
        ((_, one, one_mask),) = tiny_backbone._batches([PROMPTS[i]], 1)
        with torch.inference_mode(), tiny_backbone.hooks({layer: steer(lambda i=i: vectors[[i]])}):
            alone = choice_scores(tiny_backbone.model, one, one_mask, chosen.tokens, pad_id=0)
        assert together[row].tolist() == pytest.approx(alone[0].tolist(), abs=1e-3)
    direct = list(calls)
    with tiny_backbone.hooks({layer: steer(lambda: vectors[owners])}), tiny_backbone.choosing(TAGS):
        calls.clear()
        tiny_backbone.generate(PROMPTS, max_new_tokens=12, batch_size=3, on_batch=on_batch)
    assert calls == direct  # `generate` calls `on_batch` the same way


@pytest.mark.parametrize("task", [t for t in TASKS.values() if t.choices], ids=lambda t: t.name)
def test_each_choice_is_read_back_exactly_by_the_tasks_parser(task):
    for choice in task.choices:
        parsed = task.parse(choice)
        assert (parsed.answer, parsed.how) == (choice, "exact")


def test_free_text_tasks_have_no_choices():
    assert get_task("lamp4").choices == () and get_task("lamp1").choices == ("[1]", "[2]")


def spec(**kw) -> RunSpec:
    values = {"method": "base", "task": "lamp2", "budget": 60, "data": "synthetic", "users": 3, "model": "tiny-random"}
    return RunSpec(**{**values, **kw})


def test_a_run_by_choice_answers_only_labels_and_records_the_mode(tiny_backbone, cache, tmp_path):
    record = run(spec(answer="choice"), Base(), store=Store(tmp_path), progress=False, backbone=tiny_backbone)
    assert record["status"] == "ok" and record["answer"] == "choice"
    assert record["read"]["exact"] == record["queries"] and record["unparsed"] == 0
    lines = (tmp_path / record["run_id"] / "generations.jsonl").read_text().splitlines()
    assert {json.loads(line)["raw"] for line in lines} <= set(get_task("lamp2").labels)
    config = json.loads((tmp_path / record["run_id"] / "config.json").read_text())
    assert config["answer"] == "choice"
    assert spec(answer="choice").run_id != spec().run_id  # part of the run's identity


class OwnAnswers(Method):
    """A plugin that answers without the backbone."""

    def personalize(self, ctx, user):
        return None

    def predict(self, ctx, state, queries):
        return ["comedy" for _ in queries]


def test_a_method_answering_without_the_backbone_fails_with_one_line(tiny_backbone, cache, tmp_path):
    record = run(spec(answer="choice", method="own"), OwnAnswers(), store=Store(tmp_path), progress=False,
                 backbone=tiny_backbone)  # fmt: skip
    assert record["status"] == "error"
    assert "without ctx.backbone.generate, so they cannot be read by choice; use --answer generate" in record["error"]


def test_choice_on_a_free_text_task_is_one_line_and_no_run_folder(cache, tmp_path):
    argv = ["run", "--method", "base", "--task", "lamp4", "--data", "synthetic", "--model", "tiny-random",
            "--answer", "choice", "--out", str(tmp_path / "runs")]  # fmt: skip
    result = CliRunner().invoke(app, argv, prog_name="bench", env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --answer choice: lamp4 has no answers to choose from (label and rating tasks only); use --answer "
        "generate"
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", sorted(METHODS.entries()))
def test_every_method_answers_by_choice_with_its_own_state(name, tiny_backbone, cache, tmp_path):
    """Each registered method's final answers go through the backbone: by choice, every one is a label (its
    adapters, edits and hooks in place; PAG's profile and LLM-REC's rewrites still generated)."""
    cls = METHODS.get(name)
    config = build_config(cls.Config, FAST.get(name, {}))
    run_spec = spec(method=name, task="lamp3", users=2, train_users=3, answer="choice", max_prompt_tokens=128,
                    method_config=dataclasses.asdict(config))  # fmt: skip
    record = run(run_spec, cls(config), store=Store(tmp_path), progress=False, backbone=tiny_backbone)
    assert record["status"] == "ok", record.get("error")
    lines = (tmp_path / record["run_id"] / "generations.jsonl").read_text().splitlines()
    assert {json.loads(line)["raw"] for line in lines} <= set(get_task("lamp3").choices)
    assert record["read"]["exact"] == record["queries"]
