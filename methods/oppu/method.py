"""OPPU (Tan et al. 2024) and its two halves: `lora-c` (task LoRA), `lora-p` (per-user LoRA), `oppu` (both).

Stage 1 trains one task LoRA on the training users (their questions with gold outputs, as OPPU's `task_LoRA.py`;
`source` adds their history items); PerFit's collective stage learns from the same examples by default
(`stage1_source=queries`). Stage 2 trains one LoRA per evaluation user, from a fresh adapter, on that
user's history items turned into task examples, and stores the adapter's weights as the user's state. `oppu`
merges stage 1 into the base weights before stage 2, as OPPU does (`merge_and_unload`): the merge changes the
shared backbone for the rest of the run (the runner builds one backbone per run; a caller that passes its own
backbone gets it back with the task LoRA folded in).

Each stage answers with what it has: a stage the budget cut short keeps its last weights, and a stage that could
not run one step (no time, or no examples) answers with the model as it was (the base, or base + task LoRA).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lampbench.methods.contract import Context, Method, PromptMethod
from lampbench.methods.lib.adapters import answering_with, generate_users, lora_config, record_user, train_adapter
from lampbench.methods.lib.examples import fit_prompt, task_examples
from lampbench.methods.lib.outcome import seed_for
from lampbench.methods.lib.prompt_variants import Prompted, answer_prompt, per_user_examples, prepare, unwrap, wrap
from lampbench.methods.lib.saved import load_lora, save_lora
from lampbench.methods.lib.task_lora import TASK, merge_task_lora, restore_task_lora
from lampbench.methods.oppu.config import LoraCConfig, LoraPConfig, OppuConfig
from lampbench.tasks.specs import Query, User

#: The adapter name of a user's LoRA.
USER = "user"


class LoraC(PromptMethod):
    """`lora-c`: one task LoRA (r 8, alpha 8, q/k/v/o) trained on the training users; no per-user stage."""

    Config = LoraCConfig
    config: LoraCConfig
    uses_train_users = True

    def __init__(self, config: LoraCConfig | None = None):
        super().__init__(config)
        self._task: dict | None = None

    def fit(self, ctx: Context, train: Sequence[User]) -> None:
        cfg = self.config
        examples = task_examples(ctx, train, cfg.source)
        self._task, outcome = train_adapter(
            ctx, TASK, lora_config(cfg.train), examples, cfg.train, deadline=None, seed=seed_for(ctx.seed, "lora-c")
        )
        ctx.report["collective"] = {"train_users": len(train), **outcome.report()}

    def personalize(self, ctx: Context, user: User) -> None:
        return None

    def prompt(self, ctx: Context, state: None, query: Query) -> str:
        return fit_prompt(ctx, query.input)

    def answering(self, ctx: Context):
        """The task LoRA swapped in: the same model for every user, so users batch together."""
        return answering_with(ctx.backbone, TASK, self._task)

    def collective_state(self) -> dict | None:
        return self._task

    def save_collective(self, ctx: Context, path: Path) -> bool:
        return save_lora(path, TASK, self._task)

    def load_collective(self, ctx: Context, path: Path) -> bool:
        found, self._task = load_lora(path, TASK)
        if found:
            restore_task_lora(ctx, self._task, lora_config(self.config.train), merge=False)
        return found


class LoraP(Method):
    """`lora-p`: one LoRA per evaluation user (r 8, alpha 8, q/v), from the base, on that user's history."""

    Config = LoraPConfig
    config: LoraPConfig

    def personalize(self, ctx: Context, user: User) -> dict | Prompted | None:
        cfg = self.config
        prompt = prepare(ctx, cfg.prompt, user)  # the +RAG / +PAG variant's index and profile (plain: nothing)
        state, outcome = train_adapter(
            ctx, USER, lora_config(cfg.train), per_user_examples(ctx, cfg.prompt, prompt, user), cfg.train,
            deadline=ctx.user_deadline(user, cfg.budget_split), seed=seed_for(ctx.seed, user.id),
        )  # fmt: skip
        record_user(ctx, user, outcome)
        return wrap(cfg.prompt, state, prompt)

    def predict(self, ctx: Context, state: dict | None, queries: Sequence[Query]) -> list[str]:
        return self.predict_batch(ctx, [(state, queries)])[0]

    def predict_batch(self, ctx: Context, items: Sequence[tuple[dict | None, Sequence[Query]]]) -> list[list[str]]:
        """Users share batches, each row with its own adapter (one batched product per LoRA layer: `generate_users`)."""
        cfg = self.config
        adapters, prompts = [], []
        for state, queries in items:
            adapter, prompt = unwrap(state)  # the user's LoRA, and what their variant prompts show
            adapters.append(adapter)
            prompts.append([answer_prompt(ctx, cfg.prompt, prompt, q) for q in queries])
        return generate_users(ctx, prompts, USER, adapters, lora_config(cfg.train))


class Oppu(LoraP):
    """`oppu`: the task LoRA merged into the base (stage 1), then `lora-p` on top of it (stage 2)."""

    Config = OppuConfig
    config: OppuConfig
    uses_train_users = True

    def __init__(self, config: OppuConfig | None = None):
        super().__init__(config)
        self._task: dict | None = None

    def fit(self, ctx: Context, train: Sequence[User]) -> None:
        cfg = self.config
        self._task, ctx.report["collective"] = merge_task_lora(
            ctx, train, cfg.train, cfg.task, deadline=ctx.clock.fit_deadline(cfg.task_fraction),
            seed=seed_for(ctx.seed, "oppu-task"),
        )  # fmt: skip

    def collective_state(self) -> dict | None:
        return self._task

    def save_collective(self, ctx: Context, path: Path) -> bool:
        return save_lora(path, TASK, self._task)

    def load_collective(self, ctx: Context, path: Path) -> bool:
        found, self._task = load_lora(path, TASK)
        if found:
            config = lora_config(self.config.train, self.config.task.target_modules)
            restore_task_lora(ctx, self._task, config, merge=True)
        return found
