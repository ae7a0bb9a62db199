"""The GPU check: every registered method once on CUDA in bf16, batched answers against batch 1, peak GPU memory,
and the base model's throughput at batch 1/8/32 on a random-weight 7B model. About 5 minutes on one GPU.

    python benchmarks/cuda_check.py [--device cuda] [--model tiny-random] [--big random:llama-2-7b]
        [--methods base,rag,...] [--users 4] [--budget 60] [--batches 1,8,32] [--out cuda-check] [--memory-7b]

For each method: two runs of the same spec on synthetic LaMP-3 with the fast settings the tests use
(`tests/methods/fast.py`), at `--batch-size 8` and at 1, and how many answers agree; the run's own batch-1 check
(`run.json`'s `batch1`, on the base prompts); its peak GPU memory; its status. Then `--big` at each batch size:
queries/s and tokens/s at a fixed answer length, and peak memory. `--memory-7b` also runs every method once on
`--big` (2 users, the fast settings, 30 s budgets: several more minutes) for each method's peak memory at 7B.

It needs torch, transformers and peft. A method whose packages are missing (trl, rank-bm25,
sentence-transformers and the packaged embedder) is reported as skipped with the import that failed; a
generation task would need rouge-score, so the check uses LaMP-3. It runs from a source tree that was never
installed: it maps lampbench's packages itself and registers the built-in methods from pyproject.toml. It prints
a table and writes `<out>/cuda_check.json`. A CPU smoke test (what the test suite runs):

    python benchmarks/cuda_check.py --device cpu --dtype float32 --methods base --users 2 --big tiny-random \
        --batches 1,2 --out /tmp/cuda-check
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TASK = "lamp3"


def import_lampbench() -> None:
    """`lampbench` from this source tree when it is not installed (its subpackages live at the top of the tree)."""
    try:
        import lampbench.harness  # noqa: F401
    except ModuleNotFoundError:
        spec = importlib.util.spec_from_file_location(
            "lampbench",
            ROOT / "lampbench" / "__init__.py",
            submodule_search_locations=[str(ROOT / "lampbench"), str(ROOT)],
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["lampbench"] = module
        spec.loader.exec_module(module)


def methods(wanted: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """The methods to check (all registered by default) and those that cannot import here, with why."""
    from lampbench.methods.registry import METHODS

    entries = {name: entry.target for name, entry in METHODS.entries().items()}
    if not entries:  # not installed: no entry points; the built-ins are listed in pyproject.toml
        table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["lampbench.methods"]
        entries = dict(table)
    ready, skipped = [], {}
    for name in wanted or list(entries):
        target = entries.get(name, name)
        try:
            module, _, cls = target.partition(":")
            found = getattr(importlib.import_module(module), cls)
            if name not in METHODS.entries():
                METHODS.register(name)(found)
            ready.append(name)
        except ImportError as e:
            skipped[name] = f"{type(e).__name__}: {e}".splitlines()[0]
    return ready, skipped


def check_method(name: str, args, out: Path, batches: tuple[int, ...] = (8, 1)) -> dict[str, Any]:
    """The method at batch 8 and at batch 1: agreement, the runner's own batch-1 check, peak memory, status."""
    import lampbench
    from lampbench.tests.methods.fast import FAST

    row: dict[str, Any] = {"method": name}
    answers = {}
    for batch in batches:
        t = time.perf_counter()
        try:
            record = lampbench.run(
                name, TASK, args.budget, sets=FAST.get(name, {}), out=out, force=True, data="synthetic",
                users=args.users, model=args.model, device=args.device, dtype=args.dtype, batch_size=batch,
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001 - a failing method is a row of the table, not the end of the check
            return {**row, "status": "error", "error": f"{type(e).__name__}: {e}".splitlines()[0]}
        lines = (out / record["run_id"] / "generations.jsonl").read_text(encoding="utf-8").splitlines()
        answers[batch] = {line["id"]: line["raw"] for line in map(json.loads, lines)}
        if batch == 8:
            row.update(
                status=record["status"], error=record.get("error"), wall_s=round(time.perf_counter() - t, 1),
                peak_gpu_memory_bytes=record.get("peak_gpu_memory_bytes"), batch1=record.get("batch1"),
                device=record.get("device"), dtype=record.get("dtype"),
            )  # fmt: skip
    if 1 not in answers:
        return row
    row["answers"] = len(answers[8])
    row["agreed_with_batch1"] = sum(answers[1].get(i) == text for i, text in answers[8].items())
    return row


def throughput(args) -> list[dict[str, Any]]:
    """`--big` at each batch size: queries/s and tokens/s with every answer `--tokens` long, and peak memory."""
    import torch

    from lampbench.harness.run.inputs import synthetic_files
    from lampbench.harness.services.backbone import pad_batch
    from lampbench.harness.services.devices import claim, peak_memory
    from lampbench.harness.services.models import load_backbone
    from lampbench.tasks.data import load_users
    from lampbench.tasks.specs import get_task

    device = claim(args.device).device
    task = get_task(TASK)
    users = load_users(task, *synthetic_files(task, "dev", n_users=100))
    inputs = [q.input for u in users for q in u.queries]
    t = time.perf_counter()
    backbone = load_backbone(args.big, device=device, dtype=args.dtype)
    load_s = time.perf_counter() - t
    config = backbone.generation_config(args.tokens)
    config.min_new_tokens = args.tokens  # a fixed answer length: tokens/s is comparable across batch sizes

    def answer(prompts: list[str], batch: int) -> None:
        encoded = [backbone.encode(p) for p in prompts]
        with torch.inference_mode():
            for start in range(0, len(encoded), batch):
                ids, mask = pad_batch(encoded[start : start + batch], backbone.tokenizer.pad_token_id, left=True)
                ids, mask = ids.to(device), mask.to(device)
                backbone.model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    answer(inputs[:2], 2)  # warm-up: kernels, allocator
    rows = []
    for batch in args.batches:
        prompts = inputs[: max(2 * batch, 8)]
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        answer(prompts, batch)
        seconds = time.perf_counter() - t
        rows.append({
            "model": args.big, "batch": batch, "queries": len(prompts), "tokens": len(prompts) * args.tokens,
            "seconds": round(seconds, 2), "queries_per_s": round(len(prompts) / seconds, 2),
            "tokens_per_s": round(len(prompts) * args.tokens / seconds, 1),
            "peak_gpu_memory_bytes": peak_memory(device), "load_s": round(load_s, 1),
            "dtype": str(backbone.dtype).removeprefix("torch."),
        })  # fmt: skip
    return rows


def _gib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f}"


