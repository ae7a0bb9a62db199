"""Sweeps: expansion, the run cache, failures that do not stop the rest, YAML plans, Ray, and `bench regress`."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.harness.run.method_config import ConfigError
from lampbench.harness.run.options import SweepSpec
from lampbench.harness.run.sweep import expand, grid, load_sweep, ray_resources, read_sweep, run_sweep
from lampbench.methods.baseline.method import Base

TINY = {"data": "synthetic", "users": 2, "model": "tiny-random"}


class Boom(Base):
    """A method that fails in its per-user stage (used as `lampbench.tests.harness.test_sweep:Boom`)."""

    def personalize(self, ctx, user):
        raise RuntimeError("boom in personalize")


class Threads(Base):
    """Reports the torch threads its run had (used as `lampbench.tests.harness.test_sweep:Threads`)."""

    def personalize(self, ctx, user):
        import torch

        ctx.report["torch_threads"] = torch.get_num_threads()


def test_grid_and_expansion():
    assert grid({"k": [1, 4], "m": "x"}) == [{"k": 1, "m": "x"}, {"k": 4, "m": "x"}]
    specs = expand(SweepSpec(methods=["base", "rag"], tasks=["lamp3", "lamp2m"], budgets=["10m", "20m"], seeds=[0, 1],
                             run=TINY, sets={"k": [1, 2]}))  # fmt: skip
    assert len(specs) == 2 * 2 * 2 + 2 * 2 * 2 * 2  # base ignores k; rag has a k grid
    assert {s.task for s in specs} == {"lamp3", "lamp2"} and {s.budget for s in specs} == {600, 1200}
    assert {s.method_config.get("k") for s in specs if s.method == "rag"} == {1, 2}
    assert len({s.run_id for s in specs}) == len(specs)


def test_a_set_key_no_method_has_is_an_error():
    with pytest.raises(ConfigError, match="no method of this sweep has such a config key"):
        expand(SweepSpec(methods=["base"], tasks=["lamp3"], budgets=["1m"], sets={"kk": 1}))


def test_sweep_reuses_finished_runs_and_survives_failures(cache, tmp_path):
    specs = expand(SweepSpec(methods=["base", "rag"], tasks=["lamp3"], budgets=["1m"], run=TINY))
    (good,) = expand(SweepSpec(methods=["base"], tasks=["lamp3"], budgets=["1m"], run=TINY))
    bad = [dataclasses.replace(good, data="no-such-data")]  # fails inside its run (RunSpec checks bounds only)
    counts = run_sweep(specs + bad, tmp_path)
    assert counts == {"ok": 2, "error": 1}
    assert run_sweep(specs, tmp_path) == {"reused": 2}


def test_bench_sweep_finishes_the_others_and_exits_1_when_a_run_errs(cache, tmp_path):
    out = tmp_path / "runs"
    result = CliRunner().invoke(app, [
        "sweep", "--methods", "lampbench.tests.harness.test_sweep:Boom,base,rag", "--task", "lamp3", "--budgets", "1m",
        "--data", "synthetic", "--users", "2", "--model", "tiny-random", "--out", str(out),
    ])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "summary: 2 ok, 0 over_budget, 1 error, 0 reused" in result.output
    assert "error  RuntimeError: boom in personalize" in result.output
    statuses = sorted(json.loads(p.read_text())["status"] for p in out.glob("*/run.json"))
    assert statuses == ["error", "ok", "ok"]
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert sorted(r["method"] for r in index) == ["base", "rag"]  # the failed run is not indexed


_APPENDER = textwrap.dedent("""
    import sys
    from lampbench.harness.run.store import Store
    store, who = Store(sys.argv[1]), sys.argv[2]
    for i in range(int(sys.argv[3])):
        # Lines longer than the write buffer and a pipe's atomic size: unlocked, they would interleave.
        store.add_to_index({"run_id": f"{who}-{i}", "pad": who * 20000})
