"""`bench` as a user types it: one line on bad input, real runs end to end."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.methods.baseline.method import Base
from lampbench.tasks.errors import ConfigError
from lampbench.tests.smollm2 import bench_run

runner = CliRunner()


def bench(*args: str):
    return runner.invoke(app, list(args), prog_name="bench", env={"COLUMNS": "300"})


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
    assert "\n| method | budget | seeds | mae ↓ | rmse ↓ |" in markdown and "| gain ↑ |" in markdown


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


# --- bad input ends cleanly, before anything loads (one line on stderr, exit 2, no run folder) ---

PROFILE = [{"id": "p", "text": "ok", "score": "4"}]
GOOD_Q = [{"id": "1", "input": "What is the score of this review: fine", "profile": PROFILE}]
GOOD_O = {"task": "LaMP_3", "golds": [{"id": "1", "output": "5"}]}


@pytest.mark.parametrize(
    "questions, outputs, message",
    [
        ("not json", GOOD_O, "dev_questions.json: not valid JSON"),
        ("<html>Not Found</html>", GOOD_O, "dev_questions.json: not JSON: looks like an HTML page"),
        ("", GOOD_O, "dev_questions.json: not JSON: the file is empty"),
        ({"id": "1"}, GOOD_O, "dev_questions.json: expected a JSON list of questions"),
        ([{"id": "1", "profile": PROFILE}], GOOD_O, "entry 0 (id '1'): missing field 'input'"),
        ([GOOD_Q[0], GOOD_Q[0]], GOOD_O, "entry 1 (id '1'): duplicate id"),
        ([{**GOOD_Q[0], "profile": ["text"]}], GOOD_O, "entry 0 (id '1'): profile item 0 must be an object"),
        ([{**GOOD_Q[0], "input": 3}], GOOD_O, "entry 0 (id '1'): field 'input' must be a string"),
        ([{**GOOD_Q[0], "profile": [{"id": "p"}]}], GOOD_O, "entry 0 (id '1'): profile item 0"),
        (b'[{"id": "\xff"}]', GOOD_O, "dev_questions.json: not valid JSON (not UTF-8"),
        (GOOD_Q, {"golds": "x"}, 'dev_outputs.json: "golds" is a JSON string, expected a list'),
        (GOOD_Q, {"task": "LaMP_3", "golds": [{"id": "2", "output": "5"}]}, "dev_outputs.json: ids do not match"),
    ],
)
def test_malformed_lamp_files_end_in_one_line_and_no_run_folder(questions, outputs, message, tmp_path):
    split = tmp_path / "data" / "LaMP_3" / "dev"
    split.mkdir(parents=True)
    for name, content in (("dev_questions.json", questions), ("dev_outputs.json", outputs)):
        if isinstance(content, bytes):
            (split / name).write_bytes(content)
        else:
            (split / name).write_text(content if isinstance(content, str) else json.dumps(content))
    out = tmp_path / "runs"
    result = bench("run", "--method", "base", "--task", "lamp3", "--data-dir", str(tmp_path / "data"),
                   "--model", "tiny-random", "--out", str(out))  # fmt: skip
    assert result.exit_code == 2
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.output
    assert result.stderr.startswith(f"error: {split}") and message in result.stderr
    assert not out.exists()  # no run folder, no index: the leaderboard never sees it


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "foo"], "error: bench run: Invalid value for '--data': 'foo' is not one of 'lamp', 'synthetic'."),
        (["--split", "val"], "Invalid value for '--split'"),
        (["--select", "best"], "Invalid value for '--select'"),
        (["--dtype", "bf16"], "'bf16' is not one of 'auto', 'float32', 'bfloat16', 'float16'"),
        (["--attn", "flash"], "Invalid value for '--attn'"),
        (["--users", "0"], "Invalid value for '--users'"),
        (["--no-such-option"], "No such option"),
    ],
)
def test_choices_are_checked_by_the_command_line(args, message, tmp_path):
    result = bench("run", "--method", "base", "--task", "lamp3", "--out", str(tmp_path / "runs"), *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--budget", "0"], "error: budget '0': must be more than 0 seconds"),
        (["--budget", "0s"], "error: budget '0s': must be more than 0 seconds"),
        (["--budget", "-1m"], "error: budget '-1m' is not a duration"),
        (["--users", "-1"], "Invalid value for '--users'"),
        (["--train-users", "-1"], "Invalid value for '--train-users'"),
        (["--batch-size", "0"], "Invalid value for '--batch-size'"),
        (["--max-prompt-tokens", "8"], "Invalid value for '--max-prompt-tokens'"),
        (["--max-profile", "0"], "Invalid value for '--max-profile'"),
        (["--seed", "-1"], "Invalid value for '--seed'"),
        (["--method", "rag", "--set", "k=-1"], "error: rag config: k must be >= 0"),  # the config's own check
    ],
)
def test_impossible_values_stop_before_anything_loads(args, message, tmp_path):
    """Bounds declared once on RunSpec's fields: one line, exit 2, no run folder."""
    result = bench("run", "--method", "base", "--task", "lamp3", "--data", "synthetic", "--model", "tiny-random",
                   "--out", str(tmp_path / "runs"), *args)  # fmt: skip
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--budgets", "1m,0"], "error: budget '0': must be more than 0 seconds"),
        (["--seeds", "0,-1"], "error: seeds: seed -1: must be at least 0"),
        (["--seeds", "0,x"], "error: seeds='x': must be an integer"),
        (["--cpus-per-run", "0"], "Invalid value for '--cpus-per-run'"),
        (["--users", "0"], "Invalid value for '--users'"),
    ],
)
def test_impossible_sweep_values_stop_before_any_run(args, message, tmp_path):
    result = bench("sweep", "--methods", "base", "--task", "lamp3", "--budgets", "1m", "--data", "synthetic",
                   "--model", "tiny-random", "--out", str(tmp_path / "runs"), *args)  # fmt: skip
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "runs").exists()


