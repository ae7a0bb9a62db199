"""Per-Pcs' pieces: the pool of sharer LoRA pieces with gates, and the hooks that gate, assemble and apply them.

A *piece* is one sharer's LoRA update at one module (one linear layer: `model.layers.3.self_attn.q_proj`), the
pair (B, A) with peft's alpha/r scaling folded into B. Everything here acts through forward hooks on those linear
layers (`Backbone.hooks`), so nothing stays on the model after a block exits:

- gate training (§2.4): z = W v + B A v · sigmoid(gᵀ v), B and A frozen, g trained from zero;
- assembly (§2.5): while a target user's history item goes through the model, each module scores every piece by
  the summed cosine of its gate and the module's input over the item's target tokens, keeps the top-k and adds
  Σ softmax(score/√n)·B A v to its output. The forward pass runs layer by layer, so the next layer chooses from
  activations the pieces chosen so far already shaped, which is the paper's auto-regressive selection. The
  weights are averaged over the history items;
- answering: z = W v + Σ_s w_s B_s A_s v with the user's stored (sharer index, weight) per module; several users
  answer together with `applied_rows`, each row with its own user's pieces.

Everything computes in the model's dtype (the pool is kept in it; `Pool.to`). A user's stored assembly keeps at
most top-k pieces per module (the k the assembly chose per item): answering a batch of U users holds at most
U x k·r x (n + d) numbers per module, whatever the number of sharers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lampbench.harness.services.lora_batch import Stacked, row_hooks, stack_modules
from lampbench.methods.lib.rows import Rows


@dataclass(frozen=True)
class Pool:
    """The shared pieces pool (the method's collective state).

    Attributes:
        sharers: the sharers' user ids, in the order of the stacked tensors.
        modules: the module names, in forward order.
        A: per module, [S, r, n].
        B: per module, [S, d, r], scaled by alpha / r.
        gates: per module, [S, n].
    """

    sharers: tuple[str, ...]
    modules: tuple[str, ...]
    A: dict[str, torch.Tensor]
    B: dict[str, torch.Tensor]
    gates: dict[str, torch.Tensor]

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Pool:
        """The pool on `device` (and in `dtype`: the model's, which every hook computes in)."""

        def move(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {k: v.to(device, dtype) for k, v in d.items()}

        return Pool(self.sharers, self.modules, move(self.A), move(self.B), move(self.gates))


@dataclass(frozen=True)
class Assembly:
    """A target user's stored adapter: per module (rows, in `Pool.modules` order), sharer indices and weights.

    At most top-k pieces per module; rows are padded to the widest one with weight 0. This is all a user costs: no
    LoRA matrix is stored.
    """

    index: torch.Tensor  # [M, m] int16
    weight: torch.Tensor  # [M, m] float32


def piece_scores(gates: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """α[b, s] = Σ_t mask[b, t] · cos(g_s, v[b, t]): gates [S, n], activations [b, T, n], mask [b, T].

    The cosines are computed in the activations' dtype; their sum over positions in fp32 (the top-k reads it).
    """
    cos = F.normalize(v, dim=-1) @ F.normalize(gates.to(v.dtype), dim=-1).T  # [b, T, S]
    return (cos.float() * mask.float().unsqueeze(-1)).sum(1)


def select(scores: torch.Tensor, k: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k pieces per row and their weights softmax(α/√n): ([b, k] indices, [b, k] weights)."""
    top = scores.topk(min(k, scores.shape[-1]), dim=-1)
    return top.indices, torch.softmax(top.values / math.sqrt(n), dim=-1)


def _delta(v: torch.Tensor, A: torch.Tensor, B: torch.Tensor, index: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Σ_j w[b, j] · B[index[b, j]] A[index[b, j]] v[b] for activations v [b, T, n]: [b, T, d]."""
    av = torch.einsum("btn,bjrn->bjtr", v, A[index])
    return torch.einsum("bjtr,bjdr,bj->btd", av, B[index], w.to(v.dtype))


@contextmanager
def gated(backbone, A: dict, B: dict, gates: dict) -> Iterator[None]:
    """One sharer's pieces behind their gates (§2.4): z = W v + B A v · sigmoid(gᵀ v) at every module."""

    def hook_for(name: str):
        def hook(module, inputs, output):
            v = inputs[0]  # A and B are in the model's dtype, the trained gates cast to it
            gate = torch.sigmoid(v @ gates[name].to(v.dtype)).unsqueeze(-1)
            return output + (((v @ A[name].T) * gate) @ B[name].T).to(output.dtype)

        return hook

    with backbone.hooks({name: hook_for(name) for name in gates}):
        yield


class Assembler:
    """Hooks that choose pieces while history items go through the model, and the running weight totals.

    Set `mask` ([b, T]: the positions to score, the items' target tokens) before each forward pass.
    """

    def __init__(self, pool: Pool, k: int):
        self.pool, self.k = pool, k
        self.mask: torch.Tensor | None = None
        self.items = 0
        self.totals = {m: torch.zeros(len(pool.sharers), device=pool.gates[m].device) for m in pool.modules}

    def _hook(self, name: str):
        A, B, gates = self.pool.A[name], self.pool.B[name], self.pool.gates[name]

        def hook(module, inputs, output):
            v = inputs[0]
            index, w = select(piece_scores(gates, v, self.mask), self.k, v.shape[-1])
            self.totals[name].index_add_(0, index.flatten(), w.flatten())
            return output + _delta(v, A, B, index, w).to(output.dtype)

        return hook

    @contextmanager
    def installed(self, backbone) -> Iterator[Assembler]:
        with backbone.hooks({name: self._hook(name) for name in self.pool.modules}):
            yield self

    def assembly(self) -> Assembly | None:
        """The weights averaged over the items seen, as (sharer index, weight) per module; None before any item.

        Per module the `k` pieces of largest averaged weight are kept, their weights renormalised to sum to 1 as
        each item's do (ours: the paper averages the assembled parameters, which keeps every piece any item chose,
        up to all the sharers; k bounds what a user stores and what answering holds).
        """
        if self.items == 0:
            return None
        rows = [self.totals[m].float().cpu() / self.items for m in self.pool.modules]
        width = min(self.k, max(int((r > 0).sum()) for r in rows))
        index = torch.zeros(len(rows), width, dtype=torch.int16)
        weight = torch.zeros(len(rows), width)
        for i, r in enumerate(rows):
            top = r.topk(min(width, int((r > 0).sum())))
            index[i, : len(top.indices)] = top.indices.to(torch.int16)
            weight[i, : len(top.indices)] = top.values / top.values.sum()
        return Assembly(index, weight)


def delta_weights(pool: Pool, assembly: Assembly) -> dict[str, torch.Tensor]:
    """The assembled update ΔW = Σ_s w_s B_s A_s per module ([d, n]; what a user's adapter amounts to)."""
    out = {}
    for i, name in enumerate(pool.modules):
        index, w = assembly.index[i].long(), assembly.weight[i]
        out[name] = torch.einsum("s,sdr,srn->dn", w, pool.B[name][index], pool.A[name][index])
    return out


@contextmanager
def applied(backbone, pool: Pool, assembly: Assembly) -> Iterator[None]:
    """A user's assembled adapter on the model inside this block: z = W v + Σ_s w_s B_s A_s v per module.

    Per module the chosen pieces are concatenated into one low-rank pair, B' = [w_1 B_1 ... w_m B_m] and
    A' = [A_1; ...; A_m], so answering costs one thin matmul pair per module.
    """
    hooks = {}
    for i, name in enumerate(pool.modules):
        a, b = _pair(pool, assembly, i, name)  # [m·r, n], [d, m·r]
        if a.shape[0]:
            hooks[name] = _applied_hook(a, b)
    with backbone.hooks(hooks):
        yield


def _pair(pool: Pool, assembly: Assembly, i: int, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """A user's assembled low-rank pair at module `i`: (A' [m·r, n], B' [d, m·r]), as `applied` builds it."""
    kept = assembly.weight[i] > 0
    index = assembly.index[i][kept].long()
    w = assembly.weight[i][kept].to(pool.B[name].device, pool.B[name].dtype)
    a = pool.A[name][index].flatten(0, 1)
    b = (pool.B[name][index] * w[:, None, None]).permute(1, 0, 2).flatten(1)
    return a, b


def answer_stacks(pool: Pool, assemblies: Sequence[Assembly | None]) -> dict[str, Stacked]:
    """Per module, the users' assembled pairs stacked (`lora_batch.stack_modules`): what answering them holds.

    Each user's pair is padded with zeros to the widest user's rank at that module, at most top-k·r; a user
    without an assembly is all zeros (the base). In the pool's dtype and on its device.
    """
    users = [
        None if a is None else {m: _pair(pool, a, i, m) for i, m in enumerate(pool.modules) if (a.weight[i] > 0).any()}
        for a in assemblies
    ]
    like = pool.A[pool.modules[0]]
    return stack_modules(users, dtype=like.dtype, device=like.device)


@contextmanager
def applied_rows(backbone, pool: Pool, assemblies: Sequence[Assembly | None], rows: Rows) -> Iterator[None]:
    """Several users' assembled adapters at once: row i of a batch gets user `rows.owners[i]`'s (`applied` per row),
    one batched thin matmul pair per module (`lora_batch.row_hooks`)."""
    with backbone.hooks(row_hooks(answer_stacks(pool, assemblies), rows)):
        yield


def _applied_hook(a: torch.Tensor, b: torch.Tensor):
    def hook(module, inputs, output):
        x = inputs[0]
        return output + ((x @ a.to(x.dtype).T) @ b.to(x.dtype).T).to(output.dtype)

    return hook


def stack(pieces: Sequence[dict[str, tuple]], gates: Sequence[dict[str, torch.Tensor]], sharers: Sequence[str]):
    """A `Pool` from each sharer's {module: (A, B)} and {module: gate} (every sharer with the same modules)."""
    modules = tuple(pieces[0])
    return Pool(
        sharers=tuple(sharers),
        modules=modules,
        A={m: torch.stack([p[m][0] for p in pieces]) for m in modules},
        B={m: torch.stack([p[m][1] for p in pieces]) for m in modules},
        gates={m: torch.stack([g[m] for g in gates]) for m in modules},
    )
