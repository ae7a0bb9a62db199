"""A third-party method package registers through the `lampbench.methods` entry point and runs via `bench run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lampbench-echo"


def test_example_plugin_installs_lists_and_runs(tmp_path, cache):
    target = tmp_path / "site"
    # --no-build-isolation: build with the setuptools we have, so the test never reaches for the network.
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
               "--no-index", "--target", str(target), str(EXAMPLE)]  # fmt: skip
    subprocess.run(install, check=True, capture_output=True, text=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    bench = [sys.executable, "-m", "lampbench.harness.entrypoints.cli"]

    listed = subprocess.run([*bench, "methods"], env=env, capture_output=True, text=True, timeout=120)
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith("echo ")]
    assert "lampbench-echo" in line and "lampbench_echo:Echo" in line

    out = tmp_path / "runs"
    run = [*bench, "run", "--method", "echo", "--task", "lamp3", "--data", "synthetic", "--users", "2",
           "--model", "tiny-random", "--budget", "1m", "--set", "shots=3", "--out", str(out), "--quiet"]  # fmt: skip
    done = subprocess.run(run, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (config,) = out.glob("*/config.json")
    assert json.loads(config.read_text())["method_config"] == {"shots": 3, "item_tokens": 64}
    (record,) = out.glob("*/run.json")
    assert json.loads(record.read_text())["status"] == "ok"
