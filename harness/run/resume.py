"""What an unfinished run has made, on disk, so a run killed at any moment continues where it stopped.

Two small files beside `generations.jsonl` in the run folder:

    progress.json        the budget spent so far (updated after `fit` and after every user's `personalize`), the
                         part of it that was `fit`, and whether the method saved its collective stage
    progress-users.json  the users whose answers are all in generations.jsonl: their per-user rows, the method's
                         report as it stood then and the batch sizes used (written after each answered batch)

The budget is written after every user, so time charged is never given back: a user personalized but not answered
when the run died is personalized again on resume and charged again. Only the users listed in
`progress-users.json` are kept; generations.jsonl is cut back to their lines (a batch in flight, a half-written line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lampbench.harness.run.record import UserRow
from lampbench.tasks.files import write_json

SPENT, USERS = "progress.json", "progress-users.json"
FILES = (SPENT, USERS)


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

    @classmethod
    def load(cls, out: Path) -> Progress | None:
        """The progress of the run in `out`, or None when it never finished its `fit` (nothing worth keeping)."""
        try:
            spent = json.loads((out / SPENT).read_text(encoding="utf-8"))
            users = json.loads((out / USERS).read_text(encoding="utf-8")) if (out / USERS).exists() else {}
        except (OSError, ValueError):
            return None
        if not isinstance(spent, dict) or spent.get("fit_spent") is None:
            return None
        return cls(
            out, spent=float(spent["spent"]), fit_spent=float(spent["fit_spent"]), fit_s=float(spent["fit_s"]),
            collective_saved=bool(spent.get("collective_saved")),
            per_user=[UserRow.from_json(row) for row in users.get("per_user", [])],
            report=dict(users.get("report", {})), batches=dict(users.get("batches", {})),
        )  # fmt: skip

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
        """Record users whose answers were just written (and flushed) to generations.jsonl."""
        self.per_user.extend(rows)
        self.report = report
        self.batches[str(batch)] = self.batches.get(str(batch), 0) + 1
        done = {"per_user": [row.to_json() for row in self.per_user], "report": report, "batches": self.batches}
        write_json(self.out / USERS, done, indent=None)
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