@dataclass(frozen=True)
class PickyConfig:
    """A config whose own validation rejects a value: bad input, wherever it is raised."""

    width: int = 1
    bug: bool = False

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ConfigError(f"width must be at least 1, got {self.width}")
        if self.bug:
            raise ValueError("a bug in the config's check, not bad input")


class Picky(Base):
    Config = PickyConfig


def test_a_config_that_rejects_its_value_is_one_line_and_a_bug_in_it_is_internal(tmp_path):
    args = ["run", "--method", "lampbench.tests.e2e.test_cli:Picky", "--task", "lamp3", "--data", "synthetic",
            "--model", "tiny-random", "--out", str(tmp_path / "runs")]  # fmt: skip
    rejected = bench(*args, "--set", "width=0")
    assert rejected.exit_code == 2 and rejected.stdout == "" and not (tmp_path / "runs").exists()
    assert rejected.stderr == "error: lampbench.tests.e2e.test_cli:Picky config: width must be at least 1, got 0\n"
    bug = bench(*args, "--set", "bug=true")
    assert bug.exit_code == 1 and bug.stderr.startswith("internal error: ValueError: a bug in the config's check")
    assert not (tmp_path / "runs").exists()


def test_help_lists_the_choices_and_model_options():
    text = " ".join(bench("run", "--help").output.split())
    for expected in ("lamp|synthetic", "dev|train|test", "most-active|random", "auto|float32|bfloat16|float16",
                     "sdpa|eager|flash_attention_2", "--no-chat-template", "--trust-remote-code", "--revision",
                     "--device", "--patch-known-defects"):  # fmt: skip
        assert expected in text.replace("│ ", ""), expected
    assert "local|ray" in bench("sweep", "--help").output and "--cpus-per-run" in bench("sweep", "--help").output


