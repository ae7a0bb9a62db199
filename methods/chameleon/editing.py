"""The inference-time edit (Section 3.2): on the MLP output x of each chosen layer,

    x <- x + (<x, theta^P> / <theta^P, theta^P>) theta^P      strengthen the personalized direction
    x <- x - (<x, theta^N> / <theta^N, theta^N>) theta^N      remove the non-personalized direction

installed as forward hooks through `Backbone.hooks`, so they are removed when the answer is made, whatever
happens, and nothing carries over to the next user. `scaling="tanh"`/`"relu"` replace the projection
coefficient <x, u> (u the unit direction) by tanh or ReLU of it, the ALIGNEZ-style option.

`row_edited` answers several users in one batch: row i gets the directions of the user who owns it (`Rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

from lampbench.methods.chameleon.directions import Directions
from lampbench.methods.lib.rows import Rows

Hook = Callable[[torch.nn.Module, Any, Any], Any]


def _coefficient(a: torch.Tensor, scaling: str) -> torch.Tensor:
    if scaling == "projection":
        return a
    if scaling == "tanh":
        return torch.tanh(a)
    if scaling == "relu":
        return torch.relu(a)
    raise ValueError(f"unknown scaling {scaling!r}")


def apply_edit(
    x: torch.Tensor, u_p: torch.Tensor | None, u_n: torch.Tensor | None, scaling: str = "projection"
) -> torch.Tensor:
    """The edit of one layer's MLP output `x` [..., d] with unit directions `u_p`, `u_n` (None: not applied)."""
    if u_p is not None:
        x = x + _coefficient(x @ u_p, scaling).unsqueeze(-1) * u_p
    if u_n is not None:
        x = x - _coefficient(x @ u_n, scaling).unsqueeze(-1) * u_n
    return x


def _unit(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    v = v.double()
    return (v / v.norm().clamp_min(1e-12)).to(device=like.device, dtype=like.dtype)


def edit_hook(theta_p: torch.Tensor | None, theta_n: torch.Tensor | None, *, scaling: str, positions: str) -> Hook:
    """A forward hook that edits a module's output at the last position (`positions="last"`) or at all of them.

    Under generation with a KV cache, "last" is the last prompt token in the first forward pass and each new
    token after it, i.e. exactly the positions whose embeddings the directions were estimated from.
    """
    cache: dict[tuple, tuple[torch.Tensor | None, torch.Tensor | None]] = {}

    def units(like: torch.Tensor):
        key = (like.device, like.dtype)
        if key not in cache:  # moved and cast once per device and dtype, not at every token
            cache[key] = (
                None if theta_p is None else _unit(theta_p, like),
                None if theta_n is None else _unit(theta_n, like),
            )
        return cache[key]

    def hook(module, inputs, output):
        x = output[0] if isinstance(output, tuple) else output
        u_p, u_n = units(x)
        if positions == "all":
            x = apply_edit(x, u_p, u_n, scaling)
        else:
            last = apply_edit(x[:, -1, :], u_p, u_n, scaling)
            x = x.clone() if x.requires_grad else x  # in place when no gradient flows (always, while answering)
            x[:, -1, :] = last
        return (x, *output[1:]) if isinstance(output, tuple) else x

    return hook


def edit_hooks(backbone, directions: Directions, *, edit: str, scaling: str, positions: str) -> dict[str, Hook]:
    """`{module name: hook}` for every chosen layer's MLP, applying the edits `edit` asks for."""
    hooks = {}
    for row, layer in enumerate(directions.layers):
        theta_p = directions.theta_p[row] if edit in ("both", "personal-only") else None
        theta_n = directions.theta_n[row] if edit in ("both", "neutral-only") else None
        hooks[backbone.layer_module(layer, "mlp")] = edit_hook(theta_p, theta_n, scaling=scaling, positions=positions)
    return hooks


@contextmanager
def edited(backbone, directions: Directions | None, *, edit: str, scaling: str, positions: str) -> Iterator[None]:
    """Run the block with the edits installed (no edits when `directions` is None); always removed on exit."""
    if directions is None:
        yield
        return
    with backbone.hooks(edit_hooks(backbone, directions, edit=edit, scaling=scaling, positions=positions)):
        yield


def row_dot(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """<x, u> per row: x [b, ..., d] and one vector per row u [b, d] give [b, ...]."""
    return (x.reshape(x.shape[0], -1, x.shape[-1]) @ u.unsqueeze(-1)).reshape(x.shape[:-1])


def apply_row_edit(x: torch.Tensor, u_p: torch.Tensor, u_n: torch.Tensor, scaling: str = "projection") -> torch.Tensor:
    """`apply_edit` with one pair of unit directions per row (u_p, u_n: [b, d]; a zero row edits nothing)."""
    shape = (x.shape[0],) + (1,) * (x.dim() - 2) + (x.shape[-1],)
    x = x + _coefficient(row_dot(x, u_p), scaling).unsqueeze(-1) * u_p.reshape(shape)
    return x - _coefficient(row_dot(x, u_n), scaling).unsqueeze(-1) * u_n.reshape(shape)


def row_edit_hooks(
    backbone, directions: Sequence[Directions | None], rows: Rows, *, edit: str, scaling: str, positions: str
) -> dict[str, Hook]:
    """`{module name: hook}` editing row i of each batch with the directions of user `rows.owners[i]`.

    Users may have chosen different layers: a layer gets a hook when any user edits it, and a user who does not
    edit it (or has no directions) gets zero vectors there, which leave their rows as they are.
    """
    layers = sorted({layer for d in directions if d is not None for layer in d.layers})
    hidden = backbone.model.config.hidden_size
    hooks = {}
    for layer in layers:
        units = torch.zeros(2, len(directions), hidden, dtype=torch.float64)  # (P, N) x user x hidden
        for u, d in enumerate(directions):
            if d is None or layer not in d.layers:
                continue
            row = d.layers.index(layer)
            if edit in ("both", "personal-only"):
                units[0, u] = _unit(d.theta_p[row], units)
            if edit in ("both", "neutral-only"):
                units[1, u] = _unit(d.theta_n[row], units)
        hooks[backbone.layer_module(layer, "mlp")] = _row_hook(units, rows, scaling, positions)
    return hooks


def _row_hook(units: torch.Tensor, rows: Rows, scaling: str, positions: str) -> Hook:
    cache: dict[tuple, torch.Tensor] = {}

    def hook(module, inputs, output):
        x = output[0] if isinstance(output, tuple) else output
        key = (x.device, x.dtype)
        if key not in cache:  # moved and cast once per device and dtype, not at every token
            cache[key] = units.to(device=x.device, dtype=x.dtype)
        u_p, u_n = rows.take(cache[key].transpose(0, 1)).unbind(1)  # [b, d] each
        if positions == "all":
            x = apply_row_edit(x, u_p, u_n, scaling)
        else:
            last = apply_row_edit(x[:, -1, :], u_p, u_n, scaling)
            x = x.clone() if x.requires_grad else x
            x[:, -1, :] = last
        return (x, *output[1:]) if isinstance(output, tuple) else x

    return hook


@contextmanager
def row_edited(
    backbone, directions: Sequence[Directions | None], rows: Rows, *, edit: str, scaling: str, positions: str
) -> Iterator[None]:
    """Run the block with every row edited by its own user's directions (see `row_edit_hooks`)."""
    with backbone.hooks(row_edit_hooks(backbone, directions, rows, edit=edit, scaling=scaling, positions=positions)):
        yield
