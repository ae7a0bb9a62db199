"""The leaderboard on fake results: aggregation, gain over base, coverage, status, filters, every format, the CLI."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.harness.run.store import Store
from lampbench.leaderboard.render import EMPTY, render
from lampbench.leaderboard.table import leaderboard, load_runs
from lampbench.tests.fake_results import add_run, write_results


@pytest.fixture(scope="module")
def runs(out):
    return load_runs(out)


def one(board: pd.DataFrame, **where) -> pd.Series:
    rows = board[(board[list(where)] == pd.Series(where)).all(axis=1)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_runs_are_read_with_errors_and_configs(runs):
    assert set(runs["status"]) == {"ok", "over_budget", "error"}
    failed = one(runs, status="error")
    assert failed["method"] == "dpo" and pd.isna(failed["score"])  # counted, never scored
    assert set(runs[runs["method"] == "rag"]["config"]) == {""}  # one config: nothing to tell apart
    sizes = runs[(runs["method"] == "chameleon") & (runs["task"] == "lamp3")]["config"]
    assert "group_size=25 history_k=10" in set(sizes)


def test_mean_over_seeds_with_std_and_gain(runs):
    board = leaderboard(runs, "mean")
    rag = one(board, task="lamp3", method="rag", budget_s=300.0)
    assert rag["metric:mae"] == pytest.approx(0.85) and rag["metric:mae:std"] == pytest.approx(0.01)
    assert rag["seeds"] == 3 and rag["status"] == "ok" and rag["coverage"] == 1.0
    assert rag["gain_over_base"] == pytest.approx(0.05)  # MAE fell by 0.05: a positive gain
    accuracy = one(board, task="lamp2", method="rag", budget_s=300.0)
    assert accuracy["gain_over_base"] == pytest.approx(0.05)  # accuracy rose by 0.05: also positive
    assert one(board, task="lamp3", method="base", budget_s=60.0)["gain_over_base"] == 0.0
    assert rag["adapt_s"] == pytest.approx(90.0) and rag["state_bytes_per_user"] == 4096.0


def test_best_takes_the_best_seeds_run(runs):
    board = leaderboard(runs, "best")
    rag = one(board, task="lamp3", method="rag", budget_s=300.0)
    assert rag["metric:mae"] == pytest.approx(0.84) and "metric:mae:std" not in board
    assert rag["run_ids"] == "lamp3-rag-300s-s0-k4"
    assert one(board, task="lamp2", method="rag", budget_s=300.0)["metric:accuracy"] == pytest.approx(0.36)


def test_rows_are_best_first_per_task_and_budget(runs):
    board = leaderboard(runs, "mean")
    lamp3 = board[(board["task"] == "lamp3") & (board["budget_s"] == 300.0)]
    assert list(lamp3["method"]) == ["chameleon", "rag", "base"]  # lowest MAE first
    lamp2 = board[(board["task"] == "lamp2") & (board["budget_s"] == 60.0)]
    assert list(lamp2["method"]) == ["chameleon", "rag", "base"]  # highest accuracy first


def test_coverage_status_and_config_variants(runs):
    board = leaderboard(runs, "mean")
    assert one(board, task="lamp3", method="chameleon", budget_s=60.0)["coverage"] == pytest.approx(0.2)
    dpo = one(board, task="lamp2", method="dpo")
    assert dpo["status"] == "1 over_budget, 1 error" and dpo["seeds"] == 1 and pd.isna(dpo["coverage"])
    variants = board[(board["task"] == "lamp3") & (board["method"] == "chameleon") & (board["budget_s"] == 600.0)]
    assert len(variants) == 5  # a config grid is never folded into one row


def test_gain_uses_the_nearest_budget_when_base_has_none(tmp_path):
    store = Store(tmp_path)
    add_run(store, task="lamp3", method="base", budget=60.0, seed=0, metrics={"mae": 1.0, "rmse": 1.5})
    add_run(store, task="lamp3", method="base", budget=3600.0, seed=0, metrics={"mae": 2.0, "rmse": 2.5})
    add_run(store, task="lamp3", method="rag", budget=300.0, seed=0, metrics={"mae": 0.75, "rmse": 1.0})
    rag = one(leaderboard(load_runs(tmp_path)), method="rag")
    assert rag["gain_over_base"] == pytest.approx(0.25)


def test_filters(out):
    assert set(load_runs(out, task="lamp2m")["task"]) == {"lamp2"}  # an alias works
    assert set(load_runs(out, budgets=[300.0, 600.0])["budget_s"]) == {300.0, 600.0}
    assert load_runs(out, task="lamp5").empty


def test_markdown_pastes_into_a_paper(runs):
    text = render(leaderboard(load_runs_lamp3(runs), "mean"), "markdown", aggregate="mean")
    lines = text.splitlines()
    assert lines[0].startswith("**lamp3** · product rating · mean ± std over seeds · data synthetic")
    assert "hardware Fake CPU x1 cpu, no gpu · dtype float32" in lines[0]  # one machine: in the heading
    head = "| method | config | budget | seeds | mae ↓ | rmse ↓ | mae official ↓ | rmse official ↓ | gain ↑ | adapt |"
    assert lines[2].startswith(head)
    assert lines[3].startswith("|---|---|---:|---:|---:|")
    rag = next(line for line in lines if line.startswith("| rag |  | 5m |"))
    assert "| 0.850 ± 0.010 [0." in rag and "| +0.050 [-0.040, +0.140] |" in rag
    assert "| 4.0 KiB |" in rag and "| 100% | 6/1/1 | ok |" in rag
    assert lines[-1].startswith("_↓ lower is better")


def load_runs_lamp3(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["task"] == "lamp3"]


def test_table_csv_and_json(runs):
    board = leaderboard(runs, "best")
    table = render(board, "table")
    assert "lamp2 · movie tagging" in table and "lamp3 · product rating" in table and "accuracy ↑" in table
    assert "1 over_budget, 1 error" in table
    frame = pd.read_csv(io.StringIO(render(board, "csv")))
    assert len(frame) == len(board) and "metric:mae" in frame and "gain_over_base" in frame
    records = json.loads(render(board, "json"))
    assert {"coverage", "parameters_per_user", "predict_s_per_query", "status"} <= set(records[0])
    with pytest.raises(ValueError, match="--format must be one of"):
        render(board, "html")
    assert render(leaderboard(pd.DataFrame()), "markdown") == EMPTY


def test_cli(out):
    runner = CliRunner()
    args = ["leaderboard", "--out", str(out), "--task", "lamp3", "--budget", "5m,10m", "--aggregate", "mean"]
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert {r["budget_s"] for r in records} == {300.0, 600.0} and {r["task"] for r in records} == {"lamp3"}
    bad = runner.invoke(app, ["leaderboard", "--out", str(out), "--aggregate", "median"])
    assert bad.exit_code == 2 and bad.output.strip().endswith(
        "Invalid value for '--aggregate': 'median' is not one of 'best', 'mean'."
    )  # checked by the command line (a Literal), before anything is read
    bad = runner.invoke(app, ["leaderboard", "--out", str(out), "--budget", "soon"])
    assert bad.exit_code == 2 and "budget 'soon' is not a duration" in bad.output


def test_console_shows_intervals_official_and_significant_gains(out):
    result = CliRunner().invoke(app, ["leaderboard", "--out", str(out), "--task", "lamp3", "--budget", "5m"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[2].split()[:7] == ["method", "budget", "seeds", "mae", "↓", "rmse", "↓"]
    assert "mae official ↓" in lines[2]
    rag = next(line for line in lines if line.startswith("rag "))
    # best seed (s0): MAE 0.84, official 0.5 worse, each with its 95% interval; the gain's paired interval
    # excludes 0 (rag's per-user errors move with base's), hence the star.
    assert "0.840 [0.699, 0.981]" in rag and "1.340 [1.199, 1.481]" in rag and "+0.050 [+0.010, +0.090]*" in rag
    base = next(line for line in lines if line.startswith("base "))
    assert "+0.000 " in base and "*" not in base  # base against itself: no interval, no star
    assert "read e/x/u" in lines[2] and " 6/1/1 " in rag and " 6/2/0 " in base  # how the answers were read
    legend = " ".join(lines[next(i for i, x in enumerate(lines) if x.startswith("↓ lower is better")) :])  # wrapped
    assert "95% interval, bootstrap over users" in legend and "* it excludes 0" in legend


def test_mean_pools_seeds_per_user_and_json_keeps_the_numbers(runs):
    board = leaderboard(runs, "mean")
    rag = one(board, task="lamp3", method="rag", budget_s=300.0)
    assert rag["metric:mae:low"] < rag["metric:mae"] < rag["metric:mae:high"]
    assert rag["official:mae"] == pytest.approx(1.35) and rag["official:mae:std"] == pytest.approx(0.01)
    single = leaderboard(runs, "best")
    narrower = one(single, task="lamp3", method="rag", budget_s=300.0)
    assert rag["metric:mae:high"] - rag["metric:mae:low"] < narrower["metric:mae:high"] - narrower["metric:mae:low"]
    records = json.loads(render(board, "json"))
    keys = {"metric:mae:low", "official:mae:high", "gain_ci_low", "gain_significant", "hardware", "dtype"}
    assert keys <= set(records[0])
    lamp2 = one(board, task="lamp2", method="rag", budget_s=300.0)  # runs without per-user outcomes: no interval
    assert "official:accuracy" not in board or pd.isna(lamp2["official:accuracy"])
    assert pd.isna(lamp2["gain_ci_low"]) and lamp2["gain_over_base"] == pytest.approx(0.05)


def test_hardware_and_dtype_keep_rows_apart(tmp_path):
    from lampbench.tests.fake_results import rating_run

    store = Store(tmp_path)
    h100 = {"label": "Intel Xeon x2 cpu, NVIDIA H100 x1", "cpu": "Xeon"}
    for hardware, dtype, mae in ((None, None, 0.9), (h100, "bfloat16", 0.7), (h100, "float32", 0.8)):
        for method, lift in (("base", 0.0), ("rag", 0.1)):
            metrics, outcomes = rating_run(mae - lift)
            add_run(store, task="lamp3", method=method, budget=60.0, seed=0, metrics=metrics, outcomes=outcomes,
                    hardware=hardware, dtype=dtype)  # fmt: skip
    board = leaderboard(load_runs(tmp_path))
    assert len(board) == 6 and set(board["hardware"]) == {"unknown", h100["label"]}
    assert set(board["dtype"]) == {"unknown", "bfloat16", "float32"}
    assert set(board[board["method"] == "rag"]["gain_over_base"].round(6)) == {0.1}  # each against its own base
    text = render(board, "table")
    assert text.splitlines()[2].split()[:3] == ["method", "hardware", "dtype"]  # several machines: columns
    runner = CliRunner()
    only = runner.invoke(app, ["leaderboard", "--out", str(tmp_path), "--hardware", "h100", "--format", "json"])
    assert only.exit_code == 0, only.output
    assert {r["hardware"] for r in json.loads(only.output)} == {h100["label"]}


def test_a_gain_over_other_users_says_so(tmp_path):
    from lampbench.tests.fake_results import rating_run

    store = Store(tmp_path)
    metrics, outcomes = rating_run(0.9)
    add_run(store, task="lamp3", method="base", budget=60.0, seed=0, metrics=metrics, outcomes=outcomes)
    metrics, outcomes = rating_run(0.5)
    outcomes["someone else"] = outcomes.pop("u0")
    add_run(store, task="lamp3", method="rag", budget=60.0, seed=0, metrics=metrics, outcomes=outcomes)
    rag = one(leaderboard(load_runs(tmp_path)), method="rag")
    assert rag["gain_users_differ"] and rag["gain_shared_users"] == 3
    assert "†" in render(leaderboard(load_runs(tmp_path)), "table")


def test_the_runs_table_comes_from_the_index_alone(tmp_path):
    """An indexed run's folder is not opened for its config or coverage: the index line carries them."""
    write_results(tmp_path)
    before = load_runs(tmp_path, config_keys=["group_size"])
    indexed = {line["run_id"] for line in Store(tmp_path).index()}
    for run_id in indexed:
        shutil.rmtree(tmp_path / run_id)
    after = load_runs(tmp_path, config_keys=["group_size"])
    pd.testing.assert_frame_equal(after, before)


