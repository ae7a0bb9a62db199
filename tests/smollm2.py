"""The slow tests' one way to run `bench run` on the embedded SmolLM2: as a user types it, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def bench_run(out: Path, *args: str, sets: tuple[str, ...] = (), timeout: int = 600) -> tuple[dict[str, Any], Path]:
    """`bench run ... --data synthetic --out OUT --quiet [--set S ...]`; (its run.json, its run folder).

    Fails the test with the end of stderr when the command fails.
    """
    cmd = [sys.executable, "-m", "lampbench.harness.entrypoints.cli", "run", *args, "--data", "synthetic",
           "--out", str(out), "--quiet", *[arg for s in sets for arg in ("--set", s)]]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return json.loads((run_dir / "run.json").read_text()), run_dir
