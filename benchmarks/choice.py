"""Benchmark: answers read by choice against generated ones, time per query and score, through real runs.

Each method runs twice on the same synthetic users, `--answer generate` then `--answer choice` (the same prompts,
adapters and hooks; only the reading differs), and the runs' own records give predict seconds per query, the
headline metric and how many answers were unreadable. Choice scores every label after a shared prompt KV cache
(one forward over the prompts, then the labels' tokens for all of them at once), so its cost per query should
stay close to generation's: target `choice / generate <= 1.5` on LaMP-2 (15 tags, the most choices).

    python benchmarks/choice.py [--model smollm2] [--tasks lamp2,lamp3] [--methods base,rag] [--users 24]
        [--batch-size 8] [--budget 2m] [--json choice.json]

Runs go to a temporary folder (nothing is reused between invocations); `--model tiny-random --users 2` is a smoke
test of the script itself.
"""

from __future__ import annotations

import argparse
import json
import tempfile


def measure(method: str, task: str, answer: str, args, out: str) -> dict:
    """One run's record figures: predict seconds per query, the headline metric, unreadable answers."""
    import lampbench
    from lampbench.tasks.specs import get_task

    record = lampbench.run(
        method, task, args.budget, out=out, force=True, data="synthetic", users=args.users, model=args.model,
        batch_size=args.batch_size, answer=answer,
    )  # fmt: skip
    if record["status"] not in ("ok", "over_budget"):
        raise SystemExit(f"{method} on {task} ({answer}) failed: {record.get('error')}")
    primary = get_task(task).primary_metric
    return {
        "s_per_query": record["predict_s_per_query"], primary: record["metrics"].get(primary),
        "unparsed": record["unparsed"], "queries": record["queries"],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--tasks", default="lamp2,lamp3")
    parser.add_argument("--methods", default="base,rag")
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--budget", default="2m")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()

    from lampbench.tasks.specs import get_task

    rows = []
    with tempfile.TemporaryDirectory() as out:
        for task in args.tasks.split(","):
            primary = get_task(task).primary_metric
            for method in args.methods.split(","):
                found = {answer: measure(method, task, answer, args, out) for answer in ("generate", "choice")}
                ratio = found["choice"]["s_per_query"] / found["generate"]["s_per_query"]
                rows.append({"task": task, "method": method, "ratio": ratio, "primary": primary, **found})
    print(f"{'task':7} {'method':8} {'generate s/q':>12} {'choice s/q':>10} {'ratio':>6} {'target':>7}  "
          f"{'metric generate -> choice':28} {'unreadable':>10}")  # fmt: skip
    for r in rows:
        g, c, m = r["generate"], r["choice"], r["primary"]
        score, verdict = f"{m} {g[m]:.3f} -> {c[m]:.3f}", "ok" if r["ratio"] <= 1.5 else "OVER"
        print(f"{r['task']:7} {r['method']:8} {g['s_per_query']:12.4f} {c['s_per_query']:10.4f} {r['ratio']:6.2f} "
              f"{verdict:>7}  {score:28} {g['unparsed']:>4} -> {c['unparsed']}")  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"model": args.model, "users": args.users, "batch_size": args.batch_size, "rows": rows}, f,
                      indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
