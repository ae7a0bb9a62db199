"""The project's error types: bad input a user can fix, said in one line.

They live in the lowest layer so that every layer can raise them: a task file, a method's config validation, a run
option, a sweep file. The CLI turns any `UserError` into one line on stderr and exit status 2, before a run folder
exists; anything else is a bug (`internal error`, exit 1).
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input: the message is one line saying what is wrong and where."""


class DataError(UserError):
    """Bad input data. The message is one line naming the file, the entry and the problem."""


class ConfigError(UserError):
    """A config file, `--set` value, run option or method setting that no run can use."""


class UnknownTask(UserError):
    """A task name that is not registered; the message suggests the closest names."""


class UnknownMethod(UserError, LookupError):
    """A method name that is neither registered nor importable; the message suggests the closest names."""


class InvalidTask(UserError):
    """A task spec that cannot be registered: no item frame, a metric kind it does not fit, a name taken."""
