"""Per-row low-rank updates: every row of a batch gets its own user's LoRA, in one batched product per layer.

PEFT's mixed adapter batches (`adapter_names=`) loop over the batch's distinct adapters in every LoRA layer, at every
token: one masked pair of matmuls per user per layer. Here (the S-LoRA / Punica idea, in plain torch) each layer
holds its users' pairs stacked, A [users, r, in] and B [users, out, r] with the LoRA scaling folded into B. At the
first forward pass of a batch a layer gathers its rows' pairs (`rows.take`), and at every pass it adds

    y[b] += (x[b] @ A[owner(b)]ᵀ) @ B[owner(b)]ᵀ

with two batched matmuls (`torch.bmm`, then `torch.baddbmm` onto the layer's output), whatever the number of users.
Pairs of different ranks are padded with zeros to the widest, and a user without an update is all zeros: their rows
get exactly the base layer's output (y + 0). The stacks are in the model's dtype, as the base layer computes.

The hooks go on the modules the pairs are named by (a LoRA layer left switched off, or a plain linear layer):
`Backbone.hooks` removes them when the block exits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch


class RowOwners(Protocol):
    """Whose row is whose in the batch in flight (`methods/lib/rows.Rows` is one)."""

    batch: int  # changes when the next batch starts

    def take(self, stacked: torch.Tensor) -> torch.Tensor:
        """Per-user `stacked` [users, ...] as per-row [batch, ...]."""
        ...


@dataclass(frozen=True)
class Stacked:
    """Several users' low-rank pairs at one module: A [users, w, in], B [users, out, w] (w the widest rank)."""

    A: torch.Tensor
    B: torch.Tensor

    @property
    def nbytes(self) -> int:
        return self.A.nbytes + self.B.nbytes


def lora_pairs(state: Mapping[str, torch.Tensor], adapter: str, scaling: float) -> dict[str, tuple]:
    """{module name: (A [r, in], B·scaling [out, r])} from a peft LoRA adapter's weights (`Backbone.adapter_state`)."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for name, value in state.items():
        for part in ("lora_A", "lora_B"):
            marker = f".{part}.{adapter}."
            if marker in name:
                parts.setdefault(name.split(marker)[0], {})[part] = value
    return {m: (p["lora_A"], p["lora_B"] * scaling) for m, p in parts.items()}


def stack_pairs(pairs: Sequence[Any], *, dtype: torch.dtype, device: torch.device | str) -> Stacked | None:
    """Users' pairs (A, B) at one module, zero-padded to the widest rank; a user's None is zeros.

    None when no user has a pair there.
    """
    import torch

    given = [p for p in pairs if p is not None]
    if not given:
        return None
    width = max(a.shape[0] for a, _ in given)
    n, d = given[0][0].shape[1], given[0][1].shape[0]
    A = torch.zeros(len(pairs), width, n, dtype=dtype, device=device)
    B = torch.zeros(len(pairs), d, width, dtype=dtype, device=device)
    for u, pair in enumerate(pairs):
        if pair is not None:
            a, b = pair
            A[u, : a.shape[0]] = a
            B[u, :, : b.shape[1]] = b
    return Stacked(A, B)


def stack_modules(users: Sequence[Mapping[str, tuple] | None], *, dtype, device) -> dict[str, Stacked]:
    """Per module, every user's pair stacked (`stack_pairs`); users are {module: pair} or None (no update anywhere)."""
    modules = dict.fromkeys(m for pairs in users if pairs is not None for m in pairs)
    stacked = {
        m: stack_pairs([None if pairs is None else pairs.get(m) for pairs in users], dtype=dtype, device=device)
        for m in modules
    }
    return {m: s for m, s in stacked.items() if s is not None}


def row_hook(stacked: Stacked, rows: RowOwners) -> Callable:
    """A forward hook adding each row's own user's low-rank update to a linear layer's output."""
    import torch

    held: dict[str, Any] = {"batch": None}

    def hook(module, inputs, output):
        x = inputs[0]
        if held["batch"] != rows.batch:  # gathered once per batch, not at every token
            held["batch"] = rows.batch
            held["A"] = rows.take(stacked.A).to(x.dtype).transpose(1, 2).contiguous()  # [batch, in, w]
            held["B"] = rows.take(stacked.B).to(x.dtype).transpose(1, 2).contiguous()  # [batch, w, out]
        b = x.shape[0]
        xa = torch.bmm(x.reshape(b, -1, x.shape[-1]), held["A"])
        return torch.baddbmm(output.reshape(b, -1, output.shape[-1]), xa, held["B"]).reshape(output.shape)

    return hook


def row_hooks(stacks: Mapping[str, Stacked], rows: RowOwners) -> dict[str, Callable]:
    """`{module name: hook}` for `Backbone.hooks`: every stacked module's per-row update."""
    return {name: row_hook(stacked, rows) for name, stacked in stacks.items()}
