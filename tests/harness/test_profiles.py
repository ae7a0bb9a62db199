"""Profile controls (`--profiles own|shuffled|none`): what each user gets, for every method, and what a user sees."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app
from lampbench.harness.run.inputs import load_eval_and_train
from lampbench.harness.run.method_config import build_config
from lampbench.harness.run.profiles import derangement, with_profiles
from lampbench.harness.run.record import RunRecord
from lampbench.harness.run.runner import RunSpec, run
from lampbench.harness.run.store import Store
from lampbench.methods.registry import METHODS
from lampbench.tasks.errors import DataError
from lampbench.tasks.specs import User, get_task
from lampbench.tests.methods.fast import FAST


@pytest.mark.parametrize("n", [2, 3, 10, 57])
def test_a_derangement_moves_everyone_and_is_seeded(n):
    order = derangement(n, seed=3)
    assert sorted(order) == list(range(n)) and all(order[i] != i for i in range(n))
    assert derangement(n, seed=3) == order
    assert n == 2 or any(derangement(n, seed=s) != order for s in range(4, 8))


def test_one_user_cannot_be_shuffled():
    with pytest.raises(DataError, match="--profiles shuffled needs at least 2 users"):
        derangement(1, seed=0)


def _users(n: int) -> list[User]:
    return [User(f"u{i}", ({"id": f"p{i}", "text": f"history of {i}"},), ()) for i in range(n)]


def test_shuffled_gives_every_user_another_users_history_each_used_once():
    users = _users(6)
    shuffled = with_profiles(users, "shuffled", seed=0)
    assert [(u.id, u.queries) for u in shuffled] == [(u.id, u.queries) for u in users]
    assert all(s.profile != u.profile for s, u in zip(shuffled, users, strict=True))
    assert sorted(s.profile[0]["id"] for s in shuffled) == sorted(u.profile[0]["id"] for u in users)
    training = with_profiles(users, "shuffled", seed=0, training=True)
    assert all(t.profile != u.profile for t, u in zip(training, users, strict=True))


def test_none_empties_evaluation_histories_and_keeps_training_ones():
    users = _users(3)
    assert [u.profile for u in with_profiles(users, "none", seed=0)] == [(), (), ()]
    assert with_profiles(users, "none", seed=0, training=True) == users
    assert with_profiles(users, "own", seed=0) == users


def spec(**kw) -> RunSpec:
    values = {"method": "rag", "task": "lamp2", "budget": 60, "data": "synthetic", "users": 4, "model": "tiny-random"}
    return RunSpec(**{**values, **kw})


def test_the_run_loads_the_users_the_control_says(cache):
    task = get_task("lamp2")
    own = load_eval_and_train(spec(), task, with_train=True)
    shuffled = load_eval_and_train(spec(profiles="shuffled"), task, with_train=True)
    assert [u.id for u in shuffled.users] == [u.id for u in own.users]  # the same users and queries
    assert [u.queries for u in shuffled.users] == [u.queries for u in own.users]
    assert all(s.profile != o.profile for s, o in zip(shuffled.users, own.users, strict=True))
    assert sorted(map(str, (u.profile for u in shuffled.users))) == sorted(map(str, (u.profile for u in own.users)))
    assert all(s.profile != o.profile for s, o in zip(shuffled.train, own.train, strict=True))
    assert spec(profiles="shuffled").run_id != spec().run_id != spec(profiles="none").run_id


def test_no_histories_are_answered_as_the_method_falls_back_and_coverage_says_so(tiny_backbone, cache, tmp_path):
    run_spec = spec(profiles="none")
    data = load_eval_and_train(run_spec, get_task("lamp2"), with_train=False)
    record = run(run_spec, METHODS.get("rag")(), store=Store(tmp_path), progress=False, backbone=tiny_backbone,
                 data=data)  # fmt: skip
    assert record["status"] == "ok" and record["profiles"] == "none"
    assert [row["profile"] for row in record["per_user"]] == [0] * 4
    assert RunRecord.from_json(record).coverage == 0  # rag reports nothing of itself: the harness knows
    assert json.loads((tmp_path / record["run_id"] / "config.json").read_text())["profiles"] == "none"


@pytest.mark.parametrize("name", sorted(METHODS.entries()))
def test_every_method_runs_without_histories(name, tiny_backbone, cache, tmp_path):
    cls = METHODS.get(name)
    config = build_config(cls.Config, FAST.get(name, {}))
    run_spec = spec(method=name, task="lamp3", users=2, train_users=3, profiles="none", max_prompt_tokens=128,
                    method_config=dataclasses.asdict(config))  # fmt: skip
    data = load_eval_and_train(run_spec, get_task("lamp3"), with_train=cls.uses_train_users)
    record = run(run_spec, cls(config), store=Store(tmp_path), progress=False, backbone=tiny_backbone, data=data)
    assert record["status"] == "ok", record.get("error")
    assert [row["profile"] for row in record["per_user"]] == [0, 0]
    assert record["method_report"].get("personalized_users", 0) == 0, record["method_report"]


def test_shuffling_one_user_is_one_line_and_no_run_folder(cache, tmp_path):
    argv = ["run", "--method", "base", "--task", "lamp3", "--data", "synthetic", "--model", "tiny-random",
            "--users", "1", "--profiles", "shuffled", "--out", str(tmp_path / "runs")]  # fmt: skip
    result = CliRunner().invoke(app, argv, prog_name="bench", env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: --profiles shuffled needs at least 2 users")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_make_demo_runs_the_shuffled_control_and_shows_the_personalization_gain(cache, tmp_path):
    """`make demo`'s sweeps as the Makefile types them (on the tiny model, one budget, `rag` alone to keep it
    quick): the leaderboard then has the personalization gain, answers read by choice."""
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    recipe = (root / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    sweeps = [shlex.split(line.strip()) for line in recipe.splitlines() if "bench sweep" in line]
    assert len(sweeps) == 2 and "--profiles" in sweeps[1]
    out = tmp_path / "demo"
    runner = CliRunner()
    for argv in sweeps:
        argv = [str(out) if a == "$(DEMO_OUT)" else str(root / a) if a.endswith(".yaml") else a for a in argv[1:]]
        quick = ["--model", "tiny-random", "--users", "2", "--budgets", "5s", "--methods", "rag"]
        swept = runner.invoke(app, [*argv, *quick])
        assert swept.exit_code == 0, swept.output
    shown = runner.invoke(app, ["leaderboard", "--out", str(out), "--format", "json"])
    rows = {(r["method"], r["profiles"]): r for r in json.loads(shown.output)}
    assert set(rows) == {("rag", "own"), ("rag", "shuffled")}
    assert all(r["answer"] == "choice" for r in rows.values())
    assert rows[("rag", "own")]["personal_gain"] is not None and rows[("rag", "shuffled")]["personal_gain"] is None
    table = runner.invoke(app, ["leaderboard", "--out", str(out)]).output
    assert "personal ↑" in table and "answer choice" in table.splitlines()[0]
