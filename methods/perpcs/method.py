"""Personalized Pieces (Per-Pcs, papers/per-pcs-personalized-pieces.txt): per-user adapters assembled from a pool.

`fit` builds the pool, and is charged to the budget like everything else:

1. Sharers (§2.3): each training user's history items are embedded and averaged; k-means (K = `sharers`) groups
   the users and the most active user of each cluster (the longest history) becomes a sharer.
2. Base task adaptation (§2.2): OPPU's task LoRA (`lib/task_lora.py`) trained on the training users that are
   *not* sharers, merged into the base weights (`task_adapt`).
3. Each sharer's LoRA (OPPU's per-user stage, q/k/v/o) on that sharer's history items, cut into pieces (one per
   module); then a zero-initialised gate per piece trained with the LoRA frozen (§2.4).

`personalize` trains nothing (§2.5): the target user's history items go through the model with the assembling
hooks (`pieces.Assembler`), and what is stored is the averaged (sharer index, weight) per module. `predict`
applies the assembled adapter with hooks. See `pieces.py` for the math, `config.py` for where each default comes
from.

Anytime: each sharer gets an equal share of the pool's time left, `gate_fraction` of it for the gates; a LoRA
step that runs past its part does not take the gates' part (the run's budget still stops them). A sharer whose
LoRA or gates got no training step is left out of the pool (an untrained gate scores every activation 0); with
no sharer the method answers with the (task-adapted) base. A user's assembly stops at their deadline with the
items seen so far; a user whose assembly saw no item is answered by the base (the report's
`personalized_fraction` says how many were assembled).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch

from lampbench.harness.services.activations import forward_until
from lampbench.harness.services.backbone import pad_batch
from lampbench.harness.services.lora_batch import lora_pairs
from lampbench.methods.contract import Context, Method
from lampbench.methods.lib.adapters import lora_config, lora_scaling, train_adapter
from lampbench.methods.lib.examples import encode_example, fit_prompt, item_examples
from lampbench.methods.lib.loop import LoopConfig, train_parameters
from lampbench.methods.lib.outcome import seed_for
from lampbench.methods.lib.prompt_variants import Prompted, answer_prompt, prepare, unwrap, wrap
from lampbench.methods.lib.rows import answer_rows
from lampbench.methods.lib.saved import load_tensors, save_tensors
from lampbench.methods.lib.sharers import fit_sharers, spread
from lampbench.methods.lib.task_lora import restore_task_lora
from lampbench.methods.perpcs.config import PerPcsConfig
from lampbench.methods.perpcs.pieces import Assembler, Assembly, Pool, applied_rows, gated, stack
from lampbench.tasks.specs import Query, User

PIECE = "piece"


class PerPcs(Method):
    """Sharers' LoRA pieces with trained gates; each target user's adapter assembled from them without training."""

    Config = PerPcsConfig
    config: PerPcsConfig
    uses_train_users = True

    def __init__(self, config: PerPcsConfig | None = None):
        super().__init__(config)
        self._pool: Pool | None = None
        self._task: dict | None = None

    # -- the pool ---------------------------------------------------------------------------------------------

    def fit(self, ctx: Context, train: Sequence[User]) -> None:
        self._pool = None
        self._task, kept = fit_sharers(
            ctx, train, self.config, name="per-pcs", adapter=PIECE,
            train_sharer=lambda sharer, deadline: self._sharer(ctx, sharer, deadline),
        )  # fmt: skip
        if kept:  # every user reads the pool: on the device, in the model's dtype
            pieces, gates = zip(*(trained for _, trained in kept), strict=True)
            ids = [sharer.id for sharer, _ in kept]
            self._pool = stack(list(pieces), list(gates), ids).to(ctx.backbone.device, ctx.backbone.dtype)
        ctx.report["pool"] = {"sharers": len(kept), "modules": len(self._pool.modules) if self._pool else 0}

    def _sharer(self, ctx: Context, sharer: User, deadline: float):
        """Train one sharer's LoRA, then its gates: (report row, ({module: (A, B)}, {module: gate}) or None)."""
        cfg, clock = self.config, ctx.clock
        examples = item_examples(ctx, sharer)
        seed = seed_for(ctx.seed, f"per-pcs-sharer-{sharer.id}")
        lora = lora_config(cfg.train)
        share = deadline - clock.spent
        epochs, _, gate_batch = cfg.sharer_recipe(ctx.task.name)
        state, outcome = train_adapter(
            ctx, PIECE, lora, examples, cfg.sharer_train(ctx.task.name),
            deadline=clock.spent + (1 - cfg.gate_fraction) * share, seed=seed, epochs=epochs,
        )  # fmt: skip
        # A piece without a gate cannot be chosen: the gates get their part of the share even when the LoRA's last
        # step ran past it (the run's budget still stops them), and later sharers share what is left.
        deadline = max(deadline, clock.spent + cfg.gate_fraction * share)
        row = {"user": sharer.id, "history": len(sharer.profile), "lora": outcome.report()}
        if state is None:
            return row, None
        pieces = lora_pairs(state, PIECE, lora_scaling(lora))  # {module: (A, B·scaling)}: its pieces
        device, dtype = ctx.backbone.device, ctx.backbone.dtype
        A = {m: a.to(device, dtype) for m, (a, _) in pieces.items()}
        B = {m: b.to(device, dtype) for m, (_, b) in pieces.items()}
        gates = {m: torch.nn.Parameter(torch.zeros(a.shape[1], device=device)) for m, a in A.items()}
        _, steps, lr = cfg.for_task(ctx.task.name)
        train = cfg.train
        loop = LoopConfig(  # the gates decay linearly unless the LoRA's schedule is constant
            learning_rate=lr, max_grad_norm=train.max_grad_norm, batch_size=gate_batch,
            lr_scheduler="constant" if train.lr_scheduler == "constant" else "linear",
            max_target_tokens=train.max_target_tokens, gradient_checkpointing=train.gradient_checkpointing,
        )  # fmt: skip
        gate_outcome = train_parameters(
            ctx, examples, [{"params": list(gates.values()), "weight_decay": 0.0}], loop, steps=steps,
            deadline=deadline, seed=seed, hooks=gated(ctx.backbone, A, B, gates),
        )  # fmt: skip
        row["gates"] = gate_outcome.report()
        if gate_outcome.steps == 0:
            return row, None
        return row, (pieces, {m: g.detach().float().cpu() for m, g in gates.items()})

    # -- a user -------------------------------------------------------------------------------------------------

    def personalize(self, ctx: Context, user: User) -> Assembly | Prompted | None:
        cfg, backbone = self.config, ctx.backbone
        if self._pool is None:
            _record_user(ctx, user, 0, False)
            return wrap(cfg.prompt, None, prepare(ctx, cfg.prompt, user))
        pace = ctx.clock.pace(ctx.user_deadline(user, cfg.budget_split))
        rows = history_rows(ctx, user, cfg)
        k, _, _ = cfg.for_task(ctx.task.name)
        assembler = Assembler(self._pool, k)
        pad, device = backbone.tokenizer.pad_token_id, backbone.device
        with torch.inference_mode(), assembler.installed(backbone):
            for start in range(0, len(rows), cfg.assemble_batch_size):
                if not pace.next_fits():  # no batch the user's time left cannot afford
                    break
                batch = rows[start : start + cfg.assemble_batch_size]
                ids, attention = pad_batch([row for row, _ in batch], pad)
                mask = torch.zeros(ids.shape, dtype=torch.float)
                for i, (_, (lo, hi)) in enumerate(batch):
                    mask[i, lo:hi] = 1.0
                assembler.mask = mask.to(device)
                # Only as far as the last piece's module: the layers after it and the LM head choose nothing.
                inputs = {"input_ids": ids.to(device), "attention_mask": attention.to(device)}
                forward_until(backbone, self._pool.modules, **inputs)
                assembler.items += len(batch)
                pace.tick()
        state = assembler.assembly()
        _record_user(ctx, user, assembler.items, state is not None)
        return wrap(cfg.prompt, state, prepare(ctx, cfg.prompt, user))  # +RAG / +PAG: what the prompts show

    def predict(self, ctx: Context, state: Assembly | None, queries: Sequence[Query]) -> list[str]:
        return self.predict_batch(ctx, [(state, queries)])[0]

    def predict_batch(self, ctx: Context, items: Sequence[tuple[Assembly | None, Sequence[Query]]]) -> list[list[str]]:
        """Users share batches, each row with its own user's assembled pieces (`applied_rows`; none: the base)."""
        pool, variant = self._pool, self.config.prompt
        unwrapped = [(unwrap(state), queries) for state, queries in items]
        prompts = [[answer_prompt(ctx, variant, prompt, q) for q in queries] for (_, prompt), queries in unwrapped]
        states = [state if pool is not None else None for (state, _), _ in unwrapped]

        def install(chunk, rows):
            return nullcontext() if pool is None else applied_rows(ctx.backbone, pool, chunk, rows)

        return answer_rows(ctx, prompts, states, install)

    def collective_state(self) -> dict | None:
        """The pool and the merged task LoRA's weights (what every user's answers depend on)."""
        if self._pool is None and self._task is None:
            return None
        return {"pool": self._pool, "task_lora": self._task}

    def save_collective(self, ctx: Context, path: Path) -> bool:
        """The pool (A, B and gates per module and sharer) and the merged task LoRA, in one safetensors file."""
        pool, tensors = self._pool, {f"task/{k}": v for k, v in (self._task or {}).items()}
        if pool is not None:
            for part in ("A", "B", "gates"):
                tensors.update({f"{part}/{m}": t for m, t in getattr(pool, part).items()})
        header = {
            "task": self._task is not None, "pool": pool is not None,
            "sharers": list(pool.sharers) if pool else [], "modules": list(pool.modules) if pool else [],
        }  # fmt: skip
        save_tensors(path, "per-pcs", tensors, header)
        return True

    def load_collective(self, ctx: Context, path: Path) -> bool:
        got = load_tensors(path, "per-pcs")
        if got is None:
            return False
        tensors, header = got
        cfg = self.config
        self._task = {k[5:]: v for k, v in tensors.items() if k.startswith("task/")} if header["task"] else None
        restore_task_lora(ctx, self._task, lora_config(cfg.train, cfg.task.target_modules), merge=True)
        self._pool = None
        if header["pool"]:
            modules = tuple(header["modules"])
            parts = {part: {m: tensors[f"{part}/{m}"] for m in modules} for part in ("A", "B", "gates")}
            self._pool = Pool(tuple(header["sharers"]), modules, **parts).to(ctx.backbone.device, ctx.backbone.dtype)
        return True