def test_old_index_lines_without_config_and_report_read_the_run_folder(tmp_path):
    """An index written before it carried the method config and report: both come from the run's folder."""
    write_results(tmp_path)
    before = load_runs(tmp_path)
    index = tmp_path / "index.jsonl"
    lines = [json.loads(line) for line in index.read_text().splitlines()]
    assert all(line["method_config"] is not None and "per_user" not in line for line in lines)
    index.write_text("".join(json.dumps({k: v for k, v in line.items() if k not in ("method_config", "method_report")})
                             + "\n" for line in lines))  # fmt: skip
    pd.testing.assert_frame_equal(load_runs(tmp_path), before)
    assert (before["coverage"] < 1).any()  # chameleon's reported coverage, read back either way


def test_the_leaderboard_modules_import_without_pandas_or_matplotlib():
    modules = "lampbench.leaderboard.table, lampbench.leaderboard.render, lampbench.leaderboard.site"
    code = (f"import sys, {modules}, lampbench.leaderboard.plots, lampbench.leaderboard.uncertainty; "
            "print([m for m in ('torch', 'transformers', 'pandas', 'matplotlib') if m in sys.modules])")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_personalization_gain_pairs_own_and_shuffled_runs_by_seed(tmp_path):
    """A method's runs with own histories against its runs with shuffled ones, at the same budget and seeds: the
    gain (positive = the own history helped; MAE, so sign flipped) with its paired interval over users."""
    from lampbench.tests.fake_results import rating_run

    store = Store(tmp_path)
    for seed, (own_mae, shuffled_mae) in enumerate([(0.5, 0.9), (0.6, 0.8)]):
        for profiles, mae in (("own", own_mae), ("shuffled", shuffled_mae)):
            metrics, outcomes = rating_run(mae, phase=seed)
            add_run(store, task="lamp3", method="rag", budget=60.0, seed=seed, metrics=metrics, outcomes=outcomes,
                    profiles=profiles)  # fmt: skip
        metrics, outcomes = rating_run(1.0, phase=seed)
        add_run(store, task="lamp3", method="base", budget=60.0, seed=seed, metrics=metrics, outcomes=outcomes)
    runs = load_runs(tmp_path)
    own = runs[(runs["method"] == "rag") & (runs["profiles"] == "own")].sort_values("seed")
    assert list(own["personal_gain"]) == pytest.approx([0.4, 0.2])
    board = leaderboard(runs, "mean")
    rag = one(board, method="rag", profiles="own")
    assert rag["personal_gain"] == pytest.approx(0.3)
    assert rag["personal_ci_low"] <= 0.3 <= rag["personal_ci_high"] and rag["personal_shared_users"] == 4
    assert rag["personal_significant"] and not rag["personal_users_differ"]
    shuffled = one(board, method="rag", profiles="shuffled")
    assert pd.isna(shuffled["personal_gain"]) and shuffled["gain_over_base"] == pytest.approx(0.15)
    best = one(leaderboard(runs, "best"), method="rag", profiles="own")
    assert best["personal_gain"] == pytest.approx(0.4)  # the best seed's own run against its own seed's control
    text = render(board, "table", aggregate="mean")
    header = text.splitlines()[2]
    assert "personal ↑" in header and "profiles" in header
    line = next(x for x in text.splitlines() if x.startswith("rag") and " own " in x)
    assert "+0.300 [" in line and "]*" in line


def test_without_controls_there_is_no_personal_column(runs):
    board = leaderboard(runs)
    assert board["personal_gain"].isna().all()
    assert "personal ↑" not in render(board, "table")
    assert "profiles own" in render(board, "table").splitlines()[0]  # what is the same on every row: the heading