""")


def test_index_appends_from_several_processes_lose_no_line(tmp_path):
    workers, lines = 4, 40
    procs = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, str(tmp_path), f"w{w}", str(lines)]) for w in range(workers)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * workers
    raw = (tmp_path / "index.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in raw]  # every line whole: none cut or interleaved
    assert len(records) == workers * lines
    assert {r["run_id"] for r in records} == {f"w{w}-{i}" for w in range(workers) for i in range(lines)}


def test_ray_resources_reserve_a_whole_node_or_one_gpu():
    assert ray_resources([{"CPU": 8.0}]) == (8, 0)  # one run at a time per CPU node
    assert ray_resources([{"CPU": 8.0}, {"CPU": 4.0}]) == (4, 0)  # every node can take a run
    assert ray_resources([{"CPU": 8.0}], cpus_per_run=2) == (2, 0)
    assert ray_resources([{"CPU": 16.0, "GPU": 4.0}, {"CPU": 2.0}]) == (4, 1)
    assert ray_resources([{"CPU": 16.0, "GPU": 4.0}], cpus_per_run=1) == (1, 1)
    with pytest.raises(ValueError, match="at least 1"):
        run_sweep([], "runs", SweepSpec(cpus_per_run=0))


def test_local_sweep_sets_torch_threads_to_the_cpus_per_run(cache, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        specs = expand(SweepSpec(methods=["lampbench.tests.harness.test_sweep:Threads"], tasks=["lamp3"],
                                 budgets=["1m"], run=TINY))  # fmt: skip
        assert run_sweep(specs, tmp_path, SweepSpec(cpus_per_run=1)) == {"ok": 1}
    finally:
        torch.set_num_threads(before)
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("*/run.json")]
    assert record["method_report"]["torch_threads"] == 1


def test_yaml_plan_is_checked(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("methods: [base]\ntasks: [lamp3]\nbudget: [1m]\n")
    with pytest.raises(ConfigError, match="unknown sweep key"):
        read_sweep(path)
    path.write_text("methods: [base]\nrun: {userz: 3}\n")
    with pytest.raises(ConfigError, match="unknown run option"):
        read_sweep(path)


def test_a_sweep_file_and_given_options_make_one_sweepspec(tmp_path):
    """The file's keys are SweepSpec's fields; what is given wins; a bad value in the file names the file."""
    path = tmp_path / "plan.yaml"
    path.write_text("methods: [base]\ntasks: [lamp3]\nbudgets: [1m, 90s]\nexecutor: ray\ncpus_per_run: 2\n"
                    "run: {data: synthetic, users: 3}\ntolerances: {mae: 0.1}\n")  # fmt: skip
    plan = load_sweep(path, {"seeds": [1, 2], "users": 1, "executor": "local", "methods": ()})
    assert plan.methods == ("base",) and plan.budgets == (60.0, 90.0) and plan.seeds == (1, 2)
    assert plan.executor == "local" and plan.cpus_per_run == 2 and plan.tolerances == {"mae": 0.1}
    assert plan.run == {"data": "synthetic", "users": 1}
    assert len(expand(plan)) == 4
    path.write_text("methods: [base]\nbudgets: [1m, 0]\n")
    with pytest.raises(ConfigError, match=f"^{path}: budget 0: must be more than 0 seconds$"):
        load_sweep(path)
    with pytest.raises(ConfigError, match="the sweep has no runs"):
        expand(SweepSpec(methods=["base"], budgets=["1m"]))


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
    """Each Ray run holds all of the node's CPUs (so runs never overlap) and uses that many torch threads."""
    import os

    pytest.importorskip("ray")
    methods = ["base", "lampbench.tests.harness.test_sweep:Threads", "lampbench.tests.harness.test_sweep:Boom"]
    plan = SweepSpec(methods=methods, tasks=["lamp3"], budgets=["1m"], run=TINY, executor="ray")
    counts = run_sweep(expand(plan), tmp_path, plan)
    assert counts == {"ok": 2, "error": 1}
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert sorted(r["method"] for r in index) == ["base", "lampbench.tests.harness.test_sweep:Threads"]
    records = [json.loads(p.read_text()) for p in tmp_path.glob("*/run.json")]
    (threads,) = [r["method_report"]["torch_threads"] for r in records if "torch_threads" in r["method_report"]]
    assert threads == os.cpu_count()


# `bench regress` by statistics: tests/leaderboard/test_regress.py.


def test_example_workflow_and_ci_suite_exist():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    plan = read_sweep(root / "configs" / "ci-small.yaml")
    assert plan["run"]["data"] == "synthetic" and plan["tolerances"]
    assert shutil.which("bash") and (root / "examples" / "github-workflow.yml").exists()


@pytest.mark.slow
def test_ci_suite_matches_the_committed_baseline(tmp_path):
    """`bench regress` on configs/ci-small.yaml (real SmolLM2) reproduces leaderboard/baseline.json."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = CliRunner().invoke(
        app,
        ["regress", "--suite", str(root / "configs" / "ci-small.yaml"),
         "--baseline", str(root / "leaderboard" / "baseline.json"), "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_the_demo_pipeline_draws_its_curve_and_site(cache, tmp_path):
    """`make demo`'s commands, on the tiny model: the sweep of configs/demo.yaml, the table, the plot, the site."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    makefile = (root / "Makefile").read_text()
    assert "bench sweep --config configs/demo.yaml" in makefile and "bench site" in makefile
    plan = read_sweep(root / "configs" / "demo.yaml")
    assert len(plan["budgets"]) >= 2 and plan["run"]["data"] == "synthetic"  # a curve, offline
    out = tmp_path / "demo"
    runner = CliRunner()
    swept = runner.invoke(app, ["sweep", "--config", str(root / "configs" / "demo.yaml"), "--out", str(out),
                                "--model", "tiny-random", "--users", "2"])  # fmt: skip
    assert swept.exit_code == 0, swept.output
    assert runner.invoke(app, ["leaderboard", "--out", str(out)]).exit_code == 0
    plotted = runner.invoke(app, ["plot", "budget-curve", "--task", "lamp2", "--out", str(out),
                                  "--to", str(out / "lamp2-budget-curve")])  # fmt: skip
    assert plotted.exit_code == 0, plotted.output
    site = runner.invoke(app, ["site", "--out", str(out), "--to", str(out / "site")])
    assert site.exit_code == 0, site.output
    assert (out / "lamp2-budget-curve.png").stat().st_size and (out / "lamp2-budget-curve.svg").exists()
    assert (out / "site" / "index.html").exists() and (out / "site" / "lamp2.html").exists()


def test_a_sweep_over_fit_budgets_gives_each_run_its_fit_budget():
    plan = SweepSpec(methods=["oppu"], tasks=["lamp3"], budgets=["1m", "2m"], fit_budgets=["30s", "1m"], seeds=[0, 1])
    specs = expand(plan)
    pairs = {(b, f) for b in (60, 120) for f in (30, 60)}
    assert len(specs) == 8 and {(s.budget, s.fit_budget) for s in specs} == pairs
    assert {s.fit_budget for s in expand(SweepSpec(methods=["oppu"], tasks=["lamp3"], budgets=["1m"]))} == {None}
