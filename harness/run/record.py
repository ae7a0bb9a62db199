"""The results schema: a run's record (`run.json`), its per-user rows, and its line in the index.

The runner builds a `RunRecord` stage by stage and writes `run.json` from it (`to_json`); the leaderboard, the
regression check and the tests read results back through it (`RunRecord.load`, `RunRecord.from_json`), never by
string keys of their own. On disk a field is a key of `run.json`, under the same name. A file written by an older
lampbench reads too: a key it lacks takes the field's default, a key this schema does not know is ignored.

Some keys are written only when they say something (an `error`, a resumed run's `kept_users`, the `dtype` of a run
that got as far as loading its model): those fields are declared with `_optional()` and left out while they hold
their default.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

_OMIT = "omit_at_default"

#: The method report's keys an index line keeps (the rest can be large, per-user details): what the leaderboard reads.
INDEXED_REPORT = ("personalized_fraction",)


def _optional(default: Any = None) -> Any:
    """A field written to JSON only when it is not `default`."""
    return field(default=default, metadata={_OMIT: True})


def _to_json(obj: Any) -> dict[str, Any]:
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if not (f.metadata.get(_OMIT) and value == f.default):
            out[f.name] = value
    return out


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class UserRow:
    """One evaluation user's row in `run.json`'s `per_user`, made once the user's answers are written."""

    # Who, and how much of them there was: their queries and their profile items.
    user: str
    queries: int = 0
    profile: int = 0
    # What they cost: seconds charged to personalize them, their share (by queries) of their batch's predict time,
    # and their state's size in bytes and trainable parameters (`harness/services/accounting.py`).
    personalize_s: float = 0.0
    predict_s: float = 0.0
    state_bytes: int = 0
    state_parameters: int = 0
    # Their per-query outcomes by variant (`read`, `official`), what metrics and paired intervals are computed
    # from (`tasks/stats.py`); absent for a user of a split without golds.
    outcomes: dict[str, list] | None = _optional()

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserRow:
        return cls(**_known(cls, data))


