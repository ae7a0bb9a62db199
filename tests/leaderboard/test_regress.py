"""`bench regress` by statistics: a run against itself passes, noise passes, a planted drop fails with its interval."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.leaderboard.regress import compare


def entry(errors: list[float], *, task: str = "lamp3") -> dict:
    """A suite entry of a lamp3 run whose user i has the two absolute errors errors[2i], errors[2i+1]."""
    users = {}
    for i, error in enumerate(errors):
        users.setdefault(f"u{i // 2}", {"read": [], "official": []})
        users[f"u{i // 2}"]["read"].append([3.0, 3.0 + error])
        users[f"u{i // 2}"]["official"].append([3.0, 5.0])
    return {"task": task, "status": "ok", "metrics": {"mae": float(np.mean(errors))}, "users": users}


BASE = [0.0, 1.0, 0.5, 0.0, 1.0, 1.5, 0.0, 0.5, 1.0, 0.0, 0.5, 1.0, 0.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.5, 0.0]


def test_the_same_scores_pass_and_say_so():
    report = compare({"k": entry(BASE)}, {"k": entry(BASE)}, {})
    assert report.regressions == []
    assert report.lines[0].startswith("ok k: mae gain +0.0000 [+0.0000, +0.0000] over 10 users")


def test_noise_passes_and_a_real_drop_fails_with_its_interval():
    noisy = list(np.random.default_rng(0).permutation(BASE))  # answers changed user by user, no shift overall
    report = compare({"k": entry(noisy)}, {"k": entry(BASE)}, {})
    assert report.regressions == [] and report.lines[0].startswith("ok k: mae gain +0.0000 [-0.")
    worse = [e + 1.0 for e in BASE]  # every answer one point farther off
    report = compare({"k": entry(worse)}, {"k": entry(BASE)}, {})
    assert report.regressions == ["k"]
    line = report.lines[0]
    assert line.startswith("REGRESSION k: mae dropped: gain -1.0000 [-1.0000, -1.0000] over 10 users")
    assert "rmse dropped" in line and "official" not in line  # the raw generations did not change


def test_a_tolerance_lets_a_small_real_drop_pass():
    slightly = [e + 0.1 for e in BASE]
    assert compare({"k": entry(slightly)}, {"k": entry(BASE)}, {}).regressions == ["k"]
    assert compare({"k": entry(slightly)}, {"k": entry(BASE)}, {"mae": 0.2, "rmse": 0.2}).regressions == []


def test_missing_errored_and_old_baselines_regress():
    old = {"status": "ok", "metrics": {"mae": 0.5}}  # a baseline from before per-user scores
    report = compare({"a": {**entry(BASE), "status": "error"}, "c": entry(BASE)}, {"a": entry(BASE),
                     "b": entry(BASE), "c": old}, {})  # fmt: skip
    assert report.regressions == ["a", "b", "c"]
    assert "REGRESSION b: not in the suite" in report.lines and "rewrite it with --update" in report.lines[2]


def test_cli_passes_then_names_a_planted_drop(cache, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "methods: [base]\ntasks: [lamp3]\nbudgets: [1m]\nrun: {data: synthetic, users: 6, model: tiny-random}\n"
        "tolerances: {mae: 0.1}\n"
    )
    baseline = tmp_path / "baseline.json"
    args = ["regress", "--suite", str(suite), "--baseline", str(baseline), "--out", str(tmp_path / "runs")]
    written = CliRunner().invoke(app, [*args, "--update"])
    assert written.exit_code == 0, written.output
    passed = CliRunner().invoke(app, args)
    assert passed.exit_code == 0 and "0 regression(s)" in passed.output
    assert "ok lamp3/base/1m/s0: mae gain +0.0000 [+0.0000, +0.0000] over 6 users" in passed.output
    data = json.loads(baseline.read_text())
    for outcomes in data["lamp3/base/1m/s0"]["users"].values():
        outcomes["read"] = [[gold, gold] for gold, _ in outcomes["read"]]  # the baseline answered every query right
    baseline.write_text(json.dumps(data))
    failed = CliRunner().invoke(app, args)
    assert failed.exit_code == 1, failed.output
    assert "REGRESSION lamp3/base/1m/s0: mae dropped: gain -" in failed.output and "over 6 users" in failed.output
    assert "1 regression(s)" in failed.output


def test_ci_suite_covers_prompting_training_and_representation():
    from pathlib import Path

    from lampbench.harness.run.sweep import read_sweep

    plan = read_sweep(Path(__file__).resolve().parents[2] / "configs" / "ci-small.yaml")
    assert {"rag", "lora-p", "stylevector"} <= set(plan["methods"]) and plan["run"]["data"] == "synthetic"
    assert plan["tolerances"]


def test_a_run_key_names_only_what_the_suite_set():
    """A new config field, or a moved default, keeps a run's key: the key is the values that are not defaults."""
    import dataclasses

    from lampbench.harness.run.options import RunSpec
    from lampbench.leaderboard.regress import run_key
    from lampbench.methods.registry import METHODS

    def spec(method, **values):
        config = dataclasses.asdict(METHODS.get(method).Config(**values))
        return RunSpec(method=method, task="lamp2", budget=30.0, method_config=config)

    assert run_key(spec("lora-p")) == "lamp2/lora-p/30s/s0"
    assert run_key(spec("rag", k=2)) == "lamp2/rag/30s/s0/k=2"
    oppu = spec("oppu")
    oppu.method_config["train"] = {**oppu.method_config["train"], "epochs": "budget"}
    oppu.method_config["load_in_4bit"] = False  # a key the method no longer has is shown: it is not a default
    assert run_key(oppu) == "lamp2/oppu/30s/s0/load_in_4bit=False,train.epochs=budget"
