"""A part of one run done by one process: the run's collective stage alone, or one shard of its evaluation users.

`--shards N` (`harness/run/shards.py`) runs a run as N + 1 parts, each through the runner in its own folder:

    <run_id>/shards/fit/     the collective stage, run once and saved (the runner's folder layout, no users)
    <run_id>/shards/<k>/     shard k: the fit loaded, then every N-th evaluation user from the k-th on, under a
                             per-user budget of `budget` seconds: the run's per-user budget times the shard's
                             share of the users, so each user gets what one device would give them

Users go to shards round-robin (the most active users, listed first, are spread over every shard), and merge back
in file order: user i of shard k is the run's user i * N + k.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Part:
    """Shard `index` of `count` (None: the collective stage alone), its per-user budget and where the fit is.

    Attributes:
        count: the run's shards.
        index: this shard, from 0; None for the part that runs the collective stage.
        budget: the shard's per-user budget in seconds (None for the fit part).
        fit_folder: the fit part's folder, whose `collective/` a shard loads (one-budget "shares" mode; with
            `--fit-budget` the fit is in the fit store).
    """

    count: int
    index: int | None = None
    budget: float | None = None
    fit_folder: str | None = None

    @property
    def fit_only(self) -> bool:
        return self.index is None

    @property
    def name(self) -> str:
        return "fit" if self.index is None else str(self.index)

    def folder(self, run_dir: Path) -> Path:
        """This part's folder inside the run's."""
        return run_dir / "shards" / self.name

    def users(self, users: Sequence[T]) -> list[T]:
        """This part's users of the run's (none for the fit part)."""
        return [] if self.index is None else list(users[self.index :: self.count])


def shard_sizes(n_users: int, count: int) -> list[int]:
    """How many users each of `count` round-robin shards gets."""
    return [len(range(k, n_users, count)) for k in range(count)]


def merged_order(per_shard: Sequence[Sequence[T]]) -> list[T]:
    """Items of round-robin shards back in the run's order (user i of shard k is the run's i * N + k)."""
    out: list[T] = []
    longest = max((len(s) for s in per_shard), default=0)
    for i in range(longest):
        out += [s[i] for s in per_shard if i < len(s)]
    return out
