"""Answering several users in one generation batch, each row with its own user's adapter or edit.

`Backbone.generate` sorts prompts by length and cuts them into batches, so the rows of a batch are not the users
in the order given. `Rows` is what a per-row hook reads to know whose row is whose: it is handed to `generate` as
`on_batch` and holds, for the batch in flight, the owner (the user's position in the method's list) of each row.
Per-user tensors are stacked [n_users, ...] once, and each forward pass takes its rows with `rows.take(stacked)`
(a hook may keep what it took until `rows.batch` changes, as the per-row LoRAs do); a user with nothing to apply
gets zeros, which leave the row exactly as the base computes it (x + 0 == x).

Left padding keeps every row's last prompt token at position -1, so edits "at the last position" need no per-row
offsets, and pad positions never reach a real token through attention.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import torch

from lampbench.methods.contract import Context


class Rows:
    """Owner of each prompt, and of each row of the batch being generated (`index`, `owners`).

    Args:
        owners: for each prompt given to `generate`, the position of its user in the method's list.
    """

    def __init__(self, owners: Sequence[int]):
        self._owners = torch.tensor(list(owners), dtype=torch.long)
        self.owners: list[int] = []
        self.index = torch.empty(0, dtype=torch.long)
        self.batch = 0  # counts the batches: a hook that gathers per-row tensors once per batch reads it
        self._moved: dict[torch.device, torch.Tensor] = {}

    def __call__(self, idx: Sequence[int]) -> None:
        """`Backbone.generate`'s `on_batch`: the rows of the next batch are prompts `idx`, in row order."""
        self.index = self._owners[list(idx)]
        self.owners = self.index.tolist()
        self.batch += 1
        self._moved = {}

    def take(self, stacked: torch.Tensor) -> torch.Tensor:
        """Per-user `stacked` [n_users, ...] as per-row [batch, ...] (on `stacked`'s device)."""
        device = stacked.device
        if device not in self._moved:  # copied to the device once per batch, not in every layer at every token
            self._moved[device] = self.index.to(device)
        return stacked[self._moved[device]]


#: Installs a chunk's per-row edits for the block: (the chunk's user states, its Rows) -> context manager.
Install = Callable[[Sequence[Any], Rows], AbstractContextManager]


def answer_rows(
    ctx: Context, prompts: Sequence[Sequence[str]], states: Sequence[Any], install: Install, *,
    max_users: int | None = None,
) -> list[list[str]]:  # fmt: skip
    """Greedy answers to each user's `prompts`, every row generated under its own user's state.

    Users are taken `max_users` at a time (default `ctx.batch_size`), which bounds what `install` holds at once
    (e.g. one LoRA slot per user); within a chunk, prompts of different users share batches.
    """
    backbone = ctx.backbone
    step = max(1, max_users or ctx.batch_size)
    out: list[list[str]] = []
    for start in range(0, len(states), step):
        chunk, asked = states[start : start + step], prompts[start : start + step]
        flat = [p for ps in asked for p in ps]
        rows = Rows([u for u, ps in enumerate(asked) for _ in ps])
        with install(chunk, rows):
            answers = backbone.generate(
                flat, max_new_tokens=ctx.task.max_new_tokens, batch_size=ctx.batch_size, on_batch=rows
            )
        at = 0
        for ps in asked:
            out.append(answers[at : at + len(ps)])
            at += len(ps)
    return out


def stack_rows(rows: Sequence[torch.Tensor | None], like: torch.Tensor) -> torch.Tensor:
    """Per-user tensors of one shape stacked [n_users, ...], zeros for users with None (`like` gives the shape)."""
    return torch.stack([torch.zeros_like(like) if r is None else r.to(like) for r in rows])
