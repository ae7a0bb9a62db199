"""The Python API (`import lampbench`): the same checks and the same records as `bench`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import lampbench
from lampbench.harness.run.method_config import ConfigError
from lampbench.methods.registry import UnknownMethod
from lampbench.tasks.specs import DataError, UnknownTask

TINY = {"data": "synthetic", "users": 2, "model": "tiny-random"}


def test_import_is_light():
    """`import lampbench` loads neither torch nor transformers (a notebook or a script starts at once)."""
    code = "import sys, lampbench; print(sorted(m for m in ('torch', 'transformers', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert lampbench.__version__ and callable(lampbench.run) and callable(lampbench.sweep)


def test_the_cli_module_is_light():
    """`bench --help` starts at once: importing the CLI loads neither torch, transformers nor pandas."""
    code = (
        "import sys, lampbench.harness.entrypoints.cli; "
        "print(sorted(m for m in ('torch', 'transformers', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_run_returns_the_record_the_cli_writes(cache, tmp_path):
    out = tmp_path / "runs"
    record = lampbench.run(method="rag", task="lamp3", budget="1m", out=out, config={"k": 2}, **TINY)
    assert record["status"] == "ok" and record["queries"] == 2
    run_dir = out / record["run_id"]
    assert json.loads((run_dir / "run.json").read_text()) == json.loads(json.dumps(record))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["method_config"]["k"] == 2 and config["users"] == 2 and config["dtype"] == "auto"
    again = lampbench.run(method="rag", task="lamp3", budget=60, out=out, config={"k": 2}, **TINY)
    assert again["reused"] and again["run_id"] == record["run_id"]  # "1m" and 60 seconds are one budget


def test_config_from_yaml_with_numbers_as_researchers_write_them(cache, tmp_path):
    path = tmp_path / "rag.yaml"
    path.write_text("k: 2e0\n")  # YAML 1.1 reads this as a string; the field's type makes it 2
    record = lampbench.run(method="rag", task="lamp3", budget="1m", out=tmp_path / "runs", config=path, **TINY)
    assert json.loads((tmp_path / "runs" / record["run_id"] / "config.json").read_text())["method_config"]["k"] == 2


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"method": "rga"}, UnknownMethod, "did you mean rag"),
        ({"task": "lamp33"}, UnknownTask, "did you mean lamp3"),
        ({"budget": "soon"}, ConfigError, "budget 'soon' is not a duration"),
        ({"config": {"kk": 1}}, ConfigError, "unknown rag config key 'kk'"),
        ({"dtype": "bf16"}, ConfigError, "run option dtype='bf16': must be one of auto, float32, bfloat16, float16"),
        ({"userz": 3}, ConfigError, "unknown run option 'userz'; did you mean users"),
        ({"users": 0}, ConfigError, "run option users=0: must be at least 1"),
        ({"budget": 0}, ConfigError, "budget 0: must be more than 0 seconds"),
        ({"budget": "-1m"}, ConfigError, "budget '-1m' is not a duration"),
        ({"seed": -1}, ConfigError, "run option seed=-1: must be at least 0"),
        ({"config": {"k": -1}}, ConfigError, "rag config: k must be >= 0"),
        ({"data": "lamp", "data_dir": "DATA"}, DataError, "dev_questions.json: not JSON: looks like an HTML page"),
    ],
)
def test_bad_input_raises_the_project_error_before_anything_is_created(kwargs, error, message, cache, tmp_path):
    split = tmp_path / "DATA" / "LaMP_3" / "dev"
    split.mkdir(parents=True)
    (split / "dev_questions.json").write_text("<html>Not Found</html>")
    (split / "dev_outputs.json").write_text('{"task": "LaMP_3", "golds": []}')
    args = {"method": "rag", "task": "lamp3", "budget": "1m", "out": tmp_path / "runs", **TINY, **kwargs}
    if args.get("data_dir") == "DATA":
        args["data_dir"] = str(tmp_path / "DATA")
    with pytest.raises(error, match=message):
        lampbench.run(**args)
    assert not (tmp_path / "runs").exists()
    assert issubclass(error, lampbench.user_errors()) and lampbench.user_errors() == (lampbench.UserError,)


def test_sweep_and_leaderboard(cache, tmp_path):
    out = tmp_path / "runs"
    records = lampbench.sweep(["base", "rag"], ["lamp3"], ["1m", "2m"], out=out, **TINY)
    assert len(records) == 4 and {r["status"] for r in records} == {"ok"}
    assert all(json.loads((out / r["run_id"] / "run.json").read_text())["status"] == "ok" for r in records)
    table = lampbench.leaderboard_table(out, task="lamp3")
    assert sorted(set(table["method"])) == ["base", "rag"] and len(table) == 4
    assert len(lampbench.leaderboard_table(out, budgets=["1m"])) == 2
    reused = lampbench.sweep(["base"], ["lamp3"], ["1m"], out=out, **TINY)
    assert reused[0]["reused"]


def test_leaderboard_table_is_a_function_beside_the_subpackage():
    """The API's leaderboard is a plain function with its own name; `lampbench.leaderboard` stays the subpackage."""
    import types

    import lampbench.leaderboard.table
    from lampbench.leaderboard import table

    assert isinstance(lampbench.leaderboard_table, types.FunctionType)
    assert isinstance(lampbench.leaderboard, types.ModuleType) and lampbench.leaderboard.table is table
    assert lampbench.leaderboard.__name__ == "lampbench.leaderboard" and type(lampbench.leaderboard) is types.ModuleType


