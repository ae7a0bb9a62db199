"""lampbench: an equal-budget benchmark of LLM personalization methods on LaMP.

    import lampbench

    record = lampbench.run(method="rag", task="lamp3", budget="2m", data="synthetic", users=20)
    records = lampbench.sweep(["base", "rag"], ["lamp3"], ["1m", "2m"], data="synthetic", users=20)
    table = lampbench.leaderboard_table("runs", task="lamp3")  # a pandas DataFrame

The functions are those `bench` is built on and return the records it writes (`harness/entrypoints/python_api.py`).
The leaderboard's function is `leaderboard_table`: `lampbench.leaderboard` is the subpackage (tables, plots, site),
which Python binds to this package's attribute of that name whenever it is imported. Importing this package is
light: torch and transformers load when a run needs them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from lampbench.harness.entrypoints.python_api import leaderboard_table, run, sweep, user_errors
from lampbench.harness.run.options import RunSpec, SweepSpec
from lampbench.tasks.errors import ConfigError, DataError, UnknownMethod, UnknownTask, UserError

try:
    __version__ = version("lampbench")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ConfigError", "DataError", "RunSpec", "SweepSpec", "UnknownMethod", "UnknownTask", "UserError", "__version__",
    "leaderboard_table", "run", "sweep", "user_errors",
]  # fmt: skip
