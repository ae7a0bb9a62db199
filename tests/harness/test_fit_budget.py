"""Two budgets: `--fit-budget` bounds the collective stage, `--budget` the per-user stages; a fit is saved once and
reused by every run that asks for the same (across budgets and seeds), recorded and never charged twice."""

from __future__ import annotations

import json

import pytest

from lampbench.harness.run.fit_store import FitStore
from lampbench.harness.run.runner import RunSpec, run
from lampbench.harness.run.store import Store
from lampbench.methods.baseline.method import Base
from lampbench.methods.perfit.config import PerFitConfig
from lampbench.methods.perfit.method import PerFit
from lampbench.tasks.errors import ConfigError
from lampbench.tests.methods.fast import FAST


def spec(**kw) -> RunSpec:
    values = {"method": "counting", "task": "lamp3", "budget": 60, "data": "synthetic", "users": 3,
              "train_users": 4, "model": "tiny-random", "batch_size": 4}  # fmt: skip
    return RunSpec(**{**values, **kw})


class Counting(Base):
    """A collective stage that records what its clock said, saves a number and loads it back."""

    uses_train_users = True
    fits = 0

    def __init__(self, saves: bool = True):
        super().__init__()
        self.saves, self.seen, self.value = saves, {}, None

    def fit(self, ctx, train):
        Counting.fits += 1
        self.seen["fit"] = (ctx.clock.budget, ctx.clock.fit_deadline(0.5))
        self.value = len(train)
        ctx.report["collective"] = {"train_users": len(train)}

    def personalize(self, ctx, user):
        self.seen.setdefault("user", (ctx.clock.budget, ctx.clock.spent))
        return None

    def save_collective(self, ctx, path):
        if self.saves:
            (path / "value.json").write_text(json.dumps(self.value))
        return self.saves

    def load_collective(self, ctx, path):
        if not (path / "value.json").exists():
            return False
        self.value = json.loads((path / "value.json").read_text())
        return True


def test_budget_alone_is_shares_mode_as_before(tiny_backbone, cache, tmp_path):
    method = Counting()
    record = run(spec(), method, store=Store(tmp_path), progress=False, backbone=tiny_backbone)
    assert record["budget_mode"] == "shares" and "fit_budget_s" not in record and record["devices"] == 1
    assert method.seen["fit"] == (60, pytest.approx(30, abs=1))  # half of what is left of the one budget
    assert not (tmp_path / "fits").exists()  # shares mode keeps today's behaviour: no reuse across runs
    # Run ids of runs without the new options are unchanged (the run cache stays valid).
    assert "fit_budget" not in json.dumps(spec().run_id) and spec().run_id == spec(shards=1).run_id


def test_a_fit_budget_is_the_collective_stages_own(tiny_backbone, cache, tmp_path):
    method = Counting()
    record = run(spec(fit_budget=20), method, store=Store(tmp_path), progress=False, backbone=tiny_backbone)
    assert record["status"] == "ok" and record["budget_mode"] == "separate" and record["fit_budget_s"] == 20
    assert method.seen["fit"] == (20, 20)  # fit may take all of its own budget, whatever share it asks for
    budget, spent = method.seen["user"]
    assert budget == 60 and spent < 1  # the per-user stages start on a fresh clock of --budget
    assert record["budget_used_s"] < 1 and record["fit_budget_used_s"] >= 0
    assert "fit_reused" not in record and record["fit_path"].startswith(str(tmp_path / "fits"))
    saved = json.loads((tmp_path / "fits" / record["fit_path"].rsplit("/", 1)[1] / "fit.json").read_text())
    assert saved["run_id"] == record["run_id"] and saved["report"] == {"collective": {"train_users": 4}}


def test_a_fit_is_reused_across_budgets_and_seeds_and_recorded(tiny_backbone, cache, tmp_path):
    store = Store(tmp_path)
    Counting.fits = 0
    first = run(spec(fit_budget=20), Counting(), store=store, progress=False, backbone=tiny_backbone)
    again = Counting()
    other = run(spec(fit_budget=20, budget=120, seed=3), again, store=store, progress=False, backbone=tiny_backbone)
    assert Counting.fits == 1 and again.value == 4  # loaded, not fitted again
    assert other["fit_reused"]["run_id"] == first["run_id"] and other["fit_reused"]["seed"] == 0
    assert other["fit_s"] == first["fit_s"] and other["fit_reused"]["fit_s"] == first["fit_s"]  # its cost, shown
    assert other["budget_used_s"] < 1  # and charged to no budget of this run
    assert other["method_report"]["collective"] == {"train_users": 4}  # the stage's report comes with it
    # A different fit budget or training set is another collective stage.
    run(spec(fit_budget=30), Counting(), store=store, progress=False, backbone=tiny_backbone)
    run(spec(fit_budget=20, train_users=3), Counting(), store=store, progress=False, backbone=tiny_backbone)
    assert Counting.fits == 3 and len(list((tmp_path / "fits").iterdir())) == 3


