"""The results store: one folder per run under `--out` (default `runs/`), and an index the leaderboard reads.

    runs/
      index.jsonl                 one line per finished run, all the leaderboard reads (`IndexLine`; appended
                                  under a file lock; the last line of a run id wins)
      <run_id>/
        config.json               the fully resolved run and method config
        run.json                  the run's record (`harness/run/record.py`): status, scores, timings, per-user rows
        metrics.json              metric name -> number
        predictions.json          the official outputs format: {"task": ..., "golds": [{"id", "output"}]}
        generations.jsonl         one line per query: raw generation, parsed answer, parse ok, user, gold
        log.txt                   the run's log, with the traceback of an error

The run id is readable (task, method, budget, seed) and ends with a hash of the whole config, so rerunning an
identical configuration finds its finished run and reuses it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lampbench.harness.run.record import IndexLine, RunRecord
from lampbench.tasks.files import write_json

__all__ = ["FINISHED", "Store", "write_json"]

FINISHED = ("ok", "over_budget")
#: Seconds a writer waits for the index lock before giving up (a healthy append holds it for microseconds).
LOCK_TIMEOUT_S = 120


class Store:
    """The results directory."""

    def __init__(self, root: Path | str = "runs"):
        self.root = Path(root)

    @property
    def index_path(self) -> Path:
        return self.root / "index.jsonl"

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def record(self, run_id: str) -> RunRecord | None:
        """The record of a run that has a folder with a readable `run.json`, or None."""
        return RunRecord.load(self.run_dir(run_id) / "run.json")

    def finished(self, run_id: str) -> RunRecord | None:
        """The record of a finished run (status ok or over_budget), or None."""
        record = self.record(run_id)
        return record if record is not None and record.status in FINISHED else None

    @contextmanager
    def _locked_index(self) -> Iterator[Any]:
        """The index open for appending, under `index.jsonl.lock`: several runs (Ray workers) may finish at once.

        `filelock` works on Linux, macOS and Windows alike (`fcntl` exists on none but the first two).
        """
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.index_path) + ".lock", timeout=LOCK_TIMEOUT_S):
            with open(self.index_path, "a", encoding="utf-8") as f:
                yield f

    def add_to_index(self, line: IndexLine | dict[str, Any]) -> None:
        """Append a run's line to the index."""
        text = json.dumps(line.to_json() if isinstance(line, IndexLine) else line, ensure_ascii=False, default=str)
        with self._locked_index() as f:
            f.write(text + "\n")
            f.flush()

    def indexed(self) -> list[IndexLine]:
        """`index`, read through the schema."""
        return [IndexLine.from_json(line) for line in self.index()]

    def index(self) -> list[dict[str, Any]]:
        """Every indexed run's line as written, the latest per run id, oldest first."""
        if not self.index_path.exists():
            return []
        latest: dict[str, dict[str, Any]] = {}
        for line in self.index_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a crash; the run folder still has the truth
                    continue
                latest.pop(record["run_id"], None)
                latest[record["run_id"]] = record
        return list(latest.values())
