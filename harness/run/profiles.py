"""Profile controls (`--profiles`): is a method's gain personalization, or only the task and its answer format?

- `own` (the default): every user answers with their own history.
- `shuffled`: every user gets another user's history, by a seeded derangement over the run's users (no user keeps
  their own, and every history is used exactly once), so a method sees histories of the same kind and size as
  with `own`, only not the asker's. Training users (the collective stage's) are deranged among themselves.
- `none`: evaluation users have empty histories; methods fall back as they do for a user without history and say
  so in their coverage. Training users keep theirs: they are the collective stage's task data, not the evaluated
  users' information.

Applied by the harness to the loaded users (`harness/run/inputs.py`), before any method sees them: no method code
is involved, and every method runs under every control. The personalization gain (`own` minus `shuffled`, with
its paired interval over users) is the leaderboard's (`leaderboard/uncertainty.py`).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from lampbench.tasks.errors import DataError
from lampbench.tasks.specs import User

PROFILES = ("own", "shuffled", "none")


def derangement(n: int, seed: int | str) -> list[int]:
    """A permutation of `range(n)` with no fixed point (`out[i] != i`), the same for the same `n` and `seed`.

    Sattolo's algorithm: a uniformly random single cycle through all `n` positions.

    Raises:
        DataError: `n` is 1 (one user cannot get someone else's history).
    """
    if n == 1:
        raise DataError("--profiles shuffled needs at least 2 users: one user has no one else's history to get")
    order = list(range(n))
    rng = random.Random(f"profiles-{seed}")
    for i in range(n - 1, 0, -1):
        j = rng.randrange(i)  # j < i: no element stays where it is
        order[i], order[j] = order[j], order[i]
    return order


def with_profiles(users: Sequence[User], mode: str, seed: int, *, training: bool = False) -> list[User]:
    """`users` with the histories `mode` gives them (`own`, `shuffled` or `none`); their queries are unchanged.

    Args:
        users: the run's users (evaluation or training), in run order.
        mode: one of `PROFILES`.
        seed: the run's seed (the derangement's).
        training: these are training users (`none` leaves them as they are).
    """
    if mode == "own" or not users or (mode == "none" and training):
        return list(users)
    if mode == "none":
        return [dataclasses.replace(u, profile=()) for u in users]
    if mode == "shuffled":
        donor = derangement(len(users), f"{seed}-train" if training else seed)
        return [dataclasses.replace(u, profile=users[donor[i]].profile) for i, u in enumerate(users)]
    raise ValueError(f"--profiles must be one of {', '.join(PROFILES)}, not {mode!r}")
