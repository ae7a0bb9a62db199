"""The LoReFT intervention phi(h) = h + Rᵀ(W h + b − R h), and plain PyTorch forward hooks that apply it.

Written here rather than taken from `pyreft`/`pyvene` on purpose: their releases pin an old `transformers` and
pull in jupyter, wandb and more, none of which a benchmark harness should carry. What PerFit needs is small: a
module with an orthonormal-row R (torch's `orthogonal` parametrization keeps it so while training, as pyreft's
`LowRankRotateLayer` does), and forward hooks on decoder layers through `Backbone.hooks`, which are always
removed when the block exits.

Where it acts: on the output of the chosen decoder layers (the residual stream), at the first `first_n` and last
`last_n` positions of the *user's content* in the prompt (pyreft's `f7+l7`, counted inside the user turn). A chat
template wraps the content in fixed tokens (a system prompt, the turn headers); under causal attention the
leading ones never see the input, so counting positions on the whole prompt would make half the intervention an
input-independent prefix. `template_margins` measures how many fixed tokens the template puts before and after
the content (a plain prompt: the tokenizer's own special tokens, e.g. a BOS), and the masks skip them.
While answering, the prompt pass is intervened on and the generated tokens are not: they see the edit through the
attention keys and values of the prompt positions in the cache, as in pyreft, whose default intervenes on prompt
positions only. Training does the same, so the model is trained exactly as it is used: the target tokens are never
intervened on.

How positions are found: in training the caller knows each prompt's length and sets the mask itself. While
answering, a hook on the input embeddings reads each batch's token ids: a call with more than one position is a
prompt pass (prompts are left-padded, so a row's prompt starts after its run of leading pad tokens, and its
content `prefix` tokens later); a call with one position is a decoding step, and nothing is intervened on.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from lampbench.methods.lib.rows import Rows, stack_rows


def loreft(h: torch.Tensor, R: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """phi(h) = h + Rᵀ((W − R) h + b) for h of shape [..., d]; R and W are [r, d], b is [r].

    Computed in h's dtype (the model's). W − R is taken first, in the parameters' own dtype: W starts as R, and
    subtracting two bf16 products would lose what little separates them.
    """
    dtype = h.dtype
    return h + (h @ (W - R).to(dtype).T + b.to(dtype)) @ R.to(dtype)


@dataclass(frozen=True)
class Phi:
    """Trained LoReFT parameters at some layers, as plain tensors (what is stored and measured).

    Attributes:
        layers: the decoder layers, in the order of the stacked tensors.
        R: [n_layers, r, d], rows orthonormal.
        W: [n_layers, r, d].
        b: [n_layers, r].
    """

    layers: tuple[int, ...]
    R: torch.Tensor
    W: torch.Tensor
    b: torch.Tensor

    def apply(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        i = self.layers.index(layer)
        return loreft(h, self.R[i], self.W[i], self.b[i])

    def to(self, device: torch.device | str) -> Phi:
        """A copy on `device` (the stored copy stays on the CPU)."""
        return Phi(self.layers, self.R.to(device), self.W.to(device), self.b.to(device))


class RowPhi:
    """One `Phi` per user, stacked, applied to each row with its own user's (`Rows`): answering users together.

    A user without one gets zeros, which leave their rows exactly as they are (h + 0). Every `Phi` must have the
    same layers and rank (one config made them all).
    """

    def __init__(self, phis: Sequence[Phi | None], rows: Rows, device: torch.device | str = "cpu"):
        like = next(p for p in phis if p is not None)
        self.layers, self.rows = like.layers, rows
        self.R, self.W, self.b = (
            stack_rows([None if p is None else getattr(p, name) for p in phis], getattr(like, name)).to(device)
            for name in ("R", "W", "b")
        )  # [users, layers, r, d], [users, layers, r, d], [users, layers, r]

    def apply(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        """phi(h) per row for h [batch, T, d]."""
        i = self.layers.index(layer)
        R, W, b = (self.rows.take(t[:, i]) for t in (self.R, self.W, self.b))
        dtype = h.dtype  # as `loreft`: in the model's dtype, W − R taken first
        return h + (h @ (W - R).to(dtype).transpose(1, 2) + b.to(dtype).unsqueeze(1)) @ R.to(dtype)


class LoReFT(nn.Module):
    """One layer's trainable intervention. Starts as the identity: W = R, b = 0.

    Args:
        d: hidden size.
        r: rank.
    """

    def __init__(self, d: int, r: int):
        super().__init__()
        if r > d:
            raise ValueError(f"rank {r} is larger than the hidden size {d}")
        self.rotate = nn.Linear(d, r, bias=False)
        # Registering the parametrization orthonormalises the random initial rows (QR) and keeps them so.
        nn.utils.parametrizations.orthogonal(self.rotate)
        self.learned = nn.Linear(d, r)
        with torch.no_grad():
            self.learned.weight.copy_(self.rotate.weight)
            self.learned.bias.zero_()

    @property
    def R(self) -> torch.Tensor:
        return self.rotate.weight

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return loreft(h, self.R, self.learned.weight, self.learned.bias)


class TrainablePhi(nn.Module):
    """LoReFT interventions at several layers, trained together; `export()` gives the stored `Phi`."""

    def __init__(self, layers: Sequence[int], d: int, r: int):
        super().__init__()
        self.layers = tuple(layers)
        self.per_layer = nn.ModuleList(LoReFT(d, r) for _ in self.layers)

    def apply(self, layer: int, h: torch.Tensor) -> torch.Tensor:
        return self.per_layer[self.layers.index(layer)](h)

    def param_groups(self, weight_decay: float) -> list[dict]:
        """AdamW parameter groups: weight decay on W only.

        Never on R: for a wide matrix torch's `orthogonal` uses Householder reflectors whose stored diagonal holds
        the signs (+-1, read back with `.int()`) and gets no gradient; decay would shrink it below 1 and turn R
        into zeros after one step. Nor on b, a bias.
        """
        decayed = [m.learned.weight for m in self.per_layer]
        ids = {id(p) for p in decayed}
        rest = [p for p in self.parameters() if id(p) not in ids]
        return [{"params": decayed, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]

    @torch.no_grad()
    def export(self) -> Phi:
        return Phi(
            layers=self.layers,
            R=torch.stack([m.R.detach().float().cpu() for m in self.per_layer]),
            W=torch.stack([m.learned.weight.detach().float().cpu() for m in self.per_layer]),
            b=torch.stack([m.learned.bias.detach().float().cpu() for m in self.per_layer]),
        )


def template_margins(backbone) -> tuple[int, int]:
    """(prefix, suffix): how many fixed tokens the backbone's prompt wrapping puts before and after the content.

    Measured once per backbone on a probe text: `Backbone.encode` wraps it in the chat template (or adds the
    tokenizer's special tokens); (0, 0) when the content's tokens cannot be found as one run inside the wrapped
    prompt.
    """
    template = backbone.tokenizer.chat_template
    known = _MARGINS.get(backbone.tokenizer)
    if known is None or known[0] != template:
        known = _MARGINS[backbone.tokenizer] = (template, _measure_margins(backbone))
    return known[1]


#: tokenizer -> (its chat template when measured, (prefix, suffix)); forgotten with the tokenizer.
_MARGINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _measure_margins(backbone) -> tuple[int, int]:
    probe = "lampbench measures the template around this text"
    wrapped = list(backbone.encode(probe))
    content = list(backbone.tokenizer(probe, add_special_tokens=False)["input_ids"])
    for start in range(len(wrapped) - len(content) + 1):
        if wrapped[start : start + len(content)] == content:
            return start, len(wrapped) - start - len(content)
    return 0, 0


def prompt_mask(starts: torch.Tensor, lengths: torch.Tensor, width: int, first_n: int, last_n: int) -> torch.Tensor:
    """[batch, width] bool: the first `first_n` and last `last_n` positions of each row's content.

    Row i's content occupies positions starts[i] .. starts[i] + lengths[i] - 1; short contents are covered whole.
    """
    rel = torch.arange(width, device=starts.device)[None, :] - starts[:, None]
    inside = (rel >= 0) & (rel < lengths[:, None])
    return inside & ((rel < first_n) | (rel >= lengths[:, None] - last_n))


class Positions:
    """Which positions the hooks intervene on in the current forward pass (`mask`: [batch, seq] bool, or None)."""

    def __init__(self) -> None:
        self.mask: torch.Tensor | None = None


def _layer_hook(layer: int, stages: Sequence, positions: Positions):
    def hook(module, inputs, output):
        h = output[0] if isinstance(output, tuple) else output
        mask = positions.mask
        if mask is None or tuple(mask.shape) != tuple(h.shape[:2]):
            return None  # a decoding step, or a pass the caller did not mark: leave it alone
        y = h  # in the model's dtype (each stage casts its few parameters to it)
        for stage in stages:
            y = stage.apply(layer, y)
        out = torch.where(mask.unsqueeze(-1), y, h)
        return (out, *output[1:]) if isinstance(output, tuple) else out

    return hook


def _embedding_hook(positions: Positions, pad_id: int | None, first_n: int, last_n: int, margins: tuple[int, int]):
    def hook(module, inputs, output):
        ids = inputs[0]
        if ids.dim() != 2 or ids.shape[1] <= 1:
            positions.mask = None  # a decoding step: generated tokens are not intervened on
            return None
        if pad_id is None:
            starts = torch.zeros(ids.shape[0], dtype=torch.long, device=ids.device)
        else:
            # Left padding: the prompt starts after the leading run of pad tokens (chat prompts never start with one).
            starts = torch.cumprod((ids == pad_id).long(), dim=1).sum(dim=1)
        prefix, suffix = margins
        content = (ids.shape[1] - starts - prefix - suffix).clamp(min=1)
        positions.mask = prompt_mask(starts + prefix, content, ids.shape[1], first_n, last_n)
        return None

    return hook


def default_layers(num_layers: int, n: int = 4) -> tuple[int, ...]:
    """`n` decoder layers spread evenly over the first half of the model's depth, from layer 0.

    PerFit found earlier layers better than later ones and several better than one (Fig. 11), and tuned the rest
    per task; so the default scales with the model: SmolLM2-135M's 30 layers give (0, 3, 7, 11), Llama-2-7B's 32
    give (0, 4, 8, 12), a two-layer test model (0,).
    """
    half = max(1, num_layers // 2)
    n = max(1, min(n, half))
    return tuple(sorted({int(i * half / n) for i in range(n)}))


def check_layers(backbone, layers: Sequence[int]) -> None:
    """Refuse layer indices the backbone does not have (a config meant for another model)."""
    bad = [layer for layer in layers if not 0 <= layer < backbone.num_layers]
    if bad:
        raise ValueError(
            f"layers {bad} do not exist: {backbone.name} has {backbone.num_layers} decoder layers (0-based); "
            "set `layers` for this model"
        )


def _embedding_name(model) -> str:
    embeddings = model.get_input_embeddings()
    return next(name for name, module in model.named_modules() if module is embeddings)


@contextmanager
def intervening(
    backbone, stages: Sequence, layers: Sequence[int], *, first_n: int, last_n: int,
    positions: Positions | None = None,
) -> Iterator[Positions]:  # fmt: skip
    """Apply `stages` (each a `Phi` or `TrainablePhi`, composed in order) at `layers` inside this block.

    Without `positions`, prompt positions are found from each batch's token ids (answering with
    `Backbone.generate`); with it, the caller sets `positions.mask` before each forward pass (training).
    """
    check_layers(backbone, layers)
    auto = positions is None
    positions = positions or Positions()
    hooks = {backbone.layer_module(layer): _layer_hook(layer, stages, positions) for layer in layers}
    if auto:
        pad_id = backbone.tokenizer.pad_token_id
        margins = template_margins(backbone)
        hooks[_embedding_name(backbone.model)] = _embedding_hook(positions, pad_id, first_n, last_n, margins)
    try:
        with backbone.hooks(hooks):
            yield positions
    finally:
        positions.mask = None
