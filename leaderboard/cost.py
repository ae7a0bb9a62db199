"""Amortised cost: what a method costs per user once its one-off collective stage is shared by N users.

A collective stage (`fit`) is paid once for every user a method will ever serve; the per-user stages are paid
per user. So the cost per user at N users is

    cost_per_user(N) = fit_s / N + per_user_s,       per_user_s = personalize_s / users

in seconds of adaptation on the run's hardware (summed over its devices when sharded; a reused fit counts at
what it cost the run that made it). At N = the run's own users that is `adapt_s / users`; `--amortise-over N`
asks what it would be at a deployment's N. Two methods cost the same per user at the break-even N,
(fit_a - fit_b) / (per_user_b - per_user_a): beyond it the one with the larger fit and the cheaper users wins.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def at_users(n: int) -> str:
    """The leaderboard column of the cost per user at `n` users."""
    return f"cost_per_user_s:{n}"


def per_user_seconds(personalize_s: Any, users: Any) -> float:
    """Seconds of per-user adaptation per user (NaN without users)."""
    try:
        return float(personalize_s or 0.0) / float(users) if users else math.nan
    except (TypeError, ValueError):
        return math.nan


def cost_per_user(fit_s: Any, per_user_s: Any, n: float) -> float:
    """`fit_s / n + per_user_s`: the amortised adaptation seconds per user when `n` users share the fit."""
    if n is None or not n or n <= 0 or _missing(per_user_s):
        return math.nan
    return (0.0 if _missing(fit_s) else float(fit_s)) / float(n) + float(per_user_s)


def break_even(fit_a: float, per_user_a: float, fit_b: float, per_user_b: float) -> float | None:
    """The number of users at which a and b cost the same per user; None when the lines never cross at N > 0."""
    if per_user_a == per_user_b:
        return None
    n = (fit_a - fit_b) / (per_user_b - per_user_a)
    return n if n > 0 else None


def with_costs(frame: pd.DataFrame, amortise_over: int | None = None) -> pd.DataFrame:
    """`frame` (runs or leaderboard rows: `fit_s`, `personalize_s`, `users`) with `per_user_s`, the cost per user
    at the run's users (`cost_per_user_s`) and, given `amortise_over`, at that many (`cost_per_user_s:<N>`)."""
    if frame.empty:
        return frame
    per_user = [per_user_seconds(p, u) for p, u in zip(frame["personalize_s"], frame["users"], strict=True)]
    frame = frame.assign(per_user_s=per_user)
    frame["cost_per_user_s"] = [
        cost_per_user(f, p, u) for f, p, u in zip(frame["fit_s"], frame["per_user_s"], frame["users"], strict=True)
    ]
    if amortise_over:
        frame[at_users(amortise_over)] = [cost_per_user(f, p, amortise_over) for f, p in
                                          zip(frame["fit_s"], frame["per_user_s"], strict=True)]  # fmt: skip
    return frame


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
