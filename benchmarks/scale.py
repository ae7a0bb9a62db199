"""Benchmark: a run's wall time, memory and the harness's own cost per user, from 10 to 10,000 users.

Each configuration is one `bench run` in a subprocess of its own (tiny-random, synthetic users of one query each,
a budget no run reaches), so its peak memory is its own: the largest resident set of the run's processes
(`getrusage(RUSAGE_CHILDREN)`: the largest one, not their sum; with `--shards 2`, the driver's, as Ray's workers
belong to Ray's own daemons: read a worker's from `ray memory` or the node's monitor). From each run's `run.json`:

    overhead per user = (wall - load - fit - personalize - predict) / users

the time the harness spends around the method (the user loop, progress files, scoring, writing results; for a
sharded run, inside each shard, averaged over the shards: Ray's start-up is in `wall` and in no shard's).
It must stay flat in the number of users and under 10 ms per user at 1,000 users (issue 20): `--check` exits 1
when a run over 100 users misses that.

    python benchmarks/scale.py [--users 10,100,1000,10000] [--methods base,lora-p] [--shards 1,2] [--check]

Shards need Ray; each shard reserves `--cpus-per-shard` CPUs (default 1) of a local Ray instance.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: What keeps a method's own cost small and fixed per user: the benchmark measures the harness around it.
QUICK = {"lora-p": ["--set", "train.max_steps=1", "--set", "train.batch_size=4"]}
TARGET_MS = 10.0


def one_run(method: str, users: int, shards: int, out: Path, cpus: int) -> dict:
    """Run one configuration in a subprocess; its figures."""
    cmd = [sys.executable, "-m", "lampbench.harness.entrypoints.cli", "run", "--method", method, "--task", "lamp2",
           "--data", "synthetic", "--model", "tiny-random", "--users", str(users), "--budget", "10h", "--quiet",
           "--out", str(out), *QUICK.get(method, [])]  # fmt: skip
    if shards > 1:
        cmd += ["--shards", str(shards), "--executor", "ray", "--cpus-per-run", str(cpus)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise SystemExit(f"{method} x {users} users, {shards} shard(s) failed:\n{done.stdout}\n{done.stderr}")
    record = json.loads(next(out.glob("*/run.json")).read_text())
    return {
        "method": method, "users": users, "shards": shards, "status": record["status"], "process_s": elapsed,
        "wall_s": record["wall_s"], "peak_mib": max(peak_kib, before) / 1024, "overhead_ms": overhead_ms(record),
        "personalize_ms": 1000 * record["personalize_s"] / record["users"],
        "predict_ms": 1000 * record["predict_s"] / record["users"],
    }  # fmt: skip


def overhead_ms(record: dict) -> float:
    """Milliseconds per user the harness spent around the method (per shard, averaged, for a sharded run)."""
    parts = [s for s in record.get("shards") or [] if s["shard"] != "fit" and s.get("users")] or [record]
    costs = [
        (p["wall_s"] - p.get("load_s", 0) - p.get("fit_s", 0) - p["personalize_s"] - p["predict_s"]) / p["users"]
        for p in parts
    ]
    return 1000 * sum(costs) / len(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="10,100,1000,10000")
    parser.add_argument("--methods", default="base,lora-p")
    parser.add_argument("--shards", default="1,2")
    parser.add_argument("--cpus-per-shard", type=int, default=1)
    parser.add_argument("--check", action="store_true", help=f"exit 1 above {TARGET_MS:g} ms/user over 100 users")
    args = parser.parse_args()
    rows = []
    header = (f"{'method':8} {'users':>6} {'shards':>6} {'wall s':>8} {'peak MiB':>9} {'harness ms/user':>16} "
              f"{'personalize ms/user':>20} {'predict ms/user':>16}")  # fmt: skip
    print(header)
    for method in args.methods.split(","):
        for users in (int(u) for u in args.users.split(",")):
            for shards in (int(s) for s in args.shards.split(",")):
                with tempfile.TemporaryDirectory() as tmp:
                    row = one_run(method, users, shards, Path(tmp), args.cpus_per_shard)
                rows.append(row)
                print(f"{method:8} {users:>6} {shards:>6} {row['wall_s']:>8.1f} {row['peak_mib']:>9.0f} "
                      f"{row['overhead_ms']:>16.2f} {row['personalize_ms']:>20.2f} {row['predict_ms']:>16.2f}",
                      flush=True)  # fmt: skip
    missed = [r for r in rows if r["users"] > 100 and r["overhead_ms"] > TARGET_MS]
    print(f"harness overhead under {TARGET_MS:g} ms/user over 100 users: {'MISSED' if missed else 'met'}")
    if args.check and missed:
        sys.exit(1)


if __name__ == "__main__":
    main()