def test_a_method_that_saves_nothing_fits_in_every_run(tiny_backbone, cache, tmp_path):
    store = Store(tmp_path)
    Counting.fits = 0
    for seed in (0, 1):
        record = run(spec(fit_budget=20, seed=seed), Counting(saves=False), store=store, progress=False,
                     backbone=tiny_backbone)  # fmt: skip
        assert "fit_reused" not in record and "fit_path" not in record
    assert Counting.fits == 2 and list(FitStore(tmp_path).root.iterdir()) == []


def test_perfit_reuses_its_stage1_and_answers_the_same(tiny_backbone, cache, tmp_path):
    store = Store(tmp_path)
    config = {"epochs1": 0.1, "epochs2": 0.1, "batch_size": 4, "max_target_tokens": 8, "stages": 1}
    cfg = PerFitConfig(**config)
    kw = {"method": "perfit", "method_config": config, "fit_budget": 60, "users": 2}
    first = run(spec(**kw), PerFit(cfg), store=store, progress=False, backbone=tiny_backbone)
    second = run(spec(**kw, budget=90), PerFit(cfg), store=store, progress=False, backbone=tiny_backbone)
    assert second["fit_reused"]["run_id"] == first["run_id"]
    assert second["collective_state_bytes"] == first["collective_state_bytes"] > 0
    answers = [json.loads((store.run_dir(r["run_id"]) / "predictions.json").read_text()) for r in (first, second)]
    assert answers[0] == answers[1]


def test_chameleon_reuses_its_group_directions(tiny_backbone, cache, tmp_path):
    from lampbench.methods.chameleon.config import ChameleonConfig
    from lampbench.methods.chameleon.method import Chameleon

    store = Store(tmp_path)
    config = {**FAST["chameleon"], "mode": "group", "group_size": 2}
    kw = {"method": "chameleon", "method_config": config, "fit_budget": 120, "users": 2, "train_users": 2}
    first = run(spec(**kw), Chameleon(ChameleonConfig(**config)), store=store, progress=False, backbone=tiny_backbone)
    second = run(spec(**kw, seed=1), Chameleon(ChameleonConfig(**config)), store=store, progress=False,
                 backbone=tiny_backbone)  # fmt: skip
    assert second["fit_reused"]["run_id"] == first["run_id"]
    assert second["collective_state_bytes"] == first["collective_state_bytes"]
    assert second["method_report"]["group"] == first["method_report"]["group"]


def test_a_bad_fit_budget_is_one_line():
    with pytest.raises(ConfigError, match="fit budget '0s': must be more than 0"):
        spec(fit_budget="0s")


def _bench(*args):
    from typer.testing import CliRunner

    from lampbench.harness.entrypoints.cli import app

    return CliRunner().invoke(app, list(args))


def test_bench_run_with_a_fit_budget_says_where_the_fit_came_from(cache, tmp_path):
    common = ["run", "--method", "lora-c", "--task", "lamp3", "--data", "synthetic", "--users", "2",
              "--train-users", "3", "--model", "tiny-random", "--set", "train.max_steps=1", "--quiet",
              "--out", str(tmp_path), "--fit-budget", "1m"]  # fmt: skip
    first = _bench(*common, "--budget", "30s")
    assert first.exit_code == 0, first.output
    assert "fit budget 1m: used" in first.output and "made by this run" in first.output
    second = _bench(*common, "--budget", "45s", "--seed", "1")
    assert second.exit_code == 0, second.output
    first_id = first.output.split(":")[0].strip()
    assert f"reused from {first_id}" in second.output


def test_bench_run_refuses_bad_budget_options_in_one_line(cache, tmp_path):
    base = ["run", "--method", "base", "--task", "lamp3", "--data", "synthetic", "--out", str(tmp_path)]
    for extra, message in ((["--fit-budget", "0s"], "fit budget '0s': must be more than 0 seconds"),
                           (["--shards", "2"], "--shards 2 needs --executor ray")):  # fmt: skip
        result = _bench(*base, *extra)
        assert result.exit_code == 2 and message in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
