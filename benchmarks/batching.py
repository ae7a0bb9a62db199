"""Benchmark: run-level predict throughput of batched inference across users, against a bare `generate` loop.

Each method runs through the real runner on synthetic one-query users (`bench run` as a user would, the backbone
loaded once), and its answering stage is timed as the run records it (`predict_s`). The prompts the method gave the
model are recorded and put through a bare loop a researcher writes by hand (`benchmarks/generation.py`:
left padding, one greedy `model.generate` per batch, in the order the run answered them) at the same batch size:
the method's throughput as a fraction of that loop is the cost of the harness and of the method's own answering
(per-user adapters, per-row edits). Both decode exactly `max_new_tokens` tokens per batch (`min_new_tokens` set
while the method answers, and in the bare loop): a per-user adapter changes the answers, and so, left to stop at
the end of sequence, how much either side generates. The table also gives `base` at batch 1 (the runner before
batching across users), each method's answers at batch 1 (the fraction identical to the batched ones), and, where
the device computes bf16 natively, `base` and `rag` in bf16 with the fraction of answers identical to fp32.

Targets, in the table's last column: prompt-only methods at 90% or more of the bare loop (issue 12), per-user LoRA
methods (`lora-p`, `oppu`: one batched low-rank product per LoRA layer over the rows' stacked adapters) at 85% or
more (issue 18), per-user edit methods at 60% or more (issue 12); `base` at batch 8 at least 1.8x its batch-1
throughput on a 2-core CPU. `--check` exits 1 when a target is missed.

    python benchmarks/batching.py --model smollm2 --users 64 [--task lamp3] [--batch-size 8]
        [--methods base,rag,lora-p,chameleon] [--dtypes float32,bfloat16] [--no-match] [--check]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generation import bare_loop  # noqa: E402 - a sibling script, not a package

#: Config overrides that keep personalization short: the benchmark measures answering, not training.
QUICK: dict[str, dict] = {
    "lora-p": {"train.max_steps": 2, "train.batch_size": 4},
    "oppu": {"train.max_steps": 2, "train.batch_size": 4, "task.epochs": 0.1},
    "chameleon": {"history_k": 3, "insight_max_tokens": 32, "ccs_epochs": 100, "ccs_restarts": 2},
}


#: Predict throughput as a share of the bare loop's, per method (prompt-only methods: 90%).
TARGETS: dict[str, float] = {
    "lora-p": 0.85, "oppu": 0.85,
    "chameleon": 0.60, "stylevector": 0.60, "perfit": 0.60, "per-pcs": 0.60,
}  # fmt: skip


def target_text(name: str, of_bare: float | None) -> tuple[str, bool]:
    """(">= 85%: met" or "...: MISSED", whether missed) for a method's batched row; ("-", False) without a figure."""
    if of_bare is None:
        return "-", False
    target = TARGETS.get(name, 0.90)
    missed = of_bare < target
    return f">= {target:.0%}: {'MISSED' if missed else 'met'}", missed


def run_method(name: str, args, backbone, batch_size: int, out: Path) -> tuple[dict, dict[str, str], list[str]]:
    """One run through the runner: (record, answers by query id, the prompts of its answering stage in order)."""
    import json

    from lampbench.harness.run.method_config import build_config
    from lampbench.harness.run.runner import RunSpec, run
    from lampbench.harness.run.store import Store
    from lampbench.methods.registry import METHODS
    from lampbench.tasks.specs import get_task

    cls = METHODS.get(name)
    config = build_config(cls.Config, QUICK.get(name, {}))
    method = cls(config)
    prompts: list[str] = []
    answering = [False]
    encode = backbone.encode

    def recording_encode(prompt: str) -> list[int]:
        if answering[0]:
            prompts.append(prompt)
        return encode(prompt)

    inner, model_generate = method.predict_batch, backbone.model.generate

    steps = get_task(args.task).max_new_tokens

    def fixed_length(*args, **kwargs):  # as many decoding steps as the bare loop, whatever the answers
        config = kwargs.get("generation_config")
        if config is None:
            kwargs["min_new_tokens"] = steps
        else:
            kwargs["generation_config"] = config = copy.deepcopy(config)
            config.min_new_tokens = steps
        return model_generate(*args, **kwargs)

    def predict_batch(ctx, items):
        answering[0] = True
        backbone.model.generate = fixed_length
        try:
            return inner(ctx, items)
        finally:
            answering[0] = False
            del backbone.model.generate  # the class's own again

    method.predict_batch = predict_batch
    backbone.encode = recording_encode
    backbone.batch_size = batch_size
    try:
        spec = RunSpec(
            method=name, task=args.task, budget=args.budget, method_config=dataclasses.asdict(config),
            data="synthetic", users=args.users, model=args.model, batch_size=batch_size,
        )  # fmt: skip
        record = run(spec, method, store=Store(out), force=True, progress=False, backbone=backbone)
    finally:
        backbone.encode = encode
    if record["status"] != "ok":
        raise SystemExit(f"{name}: run ended {record['status']}: {record.get('error', '')}")
    lines = (out / record["run_id"] / "generations.jsonl").read_text().splitlines()
    return record, {line["id"]: line["raw"] for line in map(json.loads, lines)}, prompts


