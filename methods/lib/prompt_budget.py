"""The one prompt budget as methods use it, and history rendering shared by the LLM-summary baselines.

`fit_query` and `fit_with` are how every method's answer prompt meets `--max-prompt-tokens` (`tasks/prompts.py`):
the task input cut the same way for all, what a method adds cut first, and each query whose added text was cut
to nothing counted in `ctx.report["personalization_cut"]`.

`pag` and `llm-rec` show the backbone a handful of the user's history items, rendered with LaMP's own item template
(`TaskSpec.rag_item`, e.g. LaMP-3's `4 is the score for "..."`) so the item's output field (score, tag, title)
is visible next to its text, and both fall back to the plain task input for users they could not summarize in
time. What is common to the two lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lampbench.methods.contract import Context
from lampbench.tasks.prompts import Build, Fitted, fit_input, fit_personalized, render_items


def fit_query(ctx: Context, text: str) -> str:
    """`text` (a task input, or a whole prompt of a method that adds nothing) cut to the run's prompt budget."""
    backbone = ctx.backbone
    return fit_input(text, ctx.max_prompt_tokens, backbone.count_tokens, backbone.truncate)


def fit_with(ctx: Context, inp: str, build: Build) -> str:
    """The task input with what `build` adds, within the budget; a query whose addition did not fit is counted."""
    backbone = ctx.backbone
    return counted(ctx, fit_personalized(inp, ctx.max_prompt_tokens, backbone.count_tokens, backbone.truncate, build))


def counted(ctx: Context, fitted: Fitted) -> str:
    """`fitted.text`, counting in `ctx.report["personalization_cut"]` a query whose personalization did not fit."""
    ctx.report["personalization_cut"] = ctx.report.get("personalization_cut", 0) + int(fitted.cut)
    return fitted.text


def special_tokens(backbone) -> int:
    """How many special tokens the backbone's tokenizer adds to a text (LaMP counts them in its budgets)."""
    tokenizer = getattr(backbone, "tokenizer", None)
    return int(tokenizer.num_special_tokens_to_add()) if hasattr(tokenizer, "num_special_tokens_to_add") else 0


def cut_words(text: str, n_words: int) -> str:
    """`text` cut to its first `n_words` whitespace-separated words (the papers cut history items by words)."""
    words = str(text).split()
    return text if len(words) <= n_words else " ".join(words[:n_words])


def render_history(
    ctx: Context, items: Sequence[dict[str, Any]], max_tokens: int, item_words: int | None = None
) -> list[str]:
    """`items` rendered with the task's LaMP template, together within `max_tokens` tokens.

    Each item's long field is first cut to `item_words` words when given (the profile and summary prompts do
    this; retrieved items in an answer prompt are cut by tokens only, as `rag` cuts them).
    Then the long field of each item is cut to its share of the token budget (`tasks/prompts.py`); when even
    the items' frames do not fit, items are dropped from the end (the least relevant, for ranked lists) until they do.
    """
    task = ctx.task
    cut = list(items)
    if item_words is not None:
        cut = [{**item, task.rag_truncate: cut_words(item.get(task.rag_truncate, ""), item_words)} for item in cut]
    backbone = ctx.backbone
    while cut:
        try:
            return render_items(task, cut, max_tokens, backbone.count_tokens, backbone.truncate)
        except ValueError:
            cut = cut[:-1]
    return []


def record_coverage(ctx: Context, *, personalized: bool, reason: str = "") -> None:
    """Count a user as personalized or as a fallback in `ctx.report`, with the fraction personalized so far.

    Args:
        ctx: the run's context; its `report` ends up in run.json under `method_report`.
        personalized: whether the user got their LLM-written text.
        reason: why not (`budget` when the clock had run out, `no_history` for an empty profile).
    """
    ctx.personalized(None, personalized, reason)
