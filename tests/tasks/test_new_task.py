"""Adding a task is local: a `TaskSpec` (in `tasks/lamp.py`, or a package's `lampbench.tasks` entry point, see
`test_registry.py`) is enough for every method to run on it.

What belongs to the task (instruction, labels, LaMP's item template) lives in its spec; a method's own per-task
settings (CHAMELEON's templates, PAG's profile prompt, Per-Pcs's Table 3) fall back to a default for a task they
do not list.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from lampbench.methods.registry import METHODS
from lampbench.tasks.specs import TASKS

#: A new rating task, defined as a user would: a spec, no edit anywhere else.
NEW = dataclasses.replace(
    TASKS["lamp3"], name="stars", lamp="Stars_1", path="Stars_1", description="hotel star ratings",
    instruction="How many stars (1 to 5) does this hotel review give? Answer with the number only. review: ",
)  # fmt: skip


@pytest.fixture
def new_task(monkeypatch, tmp_path):
    """`stars` registered, with a few users' official-format files under a data folder."""
    monkeypatch.setitem(TASKS, NEW.name, NEW)
    for split, first in (("dev", 0), ("train", 10)):  # train: for methods with a collective stage
        folder = tmp_path / "data" / NEW.path / split
        folder.mkdir(parents=True)
        questions, golds = [], []
        for u in range(first, first + 3):
            profile = [{"id": f"{u}-{i}", "text": f"room {i} was fine, staff kind", "score": str(1 + (u + i) % 5)}
                       for i in range(4)]  # fmt: skip
            questions.append({"id": f"q{u}", "input": NEW.instruction + f"hotel {u} was clean", "profile": profile})
            golds.append({"id": f"q{u}", "output": str(1 + u % 5)})
        (folder / f"{split}_questions.json").write_text(json.dumps(questions))
        (folder / f"{split}_outputs.json").write_text(json.dumps({"task": NEW.lamp, "golds": golds}))
    return tmp_path / "data"


def test_methods_own_per_task_settings_fall_back_for_a_new_task(new_task):
    from lampbench.methods.chameleon.prompts import answer_prompt, templates
    from lampbench.methods.lib.examples import instruction
    from lampbench.methods.lib.profiles import GENERIC_PROFILE_PROMPT, profile_prompt
    from lampbench.methods.perpcs.config import PerPcsConfig

    t = templates(NEW)
    assert "hotel star ratings" in t.intro and "1, 2, 3, 4, 5" in t.question
    prompt = answer_prompt(t, '1. 4 is the score for "nice"', NEW.instruction + "great")
    assert NEW.instruction + "great" in prompt  # the whole input: the task's own instruction reaches the model
    assert profile_prompt(NEW.name, ["a"]).startswith(GENERIC_PROFILE_PROMPT)
    assert instruction(NEW, []) == NEW.instruction
    assert PerPcsConfig().for_task(NEW.name) == (1, 50, 2e-5)


@pytest.mark.parametrize("method", sorted(METHODS.entries()))
def test_a_new_task_runs_with_every_registered_method(new_task, cache, tmp_path, method):
    from typer.testing import CliRunner

    from lampbench.harness.entrypoints.cli import app

    result = CliRunner().invoke(app, [
        "run", "--method", method, "--task", NEW.name, "--budget", "5s", "--data", "lamp",
        "--data-dir", str(new_task), "--model", "tiny-random", "--out", str(tmp_path / "runs"), "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/run.json")]
    # A few seconds of budget: trained methods may stop early, but each runs the new task end to end.
    assert record["status"] in ("ok", "over_budget") and record["task"] == "stars"
    assert set(record["metrics"]) >= {"mae", "rmse"}
