"""The +RAG and +PAG variants of the PEFT methods (OPPU, Per-Pcs, PEFT Retrieval; Per-Pcs Table 1, OPPU's `--k` and
`--add_profile`): the user's adapter answers a prompt that also shows retrieved history items, or a written profile.

A method's config holds a `PromptVariant` as its `prompt` field (`--set prompt.mode=rag --set prompt.k=2`):

- `plain` (the default): the task input alone, as the methods answer without a variant.
- `rag`: LaMP's RAG prompt, the `k` history items BM25 ranks first for the query (`retrieval.py`), then the input.
- `pag`: the user's profile, written once per user by the backbone as `pag` writes it (`profiles.py`), in Per-Pcs'
  layout, with the `k` BM25 items under `### User History` (Per-Pcs and Richardson et al.: k = 1; 0: none).

OPPU trains its per-user LoRA on prompts of the same form as it answers (OPPU.py: each history item conditioned on
retrieved items and the profile), so `per_user_examples` gives a method's per-user stage those examples: each
history item as a task example whose prompt shows the profile and the k items BM25 ranks first among the user's
*other* items (OPPU retrieves from the earlier items; LaMP's profiles are not in time order, so here it is all the
others, as ALOE's and DPO's examples are built). Choices of ours: the task LoRA (stage 1) and Per-Pcs' sharers
train on plain prompts (OPPU's `task_LoRA.py --k` retrieves for them too: an option we do not offer), and a user
whose profile could not be written answers from the plain input. What a run used is recorded under the report's
`prompt_variant`; each user's profile under `profiles`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from lampbench.methods.contract import Context
from lampbench.methods.lib.checks import at_least
from lampbench.methods.lib.examples import Example, fit_prompt, instruction, item_examples, item_input
from lampbench.methods.lib.profiles import pag_fit, write_profile
from lampbench.methods.lib.prompt_budget import counted, fit_query, special_tokens
from lampbench.methods.lib.retrieval import HistoryIndex, Retrieval
from lampbench.tasks.prompts import Fitted, rag_fit
from lampbench.tasks.specs import Query, User

Mode = Literal["plain", "rag", "pag"]


def _f(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class PromptVariant:
    """What the answer prompt shows besides the task input: nothing, retrieved items, or a profile (and items)."""

    mode: Mode = _f("plain", "plain: the task input; rag: + the k BM25 items (+RAG); pag: + the user's profile (+PAG)")
    k: int = _f(1, "history items BM25 retrieves into the prompt (rag; pag: under '### User History', 0: none)")
    profile_items: int = _f(10, "pag: random history items the profile is written from (as `pag`)")
    item_words: int = _f(200, "pag: each of those items is cut to this many words (as `pag`)")
    profile_max_new_tokens: int = _f(128, "pag: length limit of the written profile (as `pag`)")

    def __post_init__(self) -> None:
        at_least(self, 0, "k")
        at_least(self, 1, "profile_items", "item_words", "profile_max_new_tokens")
        if self.mode == "rag":
            at_least(self, 1, "k")

    @property
    def retrieves(self) -> bool:
        return self.mode != "plain" and self.k > 0


@dataclass(frozen=True)
class VariantState:
    """What a user's variant prompts need: their history index (rag, pag with k) and profile (pag; None: none)."""

    index: HistoryIndex | None = None
    profile: str | None = None


@dataclass(frozen=True)
class Prompted:
    """A method's per-user state (adapter weights, an assembly) with what the user's variant prompts need."""

    state: Any
    prompt: VariantState


def wrap(variant: PromptVariant, state: Any, prompt: VariantState) -> Any:
    """The user's state as the method stores it: unchanged under `plain`, else with its `VariantState`."""
    return state if variant.mode == "plain" else Prompted(state, prompt)


