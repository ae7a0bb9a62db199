"""What an unfinished run has made, on disk, so a run killed at any moment continues where it stopped.

Two small files beside `generations.jsonl` in the run folder:

    progress.json        the budget spent so far (updated after `fit` and after every user's `personalize`), the
                         part of it that was `fit`, and whether the method saved its collective stage
    progress-users.jsonl the users whose answers are all in generations.jsonl: one line per answered batch with
                         its users' rows, its size and what changed in the method's report (the keys whose value
                         changed, and what a growing list gained), appended after the batch: a run's
                         bookkeeping costs the same per user at 10 or 10,000 users

The budget is written after every user, so time charged is never given back: a user personalized but not answered
when the run died is personalized again on resume and charged again. Only the users listed in
`progress-users.jsonl` are kept; generations.jsonl is cut back to their lines (a batch in flight, a half-written
line). A line cut by the kill, and every line after it, is ignored.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lampbench.harness.run.record import UserRow
from lampbench.tasks.files import write_json, write_text

SPENT, USERS = "progress.json", "progress-users.jsonl"
FILES = (SPENT, USERS, "progress-users.json")  # the last: what runs before the append-only file wrote


@dataclass
class Progress:
    """An unfinished run's bookkeeping (see the module docstring); `load` reads it back after a kill."""

    out: Path
    spent: float = 0.0
    fit_spent: float | None = None  # None: `fit` has not finished
    fit_s: float = 0.0
    collective_saved: bool = False
    per_user: list[UserRow] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    _written: dict[str, Any] = field(default_factory=dict, repr=False)  # the report as the file has it: key -> mark

    @classmethod
    def load(cls, out: Path) -> Progress | None:
        """The progress of the run in `out`, or None when it never finished its `fit` (nothing worth keeping)."""
        try:
            spent = json.loads((out / SPENT).read_text(encoding="utf-8"))
            lines = (out / USERS).read_text(encoding="utf-8").splitlines() if (out / USERS).exists() else []
        except (OSError, ValueError):
            return None
        if not isinstance(spent, dict) or spent.get("fit_spent") is None:
            return None
        progress = cls(
            out, spent=float(spent["spent"]), fit_spent=float(spent["fit_spent"]), fit_s=float(spent["fit_s"]),
            collective_saved=bool(spent.get("collective_saved")),
        )  # fmt: skip
        for text in lines:
            try:
                batch = json.loads(text)
            except ValueError:  # cut by the kill: this batch and any after it are not kept
                break
            progress._replay(batch)
        progress._rewrite()  # the file as kept (without a cut line), so later batches append after it
        return progress

    def _replay(self, batch: dict[str, Any]) -> None:
        """One answered batch's line, read back: its rows, its size and its report changes."""
        self.per_user.extend(UserRow.from_json(row) for row in batch["per_user"])
        for size, n in (batch.get("batches") or {str(batch["batch"]): 1}).items():  # a rewritten line has them all
            self.batches[size] = self.batches.get(size, 0) + n
        for key, value in batch.get("set", {}).items():
            self.report[key] = value
        for key, tail in batch.get("extend", {}).items():
            self.report.setdefault(key, []).extend(tail)
        for key, new in batch.get("merge", {}).items():
            self.report.setdefault(key, {}).update(new)
        self._written = _marks(self.report)

    def _rewrite(self) -> None:
        """progress-users.jsonl rewritten as one line holding everything kept (after a resume)."""
        line = {"per_user": [row.to_json() for row in self.per_user], "batches": self.batches, "set": self.report}
        if self.per_user:
            write_text(self.out / USERS, json.dumps(line, ensure_ascii=False) + "\n")
        else:
            (self.out / USERS).unlink(missing_ok=True)

    @staticmethod
    def clear(out: Path) -> None:
        for name in FILES:
            (out / name).unlink(missing_ok=True)

    def mark(self, spent: float) -> None:
        """Record the budget spent so far (after `fit`, after each user)."""
        self.spent = spent
        state = {"spent": spent, "fit_spent": self.fit_spent, "fit_s": self.fit_s}
        write_json(self.out / SPENT, {**state, "collective_saved": self.collective_saved})

    def commit(self, rows: list[UserRow], report: dict[str, Any], batch: int, spent: float) -> None:
        """Record users whose answers were just written (and flushed) to generations.jsonl: one appended line with
        their rows and what changed in `report` since the last line (a list that grew: only its new items; a
        mapping of `LARGE` keys or more that grew, such as one keyed by user: only its new keys)."""
        self.per_user.extend(rows)
        self.report = report
        self.batches[str(batch)] = self.batches.get(str(batch), 0) + 1
        changed, grown, added = {}, {}, {}
        for key, value in report.items():
            before, now = self._written.get(key), _mark(value)
            if isinstance(now, int) and isinstance(before, int) and now >= before:  # a list
                if now > before:
                    grown[key] = value[before:]
            elif isinstance(now, tuple) and isinstance(before, tuple) and now[1] >= before[1]:  # a large mapping
                if now[1] > before[1]:
                    added[key] = dict(itertools.islice(value.items(), before[1], None))  # insertion order
            elif now != before:
                changed[key] = value
        line = {"per_user": [row.to_json() for row in rows], "batch": batch, "set": changed, "extend": grown,
                "merge": added}  # fmt: skip
        with open(self.out / USERS, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._written = _marks(report)
        self.mark(spent)

    def kept_generations(self) -> list[dict[str, Any]]:
        """The generations.jsonl lines of the kept users; the file is rewritten to hold exactly those."""
        path = self.out / "generations.jsonl"
        kept_users = {row.user for row in self.per_user}
        lines: list[dict[str, Any]] = []
        if path.exists():
            for text in path.read_text(encoding="utf-8").splitlines():
                try:
                    line = json.loads(text)
                except ValueError:  # the last line, cut by the kill
                    continue
                if isinstance(line, dict) and line.get("user") in kept_users:
                    lines.append(line)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        return lines


#: A report mapping this large is taken to only gain keys (one keyed by user: `users`, `profiles`...), so each
#: batch writes its new keys; a smaller one (counts by reason, seconds by phase) is written whole when it changes.
LARGE = 64


def _mark(value: Any) -> Any:
    """What `commit` compares a report value by: a list's length (lists only grow: their new items are written),
    a large mapping's length, anything else as its JSON."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict) and len(value) >= LARGE:
        return ("mapping", len(value))
    return json.dumps(value, sort_keys=True, default=str)


def _marks(report: dict[str, Any]) -> dict[str, Any]:
    return {key: _mark(value) for key, value in report.items()}
