"""`bench reproduce`: every paper preset end to end on tiny-random, its plan, its list, its one-line errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.harness.run.method_config import config_keys
from lampbench.harness.run.reproduce import load_preset, preset_names
from lampbench.methods.registry import METHODS
from lampbench.tasks.specs import get_task

runner = CliRunner()

#: Method config keys that keep every method of a preset to a few steps on tiny-random (each preset gets those its
#: methods have: `--set` refuses a key that no method of the sweep has).
FAST = {
    "train.max_steps": 1, "train.batch_size": 2, "train.grad_accum": 1, "task.epochs": 0.1, "ccs_epochs": 5,
    "ccs_restarts": 1, "insight_max_tokens": 4, "group_size": 2, "summary_max_new_tokens": 4,
    "profile_max_new_tokens": 4, "epochs1": 0.1, "epochs2": 0.1, "batch_size": 2, "max_target_tokens": 8,
    "sharers": 2, "gate_steps": 1, "gate_batch_size": 2, "max_history": 4, "max_items": 2, "n_items": 2,
    "item_words": 20, "n_history": 2, "embed_items": 4, "prompt.profile_max_new_tokens": 4, "prompt.profile_items": 2,
    "prompt.item_words": 20,
}  # fmt: skip
PRESETS = ["chameleon-table1", "chameleon-table2", "chameleon-table3", "perfit-table2", "perfit-table3",
           "perfit-table4", "perpcs-table1"]  # fmt: skip


def bench(*args: str):
    return runner.invoke(app, list(args), prog_name="bench", env={"COLUMNS": "300"})


def small(name: str, out, task: str | None = None) -> list[str]:
    """Overrides that make a preset a seconds-long run: tiny-random, 2 synthetic users (4 to train), 2s, one task."""
    preset = load_preset(name)
    keys = {k for m in preset.sweep.methods for k in config_keys(METHODS.get(m).Config)}
    sets = [x for k, v in FAST.items() if k in keys for x in ("--set", f"{k}={v}")]
    task = task or min(preset.sweep.tasks, key=lambda t: get_task(t).max_new_tokens)  # the quickest to answer
    return [name, "--model", "tiny-random", "--data", "synthetic", "--users", "2", "--train-users", "4",
            "--budget", "2s", "--task", task,
            "--out", str(out), *sets]  # fmt: skip


def test_the_list_names_every_preset_with_its_table():
    result = bench("reproduce", "--list")
    assert result.exit_code == 0, result.output
    assert set(PRESETS) <= set(preset_names())
    for name in PRESETS:
        assert name in result.output
    assert "chameleon Table 1 (Mistral-7B-Instruct-v0.3): 12 runs" in result.output


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_runs_end_to_end_and_prints_the_paper_beside_ours(name, cache, tmp_path):
    out = tmp_path / "runs"
    result = bench("reproduce", *small(name, out))
    assert result.exit_code == 0, result.output
    preset = load_preset(name)
    assert f"{preset.title} beside ours:" in result.output
    assert "NOT THE PAPER'S SETTINGS" in result.output and "model=tiny-random" in result.output
    table = result.output.split("beside ours:")[1]
    for cell in preset.cells:  # every cell of the table has a row with our number and its interval
        rows = [line for line in table.splitlines() if f" {cell.label} " in line]
        assert rows and all("[" in line for line in rows), (cell.label, table)
    assert "paper figures inside our 95% intervals" in table  # exit 0: no run ended in error


def test_a_second_call_reuses_every_run_and_the_plan_then_costs_nothing(cache, tmp_path):
    out = tmp_path / "runs"
    args = small("chameleon-table3", out)
    assert bench("reproduce", *args).exit_code == 0
    again = bench("reproduce", *args)
    assert again.exit_code == 0 and again.output.count(": reused") == 3, again.output
    plan = bench("reproduce", *args, "--dry-run")
    assert plan.exit_code == 0 and plan.output.count("finished already (reused)") == 3, plan.output


def test_the_dry_run_estimates_hours_from_earlier_runs_and_runs_nothing(cache, tmp_path):
    out = tmp_path / "runs"
    bench("reproduce", *small("chameleon-table3", out))
    before = sorted(p.name for p in out.iterdir())
    plan = bench("reproduce", *small("chameleon-table3", out), "--users", "50", "--dry-run")  # 50 users: not run yet
    assert plan.exit_code == 0, plan.output
    assert plan.output.count(" h (from 1 earlier run(s) on ") == 3, plan.output  # each from its own config's run
    assert "estimated: " in plan.output and "users=50 (the preset's: 100)" in plan.output
    assert "prompt budget: paper: not stated; ours: 2048 tokens" in plan.output  # the preset's settings
    assert sorted(p.name for p in out.iterdir()) == before


def test_the_dry_run_says_when_nothing_was_measured(tmp_path):
    plan = bench("reproduce", "perpcs-table1", "--dry-run", "--out", str(tmp_path / "runs"))
    assert plan.exit_code == 0, plan.output
    assert "settings: the preset's" in plan.output and "NOT THE PAPER'S" not in plan.output
    assert "78 run(s) without a measurement" in plan.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["chameleon-tabel1"], "unknown preset 'chameleon-tabel1'; did you mean chameleon-table1"),
        (["chameleon-table3", "--task", "lamp7"], "task(s) lamp7 not in the preset; it has lamp2, lamp3"),
        (["chameleon-table3", "--budget", "0s"], "budget '0s': must be more than 0"),
        (["chameleon-table3", "--set", "nonsense=1"], "--set nonsense: no method of this sweep has such a config key"),
        ([], "give a preset name"),
    ],
)
def test_bad_input_is_one_line_and_no_run_folder(args, message, tmp_path):
    result = bench("reproduce", *args, "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "paper, message",
    [
        ("{paper: chameleon, table: Table 3, backbone: Mistral-7B-Instruct-v0.3}", "paper.cells is missing"),
        ("{paper: chameleon, table: Table 3, backbone: Mistral-7B-Instruct-v0.3, cells: {Both: {method: rag}}}",
         "paper.cells.Both: no run of the sweep is rag"),
        ("{paper: chameleon, table: Table 3, backbone: Mistral-7B-Instruct-v0.3, cells: {A: {method: base}, "
         "B: {method: base}}}", "answers cells A, B: tell them apart"),
    ],
)  # fmt: skip
def test_a_bad_paper_section_of_a_preset_file_is_one_line(paper, message, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(f"methods: [base]\ntasks: [lamp2]\nbudgets: [1m]\npaper: {paper}\n", encoding="utf-8")
    result = bench("reproduce", str(path), "--dry-run", "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
