"""Training examples from LaMP users: history items as task examples, questions with golds, history-conditioned.

A history item becomes an example of the task itself: its input is the task's question rendered from the item
(the instruction the user's own questions start with, then the item's text), its target the item's
`task.profile_target` field. Every function here reads one user at a time, so a per-user stage sees that user's
items and nothing else (the released OPPU code keeps appending to one list across users; we never do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lampbench.methods.contract import Context
from lampbench.methods.lib.prompt_budget import fit_query
from lampbench.tasks.prompts import rag_prompt
from lampbench.tasks.specs import TaskSpec, User


@dataclass(frozen=True)
class Example:
    """One training example.

    Attributes:
        prompt: the user turn the model is trained on (already cut to the run's prompt budget).
        target: what the model should answer.
        input: the bare task input, without history (DPO asks the non-personalized model about it).
    """

    prompt: str
    target: str
    input: str


def encode_example(backbone, example: Example, max_target_tokens: int) -> tuple[list[int], list[int]]:
    """(prompt ids, target ids): how both training engines (and Per-Pcs' scoring) tokenise an example.

    The prompt goes through the chat template exactly as `Backbone.generate` sees it; it is already within the
    run's prompt budget (`fit_prompt`, when the example was made). The one rule for a row that does not fit: the
    target is cut to its first `max_target_tokens` tokens, never skipped, and an end-of-turn token follows it.
    """
    tokenizer = backbone.tokenizer
    target = tokenizer(example.target, add_special_tokens=False)["input_ids"][:max_target_tokens]
    return backbone.encode(example.prompt), target + [tokenizer.eos_token_id]


def fit_prompt(ctx: Context, text: str) -> str:
    """`text` cut to the run's prompt budget, the same way at training and at test (and as every method cuts)."""
    return fit_query(ctx, text)


def instruction(task: TaskSpec, inputs: Sequence[str]) -> str:
    """The start of a task input up to its text ("What is the score ... review: "), from the first input showing it.

    Taken from real inputs so that training examples read exactly like the questions the model is asked (LaMP-2's
    news files, for instance, list the categories in their own order); the task's own (`TaskSpec.instruction`,
    LaMP's wording) when no input shows it.
    """
    for inp in inputs:
        text = task.query(inp)
        if text and text != inp and inp.endswith(text):
            return inp[: len(inp) - len(text)]
    return task.instruction


def item_input(task: TaskSpec, item: dict[str, Any], prefix: str) -> str:
    """The task input for a history item: the instruction, then the item's text field."""
    return prefix + str(item.get(task.rag_truncate, ""))


def item_examples(ctx: Context, user: User) -> list[Example]:
    """Each of the user's history items as a task example (none when the task's items have no output field).

    LaMP-7's items are the user's tweets: the example asks to paraphrase a tweet into itself, so what is learnt
    is the user's style. LaMP-1's items have no output field, so it has no item examples.
    """
    task = ctx.task
    if task.profile_target is None:
        return []
    prefix = instruction(task, [q.input for q in user.queries])
    out = []
    for item in user.profile:
        target = str(item.get(task.profile_target, "")).strip()
        if target:
            inp = fit_prompt(ctx, item_input(task, item, prefix))
            out.append(Example(inp, target, inp))
    return out


def query_examples(ctx: Context, user: User) -> list[Example]:
    """The user's questions that have a gold output (training users), as examples."""
    out = []
    for q in user.queries:
        if q.gold is not None and str(q.gold).strip():
            inp = fit_prompt(ctx, q.input)
            out.append(Example(inp, str(q.gold).strip(), inp))
    return out


def task_examples(ctx: Context, users: Sequence[User], source: str) -> list[Example]:
    """Plain task examples of many users (a collective stage): their questions, their history items, or both."""
    out: list[Example] = []
    for user in users:
        if source in ("queries", "both"):
            out += query_examples(ctx, user)
        if source in ("history", "both"):
            out += item_examples(ctx, user)
    return out


def history_examples(ctx: Context, user: User, *, k: int, source: str, per_user: int) -> list[Example]:
    """History-conditioned examples of one user: LaMP's RAG prompt (k items by BM25) + input -> the real output.

    A question is conditioned on the user's history; a history item (at most `per_user` of them, spread over the
    profile) on the user's *other* items, never on itself.
    """
    task = ctx.task
    items = list(user.profile)
    bm25 = None
    if k > 0 and items:
        from rank_bm25 import BM25Okapi

        bm25 = BM25Okapi([task.corpus(item).split() or [""] for item in items])

    def prompt(inp: str, skip: int | None = None) -> str:
        chosen: list[dict[str, Any]] = []
        if bm25 is not None:
            scores = bm25.get_scores(task.query(inp).split())
            # LaMP's order (rank_bm25's get_top_n), as `rag` uses at test.
            chosen = [items[i] for i in np.argsort(scores)[::-1] if i != skip][:k]
        backbone = ctx.backbone
        text = rag_prompt(task, inp, chosen, ctx.max_prompt_tokens, backbone.count_tokens, backbone.truncate)
        return fit_prompt(ctx, text)

    out = []
    if source in ("queries", "both"):
        for q in user.queries:
            if q.gold is not None and str(q.gold).strip():
                out.append(Example(prompt(q.input), str(q.gold).strip(), fit_prompt(ctx, q.input)))
    if source in ("history", "both") and task.profile_target is not None:
        prefix = instruction(task, [q.input for q in user.queries])
        picks = np.linspace(0, len(items) - 1, num=min(per_user, len(items))).round().astype(int) if items else []
        for j in dict.fromkeys(int(i) for i in picks):
            target = str(items[j].get(task.profile_target, "")).strip()
            if target:
                inp = item_input(task, items[j], prefix)
                out.append(Example(prompt(inp, skip=j), target, fit_prompt(ctx, inp)))
    return out