def bare_qps(backbone, prompts: list[str], batch_size: int, max_new_tokens: int) -> float:
    """Queries per second of the bare loop on `prompts`, `max_new_tokens` decoded per batch (after a warm-up batch)."""
    bare_loop(backbone.model, backbone.tokenizer, prompts[:batch_size], batch_size, max_new_tokens, max_new_tokens)
    start = time.perf_counter()
    bare_loop(backbone.model, backbone.tokenizer, prompts, batch_size, max_new_tokens, max_new_tokens)
    return len(prompts) / (time.perf_counter() - start)


def same(a: dict[str, str], b: dict[str, str]) -> str:
    return f"{sum(a[k] == b.get(k) for k in a)}/{len(a)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--task", default="lamp3")
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--methods", default="base,rag,lora-p,chameleon")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="bfloat16 runs only where it is native")
    parser.add_argument("--budget", type=float, default=3600, help="seconds; enough for every user's personalize")
    parser.add_argument("--no-match", action="store_true", help="skip the batch-1 runs of the match column")
    parser.add_argument("--check", action="store_true", help="exit 1 when a method misses its target")
    args = parser.parse_args()

    import torch

    from lampbench.harness.services.hardware import describe
    from lampbench.harness.services.models import cpu_bf16, load_backbone
    from lampbench.tasks.specs import get_task

    task = get_task(args.task)
    cuda = torch.cuda.is_available()
    dtypes = [d for d in args.dtypes.split(",") if d != "bfloat16" or cuda or cpu_bf16()]
    methods = args.methods.split(",")
    rows: list[tuple] = []
    fp32_answers: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in dtypes:
            backbone = load_backbone(args.model, batch_size=args.batch_size, dtype=dtype)
            backbone.generate(["warm up"] * args.batch_size, max_new_tokens=task.max_new_tokens)  # kernels, allocator
            torch.manual_seed(0)
            for name in methods if dtype == dtypes[0] else [m for m in methods if m in ("base", "rag")]:
                record, answers, prompts = run_method(name, args, backbone, args.batch_size, Path(tmp))
                qps = record["queries"] / record["predict_s"]
                bare = bare_qps(backbone, prompts, args.batch_size, task.max_new_tokens)
                match = "-"
                if not args.no_match:
                    one, answers_1, _ = run_method(name, args, backbone, 1, Path(tmp))
                    match = same(answers, answers_1)
                    if name == "base":
                        rows.append((name, dtype, 1, one["queries"], one["queries"] / one["predict_s"], None, "-", "-"))
                vs_fp32 = same(answers, fp32_answers[name]) if dtype != dtypes[0] and name in fp32_answers else "-"
                fp32_answers.setdefault(name, answers)
                rows.append((name, dtype, args.batch_size, record["queries"], qps, bare, match, vs_fp32))
            del backbone
    hardware = describe()
    print(f"{args.model} on {hardware['label']}, torch threads {hardware['torch_threads']}; {task.name}, "
          f"{args.users} synthetic users, max_new_tokens {task.max_new_tokens}")  # fmt: skip
    header = ("method", "dtype", "batch", "queries", "predict q/s", "bare q/s", "of bare", "= batch 1", "= fp32",
              "target")  # fmt: skip
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    missed = []
    for name, dtype, batch, queries, qps, bare, match, vs_fp32 in rows:
        of_bare = qps / bare if bare else None
        target, miss = target_text(name, of_bare)
        if miss:
            missed.append(f"{name} ({dtype})")
        of_text, bare_text = (f"{of_bare:.0%}", f"{bare:.2f}") if bare else ("-", "-")
        print(f"{name} | {dtype} | {batch} | {queries} | {qps:.2f} | {bare_text} | {of_text} | {match} | {vs_fp32} "
              f"| {target}")  # fmt: skip
    if args.check and missed:
        raise SystemExit(f"below target: {', '.join(missed)}")


if __name__ == "__main__":
    main()
