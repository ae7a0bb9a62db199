"""Answers read by choice (`--answer choice`): the most likely of a task's allowed answers after each prompt.

LaMP reads a label or a rating out of free generation, and a small model that answers off-format scores nothing
whatever it knows. By choice, each allowed answer (`TaskSpec.choices`) is scored by its log-likelihood after the
method's own prompt, under the method's adapters, edits and hooks, and the most likely one is the answer. A choice
is scored as its tokens then the end-of-turn token: the whole answer and nothing after it, so a label that is the
start of another ("comedy", "dark comedy") is weighed as a complete answer, not as a prefix.

Cost, per batch of prompts: one forward over the prompts (generation's prefill), then the choices' tokens fed one
step at a time for every (prompt, choice) row at once, over the prompt's KV cache repeated once per choice. The
steps are the ones generation takes over its own tokens, so a per-row edit sees the same thing: a hook at the
last position edits each new token, and `on_batch` is told the rows again (each prompt's, once per choice) before
the steps, so per-user adapters and steering vectors apply to every choice of their user's rows. A choice scored in
full leaves the batch (its rows and cache), so the steps cost what the choices' tokens cost. Ties go to the first
choice in the task's order.

`Backbone.choosing` turns this on for the block the runner answers in (`Context.answering`); torch is imported by
the functions that use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass
class Chosen:
    """The choices answered among inside a `Backbone.choosing` block, and how many prompts were answered so.

    Attributes:
        choices: the answers, in the task's order.
        tokens: each answer's token ids, the end-of-turn token last.
        answers: prompts answered by choice so far (the runner checks a method answered every query this way).
    """

    choices: tuple[str, ...]
    tokens: tuple[tuple[int, ...], ...]
    answers: int = 0


def choice_tokens(tokenizer, choices: Sequence[str]) -> Chosen:
    """The choices as token ids (each answer's tokens, then the tokenizer's end-of-turn token).

    Raises:
        ValueError: no choices, or two that tokenize the same (they could never be told apart).
    """
    if not choices:
        raise ValueError("answering by choice needs at least one choice")
    end = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    tokens = tuple(tuple(tokenizer(c, add_special_tokens=False)["input_ids"] + end) for c in choices)
    if len(set(tokens)) < len(tokens):
        raise ValueError(f"two of the choices {list(choices)} tokenize the same")
    return Chosen(tuple(choices), tokens)


def choice_scores(
    model, ids: torch.Tensor, mask: torch.Tensor, tokens: Sequence[Sequence[int]], *, pad_id: int,
    on_rows: Callable[[list[int]], None] | None = None,
) -> torch.Tensor:  # fmt: skip
    """Each choice's log-likelihood after each prompt: float32 [n_prompts, n_choices].

    Args:
        model: the causal LM (adapters injected, hooks installed, as the method answers).
        ids, mask: the prompts, left-padded (`Backbone._batches`).
        tokens: each choice's token ids.
        pad_id: fills the steps after a short choice's end (never scored).
        on_rows: called before the choice steps, and again whenever they drop the rows of choices already
            scored in full, with the prompt (its row in `ids`) of each row, so per-row edits can follow.
    """
    import torch

    n, k = ids.shape[0], len(tokens)
    longest = max(len(t) for t in tokens)
    device = ids.device
    table = torch.full((k, longest), pad_id, dtype=torch.long, device=device)
    scored = torch.zeros((k, longest), dtype=torch.bool, device=device)
    for c, t in enumerate(tokens):
        table[c, : len(t)] = torch.tensor(list(t), dtype=torch.long)
        scored[c, : len(t)] = True
    # Positions as `generate` gives them: counted over real tokens, so left padding does not shift them.
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    scores = out.logits[:, -1].float().log_softmax(-1)[:, table[:, 0]]  # [n, k]: each choice's first token
    if longest == 1:
        return scores
    cache = out.cache
    cache.batch_repeat_interleave(k)  # row r * k + c: prompt r, choice c
    rows = table.repeat(n, 1)  # [n * k, longest]
    keep = scored.repeat(n, 1)
    attention = mask.repeat_interleave(k, dim=0)
    at = positions[:, -1].repeat_interleave(k)
    total = scores.reshape(-1).clone()
    live = torch.arange(n * k, device=device)  # the rows still being scored, into rows/keep/at/total
    for step in range(longest - 1):
        going = keep[live, step + 1]
        if step == 0 or not going.all():  # a choice scored in full leaves the batch (and the cache)
            picked = going.nonzero().squeeze(1)
            if not going.all():
                cache.batch_select_indices(picked)
                live, attention = live[picked], attention[picked]
            if on_rows is not None:
                on_rows((live // k).tolist())
        attention = torch.cat([attention, attention.new_ones((len(live), 1))], dim=-1)
        out = model(
            input_ids=rows[live, step : step + 1], attention_mask=attention,
            position_ids=(at[live] + step + 1)[:, None], cache=cache, use_cache=True,
        )  # fmt: skip
        cache = out.cache
        logp = out.logits[:, -1].float().log_softmax(-1).gather(1, rows[live, step + 1 : step + 2]).squeeze(1)
        total[live] += logp
    return total.reshape(n, k)


def answer_by_choice(
    model, batches: Iterable[tuple[list[int], torch.Tensor, torch.Tensor]], chosen: Chosen, n_prompts: int, *,
    pad_id: int, on_batch: Callable[[list[int]], None] | None = None,
) -> list[str]:  # fmt: skip
    """The most likely choice for each prompt, in the order given (`batches`: `Backbone._batches`).

    `on_batch(indices)` is called as `Backbone.generate` calls it, before each batch, and again before the choice
    steps with each index repeated once per choice still being scored.
    """
    import torch

    outputs = [""] * n_prompts
    with torch.inference_mode():
        for idx, ids, mask in batches:
            if on_batch is not None:
                on_batch(idx)

            def rows(prompts: list[int], idx: list[int] = idx) -> None:
                if on_batch is not None:
                    on_batch([idx[p] for p in prompts])

            scores = choice_scores(model, ids, mask, chosen.tokens, pad_id=pad_id, on_rows=rows)
            for i, best in zip(idx, scores.argmax(-1).tolist(), strict=True):
                outputs[i] = chosen.choices[best]
    chosen.answers += n_prompts
    return outputs
