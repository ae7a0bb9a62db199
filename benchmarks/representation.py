"""Benchmark: what personalizing one user costs with PerFit, Per-Pcs and StyleVector, next to OPPU's per-user LoRA.

For each method, the same synthetic users on the same backbone: the per-user state `personalize` returns (its
trainable parameters and bytes, measured by the harness's own accounting) and the wall-clock seconds
`personalize` took, with a budget large enough that it never cuts training short, so the time is the method's own
cost: PerFit's stage 2 and `lora-p`/`oppu` train for their default 2 epochs at batch 16; StyleVector generates
the model's answers to up to 16 history items and reads two forward passes each; Per-Pcs trains nothing per user
and feeds each history item once through the assembling hooks. Collective stages (PerFit's stage 1, OPPU's task
LoRA, Per-Pcs' pool of `--sharers` sharers with short gate training) run first, kept short (`--fit-epochs` of a
few training users) since only the per-user figures are compared; their parameter counts are listed too. Per-Pcs
skips its task LoRA here, and `oppu` runs last: it merges its task LoRA into the shared backbone.

    python benchmarks/representation.py [--model smollm2] [--task lamp3] [--users 3] [--max-profile 8]
        [--methods perfit,per-pcs,stylevector,lora-p,oppu] [--sharers 3] [--threads N] [--out FILE.json]

On a CPU that other processes keep busy, `--threads 1`: torch's own threads then wait on each other and on the
other processes, and a run can be ten times slower than with one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

DEFAULT_METHODS = "perfit,per-pcs,stylevector,lora-p,oppu"


def personalize_costs(name: str, backbone, task, users, train, fit_epochs: float, sharers: int) -> dict:
    """Run `name`'s fit (when it has one) and personalize on each user; its per-user costs."""
    from lampbench.harness.run.method_config import build_config
    from lampbench.harness.services.accounting import state_bytes, state_parameters
    from lampbench.harness.services.budget import Clock
    from lampbench.methods.contract import Context
    from lampbench.methods.registry import METHODS

    cls = METHODS.get(name)
    overrides = {
        "perfit": {"epochs1": fit_epochs},
        "oppu": {"task.epochs": fit_epochs},
        "per-pcs": {"task_adapt": False, "sharers": sharers, "gate_steps": 10},
    }.get(name, {})
    method = cls(build_config(cls.Config, overrides))
    from lampbench.harness.services.models import load_embedder

    ctx = Context(
        task=task, clock=Clock(24 * 3600), max_prompt_tokens=512, _backbone=backbone, eval_users=users,
        embedder_factory=load_embedder,
    )  # fmt: skip
    with ctx.clock.charging():
        t = time.perf_counter()
        if cls.uses_train_users:
            method.fit(ctx, train)
        fit_s = time.perf_counter() - t
        rows = []
        for i, user in enumerate(users):
            t = time.perf_counter()
            state = method.personalize(ctx, user)
            seconds = time.perf_counter() - t
            done = ctx.report.get("users", [{}] * len(users))[i]  # what the method says it did for this user
            if "steps" in done:
                work = f"{done['steps']} steps"
            else:
                work = f"{done.get('used', done.get('items_assembled', '?'))} items"
            rows.append({"user": user.id, "history": len(user.profile), "seconds": seconds,
                         "parameters": state_parameters(state), "bytes": state_bytes(state), "work": work})  # fmt: skip
    collective = method.collective_state()
    return {
        "method": name,
        "users": rows,
        "parameters": max(r["parameters"] for r in rows),
        "bytes_median": statistics.median(r["bytes"] for r in rows),
        "seconds_median": statistics.median(r["seconds"] for r in rows),
        "fit_s": fit_s,
        "collective_parameters": state_parameters(collective),
        "collective_bytes": state_bytes(collective),
        "report": {k: v for k, v in ctx.report.items() if k != "users"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--task", default="lamp3")
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--max-profile", type=int, default=8, help="history items kept per user")
    parser.add_argument("--train-users", type=int, default=4, help="training users for the collective stages")
    parser.add_argument("--fit-epochs", type=float, default=0.1, help="epochs of the (short) collective stages")
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--sharers", type=int, default=3, help="Per-Pcs sharers among the training users")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default); 1 on a CPU shared with others"
    )
    parser.add_argument("--out", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    import dataclasses
    import warnings

    warnings.filterwarnings("ignore")
    from lampbench.harness.run.inputs import synthetic_files
    from lampbench.harness.services.models import load_backbone
    from lampbench.methods.registry import METHODS
    from lampbench.tasks.data import load_users
    from lampbench.tasks.specs import get_task

    if args.threads:
        torch.set_num_threads(args.threads)
    task = get_task(args.task)

    def cut(user):
        return dataclasses.replace(user, profile=user.profile[: args.max_profile])

    users = tuple(cut(u) for u in load_users(task, *synthetic_files(task, "dev", n_users=100))[: args.users])
    train = [cut(u) for u in load_users(task, *synthetic_files(task, "train", n_users=200))[: args.train_users]]
    backbone = load_backbone(args.model)
    known = set(METHODS.entries())
    names = [n for n in args.methods.split(",") if n in known]
    names.sort(key=lambda n: n == "oppu")  # oppu merges its task LoRA into the backbone: it goes last
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.model} on {backbone.device}, {torch.get_num_threads()} threads (load average {load:.1f}); "
          f"{task.name}, {len(users)} users x {args.max_profile} history items")  # fmt: skip
    print("| method | per-user trainable parameters | per-user state | personalize s/user (median) | per user "
          "| collective |\n|---|---:|---:|---:|---|---:|", flush=True)  # fmt: skip
    results = []
    for name in names:
        r = personalize_costs(name, backbone, task, users, train, args.fit_epochs, args.sharers)
        results.append(r)
        collective = f"{r['collective_parameters']:,} params" if r["collective_parameters"] else "-"
        print(f"| {r['method']} | {r['parameters']:,} | {r['bytes_median'] / 1024:,.1f} KiB | "
              f"{r['seconds_median']:.1f} | {r['users'][0]['work']} | {collective} |", flush=True)  # fmt: skip
    if args.out:
        with open(args.out, "w") as f:
            meta = {"model": args.model, "task": task.name, "threads": torch.get_num_threads(), "load_average": load}
            json.dump({**meta, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
