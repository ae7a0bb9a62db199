"""Benchmark: run-level predict throughput of batched inference across users, against a bare `generate` loop.

Each method runs through the real runner on synthetic one-query users (`bench run` as a user would, the backbone
loaded once), and its answering stage is timed as the run records it (`predict_s`). The prompts the method gave the
model are recorded and put through a bare loop a researcher writes by hand (`benchmarks/generation.py`:
left padding, one greedy `model.generate` per batch, in the order the run answered them) at the same batch size:
the method's throughput as a fraction of that loop is the cost of the harness and of the method's own answering
(per-user adapters, per-row edits). The table also gives `base` at batch 1 (the runner before batching across
users), each method's answers at batch 1 (the fraction identical to the batched ones), and, where the device
computes bf16 natively, `base` and `rag` in bf16 with the fraction of answers identical to fp32.

Targets (issue 12): prompt-only methods at 90% or more of the bare loop, per-user adapter and edit methods at 60%
or more, `base` at batch 8 at least 1.8x its batch-1 throughput on a 2-core CPU.

    python benchmarks/batching.py --model smollm2 --users 64 [--task lamp3] [--batch-size 8]
        [--methods base,rag,lora-p,chameleon] [--dtypes float32,bfloat16] [--no-match]
"""

from __future__ import annotations

import argparse
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
    "chameleon": {"history_k": 3, "insight_max_tokens": 32, "ccs_epochs": 100, "ccs_restarts": 2},
}


def run_method(name: str, args, backbone, batch_size: int, out: Path) -> tuple[dict, dict[str, str], list[str]]:
    """One run through the runner: (record, answers by query id, the prompts of its answering stage in order)."""
    import json

    from lampbench.harness.run.method_config import build_config
    from lampbench.harness.run.runner import RunSpec, run
    from lampbench.harness.run.store import Store
    from lampbench.methods.registry import METHODS

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

    inner = method.predict_batch

    def predict_batch(ctx, items):
        answering[0] = True
        try:
            return inner(ctx, items)
        finally:
            answering[0] = False

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
    """Queries per second of the bare loop on `prompts` (after one warm-up batch)."""
    bare_loop(backbone.model, backbone.tokenizer, prompts[:batch_size], batch_size, max_new_tokens)
    start = time.perf_counter()
    bare_loop(backbone.model, backbone.tokenizer, prompts, batch_size, max_new_tokens)
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
    header = ("method", "dtype", "batch", "queries", "predict q/s", "bare q/s", "of bare", "= batch 1", "= fp32")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for name, dtype, batch, queries, qps, bare, match, vs_fp32 in rows:
        of_bare = f"{qps / bare:.0%}" if bare else "-"
        bare_text = f"{bare:.2f}" if bare else "-"
        print(f"{name} | {dtype} | {batch} | {queries} | {qps:.2f} | {bare_text} | {of_bare} | {match} | {vs_fp32}")


if __name__ == "__main__":
    main()
