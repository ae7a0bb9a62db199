"""lampbench: an equal-budget benchmark of LLM personalization methods on LaMP.

    import lampbench

    record = lampbench.run(method="rag", task="lamp3", budget="2m", data="synthetic", users=20)
    records = lampbench.sweep(["base", "rag"], ["lamp3"], ["1m", "2m"], data="synthetic", users=20)
    table = lampbench.leaderboard("runs", task="lamp3")  # a pandas DataFrame

The functions are those `bench` is built on and return the records it writes (`harness/api.py`). Importing
this package is light: torch and transformers load when a run needs them.
"""

from __future__ import annotations

import types
from importlib.metadata import PackageNotFoundError, version

import lampbench.leaderboard as _board
from lampbench.harness.entrypoints import python_api as _api
from lampbench.harness.entrypoints.python_api import run, sweep, user_errors
from lampbench.harness.run.options import RunSpec

try:
    __version__ = version("lampbench")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"


class _CallablePackage(types.ModuleType):
    """`lampbench.leaderboard` is both the subpackage (tables, plots, site) and the API's leaderboard function.

    Python binds a subpackage to its parent's attribute of the same name whenever it is imported, which would
    replace a plain function; a callable package keeps `lampbench.leaderboard(...)` and
    `lampbench.leaderboard.table` both working, whatever is imported when.
    """

    def __call__(self, out="runs", *, task=None, budgets=None, aggregate="best"):
        """The leaderboard as a pandas DataFrame, as `bench leaderboard` shows it (`harness.api.leaderboard`)."""
        return _api.leaderboard(out, task=task, budgets=budgets, aggregate=aggregate)


_board.__class__ = _CallablePackage
leaderboard = _board

__all__ = ["RunSpec", "__version__", "leaderboard", "run", "sweep", "user_errors"]
