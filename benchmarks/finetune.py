"""Benchmark: adapter swap time per user, and training examples per second of each fine-tuning method.

Swap: a stored per-user state is copied into the injected adapter, switched on, used, and re-initialised after
(`adapters.answering_with`), as `predict` does for every user; the base model is never reloaded. Timed for OPPU's
per-user LoRA (r 8, q/v) and for DPO's (r 256, q/k/v/o), beside one reload of the base model for scale.

Training: each method's own training code (`fit` / `personalize`) on synthetic users, `--steps` optimizer steps
at the method's default batch, timed from the trainer's start to its end (examples seen / seconds); the time
spent building examples, tokenizing and building the trainer is reported separately as overhead.

    python benchmarks/finetune.py [--model smollm2] [--task lamp3] [--steps 2] [--users 32] [--threads N] [--out F.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch


def swap_times(backbone, config, repeats: int, users: int = 8) -> dict:
    """Seconds to swap one user's adapter in and back out, and the adapter's size."""
    from lampbench.methods.lib.adapters import answering_with, ensure_adapter, lora_config

    name = f"bench{config.r}"
    ensure_adapter(backbone, name, lora_config(config))
    states = []
    for i in range(users):  # distinct states, as after training (B != 0)
        torch.manual_seed(i)
        backbone.reset_adapter(name)
        with torch.no_grad():
            for n, p in backbone.model.named_parameters():
                if f"lora_B.{name}." in n:
                    p.normal_(0, 0.01)
        states.append(backbone.adapter_state(name))
    times = []
    for _ in range(repeats):
        for state in states:
            t = time.perf_counter()
            with answering_with(backbone, name, state):
                pass
            times.append(time.perf_counter() - t)
    backbone.remove_lora(name)
    params = sum(v.numel() for v in states[0].values())
    megabytes = sum(v.numel() * v.element_size() for v in states[0].values()) / 2**20
    return {"swap_ms_median": 1000 * statistics.median(times), "swap_ms_max": 1000 * max(times),
            "parameters": params, "megabytes": megabytes}  # fmt: skip


def training_rate(name: str, backbone, task, users, train, steps: int, overrides: dict) -> list[dict]:
    """Run a method's training stage(s) for `steps` steps; one row per stage with its examples per second."""
    from lampbench.harness.run.method_config import build_config
    from lampbench.harness.services.budget import Clock
    from lampbench.methods.contract import Context
    from lampbench.methods.registry import METHODS

    cls = METHODS.get(name)
    config = build_config(cls.Config, {"train.max_steps": steps, **overrides})
    method = cls(config)
    ctx = Context(task=task, clock=Clock(3600), max_prompt_tokens=512, _backbone=backbone, eval_users=(users[0],))
    rows = []
    with ctx.clock.charging():
        t = time.perf_counter()
        if cls.uses_train_users:
            method.fit(ctx, train)
            rows.append(("fit", ctx.report["collective"], time.perf_counter() - t))
        t = time.perf_counter()
        method.personalize(ctx, users[0])
        if ctx.report.get("users"):
            rows.append(("personalize", ctx.report["users"][0], time.perf_counter() - t))
    out = []
    for stage, rep, wall in rows:
        train_s = rep["seconds"]
        out.append({
            "method": name, "stage": stage, "steps": rep["steps"],
            "batch": config.train.batch_size * config.train.grad_accum,
            "examples_seen": rep["examples_seen"], "train_s": train_s,
            "examples_per_s": rep["examples_seen"] / train_s if train_s else 0.0,
            "overhead_s": wall - train_s, "pairs_made": rep.get("pairs_made"),
        })  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--task", default="lamp3")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--users", type=int, default=32, help="training users for the collective methods")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", default="lora-c,lora-p,oppu,aloe,dpo")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--out", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import warnings

    warnings.filterwarnings("ignore")
    from lampbench.harness.run.inputs import synthetic_files
    from lampbench.harness.services.models import load_backbone
    from lampbench.methods.dpo.config import DpoConfig
    from lampbench.methods.oppu.config import LoraPConfig
    from lampbench.tasks.data import load_users
    from lampbench.tasks.specs import get_task

    task = get_task(args.task)
    users = load_users(task, *synthetic_files(task, "dev", n_users=100))
    train = load_users(task, *synthetic_files(task, "train", n_users=200))[: args.users]
    t = time.perf_counter()
    backbone = load_backbone(args.model)
    load_s = time.perf_counter() - t
    print(f"{args.model} on {backbone.device}, {torch.get_num_threads()} threads; base model load {load_s:.2f} s")

    result: dict = {"model": args.model, "task": task.name, "threads": torch.get_num_threads(), "load_s": load_s}
    result["swap"] = {
        "lora-p (r8, q/v)": swap_times(backbone, LoraPConfig().train, args.repeats),
        "dpo (r256, q/k/v/o)": swap_times(backbone, DpoConfig().train, args.repeats),
    }
    for label, row in result["swap"].items():
        print(f"swap {label:22s} median {row['swap_ms_median']:7.2f} ms  max {row['swap_ms_max']:7.2f} ms  "
              f"{row['parameters']:>10,d} params  {row['megabytes']:.2f} MB")  # fmt: skip

    result["training"] = []
    for name in args.methods.split(","):
        overrides = {"max_pairs": 16 * args.steps} if name == "dpo" else {}
        for row in training_rate(name, backbone, task, users, train, args.steps, overrides):
            result["training"].append(row)
            print(f"train {row['method']:7s} {row['stage']:11s} batch {row['batch']:3d}  {row['steps']} steps  "
                  f"{row['examples_seen']:4d} examples in {row['train_s']:6.1f} s = {row['examples_per_s']:5.2f} ex/s  "
                  f"(+{row['overhead_s']:.1f} s examples, tokenizing, trainer, pairs)")  # fmt: skip
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
