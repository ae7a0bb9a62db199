"""One prompt budget for every method, and LaMP's retrieval-augmented prompt cut to fit it.

Every prompt a method sends the backbone for a query goes through `fit_input` (the task input alone) or
`fit_personalized` (the task input plus what the method adds), so `--max-prompt-tokens` (LaMP's 512) bounds the
user turn of every method the same way:

- the task input is cut from the right to the budget, as LaMP's tokenizer (`max_length`, `truncation=True`) cuts
  its inputs; a long input therefore reaches the model cut the same way whatever the method;
- what a method adds (retrieved items, a profile, a summary, a history) gets the tokens the cut input leaves, and
  is cut first: when nothing of it fits, the prompt is the cut input alone and the query counts as
  `personalization_cut` in the method's report.

`rag_prompt` follows LaMP's `prompts/prompts.py`: the retrieved items get the budget minus the input's tokens (at
most 60% of the budget reserved for the input), minus the task's `reserved_tokens` (one for every task but
LaMP-1), minus the tokens of its `reserved_text` ("Following the given patterns" for LaMP-5, "are written by
user. Following the given patterns" for LaMP-7, LaMP's own wording), minus two per ", and " joint; that is split
evenly over the k items; each item's fixed text (the task's `item_frame`) is measured as LaMP measures it (its
template with " " for the cut field, the tokenizer's special tokens included),
its long field is cut to the rest of its share, and what one item leaves passes to the next. Where LaMP would cut
the end of a long input to make room for the items (inputs over 60% of the budget), the input keeps its tokens
and the items get what is left: prompts whose input is within 60% of the budget equal LaMP's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lampbench.tasks.specs import TaskSpec

CountTokens = Callable[[str], int]
Truncate = Callable[[str, int], str]
#: `build(input, room) -> prompt`: the prompt with the method's text fitted to `room` tokens beside the input
#: (its own frame included), or None when nothing of it fits.
Build = Callable[[str, int], "str | None"]


@dataclass(frozen=True)
class Fitted:
    """A prompt within the budget. `cut`: the method had text to add and none of it fitted."""

    text: str
    cut: bool = False


def fit_input(text: str, max_tokens: int, count: CountTokens, truncate: Truncate) -> str:
    """`text` cut from the right to at most `max_tokens` tokens: the one cut every method's task input gets."""
    cut = truncate(text, max_tokens)
    limit = max_tokens
    while limit > 0 and count(cut) > max_tokens:  # decoding and encoding again can merge tokens differently
        limit -= max(1, count(cut) - max_tokens)
        cut = truncate(text, limit)
    return cut if count(cut) <= max_tokens else ""


def fit_personalized(inp: str, max_tokens: int, count: CountTokens, truncate: Truncate, build: Build) -> Fitted:
    """The task input cut as `fit_input` cuts it, with the method's text in the tokens it leaves (cut first).

    `build` is asked again with less room while its prompt is over the budget (token counts do not add exactly
    across joints); when it has nothing that fits, the prompt is the cut input alone, marked `cut`.
    """
    inp = fit_input(inp, max_tokens, count, truncate)
    room = max_tokens - count(inp)
    for _ in range(8):
        if room <= 0:
            break
        prompt = build(inp, room)
        if prompt is None:
            break
        over = count(prompt) - max_tokens
        if over <= 0:
            return Fitted(prompt)
        room -= over
    return Fitted(inp, cut=True)


def render_items(
    task: TaskSpec, items: Sequence[dict[str, Any]], max_tokens: int, count: CountTokens, truncate: Truncate
) -> list[str]:
    """Each item rendered with `task.rag_item`, its `rag_truncate` field cut so all fit in `max_tokens`.

    The history lists of `pag` and `llm-rec`: each item's frame is its own template with the field empty.

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


def lamp_items(
    task: TaskSpec, items: Sequence[dict[str, Any]], budget: int, count: CountTokens, truncate: Truncate,
    specials: int = 0,
) -> list[str]:  # fmt: skip
    """The items as LaMP's `create_*_prompt` renders them within `budget` (see the module docstring).

    `specials` is how many special tokens the tokenizer adds to a text (LaMP counts them in every measure).

    Raises:
        ValueError: when an item's fixed text does not fit its share (LaMP then reserves less for the input).
    """
    if not items:
        return []
    reserved = task.reserved_tokens + (count(task.reserved_text) + specials if task.reserved_text else 0)
    share = (budget - reserved - 2 * (len(items) - 1)) // len(items)
    saved = 0
    rendered = []
    for item in items:
        fields = {k: str(v) for k, v in item.items()}
        frame = task.item_frame  # LaMP's needed_part_len: a template measured like the item, or a fixed count
        needed = frame if isinstance(frame, int) else count(frame.format_map(fields)) + specials
        limit = share + saved - needed  # LaMP's max_length for the field, special tokens included
        if limit < specials or limit <= 0:
            raise ValueError("an item's fixed text does not fit its share of the budget")
        text = truncate(fields.get(task.rag_truncate, ""), limit - specials)
        saved += share - (count(text) + specials) - needed
        rendered.append(task.rag_item.format_map({**fields, task.rag_truncate: text}))
    return rendered


def rag_fit(
    task: TaskSpec, inp: str, items: Sequence[dict[str, Any]], max_tokens: int, count: CountTokens,
    truncate: Truncate, specials: int = 0,
) -> Fitted:  # fmt: skip
    """The task input with its retrieved `items` in LaMP's format, within `max_tokens` (`cut`: items did not fit)."""
    if not items:
        return Fitted(fit_input(inp, max_tokens, count, truncate))

    def build(cut_input: str, room: int) -> str | None:
        lamp = max_tokens - min(count(cut_input) + specials, int(0.6 * max_tokens))
        try:
            rendered = lamp_items(task, items, min(lamp, room), count, truncate, specials)
        except ValueError:
            return None
        return task.rag_prompt(cut_input, ", and ".join(rendered))

    return fit_personalized(inp, max_tokens, count, truncate, build)


def rag_prompt(
    task: TaskSpec, inp: str, items: Sequence[dict[str, Any]], max_tokens: int, count: CountTokens,
    truncate: Truncate, specials: int = 0,
) -> str:  # fmt: skip
    """`rag_fit`'s prompt text: the input alone when the items do not fit."""
    return rag_fit(task, inp, items, max_tokens, count, truncate, specials).text