def test_run_ids_of_earlier_results_stay_valid():
    """Options added later hash only when set, so a finished run of an earlier version is still reused."""
    import dataclasses
    import hashlib

    spec = lampbench.RunSpec(method="rag", task="lamp3", budget=120.0, method_config={"k": 1}, data="synthetic")
    earlier = (
        "method", "task", "budget", "method_config", "data", "split", "time_split", "data_dir", "users", "select",
        "seed", "max_profile", "train_users", "model", "embedder", "max_prompt_tokens", "batch_size",
    )  # fmt: skip
    blob = json.dumps({k: getattr(spec, k) for k in earlier}, sort_keys=True, default=str)
    assert spec.run_id == f"lamp3-rag-2m-s0-{hashlib.sha256(blob.encode()).hexdigest()[:10]}"
    assert dataclasses.replace(spec, dtype="bfloat16").run_id != spec.run_id
    assert dataclasses.replace(spec, chat_template=False).run_id != spec.run_id


def test_a_sweep_takes_seeds_not_seed(tmp_path):
    with pytest.raises(ConfigError, match="a sweep takes seeds"):
        lampbench.sweep(["base"], ["lamp3"], ["1m"], seed=3, out=tmp_path, **TINY)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"executor": "slurm"}, "executor='slurm': must be one of local, ray"),
        ({"cpus_per_run": 0}, "cpus_per_run=0: must be at least 1"),
        ({"budgets": ["1m", 0]}, "budget 0: must be more than 0 seconds"),
        ({"seeds": [-1]}, "seeds: seed -1: must be at least 0"),
        ({"sets": {"kk": 1}}, "--set kk: no method of this sweep has such a config key"),
        ({"userz": 1}, "unknown run option 'userz'; did you mean users"),
    ],
)
def test_sweep_options_are_sweepspec_fields(kwargs, message, tmp_path):
    """`lampbench.sweep` takes SweepSpec's fields and run options as keywords, checked as `bench sweep` checks them."""
    args = {"methods": ["base"], "tasks": ["lamp3"], "budgets": ["1m"], **TINY, **kwargs}
    with pytest.raises(ConfigError, match=message):
        lampbench.sweep(out=tmp_path / "runs", **args)
    assert not (tmp_path / "runs").exists()
