"""The checks method configs run in `__post_init__`: each raises `ConfigError` naming the field it rejects.

`bench run` turns that into one line and exit status 2 before anything loads (`harness/run/method_config.py` adds
which config the field is in).
"""

from __future__ import annotations

from lampbench.tasks.errors import ConfigError


def at_least(owner: object, minimum: float, *names: str) -> None:
    """Raise `ConfigError` naming the first of `names` whose value on `owner` is below `minimum`."""
    for name in names:
        value = getattr(owner, name)
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")


def fraction(owner: object, *names: str, closed: bool = False) -> None:
    """Raise `ConfigError` naming the first of `names` not in (0, 1) (or (0, 1] when `closed`)."""
    for name in names:
        value = getattr(owner, name)
        if not (0.0 < value < 1.0 or (closed and value == 1.0)):
            raise ConfigError(f"{name} must be in (0, {'1]' if closed else '1)'}, got {value}")
