"""The papers' figures beside ours: a preset's runs read back and set against `leaderboard/reference/<paper>.json`.

Each reference file holds one paper's figures, each keyed by (paper, table, method, task, metric, backbone,
split) as the paper prints them (`method` is the table's label, `task` and `metric` ours), transcribed from the
paper's text (`tests/leaderboard/test_reference.py` checks a sample against it). `compare` gives one row per
figure of the preset's table and backbone, for the tasks the preset ran: the paper's value, ours (mean over
seeds) with its 95% interval over users, LaMP's official score on the raw generations, and whether the paper's
figure lies inside our interval.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from lampbench.harness.run.reproduce import Preset
from lampbench.leaderboard.table import leaderboard, load_runs
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.specs import get_task

KEY = ("paper", "table", "method", "task", "metric", "backbone", "split")


@dataclass(frozen=True)
class Figure:
    """One number of a paper's table."""

    paper: str
    table: str
    method: str
    task: str
    metric: str
    backbone: str
    split: str
    value: float


def reference_path(paper: str) -> Path:
    return Path(str(files("lampbench.leaderboard") / "reference" / f"{paper}.json"))


def load_reference(paper: str) -> list[Figure]:
    """Every figure of `paper`'s reference file.

    Raises:
        ConfigError: no reference file for the paper, or an entry without its keys.
    """
    path = reference_path(paper)
    if not path.is_file():
        raise ConfigError(f"no reference figures for paper {paper!r} ({path} is missing)")
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        return [Figure(**{k: f[k] for k in (*KEY, "value")}) for f in data["figures"]]
    except KeyError as e:
        raise ConfigError(f"{path}: a figure lacks {e}") from None


@dataclass(frozen=True)
class Row:
    """A figure of the paper beside ours; `ours` is None when no finished run answers it."""

    figure: Figure
    budget_s: float | None = None
    ours: float | None = None
    low: float | None = None
    high: float | None = None
    official: float | None = None
    runs: int = 0
    status: str = "not run"

    @property
    def inside(self) -> bool | None:
        """The paper's figure lies inside our 95% interval (None: no interval)."""
        if self.low is None or self.high is None or math.isnan(self.low) or math.isnan(self.high):
            return None
        return self.low <= self.figure.value <= self.high


def figures_of(preset: Preset) -> list[Figure]:
    """The reference figures of the preset's table and backbone, for its cells and the tasks it runs."""
    tasks = {get_task(t).name for t in preset.sweep.tasks}
    labels = {c.label for c in preset.cells}
    return [
        f for f in load_reference(preset.paper)
        if f.table == preset.table and f.backbone == preset.backbone and f.task in tasks and f.method in labels
    ]  # fmt: skip


def compare(preset: Preset, out: Path | str) -> list[Row]:
    """One row per figure of the preset's table (and per budget): the paper's number beside ours."""
    specs = preset.specs()
    runs = load_runs(out)
    rows = []
    for figure in figures_of(preset):
        cell = next(c for c in preset.cells if c.label == figure.method)
        ids = {s.run_id for s in specs if s.task == figure.task and cell.matches(s)}
        mine = runs[runs["run_id"].isin(ids)] if not runs.empty else runs
        if mine.empty:
            rows.append(Row(figure))
            continue
        for _, entry in leaderboard(mine, "mean").iterrows():
            rows.append(_row(figure, entry))
    return rows


def _row(figure: Figure, entry) -> Row:
    m = figure.metric

    def value(column: str) -> float | None:
        v = entry.get(column, math.nan)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    return Row(
        figure, budget_s=float(entry["budget_s"]), ours=value(f"metric:{m}"), low=value(f"metric:{m}:low"),
        high=value(f"metric:{m}:high"), official=value(f"official:{m}"), runs=int(entry["seeds"]),
        status=str(entry["status"]),
    )  # fmt: skip


def lines(rows: list[Row]) -> list[str]:
    """The side-by-side table as text, one figure a line, then how many figures lie inside our intervals."""
    out = [
        f"{'task':7} {'metric':9} {'method':26} {'paper':>7} {'ours':>7} {'95% interval':>17} {'official':>8}  inside"
    ]
    for r in rows:
        ours = "-" if r.ours is None else f"{r.ours:.3f}"
        ci = "-" if r.low is None or r.high is None else f"[{r.low:.3f}, {r.high:.3f}]"
        official = "-" if r.official is None else f"{r.official:.3f}"
        inside = {True: "yes", False: "no", None: "-"}[r.inside]
        note = "" if r.status == "ok" else f"  ({r.status})"
        f = r.figure
        out.append(f"{f.task:7} {f.metric:9} {f.method:26} {f.value:7.3f} {ours:>7} {ci:>17} {official:>8}  "
                   f"{inside}{note}")  # fmt: skip
    judged = [r for r in rows if r.inside is not None]
    out.append(f"{sum(bool(r.inside) for r in judged)} of {len(judged)} paper figures inside our 95% intervals"
               + (f"; {len(rows) - len(judged)} without a result" if len(judged) < len(rows) else ""))  # fmt: skip
    return out