def test_verbose_is_an_option_of_every_command():
    for args in (["run"], ["sweep"], ["regress"], ["data", "info"], ["plot", "cost"], ["leaderboard"], ["score"]):
        assert "--verbose" in bench(*args, "--help").output, args


def test_the_leaderboard_commands_share_the_error_policy(monkeypatch, tmp_path):
    """A project error is one line and exit 2; a bare ValueError from the leaderboard is a bug, not bad input."""
    from lampbench.harness.entrypoints import console

    monkeypatch.setattr(console, "TRACEBACK_FILE", tmp_path / "traceback.txt")
    unknown = bench("leaderboard", "--task", "lamp33", "--out", str(tmp_path))
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: unknown task 'lamp33'")

    def bug(*args, **kwargs):
        raise ValueError("a bug in the table")

    monkeypatch.setattr("lampbench.harness.entrypoints.leaderboard_cli.load_runs", bug)
    result = bench("leaderboard", "--out", str(tmp_path))
    assert result.exit_code == 1 and result.stderr.startswith("internal error: ValueError: a bug in the table")


def test_version():
    from importlib.metadata import version

    result = bench("--version")
    assert result.exit_code == 0 and result.output == f"bench (lampbench) {version('lampbench')}\n"


# --- internal errors are not dressed as user errors ---


def test_a_bug_before_the_run_says_internal_error_and_where_the_traceback_is(monkeypatch, tmp_path):
    from lampbench.harness.entrypoints import console as cli_base

    def bug(*args, **kwargs):
        raise ValueError("a bug, not bad input")  # a bare ValueError is no longer a user error

    monkeypatch.setattr("lampbench.harness.entrypoints.python_api.run", bug)
    monkeypatch.setattr(cli_base, "TRACEBACK_FILE", tmp_path / "traceback.txt")
    result = bench("run", "--method", "base", "--task", "lamp3")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        f"internal error: ValueError: a bug, not bad input (traceback in {tmp_path / 'traceback.txt'}; "
        "bench --verbose prints it)\n"
    )
    assert "Traceback (most recent call last)" in (tmp_path / "traceback.txt").read_text()
    for verbose in (bench("--verbose", "run", "--method", "base", "--task", "lamp3"),
                    bench("run", "--method", "base", "--task", "lamp3", "--verbose")):  # fmt: skip
        assert verbose.exit_code == 1 and "Traceback (most recent call last)" in verbose.stderr
        assert verbose.stderr.splitlines()[-1] == "internal error: ValueError: a bug, not bad input (traceback above)"


class Crash(Base):
    """Fails in personalize: a bug inside a run."""

    def personalize(self, ctx, user):
        raise KeyError("no such thing")


def test_a_bug_inside_a_run_points_at_its_log(cache, tmp_path):
    out = tmp_path / "runs"
    args = ["run", "--method", "lampbench.tests.e2e.test_cli:Crash", "--task", "lamp3", "--data", "synthetic",
            "--users", "1", "--model", "tiny-random", "--out", str(out), "--quiet"]  # fmt: skip
    result = bench(*args)
    assert result.exit_code == 1
    (run_dir,) = out.glob("lamp3-*")
    assert result.stderr == f"internal error: KeyError: 'no such thing' (traceback in {run_dir / 'log.txt'})\n"
    assert "Traceback" in (run_dir / "log.txt").read_text()
    verbose = bench("--verbose", *args)
    assert verbose.exit_code == 1 and "Traceback (most recent call last)" in verbose.stderr


