"""Benchmark: generation with CHAMELEON's edit hooks installed against plain generation, on the same prompts.

Both sides decode exactly `--new-tokens` tokens per prompt (`min_new_tokens` = `max_new_tokens`), so an edit that
changes the answer cannot change the amount of work; batches, greedy settings and prompts (synthetic LaMP inputs
through the chat template) are the same. The edits are CHAMELEON's (`methods/chameleon/editing.py`) with random
directions: what they cost does not depend on their values. Two figures per setting:

- end to end: the median time of a pass with hooks against one without (interleaved, so machine drift hits both);
- inside the hooks: the time spent in the hook functions themselves, as a share of the pass (robust to a busy
  machine, since it does not subtract two noisy numbers).

Target: the hooks cost under 5% of generation time at CHAMELEON's defaults (5 layers, last position).

    python benchmarks/chameleon_hooks.py [--model smollm2] [--task lamp3] [--queries 32] [--new-tokens 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from generation import bare_loop  # benchmarks/ is on the path when this runs as a script


def timed(hooks: dict, spent: list[float]) -> dict:
    """The same hooks, each wrapped to add the time spent inside it to `spent[0]`."""

    def wrap(hook):
        def inner(module, inputs, output):
            start = time.perf_counter()
            result = hook(module, inputs, output)
            spent[0] += time.perf_counter() - start
            return result

        return inner

    return {name: wrap(hook) for name, hook in hooks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--task", default="lamp3")
    parser.add_argument("--queries", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from lampbench.harness.run.inputs import synthetic_files
    from lampbench.harness.services.models import load_backbone
    from lampbench.methods.chameleon.directions import Directions
    from lampbench.methods.chameleon.editing import edit_hooks
    from lampbench.tasks.data import load_users
    from lampbench.tasks.specs import get_task

    task = get_task(args.task)
    users = load_users(task, *synthetic_files(task, "dev", n_users=max(100, args.queries)))
    prompts = [q.input for u in users for q in u.queries][: args.queries]
    backbone = load_backbone(args.model, batch_size=args.batch_size)
    d, n = backbone.model.config.hidden_size, backbone.num_layers
    gen = torch.Generator().manual_seed(0)

    def directions(layers: int) -> Directions:
        chosen = tuple(range(0, n, max(1, n // layers)))[:layers]
        theta_p, theta_n = torch.randn(2, len(chosen), d, generator=gen)
        return Directions(chosen, theta_p, theta_n, (0.0,) * len(chosen))

    settings = {
        "5 layers, last position (default)": (directions(5), "last"),
        "5 layers, all positions": (directions(5), "all"),
        f"all {n} layers, last position": (directions(n), "last"),
    }

    def generate() -> None:  # every prompt answered with exactly `new_tokens` tokens
        bare_loop(backbone.model, backbone.tokenizer, prompts, args.batch_size, args.new_tokens, args.new_tokens)

    def run(setting: str | None, spent: list[float]) -> float:
        start = time.perf_counter()
        if setting is None:
            generate()
        else:
            dirs, positions = settings[setting]
            hooks = edit_hooks(backbone, dirs, edit="both", scaling="projection", positions=positions)
            with backbone.hooks(timed(hooks, spent)):
                generate()
        return time.perf_counter() - start

    run(None, [0.0])  # warm-up
    times: dict[str | None, list[float]] = {None: [], **{s: [] for s in settings}}
    inside: dict[str, list[float]] = {s: [] for s in settings}
    for _ in range(args.repeats):
        for setting in times:  # interleaved so drift hits every setting alike
            spent = [0.0]
            times[setting].append(run(setting, spent))
            if setting is not None:
                inside[setting].append(spent[0] / times[setting][-1])
    plain = statistics.median(times[None])
    print(f"{args.model} on {backbone.device} ({torch.get_num_threads()} threads), {task.name}, "
          f"{len(prompts)} prompts, batch {args.batch_size}, {args.new_tokens} new tokens each, "
          f"median of {args.repeats}")  # fmt: skip
    print(f"  plain generation: {plain:.2f} s")
    for setting in settings:
        hooked = statistics.median(times[setting])
        print(f"  {setting}: {hooked:.2f} s, end to end {hooked / plain - 1:+.1%}, "
              f"inside the hooks {statistics.median(inside[setting]):.2%} of the pass")  # fmt: skip


if __name__ == "__main__":
    main()
