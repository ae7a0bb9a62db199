"""Sweeps: expansion, the run cache, failures that do not stop the rest, YAML plans, Ray, and `bench regress`."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from lampbench.harness.cli import app
from lampbench.harness.config import ConfigError
from lampbench.harness.sweep import expand, grid, read_sweep, run_sweep

TINY = {"data": "synthetic", "users": 2, "model": "tiny-random"}


def test_grid_and_expansion():
    assert grid({"k": [1, 4], "m": "x"}) == [{"k": 1, "m": "x"}, {"k": 4, "m": "x"}]
    specs = expand(["base", "rag"], ["lamp3", "lamp2m"], ["10m", "20m"], [0, 1], run_options=TINY,
                   shared_sets={"k": [1, 2]})  # fmt: skip
    assert len(specs) == 2 * 2 * 2 + 2 * 2 * 2 * 2  # base ignores k; rag has a k grid
    assert {s.task for s in specs} == {"lamp3", "lamp2"} and {s.budget for s in specs} == {600, 1200}
    assert {s.method_config.get("k") for s in specs if s.method == "rag"} == {1, 2}
    assert len({s.run_id for s in specs}) == len(specs)


def test_a_set_key_no_method_has_is_an_error():
    with pytest.raises(ConfigError, match="no method of this sweep has such a config key"):
        expand(["base"], ["lamp3"], ["1m"], [0], shared_sets={"kk": 1})


def test_sweep_reuses_finished_runs_and_survives_failures(cache, tmp_path):
    specs = expand(["base", "rag"], ["lamp3"], ["1m"], [0], run_options=TINY)
    bad = expand(["base"], ["lamp3"], ["1m"], [0], run_options={**TINY, "data": "no-such-data"})
    counts = run_sweep(specs + bad, tmp_path)
    assert counts == {"ok": 2, "error": 1}
    assert run_sweep(specs, tmp_path) == {"reused": 2}


def test_yaml_plan_is_checked(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("methods: [base]\ntasks: [lamp3]\nbudget: [1m]\n")
    with pytest.raises(ConfigError, match="unknown sweep key"):
        read_sweep(path)
    path.write_text("methods: [base]\nrun: {userz: 3}\n")
    with pytest.raises(ConfigError, match="unknown run option"):
        read_sweep(path)


def test_bench_sweep_from_yaml_with_command_line_overrides(cache, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "methods: [base, rag]\ntasks: [lamp3]\nbudgets: [1m]\nseeds: [0, 1]\n"
        "run: {data: synthetic, users: 2, model: tiny-random}\nset: {rag: {k: [1, 2]}}\n"
    )
    out = tmp_path / "runs"
    result = CliRunner().invoke(app, ["sweep", "--config", str(plan), "--out", str(out), "--users", "1"])
    assert result.exit_code == 0, result.output
    assert "sweep: 6 runs" in result.output and "summary: 6 ok, 0 over_budget, 0 error, 0 reused" in result.output
    configs = [json.loads(p.read_text()) for p in out.glob("*/config.json")]
    assert {c["users"] for c in configs} == {1} and {c["model"] for c in configs} == {"tiny-random"}


def test_sweep_through_a_local_ray_instance(cache, tmp_path):
    pytest.importorskip("ray")
    specs = expand(["base", "rag"], ["lamp3"], ["1m"], [0], run_options=TINY)
    counts = run_sweep(specs, tmp_path, executor="ray")
    assert counts == {"ok": 2}
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert sorted(r["method"] for r in index) == ["base", "rag"]


def test_regress_passes_then_names_a_regression(cache, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "methods: [base]\ntasks: [lamp3, lamp2]\nbudgets: [1m]\nrun: {data: synthetic, users: 2, model: tiny-random}\n"
        "tolerances: {mae: 0.1}\n"
    )
    baseline = tmp_path / "baseline.json"
    args = ["regress", "--suite", str(suite), "--baseline", str(baseline), "--out", str(tmp_path / "runs")]
    assert CliRunner().invoke(app, [*args, "--update"]).exit_code == 0
    passed = CliRunner().invoke(app, args)
    assert passed.exit_code == 0 and "0 regression(s)" in passed.output
    data = json.loads(baseline.read_text())
    data["lamp3/base/1m/s0"]["metrics"]["mae"] -= 0.5  # the baseline was better than we are now
    data["lamp2/base/1m/s0"]["metrics"]["accuracy"] = -1.0  # we beat it: not a regression
    baseline.write_text(json.dumps(data))
    failed = CliRunner().invoke(app, args)
    assert failed.exit_code == 1
    assert "REGRESSION lamp3/base/1m/s0: mae" in failed.output and "1 regression(s)" in failed.output


def test_example_workflow_and_ci_suite_exist():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    plan = read_sweep(root / "configs" / "ci-small.yaml")
    assert plan["run"]["data"] == "synthetic" and plan["tolerances"]
    assert shutil.which("bash") and (root / "examples" / "github-workflow.yml").exists()


@pytest.mark.slow
def test_ci_suite_matches_the_committed_baseline(tmp_path):
    """`bench regress` on configs/ci-small.yaml (real SmolLM2) reproduces leaderboard/baseline.json."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = CliRunner().invoke(
        app,
        ["regress", "--suite", str(root / "configs" / "ci-small.yaml"),
         "--baseline", str(root / "leaderboard" / "baseline.json"), "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