def unwrap(state: Any) -> tuple[Any, VariantState | None]:
    """(the method's own state, the user's `VariantState` or None) from what `wrap` returned."""
    return (state.state, state.prompt) if isinstance(state, Prompted) else (state, None)


def prepare(ctx: Context, variant: PromptVariant, user: User) -> VariantState:
    """A user's `VariantState`; for `pag` the backbone writes their profile now (recorded in the report)."""
    record(ctx, variant)
    if variant.mode == "plain":
        return VariantState()
    index = Retrieval(variant.k).index(ctx, user) if variant.retrieves else None
    profile = None
    if variant.mode == "pag":
        profile = write_profile(
            ctx, user, n_items=variant.profile_items, item_words=variant.item_words,
            max_new_tokens=variant.profile_max_new_tokens,
        )  # fmt: skip
        if profile is not None:
            ctx.report.setdefault("profiles", {})[user.id] = profile
        else:
            ctx.report["profiles_missing"] = ctx.report.get("profiles_missing", 0) + 1
    return VariantState(index, profile)


def record(ctx: Context, variant: PromptVariant) -> None:
    """The variant a run answered with, in its report (what the +RAG / +PAG columns of a table were)."""
    ctx.report.setdefault("prompt_variant", asdict(variant))


def answer_prompt(ctx: Context, variant: PromptVariant, state: VariantState | None, query: Query) -> str:
    """The prompt for one query under `variant` (the plain input when `state` is None: nothing to show)."""
    if variant.mode == "plain" or state is None:
        return fit_prompt(ctx, query.input)
    items: list[dict[str, Any]] = []
    if state.index is not None:
        items = Retrieval(variant.k).retrieve(ctx, state.index, ctx.task.query(query.input))
    fitted = _fit(ctx, variant, state, query.input, items)
    return fit_query(ctx, query.input) if fitted is None else counted(ctx, fitted)


def per_user_examples(ctx: Context, variant: PromptVariant, state: VariantState | None, user: User) -> list[Example]:
    """The user's history items as task examples whose prompts have the variant's form (see the module docstring)."""
    if variant.mode == "plain" or state is None:
        return item_examples(ctx, user)
    task = ctx.task
    if task.profile_target is None:
        return []
    items = list(user.profile)
    prefix = instruction(task, [q.input for q in user.queries])
    others = _others(ctx, items, variant.k if variant.retrieves else 0)
    out = []
    for j, item in enumerate(items):
        target = str(item.get(task.profile_target, "")).strip()
        if target:
            inp = item_input(task, item, prefix)
            fitted = _fit(ctx, variant, state, inp, others[j])
            prompt = fit_prompt(ctx, inp) if fitted is None else fitted.text
            out.append(Example(prompt, target, fit_prompt(ctx, inp)))
    return out


def _fit(
    ctx: Context, variant: PromptVariant, state: VariantState, inp: str, items: Sequence[dict[str, Any]]
) -> Fitted | None:
    """`inp` with what the variant shows, within the budget; None when there is nothing to show."""
    if variant.mode == "pag":
        return None if state.profile is None else pag_fit(ctx, state.profile, items, inp)
    if not items:
        return None
    b = ctx.backbone
    return rag_fit(ctx.task, inp, items, ctx.max_prompt_tokens, b.count_tokens, b.truncate, special_tokens(b))


def _others(ctx: Context, items: list[dict[str, Any]], k: int) -> list[list[dict[str, Any]]]:
    """For each item, the `k` other items BM25 ranks first for it (LaMP's order), from one index of the profile."""
    if k <= 0 or len(items) < 2:
        return [[] for _ in items]
    from rank_bm25 import BM25Okapi

    task = ctx.task
    bm25 = BM25Okapi([task.corpus(item).split() or [""] for item in items])
    out = []
    for j, item in enumerate(items):
        scores = bm25.get_scores(str(item.get(task.rag_truncate, "")).split())
        out.append([items[i] for i in np.argsort(scores)[::-1] if i != j][:k])
    return out
