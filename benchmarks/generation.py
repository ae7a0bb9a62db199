"""Benchmark: the harness's batched generation against a bare `model.generate` loop on the same prompts.

Both sides get the same prompts (synthetic LaMP inputs through the chat template), the same batch size and the
same greedy settings. The bare loop is what a researcher writes by hand: tokenizer padding on the left, one
`generate` call per batch in file order. The harness adds length-sorted batches, parsing-ready decoding and
order restoration. Target: the harness at 90% or more of the bare loop's queries per second.

    python benchmarks/generation.py [--model smollm2] [--task lamp3] [--queries 48] [--batch-size 8] [--repeats 3]
        [--dtype auto|float32|bfloat16|float16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def bare_loop(
    model, tokenizer, prompts: list[str], batch_size: int, max_new_tokens: int, min_new_tokens: int = 0
) -> list[str]:
    """What a researcher writes by hand: left padding, one greedy `generate` per batch, in file order."""
    tokenizer.padding_side = "left"
    texts = [
        tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
        for p in prompts
    ]
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            )
            batch = {k: v.to(model.device) for k, v in batch.items()}
            out = model.generate(
                **batch, do_sample=False, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
            )  # fmt: skip
            outputs += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--task", default="lamp3")
    parser.add_argument("--queries", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on CUDA, fp32 on CPU), float32, bfloat16, float16")
    args = parser.parse_args()

    from lampbench.harness.run.inputs import synthetic_files
    from lampbench.harness.services.models import load_backbone
    from lampbench.tasks.data import load_users
    from lampbench.tasks.specs import get_task

    task = get_task(args.task)
    users = load_users(task, *synthetic_files(task, "dev", n_users=max(100, args.queries)))
    prompts = [q.input for u in users for q in u.queries][: args.queries]
    backbone = load_backbone(args.model, batch_size=args.batch_size, dtype=args.dtype)
    torch.manual_seed(0)

    def harness() -> list[str]:
        return backbone.generate(prompts, max_new_tokens=task.max_new_tokens)

    def bare() -> list[str]:
        return bare_loop(backbone.model, backbone.tokenizer, prompts, args.batch_size, task.max_new_tokens)

    harness(), bare()  # warm-up (allocator, kernels)
    times: dict[str, list[float]] = {"harness": [], "bare": []}
    for _ in range(args.repeats):
        for name, fn in (("bare", bare), ("harness", harness)):  # interleaved so drift hits both alike
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    qps = {name: len(prompts) / statistics.median(t) for name, t in times.items()}
    same = sum(a.strip() == b.strip() for a, b in zip(harness(), bare(), strict=True))
    device = str(backbone.device)
    dtype = str(backbone.dtype).removeprefix("torch.")
    print(f"{args.model} ({dtype}) on {device}, {task.name}, {len(prompts)} prompts, batch {args.batch_size}, "
          f"max_new_tokens {task.max_new_tokens}, median of {args.repeats}")  # fmt: skip
    print(f"  bare model.generate loop: {qps['bare']:.2f} queries/s")
    print(f"  harness Backbone.generate: {qps['harness']:.2f} queries/s  ({qps['harness'] / qps['bare']:.0%} of bare)")
    print(f"  identical answers: {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