def test_ctrl_c_exits_130(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("lampbench.harness.entrypoints.python_api.run", interrupted)
    result = bench("run", "--method", "base", "--task", "lamp3")
    assert result.exit_code == 130 and result.stderr == "interrupted\n"


# --- options declared once: recorded in config.json, the command line wins over a sweep file ---


def test_model_options_are_recorded_in_config_json(cache, tmp_path):
    out = tmp_path / "runs"
    result = bench("run", "--method", "base", "--task", "lamp3", "--data", "synthetic", "--users", "1",
                   "--model", "tiny-random", "--out", str(out), "--quiet", "--device", "cpu", "--dtype", "float32",
                   "--no-chat-template", "--attn", "eager", "--revision", "main")  # fmt: skip
    assert result.exit_code == 0, result.output
    (config,) = [json.loads(p.read_text()) for p in out.glob("*/config.json")]
    assert config["device"] == "cpu" and config["dtype"] == "float32" and config["chat_template"] is False
    assert config["attn"] == "eager" and config["revision"] == "main" and config["trust_remote_code"] is False
    assert config["patch_known_defects"] is False


def test_a_typed_flag_wins_over_the_sweep_file_even_at_its_default_value(cache, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "methods: [base]\ntasks: [lamp3]\nbudgets: [1m]\n"
        "run: {data: synthetic, users: 2, model: tiny-random, select: random, max_prompt_tokens: 256}\n"
    )
    out = tmp_path / "runs"
    result = bench("sweep", "--config", str(plan), "--out", str(out), "--select", "most-active", "--users", "1")
    assert result.exit_code == 0, result.output
    (config,) = [json.loads(p.read_text()) for p in out.glob("*/config.json")]
    assert config["select"] == "most-active" and config["users"] == 1  # typed, though most-active is the default
    assert config["max_prompt_tokens"] == 256  # from the file: not typed


def test_a_bad_value_in_a_sweep_file_is_one_line(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("methods: [base]\ntasks: [lamp3]\nbudgets: [1m]\nrun: {dtype: bf16}\n")
    result = bench("sweep", "--config", str(plan), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert f"{plan}: run option dtype='bf16': must be one of auto, float32, bfloat16, float16" in result.stderr


# --- what a method and a task are ---


def test_methods_name_shows_description_and_config_fields():
    result = bench("methods", "rag")
    assert result.exit_code == 0
    assert result.output.startswith("rag  (lampbench.methods.rag:Rag, from lampbench)\n")
    assert "\nconfig (RagConfig; set with --set key=value or --config file.yaml):\n" in result.output
    assert "\n  k " in result.output and " int " in result.output  # name, type, default and help per field
    assert bench("methods", "rga").stderr == "error: unknown method 'rga'; did you mean rag?\n"


def test_tasks_name_shows_labels_metrics_prompt_and_length():
    out = bench("tasks", "lamp2").output
    assert "labels: sci-fi, based on a book, comedy" in out and "metrics: accuracy (headline), f1" in out
    assert "generation: at most 12 new tokens" in out and "\n  <items>. <task input>\n" in out
    assert 'one per retrieved item: the tag for the movie: "{description}" is "{tag}"' in out
    assert bench("tasks", "lamp33").exit_code == 2


@pytest.mark.parametrize(
    "args, option",
    [
        (["leaderboard", "--format", "xml"], "--format"),
        (["leaderboard", "--aggregate", "worst"], "--aggregate"),
        (["plot", "budget-curve", "--task", "lamp3", "--band", "none"], "--band"),
        (["plot", "cost", "--task", "lamp3", "--cost", "money"], "--cost"),
        (["sweep", "--executor", "slurm"], "--executor"),
    ],
)
def test_result_commands_check_their_choices(args, option, tmp_path):
    result = bench(*args, "--out", str(tmp_path))
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert f"Invalid value for '{option}'" in result.stderr


def test_a_failed_run_is_one_line_on_the_real_console(cache, tmp_path):
    """Through the installed `bench`: the runner logs the traceback to log.txt only, the console gets one line."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    bench_exe = Path(sys.executable).with_name("bench")
    args = [str(bench_exe), "run", "--method", "lampbench.tests.e2e.test_cli:Crash", "--task", "lamp3", "--quiet",
            "--data", "synthetic", "--users", "1", "--model", "tiny-random", "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "LAMPBENCH_CACHE": str(cache)})
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("internal error: KeyError: 'no such thing' (traceback in ") and line.endswith("log.txt)")


def test_data_download_checks_its_split():
    result = bench("data", "download", "lamp3", "--split", "val")
    assert result.exit_code == 2 and "Invalid value for '--split'" in result.stderr


class BadInit(Base):
    """Fails before its run folder exists (in its constructor)."""

    def __init__(self, config):
        raise RuntimeError("bad init")


def test_a_sweep_run_that_fails_before_its_folder_says_so(cache, tmp_path):
    args = ["sweep", "--methods", "lampbench.tests.e2e.test_cli:BadInit,base", "--task", "lamp3", "--budgets", "1m",
            "--data", "synthetic", "--users", "1", "--model", "tiny-random", "--out", str(tmp_path)]  # fmt: skip
    result = bench(*args)
    assert result.exit_code == 1 and "summary: 1 ok, 0 over_budget, 1 error, 0 reused" in result.stdout
    assert result.stderr == (
        "internal error: RuntimeError: bad init (it failed before its run folder existed; "
        "bench --verbose shows the traceback)\n"
    )
    for verbose in (bench("--verbose", *args), bench(*args, "-v")):
        assert verbose.exit_code == 1 and 'raise RuntimeError("bad init")' in verbose.stderr


@pytest.mark.parametrize(
    "text, problem",
    [
        ("kk: 2\n", "unknown rag config key 'kk'; did you mean k?"),
        ("k: many\n", "k='many': must be an integer"),
        ("k: [1\n", "not valid YAML"),
        ("- k\n", "expected a mapping of config keys, got list"),
    ],
)
def test_a_bad_method_config_file_is_named_in_one_line(text, problem, tmp_path):
    path = tmp_path / "rag.yaml"
    path.write_text(text)
    result = bench("run", "--method", "rag", "--task", "lamp3", "--config", str(path), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {path}: ") and problem in result.stderr
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "r").exists()


def test_set_wins_over_the_config_file(cache, tmp_path):
    path = tmp_path / "rag.yaml"
    path.write_text("k: 1\nretriever: recency\n")
    out = tmp_path / "runs"
    result = bench("run", "--method", "rag", "--task", "lamp3", "--config", str(path), "--set", "k=2", "--data",
                   "synthetic", "--users", "1", "--model", "tiny-random", "--out", str(out), "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    (config,) = [json.loads(p.read_text()) for p in out.glob("*/config.json")]
    assert config["method_config"]["k"] == 2 and config["method_config"]["retriever"] == "recency"


@pytest.mark.parametrize(
    "section, problem",
    [
        ("set: {rag: {kk: [1, 2]}}", "set: unknown rag config key 'kk'; did you mean k?"),
        ("set: {rag: {k: [1, many]}}", "set: k='many': must be an integer"),
        ("set: [rag]", "set: expected a mapping of method -> config keys"),
    ],
)
def test_a_bad_set_section_of_a_sweep_file_is_named(section, problem, tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"methods: [base, rag]\ntasks: [lamp3]\nbudgets: [1m]\n{section}\n")
    result = bench("sweep", "--config", str(plan), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2 and result.stderr == f"error: {plan}: {problem}" + result.stderr.split(problem)[1]
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "runs").exists()


def test_synthetic_time_split_has_what_real_files_have(cache, tmp_path):
    """`--time-split` on synthetic data writes real files' quirks (user_id, LaMP's dates, a defective entry) and
    the run reads them: it finishes, and the files it read are the quirky ones."""
    result = bench(
        "run", "--method", "base", "--task", "lamp2", "--data", "synthetic", "--time-split", "--model",
        "tiny-random", "--users", "3", "--budget", "5s", "--quiet", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("*/run.json")]
    assert record["status"] == "ok"
    (questions,) = [f["path"] for f in record["data_files"] if "questions" in f["path"]]
    entries = json.loads(open(questions, encoding="utf-8").read())
    assert all("user_id" in entry for entry in entries)
