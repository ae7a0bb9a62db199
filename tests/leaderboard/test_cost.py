"""Amortised cost (fit / N + per-user time) in the leaderboard and its plots; budget curves on either axis."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.harness.run.record import IndexLine, RunRecord
from lampbench.harness.run.store import Store, write_json
from lampbench.leaderboard.cost import break_even, cost_per_user, per_user_seconds, with_costs
from lampbench.leaderboard.table import leaderboard, load_runs

HARDWARE = {"label": "Fake CPU x1 cpu, no gpu"}


def _run(store: Store, method: str, budget: float, *, fit_s: float, personalize_s: float, mae: float,
         fit_budget: float | None = None, devices: int = 1, users: int = 4) -> None:  # fmt: skip
    fit = "" if fit_budget is None else f"-fit{int(fit_budget)}"
    run_id = f"lamp3-{method}-{int(budget)}s{fit}-d{devices}"
    record = RunRecord(
        run_id=run_id, method=method, task="lamp3", budget_s=budget, data="synthetic", split="dev", model="m",
        status="ok", metrics={"mae": mae, "rmse": mae}, users=users, queries=users, fit_s=fit_s,
        personalize_s=personalize_s, hardware=HARDWARE, dtype="float32", fit_budget_s=fit_budget,
        budget_mode="shares" if fit_budget is None else "separate", devices=devices,
    )  # fmt: skip
    store.run_dir(run_id).mkdir(parents=True)
    write_json(store.run_dir(run_id) / "run.json", record.to_json())
    store.add_to_index(IndexLine(record, {}))


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("runs"))
    _run(store, "lora-c", 60, fit_s=40, personalize_s=0.4, mae=0.8)  # a collective stage, cheap users
    _run(store, "lora-p", 60, fit_s=0, personalize_s=40, mae=0.7)  # no collective stage, costly users
    for fit_budget, mae in ((30, 0.75), (60, 0.7), (120, 0.65)):
        _run(store, "oppu", 60, fit_s=fit_budget, personalize_s=8, mae=mae, fit_budget=fit_budget)
    _run(store, "oppu", 120, fit_s=60, personalize_s=16, mae=0.6, fit_budget=60)
    _run(store, "oppu", 120, fit_s=60, personalize_s=16, mae=0.6, fit_budget=60, devices=2)
    return store.root


def test_cost_per_user_and_break_even():
    assert per_user_seconds(40, 4) == 10 and math.isnan(per_user_seconds(1, 0))
    assert cost_per_user(40, 0.1, 4) == pytest.approx(10.1) and cost_per_user(40, 0.1, 10_000) == pytest.approx(0.104)
    # 40 s of fit and 0.1 s a user against no fit and 10 s a user: the same at N = 40 / 9.9 users.
    assert break_even(40, 0.1, 0, 10) == pytest.approx(40 / 9.9)
    assert break_even(0, 1, 0, 1) is None and break_even(40, 2, 0, 1) is None  # dearer on both counts


def test_leaderboard_keys_rows_by_fit_budget_and_devices(out):
    board = with_costs(leaderboard(load_runs(out, task="lamp3")), 10_000)
    oppu = board[board["method"] == "oppu"]
    assert len(oppu) == 5 and sorted(oppu["devices"]) == [1, 1, 1, 1, 2]
    row = board[(board["method"] == "lora-c")].iloc[0]
    assert row["cost_per_user_s"] == pytest.approx(40 / 4 + 0.1)
    assert row["cost_per_user_s:10000"] == pytest.approx(40 / 10_000 + 0.1)


def test_bench_leaderboard_shows_amortised_cost_and_fit_budgets(out):
    result = CliRunner().invoke(app, ["leaderboard", "--out", str(out), "--amortise-over", "10000"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("method"))
    assert "cost/user" in header and "cost/user @10000" in header and "fit budget" in header
    assert "devices" in header  # 1 and 2 devices in one table: a column
    lora_c = next(line for line in result.output.splitlines() if line.startswith("lora-c"))
    assert "shares" in lora_c and "10.1s" in lora_c and "0.10s" in lora_c


def test_bench_plot_break_even_and_cost_per_user(out, tmp_path):
    result = CliRunner().invoke(app, ["plot", "break-even", "--task", "lamp3", "--out", str(out),
                                      "--to", str(tmp_path / "be.svg")])  # fmt: skip
    assert result.exit_code == 0, result.output
    svg = (tmp_path / "be.svg").read_text()
    assert "N=4" in svg and "users N sharing the collective stage" in svg  # lora-c vs lora-p cross at N = 4.04
    result = CliRunner().invoke(app, ["plot", "cost", "--task", "lamp3", "--cost", "per-user", "--amortise-over",
                                      "1000", "--out", str(out), "--to", str(tmp_path / "c.svg")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cost per user at 1,000 users" in (tmp_path / "c.svg").read_text()


def test_budget_curve_on_either_axis(out, tmp_path):
    for axis, label in (("fit-budget", "fit budget (the collective stage"), ("budget", "per-user budget")):
        to = tmp_path / f"{axis}.svg"
        result = CliRunner().invoke(app, ["plot", "budget-curve", "--task", "lamp3", "--axis", axis, "--out",
                                          str(out), "--to", str(to), "--no-gain"])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert label in to.read_text()


def test_a_fit_budget_curve_without_fit_budget_runs_is_one_line(tmp_path):
    store = Store(tmp_path)
    _run(store, "lora-p", 60, fit_s=0, personalize_s=4, mae=0.7)
    result = CliRunner().invoke(app, ["plot", "budget-curve", "--task", "lamp3", "--axis", "fit-budget", "--out",
                                      str(tmp_path)])  # fmt: skip
    assert result.exit_code == 2 and "run some with --fit-budget" in result.output
