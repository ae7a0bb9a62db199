"""A method config value its own check rejects stops `bench run` with one line and exit 2, before a run folder.

One case per validating config (the value no method can use, and the key the message must name); the check runs
when the config is built, before any model or data is loaded.
"""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app

CASES = [
    ("rag", "k=-1", "k"),
    ("pag", "n_items=0", "n_items"),
    ("llm-rec", "n_history=0", "n_history"),
    ("chameleon", "unseen=true", "unseen"),
    ("chameleon", "ccs_epochs=0", "ccs_epochs"),
    ("stylevector", "max_items=-1", "max_items"),
    ("perfit", "r2=0", "r2"),
    ("per-pcs", "sharers=0", "sharers"),
    ("per-pcs", "gate_fraction=1.5", "gate_fraction"),
    ("aloe", "history_k=-2", "history_k"),
    ("dpo", "beta=0", "beta"),
    ("oppu", "task_fraction=0", "task_fraction"),
    ("oppu", "task.epochs=-1", "task.epochs"),
    ("lora-p", "train.batch_size=0", "train.batch_size"),
    ("lora-c", "train.learning_rate=-1e-4", "train.learning_rate"),
]


@pytest.mark.parametrize(("method", "bad", "key"), CASES, ids=[f"{m}-{b}" for m, b, _ in CASES])
def test_a_value_the_config_rejects_is_one_line_and_exit_2(method, bad, key, tmp_path):
    out = tmp_path / "runs"
    args = ["run", "--method", method, "--task", "lamp3", "--data", "synthetic", "--model", "tiny-random",
            "--set", bad, "--out", str(out), "--quiet"]  # fmt: skip
    result = CliRunner().invoke(app, args, prog_name="bench", env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1
    assert re.match(rf"error: {re.escape(method)} config: {re.escape(key)}[ =]", result.stderr), result.stderr
    assert not out.exists()


def test_the_old_load_in_4bit_key_says_it_is_a_run_option_now(tmp_path):
    out = tmp_path / "runs"
    args = ["run", "--method", "aloe", "--task", "lamp3", "--set", "mode=full", "--set", "load_in_4bit=true",
            "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args, prog_name="bench")
    assert result.exit_code == 2 and "--quantize 4bit" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not out.exists()