def _record_user(ctx: Context, user: User, items: int, assembled: bool) -> None:
    """A user's assembly in the run report, and the share of users actually personalized so far."""
    report = ctx.report
    report.setdefault("users", []).append({"user": user.id, "history": len(user.profile), "items_assembled": items})
    report["assembled_users"] = report.get("assembled_users", 0) + assembled
    report["base_users"] = report.get("base_users", 0) + (not assembled)
    ctx.personalized(user, assembled, "" if assembled else "budget" if user.profile else "no_history")


def history_rows(ctx: Context, user: User, cfg: PerPcsConfig) -> list[tuple[list[int], tuple[int, int]]]:
    """The user's history items as (token ids, (begin, end) of the scored positions), at most `max_history`.

    An item with an output (a task example: input -> the item's label or text) is scored on its target tokens,
    end-of-turn included (b = |x| + 1 .. e = |x| + |y| + 1 in the paper); an item without one (LaMP-1) on its
    whole text.
    """
    backbone = ctx.backbone
    examples = item_examples(ctx, user)
    if examples:
        out = []
        for ex in spread(examples, cfg.max_history):
            prompt, target = encode_example(backbone, ex, cfg.train.max_target_tokens)
            out.append((prompt + target, (len(prompt), len(prompt) + len(target))))
        return out
    texts = [fit_prompt(ctx, ctx.task.corpus(item)) for item in spread(user.profile, cfg.max_history)]
    return [(ids, (0, len(ids))) for ids in (backbone.encode(t) for t in texts if t.strip())]
