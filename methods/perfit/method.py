"""PerFit (papers/perfit-personalization-shifts.txt): personalized fine-tuning in representation space, two stages.

At the chosen decoder layers, the residual stream h at the first and last few prompt positions becomes
(phi2 ∘ phi1)(h), each phi(h) = h + Rᵀ(W h + b − R h) a LoReFT intervention (`intervention.py`).

- Stage 1 (`fit`): phi1, the *collective shift*, trained on the training users' examples: by default their
  questions with their gold outputs (`stage1_source=queries`), the same examples OPPU's task LoRA learns from;
  `stage1_source=history` takes their history items turned into task examples instead (input rendered from the
  item, target its `profile_target` field), `both` takes both (`methods/lib/examples.py`).
  Frozen afterwards; it is the run's collective state.
- Stage 2 (`personalize`): phi2, the user's *personalized shift*, trained from the identity on that user's history
  items only (the same item examples as OPPU's per-user LoRA), applied on top of the frozen phi1. The user's state
  is phi2's tensors alone: r2·(2d+1) numbers per intervened layer (R2, W2, b2), against OPPU's per-user LoRA of
  millions.
- Answering: the task input alone, as `base` and OPPU answer, with phi1 then phi2 applied to the prompt pass.

Anytime: stage 1 may use `stage1_fraction` of the budget, each user an equal share of what is left; every step
checks the clock first, a stage the budget stops keeps what it learnt, and a stage that took no step is left out
(a user with no step is answered with stage 1 alone, and stores nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

import torch

from lampbench.methods.contract import Context, Method
from lampbench.methods.lib.examples import fit_prompt, item_examples, task_examples
from lampbench.methods.lib.outcome import Outcome, seed_for
from lampbench.methods.lib.rows import answer_rows
from lampbench.methods.lib.saved import load_tensors, save_tensors
from lampbench.methods.perfit.config import PerFitConfig
from lampbench.methods.perfit.intervention import (
    Phi,
    RowPhi,
    TrainablePhi,
    check_layers,
    default_layers,
    intervening,
)
from lampbench.methods.perfit.train import train_stage
from lampbench.tasks.specs import Query, User


def rank_layer_parameters(phi: Phi | None) -> int:
    """Numbers in a stored intervention: r·(2d+1) per layer."""
    return 0 if phi is None else phi.R.numel() + phi.W.numel() + phi.b.numel()


class PerFit(Method):
    """Two-stage LoReFT: a collective intervention from the training users, then one small one per user on top."""

    Config = PerFitConfig
    config: PerFitConfig
    uses_train_users = True

    def __init__(self, config: PerFitConfig | None = None):
        super().__init__(config)
        self._stage1: Phi | None = None

    def _new_phi(self, ctx: Context, rank: int, seed: int) -> TrainablePhi:
        torch.manual_seed(seed)  # R's random start; W starts as R and b at 0, so phi starts as the identity
        return TrainablePhi(self.layers(ctx), ctx.backbone.model.config.hidden_size, rank)

    def layers(self, ctx: Context) -> tuple[int, ...]:
        """The configured layers, else four spread over the first half of the backbone's depth (checked)."""
        layers = tuple(self.config.layers) or default_layers(ctx.backbone.num_layers)
        check_layers(ctx.backbone, layers)
        return layers

    def fit(self, ctx: Context, train: Sequence[User]) -> None:
        cfg = self.config
        self._stage1 = None
        ctx.report["layers"] = list(self.layers(ctx))
        if cfg.stages == 2:
            ctx.report["stage1"] = {"skipped": "stages=2"}
            return
        examples = task_examples(ctx, train, cfg.stage1_source)
        deadline = ctx.clock.fit_deadline(1.0 if cfg.stages == 1 else cfg.stage1_fraction)
        seed = seed_for(ctx.seed, "perfit-stage1")
        phi = self._new_phi(ctx, cfg.r1, seed)
        outcome = train_stage(ctx, examples, phi, None, cfg, epochs=cfg.epochs1, deadline=deadline, seed=seed)
        self._stage1 = phi.export() if outcome.steps else None
        parameters = rank_layer_parameters(self._stage1)
        ctx.report["stage1"] = {"train_users": len(train), **outcome.report(), "parameters": parameters}

    def personalize(self, ctx: Context, user: User) -> Phi | None:
        cfg = self.config
        if cfg.stages == 1:
            return None
        examples = item_examples(ctx, user)
        seed = seed_for(ctx.seed, user.id)
        phi = self._new_phi(ctx, cfg.r2, seed)
        outcome = train_stage(
            ctx, examples, phi, self._stage1, cfg, epochs=cfg.epochs2, deadline=ctx.user_deadline(user), seed=seed
        )
        state = phi.export() if outcome.steps else None
        _record_user(ctx, user, outcome, rank_layer_parameters(state))
        return state

    def predict(self, ctx: Context, state: Phi | None, queries: Sequence[Query]) -> list[str]:
        return self.predict_batch(ctx, [(state, queries)])[0]

    def predict_batch(self, ctx: Context, items: Sequence[tuple[Phi | None, Sequence[Query]]]) -> list[list[str]]:
        """Users share batches: phi1 on every row, then each row's own phi2 (`RowPhi`; none: the identity)."""
        cfg, backbone = self.config, ctx.backbone
        prompts = [[fit_prompt(ctx, q.input) for q in queries] for _, queries in items]
        stage1 = None if self._stage1 is None else self._stage1.to(backbone.device)

        def install(chunk, rows):
            stages = [stage1] if stage1 is not None else []
            if any(phi is not None for phi in chunk):
                stages.append(RowPhi(chunk, rows, backbone.device))
            if not stages:
                return nullcontext()
            return intervening(backbone, stages, self.layers(ctx), first_n=cfg.first_n, last_n=cfg.last_n)

        return answer_rows(ctx, prompts, [state for state, _ in items], install)

    def collective_state(self) -> Phi | None:
        return self._stage1

    def save_collective(self, ctx: Context, path: Path) -> bool:
        """Stage 1's intervention (or that it trained none), so another run or a shard can skip `fit`."""
        phi = self._stage1
        tensors = {} if phi is None else {"R": phi.R, "W": phi.W, "b": phi.b}
        save_tensors(path, "perfit", tensors, {"layers": list(phi.layers) if phi else None})
        return True

    def load_collective(self, ctx: Context, path: Path) -> bool:
        got = load_tensors(path, "perfit")
        if got is None:
            return False
        tensors, header = got
        ctx.report["layers"] = list(self.layers(ctx))
        layers = header.get("layers")
        self._stage1 = None if layers is None else Phi(tuple(layers), tensors["R"], tensors["W"], tensors["b"])
        return True


def _record_user(ctx: Context, user: User, outcome: Outcome, parameters: int) -> None:
    """A user's stage-2 outcome in the run report, and running totals."""
    report = ctx.report
    report.setdefault("users", []).append({"user": user.id, **outcome.report(), "parameters": parameters})
    totals = report.setdefault("stage2", {"trained_users": 0, "untrained_users": 0, "steps": 0, "examples_seen": 0})
    totals["trained_users" if outcome.steps else "untrained_users"] += 1
    totals["steps"] += outcome.steps
    totals["examples_seen"] += outcome.examples_seen
    ctx.personalized(user, outcome.steps > 0, "" if outcome.steps else "budget" if outcome.examples else "no_history")
