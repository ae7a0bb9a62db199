"""lampbench: an equal-budget benchmark of LLM personalization methods on LaMP.

    import lampbench

    record = lampbench.run(method="rag", task="lamp3", budget="2m", data="synthetic", users=20)
    records = lampbench.sweep(["base", "rag"], ["lamp3"], ["1m", "2m"], data="synthetic", users=20)
    table = lampbench.leaderboard("runs", task="lamp3")  # a pandas DataFrame

The functions are those `bench` is built on and return the records it writes (`harness/api.py`). Importing
this package is light: torch and transformers load when a run needs them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from lampbench.harness.api import leaderboard, run, sweep, user_errors
from lampbench.harness.spec import RunSpec

try:
    __version__ = version("lampbench")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["RunSpec", "__version__", "leaderboard", "run", "sweep", "user_errors"]