def table(report: dict[str, Any]) -> str:
    lines = [f"{'method':<16}{'status':<13}{'batch8=batch1':>14}{'run batch1':>11}{'peak GiB':>10}{'wall s':>8}"]
    for row in report["methods"]:
        b1 = row.get("batch1")
        agree = f"{row['agreed_with_batch1']}/{row['answers']}" if "answers" in row else "-"
        own = f"{b1['agreed']}/{b1['sample']}" if b1 else "-"
        lines.append(f"{row['method']:<16}{row['status']:<13}{agree:>14}{own:>11}"
                     f"{_gib(row.get('peak_gpu_memory_bytes')):>10}{row.get('wall_s', '-'):>8}")  # fmt: skip
        if row.get("error"):
            lines.append(f"    {row['error'][:110]}")
    for name, why in report["skipped"].items():
        lines.append(f"{name:<16}{'skipped':<13}    {why[:80]}")
    for row in report["memory_7b"]:
        peak = _gib(row.get("peak_gpu_memory_bytes"))
        lines.append(f"{row['method']:<16}{row['status']:<13}{'at ' + report['big']:>25}{peak:>10}")
    lines.append("")
    lines.append(f"{'model':<24}{'batch':>6}{'queries/s':>11}{'tokens/s':>10}{'peak GiB':>10}")
    for row in report["throughput"]:
        lines.append(f"{row['model']:<24}{row['batch']:>6}{row['queries_per_s']:>11}{row['tokens_per_s']:>10}"
                     f"{_gib(row['peak_gpu_memory_bytes']):>10}")  # fmt: skip
    lines.append(f"\n{report['device']}, {report['elapsed_s']:.0f} s in all")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--model", default="tiny-random", help="the model every method runs on")
    parser.add_argument("--big", default="random:llama-2-7b", help="the model of the throughput figures")
    parser.add_argument("--methods", default="", help="comma-separated (default: every registered method)")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--tokens", type=int, default=32, help="answer length of the throughput figures")
    parser.add_argument("--memory-7b", action="store_true", help="every method once on --big too")
    parser.add_argument("--out", type=Path, default=Path("cuda-check"))
    args = parser.parse_args(argv)
    args.batches = [int(b) for b in args.batches.split(",")]
    start = time.perf_counter()
    import_lampbench()
    from lampbench.harness.services.devices import claim

    device = claim(args.device)  # before anything starts CUDA: one GPU for everything below
    ready, skipped = methods([m for m in args.methods.split(",") if m] or None)
    report: dict[str, Any] = {"device": device.describe(), "model": args.model, "big": args.big, "dtype": args.dtype,
                              "skipped": skipped, "methods": [], "memory_7b": [], "throughput": []}  # fmt: skip
    for name in ready:
        report["methods"].append(check_method(name, args, args.out / "runs"))
        print(f"{name}: {report['methods'][-1]['status']}", flush=True)
    report["throughput"] = throughput(args)
    if args.memory_7b:
        big = argparse.Namespace(**{**vars(args), "model": args.big, "users": 2, "budget": 30.0})
        for name in ready:
            row = check_method(name, big, args.out / "runs-7b", batches=(8,))
            report["memory_7b"].append({k: row.get(k) for k in ("method", "status", "error", "peak_gpu_memory_bytes")})
    from lampbench.harness.services.hardware import describe

    report["hardware"], report["elapsed_s"] = describe(), round(time.perf_counter() - start, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cuda_check.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(table(report))
    return report


if __name__ == "__main__":
    main()
