"""LaMP's retrieval-augmented prompt: retrieved profile items rendered with the task's template, cut to fit.

The budget arithmetic is LaMP's (`LaMP/prompts/prompts.py`): the input keeps its tokens up to 60% of the budget
(less, in steps of 10%, if the items then cannot fit), the rest is split evenly across the k items (minus two
tokens per ", and " joint), each item's long field is cut to its share, and what one item does not use is
passed on to the next.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lampbench.tasks.specs import TaskSpec

CountTokens = Callable[[str], int]
Truncate = Callable[[str, int], str]


def render_items(
    task: TaskSpec, items: Sequence[dict[str, Any]], max_tokens: int, count: CountTokens, truncate: Truncate
) -> list[str]:
    """Each item rendered with `task.rag_item`, its `rag_truncate` field cut so all fit in `max_tokens`.

    Raises:
        ValueError: when even an empty rendering of the items does not fit.
    """
    if not items:
        return []
    share = (max_tokens - 2 * (len(items) - 1)) // len(items)
    saved = 0
    rendered = []
    for item in items:
        fields = {k: str(v) for k, v in item.items()}
        frame = count(task.rag_item.format_map({**fields, task.rag_truncate: ""}))
        room = share + saved - frame
        if room < 0:
            raise ValueError("the items' frames alone exceed the budget")
        text = truncate(fields.get(task.rag_truncate, ""), room)
        saved += share - count(text) - frame
        rendered.append(task.rag_item.format_map({**fields, task.rag_truncate: text}))
    return rendered


def rag_prompt(
    task: TaskSpec, inp: str, items: Sequence[dict[str, Any]], max_tokens: int, count: CountTokens, truncate: Truncate
) -> str:
    """The task input with its retrieved `items` in LaMP's format, fitting `max_tokens` when possible."""
    if not items:
        return inp
    input_tokens = count(inp)
    factor = 0.6
    while factor >= 0:
        room = max_tokens - min(input_tokens, int(factor * max_tokens))
        try:
            rendered = render_items(task, items, room, count, truncate)
        except ValueError:
            factor -= 0.1
            continue
        return task.rag_prompt(inp, ", and ".join(rendered))
    return inp
