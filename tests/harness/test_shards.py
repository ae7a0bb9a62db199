"""`--shards N` on Ray: the collective stage once, the users over N workers, one merged record; parts rerun alone."""

from __future__ import annotations

import json

import pytest

from lampbench.harness.run.parts import Part, merged_order, shard_sizes
from lampbench.harness.run.runner import RunSpec
from lampbench.harness.run.shards import merged_report
from lampbench.harness.run.sweep import check_shards, execute
from lampbench.tasks.errors import ConfigError

FAST = {"train": {"max_steps": 1, "batch_size": 4}}


def spec(**kw) -> RunSpec:
    values = {"method": "lora-c", "task": "lamp3", "budget": 120, "data": "synthetic", "users": 5, "train_users": 4,
              "model": "tiny-random", "batch_size": 4, "method_config": FAST}  # fmt: skip
    return RunSpec(**{**values, **kw})


def test_users_go_round_robin_and_merge_back_in_order():
    users = list("abcdefg")
    parts = [Part(3, k).users(users) for k in range(3)]
    assert parts == [["a", "d", "g"], ["b", "e"], ["c", "f"]] and shard_sizes(7, 3) == [3, 2, 2]
    assert merged_order(parts) == users and Part(3).users(users) == []


def test_reports_merge_counts_and_coverage():
    fit = {"collective": {"train_users": 4}}
    shards = [
        {"personalized_users": 2, "fallback_users": 1, "fallback_reasons": {"budget": 1}, "users": [1, 2, 3],
         "personalized_fraction": 2 / 3},
        {"personalized_users": 1, "fallback_users": 0, "users": [4], "personalized_fraction": 1.0},
    ]  # fmt: skip
    merged = merged_report(fit, shards)
    assert merged["collective"] == {"train_users": 4} and merged["users"] == [1, 2, 3, 4]
    assert merged["personalized_users"] == 3 and merged["fallback_reasons"] == {"budget": 1}
    assert merged["personalized_fraction"] == 0.75


def test_shards_need_the_ray_executor():
    with pytest.raises(ConfigError, match="--shards 2 needs --executor ray"):
        check_shards([spec(shards=2)], "local")


def test_two_shards_on_local_ray(cache, tmp_path):
    """One fit, two shards of 1 CPU each: every user once in file order, as one device answers; a lost shard is
    rerun alone and the finished parts are kept."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # one session: its workers serve both runs
    try:
        _two_shards(tmp_path)
    finally:
        ray.shutdown()


def _two_shards(tmp_path):
    one = execute(spec(), str(tmp_path / "one"))
    record = execute(spec(shards=2), str(tmp_path / "two"), cpus_per_run=1)
    assert record["status"] == "ok" and record["devices"] == 2, record.get("error")
    assert [r["user"] for r in record["per_user"]] == [r["user"] for r in one["per_user"]]
    assert record["users"] == 5 and [s["users"] for s in record["shards"]] == [0, 3, 2]
    assert all(s["hardware"]["label"] for s in record["shards"])
    run_dir = tmp_path / "two" / record["run_id"]
    fit = json.loads((run_dir / "shards" / "fit" / "run.json").read_text())
    assert record["fit_s"] == fit["fit_s"] > 0 and record["shards"][1]["fit_s"] == 0  # fitted once, in its part

    def predictions(root, rec):
        return json.loads((root / rec["run_id"] / "predictions.json").read_text())["golds"]

    assert predictions(tmp_path / "two", record) == predictions(tmp_path / "one", one)
    index = [json.loads(line) for line in (tmp_path / "two" / "index.jsonl").read_text().splitlines()]
    assert [line["devices"] for line in index] == [2]

    (run_dir / "shards" / "1" / "run.json").unlink()  # shard 1 lost
    (run_dir / "run.json").unlink()
    again = execute(spec(shards=2), str(tmp_path / "two"), cpus_per_run=1)
    assert again["status"] == "ok" and [s["reused"] for s in again["shards"]] == [True, True, False]
    assert predictions(tmp_path / "two", again) == predictions(tmp_path / "one", one)

    # With a fit budget the fit goes to the fit store: the shards load it there, and a one-device run reuses it.
    sharded = execute(spec(shards=2, fit_budget=60), str(tmp_path / "two"), cpus_per_run=1)
    assert sharded["status"] == "ok" and sharded["budget_mode"] == "separate", sharded.get("error")
    assert sharded["fit_path"].startswith(str(tmp_path / "two" / "fits"))
    single = execute(spec(fit_budget=60, seed=1), str(tmp_path / "two"))
    assert single["fit_reused"]["run_id"] == sharded["run_id"] and single["devices"] == 1
