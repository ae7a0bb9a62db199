"""Benchmark: adapter swap time per user, against reloading the base model.

A stored per-user state is copied into the injected adapter, switched on, used, and re-initialised after
(`adapters.answering_with`), as `predict` does for every user; the base model is never reloaded. Timed for OPPU's
per-user LoRA (r 8, q/v) and for DPO's (r 256, q/k/v/o), beside one load of the base model for scale. Training
throughput is `benchmarks/training.py`'s (each method against a bare loop on the same rows).

    python benchmarks/finetune.py [--model smollm2] [--repeats 5] [--threads N] [--out F.json]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--out", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import warnings

    warnings.filterwarnings("ignore")
    from lampbench.harness.services.models import load_backbone
    from lampbench.methods.dpo.config import DpoConfig
    from lampbench.methods.oppu.config import LoraPConfig

    t = time.perf_counter()
    backbone = load_backbone(args.model)
    load_s = time.perf_counter() - t
    print(f"{args.model} on {backbone.device}, {torch.get_num_threads()} threads; base model load {load_s:.2f} s")

    result: dict = {"model": args.model, "threads": torch.get_num_threads(), "load_s": load_s}
    result["swap"] = {
        "lora-p (r8, q/v)": swap_times(backbone, LoraPConfig().train, args.repeats),
        "dpo (r256, q/k/v/o)": swap_times(backbone, DpoConfig().train, args.repeats),
    }
    for label, row in result["swap"].items():
        print(f"swap {label:22s} median {row['swap_ms_median']:7.2f} ms  max {row['swap_ms_max']:7.2f} ms  "
              f"{row['parameters']:>10,d} params  {row['megabytes']:.2f} MB")  # fmt: skip

    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