@dataclass
class RunRecord:
    """A run's record, `run.json` on disk: what ran, how it ended, on what, its scores and costs, each user's row."""

    # What ran: the spec's fields a result is grouped by (`RunSpec`; `budget_s` is its budget in seconds).
    run_id: str
    method: str = ""
    task: str = ""
    budget_s: float = 0.0
    seed: int = 0
    data: str = ""
    split: str = ""
    model: str = ""
    # The controls (`--profiles`: own, shuffled or none histories) and how answers were read (`--answer`: generated
    # and parsed, or chosen among the task's labels by likelihood): part of a leaderboard row's key.
    profiles: str = "own"
    answer: str = "generate"
    # How it ended: `ok`, `over_budget`, `error` (with the first line of the error) or `interrupted`; when it
    # started (UTC, ISO 8601) and its wall-clock seconds; a resumed run's users kept from before.
    status: str = "error"  # until the run ends otherwise
    error: str | None = _optional()
    started: str | None = None
    wall_s: float | None = None
    resumed: bool = _optional(False)
    kept_users: int | None = _optional()
    # Where and on what: software versions, the machine (`harness/services/hardware.py`; the leaderboard keys rows
    # by its `label`), lampbench's git commit, the data files read (path, size, sha256) and the model's dtype.
    versions: dict[str, str] = field(default_factory=dict)
    hardware: dict[str, Any] | None = None
    git: dict[str, Any] | None = None
    data_files: list[dict[str, Any]] | None = _optional()
    dtype: str | None = _optional()
    # The device the model ran on (`devices.Claim.describe`: asked, used, the GPU, its name and memory), the peak
    # GPU memory torch held during the run (None off CUDA), `--quantize`, and, when the model does not compute in
    # fp32, how many of a sample of answers agreed with batch 1 (`Backbone.batch1_agreement`, outside the budget).
    device: dict[str, Any] | None = _optional()
    peak_gpu_memory_bytes: int | None = _optional()
    quantize: str = _optional("none")
    batch1: dict[str, Any] | None = _optional()
    # Scores: metric -> value (`<m>`, `<m>_ci_low/high`, `<m>_official`...: `tasks/stats.py`), what the scorer
    # noted, counts of users, queries, queries with a gold and unparsed answers, and how answers were read.
    metrics: dict[str, float] = field(default_factory=dict)
    scoring_notes: list[str] = field(default_factory=list)
    users: int = 0
    queries: int = 0
    scored: int = 0
    unparsed: int = 0
    read: dict[str, int] | None = _optional()
    # Time: budget charged (fit + personalize) and the overrun allowed, seconds per stage (loading is not
    # charged), predict seconds per query, and how many batches of each size were answered.
    budget_used_s: float = 0.0
    overrun_allowance_s: float = 0.0
    load_s: float = 0.0
    fit_s: float = 0.0
    personalize_s: float = 0.0
    predict_s: float = 0.0
    predict_s_per_query: float | None = None
    predict_batches: dict[str, int] = field(default_factory=dict)
    # Two budgets (`harness/services/budget.py`): `shares` when one budget covered fit and the per-user stages (the
    # methods' fixed shares split it: every run before `--fit-budget`), `separate` when fit had `fit_budget_s` of
    # its own (`budget_s` and `budget_used_s` are then the per-user stages'); what fit used of its budget; a fit
    # made by another run and reused (`fit_store.py`: its run, folder, seed and what it cost then; `fit_s` is that
    # cost, charged to no budget of this run). `devices`: the devices the per-user stages ran on (`--shards`), and
    # each shard's users, hardware and times.
    budget_mode: str = "shares"
    fit_budget_s: float | None = _optional()
    fit_budget_used_s: float | None = _optional()
    fit_reused: dict[str, Any] | None = _optional()
    fit_path: str | None = _optional()  # where the collective stage this run used is saved (None: not saved)
    devices: int = 1
    shards: list[dict[str, Any]] | None = _optional()
    # State: what `fit` left (absent when it never finished), and per user the mean bytes and the most parameters.
    collective_state_bytes: int | None = _optional()
    collective_parameters: int | None = _optional()
    state_bytes_per_user: float = 0.0
    state_parameters_per_user: int = 0
    # What the method reported about itself (`Context.report`), and each answered user's row.
    method_report: dict[str, Any] = field(default_factory=dict)
    per_user: list[UserRow] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """`run.json`'s mapping."""
        return {**_to_json(self), "per_user": [row.to_json() for row in self.per_user]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        """A record from `run.json`'s mapping (or an index line: no per-user rows, a cut report)."""
        values = _known(cls, data)
        values["per_user"] = [UserRow.from_json(row) for row in data.get("per_user") or ()]
        return cls(**values)

    @classmethod
    def load(cls, path: Path | str) -> RunRecord | None:
        """The record in the `run.json` at `path`; None when there is none, or it is not a run's record."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or "run_id" not in data:
            return None
        return cls.from_json(data)

    @property
    def coverage(self) -> float | None:
        """The fraction of users personalized within the budget, as the method reports it; a method that reports
        nothing personalized every user of an `ok` run, and of an `over_budget` one it is unknown (None). Under
        `--profiles none` no user had a history to be personalized from: 0, whatever the method reports."""
        if self.profiles == "none":
            return 0.0
        return self.method_report.get("personalized_fraction", 1.0 if self.status == "ok" else None)

    def outcomes_by_user(self) -> dict[str, dict[str, list]]:
        """user id -> variant -> per-query outcomes, for the users that have them."""
        return {str(row.user): row.outcomes for row in self.per_user if row.outcomes}


@dataclass
class IndexLine:
    """A finished run's line in `runs/index.jsonl`: what the leaderboard needs, so it never opens a run folder.

    The record without its per-user rows and versions, the method's report cut to `INDEXED_REPORT`, and the method
    config. `method_config` is None on a line written before the index carried it (and the report): the leaderboard
    then reads both from the run folder.
    """

    record: RunRecord
    method_config: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        line = self.record.to_json()
        del line["per_user"], line["versions"]
        report = self.record.method_report
        line["method_report"] = {k: report[k] for k in INDEXED_REPORT if k in report}
        line["method_config"] = self.method_config
        return line

    @classmethod
    def from_json(cls, line: Mapping[str, Any]) -> IndexLine:
        return cls(RunRecord.from_json(line), line.get("method_config"))
