"""A killed or interrupted run continues where it stopped: answered users kept, the budget spent carried over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lampbench.harness.run import runner as runner_module
from lampbench.harness.run.runner import RunSpec, run
from lampbench.harness.run.store import Store
from lampbench.harness.services.budget import Clock
from lampbench.methods.baseline.method import Base

ROOT = Path(__file__).resolve().parents[2]


def spec(**kw) -> RunSpec:
    values = {"method": "ticking", "task": "lamp3", "budget": 600, "data": "synthetic", "users": 6,
              "model": "tiny-random", "batch_size": 2}  # fmt: skip
    return RunSpec(**{**values, **kw})


class Ticking(Base):
    """Each user costs 10 s on a fake clock; Ctrl-C arrives while user `stop_at` (1-based) is personalized."""

    def __init__(self, now: list[float], stop_at: int | None = None):
        super().__init__()
        self.now, self.stop_at, self.seen = now, stop_at, []

    def personalize(self, ctx, user):
        self.now[0] += 10
        self.seen.append(user.id)
        if len(self.seen) == self.stop_at:
            raise KeyboardInterrupt
        return None


def test_an_interrupted_run_resumes_with_its_budget(tiny_backbone, cache, tmp_path, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(runner_module, "Clock", lambda budget: Clock(budget, now=lambda: now[0]))
    store = Store(tmp_path)
    first = Ticking(now, stop_at=5)
    with pytest.raises(KeyboardInterrupt):
        run(spec(), first, store=store, progress=False, backbone=tiny_backbone)
    out = store.run_dir(spec().run_id)
    partial = json.loads((out / "run.json").read_text())
    assert partial["status"] == "interrupted" and partial["users"] == 4 and store.index() == []

    second = Ticking(now)
    record = run(spec(), second, store=store, progress=False, backbone=tiny_backbone)
    assert record["status"] == "ok" and record["resumed"] and record["kept_users"] == 4
    assert second.seen == first.seen[4:] + [u for u in _ids(spec()) if u not in first.seen]
    # 50 s spent before the interruption (user 5 included: charged time is never given back), 20 s after it.
    assert record["budget_used_s"] == 70
    lines = (out / "generations.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(_query_ids(spec())) and record["users"] == 6

    forced = run(spec(), Ticking(now), store=store, progress=False, backbone=tiny_backbone, force=True)
    assert "resumed" not in forced and forced["budget_used_s"] == 60


def test_a_sigkilled_bench_run_continues_with_the_same_command(cache, tmp_path):
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "lampbench.harness.entrypoints.cli", "run", "--method", "tests.resume_plugin:Slow",
               "--task", "lamp3", "--data", "synthetic", "--users", "12", "--model", "tiny-random", "--budget", "5m",
               "--batch-size", "2", "--out", str(out), "--quiet"]  # fmt: skip
    logs = [tmp_path / f"personalized-{i}.txt" for i in range(3)]

    def start(i: int) -> subprocess.Popen:
        env = {**os.environ, "LAMPBENCH_TEST_LOG": str(logs[i])}
        # Ctrl-C's default action, as in a terminal: a shell that started the tests in the background left SIGINT
        # ignored, and an ignored signal stays ignored across exec.
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip

    def answered() -> int:
        """Users whose answers are written and recorded (the run's progress file)."""
        found = list(out.glob("*/"))
        return len(_recorded_users(found[0])) if found else 0

    def wait_for(users: int, proc: subprocess.Popen) -> None:
        deadline = time.monotonic() + 240
        while answered() < users:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)

    proc = start(0)
    wait_for(2, proc)
    proc.kill()  # SIGKILL: nothing runs after it
    proc.wait()
    (folder,) = out.glob("*/")
    kept = _recorded_users(folder)
    spent = json.loads((folder / "progress.json").read_text())["spent"]
    assert len(kept) >= 2 and spent >= 0.5 * len(kept)
    assert len(kept) <= 8, "the kill came too late to leave work for the interrupted run"  # 12 users: room to spare

    proc = start(1)
    wait_for(len(kept) + 2, proc)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"
    assert not set(kept) & set(logs[1].read_text().split())  # the kept users were not personalized again

    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "LAMPBENCH_TEST_LOG": str(logs[2])},
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "ok" and record["resumed"] and record["users"] == 12
    assert record["budget_used_s"] >= spent + 0.5 * (12 - len(kept)) - 0.1  # carried over, never given back
    ids = [json.loads(line)["id"] for line in (folder / "generations.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 12


def _ids(s: RunSpec) -> list[str]:
    from lampbench.harness.run.inputs import load_eval_and_train
    from lampbench.tasks.specs import get_task

    return [u.id for u in load_eval_and_train(s, get_task(s.task), with_train=False)[0]]


def _query_ids(s: RunSpec) -> list[str]:
    from lampbench.harness.run.inputs import load_eval_and_train
    from lampbench.tasks.specs import get_task

    return [q.id for u in load_eval_and_train(s, get_task(s.task), with_train=False)[0] for q in u.queries]


class Fitting(Ticking):
    """A collective stage of 100 s (fake clock) that can be saved and reloaded when `saves` is set."""

    def __init__(self, now, stop_at=None, saves=True):
        super().__init__(now, stop_at)
        self.saves, self.fitted, self.weights = saves, 0, None

    def fit(self, ctx, train):
        self.now[0] += 100
        self.fitted += 1
        self.weights = "learnt"

    def save_collective(self, ctx, path):
        if self.saves:
            (path / "weights.txt").write_text(self.weights)
        return self.saves

    def load_collective(self, ctx, path):
        self.weights = (path / "weights.txt").read_text()
        return True


@pytest.mark.parametrize("saves", [True, False])
def test_fit_is_reloaded_when_saved_else_redone_with_its_own_time(saves, tiny_backbone, cache, tmp_path, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(runner_module, "Clock", lambda budget: Clock(budget, now=lambda: now[0]))
    store = Store(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run(spec(), Fitting(now, stop_at=3, saves=saves), store=store, progress=False, backbone=tiny_backbone)
    again = Fitting(now, saves=saves)
    record = run(spec(), again, store=store, progress=False, backbone=tiny_backbone)
    assert record["status"] == "ok" and record["kept_users"] == 2 and again.weights == "learnt"
    assert again.fitted == (0 if saves else 1)
    # 100 s of fit and 30 s of users before the interruption; the users 3-6 after it. A redone fit is charged
    # afresh (100 s), not on top of the first one: the run is charged for one fit either way.
    assert record["budget_used_s"] == 100 + 20 + 10 + 40
    assert (store.run_dir(spec().run_id) / "collective").exists() == saves


def _recorded_users(folder: Path) -> list[str]:
    """The users progress-users.jsonl records as answered (a line cut by a kill and those after it do not count)."""
    path, users = folder / "progress-users.jsonl", []
    for text in path.read_text().splitlines() if path.exists() else []:
        try:
            users += [row["user"] for row in json.loads(text)["per_user"]]
        except ValueError:
            break
    return users


def test_progress_appends_a_line_per_batch_and_reads_the_report_back(tmp_path):
    """Bookkeeping per batch is one appended line with what changed (a growing list: its new items only)."""
    from lampbench.harness.run.record import UserRow
    from lampbench.harness.run.resume import Progress

    progress = Progress(tmp_path, fit_spent=1.0)
    report = {"collective": {"steps": 3}, "users": [], "profiles": {f"t{k}": "p" for k in range(70)}}
    for i in range(3):
        report["users"].append({"user": f"u{i}"})
        report["profiles"][f"u{i}"] = f"profile {i}"  # a mapping keyed by user: only its new keys are written
        report["personalized_fraction"] = 1.0
        progress.commit([UserRow(user=f"u{i}", queries=1)], report, batch=1, spent=2.0 + i)
    lines = [json.loads(line) for line in (tmp_path / "progress-users.jsonl").read_text().splitlines()]
    assert lines[0]["set"]["users"] == [{"user": "u0"}] and "collective" in lines[0]["set"]  # new keys: whole
    assert [line["extend"] for line in lines[1:]] == [{"users": [{"user": f"u{i}"}]} for i in (1, 2)]
    assert lines[1]["set"] == lines[2]["set"] == {}  # unchanged values are not written again
    assert [line["merge"] for line in lines[1:]] == [{"profiles": {f"u{i}": f"profile {i}"}} for i in (1, 2)]
    with open(tmp_path / "progress-users.jsonl", "a") as f:
        f.write('{"per_user": [{"user": "u3"')  # a line cut by a kill
    back = Progress.load(tmp_path)
    assert [row.user for row in back.per_user] == ["u0", "u1", "u2"] and back.report == report
    assert back.batches == {"1": 3} and back.spent == 4.0
    again = Progress.load(tmp_path)  # the kept file, rewritten in one line, reads the same
    assert again.report == report and again.batches == {"1": 3} and len(again.per_user) == 3
