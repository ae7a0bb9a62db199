"""`bench` as a user types it: one line on bad input, real runs end to end."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lampbench.harness.cli import app
from lampbench.tests.smollm2 import bench_run

runner = CliRunner()


def bench(*args: str):
    return runner.invoke(app, list(args))


def test_tasks_and_methods_list():
    assert "lamp2n" in bench("tasks").output and "alias lamp2m" in bench("tasks").output
    out = bench("methods").output
    assert "base" in out and "rag" in out and "lampbench" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "lamp33"], "unknown task 'lamp33'; did you mean lamp3"),
        (["--method", "rga"], "unknown method 'rga'; did you mean rag"),
        (["--budget", "twenty"], "budget 'twenty' is not a duration"),
        (["--set", "kk=3", "--method", "rag"], "unknown rag config key 'kk'; did you mean k"),
    ],
)
def test_bad_run_options_give_one_line(args, message, cache, tmp_path):
    base = {"--method": "base", "--task": "lamp3", "--data": "synthetic", "--model": "tiny-random"}
    argv = ["run", "--out", str(tmp_path)]
    for key, value in base.items():
        if key not in args:
            argv += [key, value]
    result = bench(*argv, *args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {message}" + result.output.strip().split(message, 1)[1]]


def test_missing_real_data_says_how_to_get_it(cache, tmp_path, monkeypatch):
    monkeypatch.setattr("lampbench.tasks.download.BASE_URL", "http://127.0.0.1:9")  # nothing listens: fails fast
    result = bench(
        "run", "--method", "base", "--task", "lamp2", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path)
    )
    assert result.exit_code == 2 and "bench data download lamp2" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_run_then_leaderboard_on_tiny_model(cache, tmp_path):
    out = str(tmp_path / "runs")
    common = ["--task", "lamp3", "--data", "synthetic", "--users", "3", "--model", "tiny-random", "--budget", "1m",
              "--out", out, "--quiet"]  # fmt: skip
    first = bench("run", "--method", "base", *common)
    assert first.exit_code == 0, first.output
    assert "lamp3-base-1m-s0-" in first.output and "mae=" in first.output
    assert bench("run", "--method", "rag", "--set", "k=2", *common).exit_code == 0
    assert "reused a finished run" in bench("run", "--method", "base", *common).output
    table = bench("leaderboard", "--out", out)
    assert table.exit_code == 0 and "rag" in table.output and "gain ↑" in table.output
    records = json.loads(bench("leaderboard", "--out", out, "--format", "json").output)
    assert {r["method"] for r in records} == {"base", "rag"}
    markdown = bench("leaderboard", "--out", out, "--format", "markdown").output
    assert markdown.startswith("**lamp3** · product rating · best seed")
    assert "\n| method | budget | seeds | mae ↓ | rmse ↓ | gain ↑ |" in markdown


def test_score_files(tmp_path):
    golds = tmp_path / "golds.json"
    preds = tmp_path / "preds.json"
    golds.write_text(json.dumps({"task": "LaMP_3", "golds": [{"id": "1", "output": "4"}, {"id": "2", "output": "2"}]}))
    preds.write_text(json.dumps({"task": "LaMP_3", "golds": [{"id": "2", "output": "3"}, {"id": "1", "output": "4"}]}))
    result = bench("score", "--task", "lamp3", str(golds), str(preds), "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["mae"] == pytest.approx(0.5)
    preds.write_text("<html>not found</html>")
    bad = bench("score", "--task", "lamp3", str(golds), str(preds))
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1 and "preds.json" in bad.output


@pytest.mark.slow
def test_end_to_end_with_the_real_smollm2(tmp_path):
    """`bench run` as a user types it, on the embedded SmolLM2 and a few synthetic users."""
    record, run_dir = bench_run(
        tmp_path / "runs", "--method", "rag", "--task", "lamp3", "--users", "4", "--budget", "2m"
    )
    assert record["status"] == "ok" and record["model"] == "smollm2" and record["queries"] == 4
    assert 0 <= record["metrics"]["mae"] <= 4
    lines = [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
    assert all(line["raw"] for line in lines)  # a real model says something


def test_a_list_value_in_run_set_is_a_value_not_a_grid(cache, tmp_path):
    out = tmp_path / "runs"
    args = ["--task", "lamp3", "--data", "synthetic", "--users", "1", "--model", "tiny-random", "--out", str(out)]
    result = bench("run", "--method", "rag", *args, "--quiet", "--set", "k=[1]")
    assert result.exit_code == 2 and "k=[1]: must be an integer" in result.output  # one value, type-checked
