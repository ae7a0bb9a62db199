"""`stylevector` (Zhang et al., ACL 2025, "Personalized Text Generation with Contrastive Activation Steering").

A user's style is one d-dimensional vector: the mean, over the user's history items, of the difference between
the hidden state the model has on the user's real output and the one it has on its own output for the same input:

    v_u = mean_i [ h_l(x_i ⊕ y_i) − h_l(x_i ⊕ ŷ_i) ]

where x_i is the task input rendered from history item i (the fine-tuning methods' helper,
`methods/finetune/examples.py`: the instruction of the user's questions, then the item's text), y_i the item's
`profile_target` field (the user's real output), ŷ_i the base model's greedy answer to x_i, and h_l the output of
decoder layer l (the residual stream). At answer time, `scale`·v_u is added to that layer's output.

Our choices, where the task description leaves them open:

- `pooling="mean"`: h is averaged over the response tokens. `last` takes it at the last token of prompt +
  response, as we read the paper (which steers a 7B model). On SmolLM2 (layer 15, 4 LaMP-7 history items) the
  last-token difference is dominated by *which* token ends each text: its norm was 0.6-0.8 of the residual
  stream's own, so adding it at scale 1 wrecks the answer; the mean over the response was 0.2-0.4.
- `positions="last"`: the vector is added at the last prompt position and at every generated position, i.e.
  wherever the model predicts an answer token (for a one-token label such as a LaMP-3 score the last prompt
  position is the only one that matters); `all` adds it at every position, the prompt included.
- `layer=None` means the middle decoder layer (num_layers // 2), `scale=1.0`.
- `max_items=16` (ours): at most this many history items, spread evenly over the profile; the budget may cut the
  list further, since each item costs one generation and two forward passes. A user with no item done is
  answered by the base model and stores nothing. `max_items=0` is the budget-filling policy: every history item,
  taken in an order whose every prefix is spread over the profile, until the user's share of the budget is spent.
  StyleVector trains nothing; this is how it spends a larger budget.
- A batch of items is started only when the measured cost of the last ones says it ends before the user's deadline
  (`Clock.pace`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from lampbench.harness.services.activations import forward_until
from lampbench.harness.services.backbone import pad_batch
from lampbench.methods.contract import Context, Method, MethodConfig
from lampbench.methods.lib.examples import Example, fit_prompt, item_examples
from lampbench.methods.lib.rows import Rows, answer_rows, stack_rows
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.specs import Query, User


@dataclass(frozen=True)
class StyleVectorConfig(MethodConfig):
    layer: int | None = field(
        default=None, metadata={"help": "decoder layer (0-based) read and steered; None: the middle layer"}
    )
    scale: float = field(default=1.0, metadata={"help": "the vector is added multiplied by this"})
    pooling: Literal["mean", "last"] = field(
        default="mean", metadata={"help": "hidden state averaged over the response, or at the last token of it"}
    )
    positions: Literal["last", "all"] = field(
        default="last", metadata={"help": "steer the last prompt position and generated ones, or every position"}
    )
    max_items: int = field(
        default=16,
        metadata={
            "help": "at most this many history items per user, spread over the profile (ours); 0: all of them, "
            "as many as the user's share of the budget allows"
        },
    )

    def __post_init__(self) -> None:
        if self.max_items < 0:
            raise ConfigError(f"max_items must be >= 1, or 0 for as many as the budget allows; got {self.max_items}")
        if self.layer is not None and self.layer < 0:
            raise ConfigError(f"layer must be >= 0 (a 0-based decoder layer) or None, got {self.layer}")


def resolve_layer(backbone, layer: int | None) -> int:
    """The decoder layer a config names (None: the middle one), checked against the backbone."""
    resolved = backbone.num_layers // 2 if layer is None else layer
    if not 0 <= resolved < backbone.num_layers:
        raise ValueError(f"stylevector: layer {layer} does not exist ({backbone.name} has {backbone.num_layers})")
    return resolved


@torch.inference_mode()
def response_states(backbone, layer: int, prompts: Sequence[str], responses: Sequence[str], pooling: str) -> list:
    """Layer `layer`'s output for each prompt (chat template) + response: at its last token, or mean over response.

    The forward pass stops at that layer (no later layer, no LM head), and the pooling is done where the model runs:
    one [n, d] copy to the CPU per call. Returns a float32 CPU tensor [d] per pair, or None for a pair whose
    response is empty under `mean` pooling.
    """
    tokenizer = backbone.tokenizer
    pairs = [
        (backbone.encode(p), tokenizer(r, add_special_tokens=False)["input_ids"])
        for p, r in zip(prompts, responses, strict=True)
    ]
    # Left padding: every row's last token is at -1, and its response the last len(r) positions.
    ids, attention = pad_batch([p + r for p, r in pairs], tokenizer.pad_token_id, left=True)
    name, device = backbone.layer_module(layer), backbone.device
    hidden = forward_until(
        backbone, [name], keep=True, input_ids=ids.to(device), attention_mask=attention.to(device)
    )[name]  # fmt: skip
    lengths = torch.tensor([len(r) for _, r in pairs], device=device)
    if pooling == "last":
        pooled = hidden[:, -1].float()
    else:
        response = torch.arange(ids.shape[1], device=device)[None, :] >= ids.shape[1] - lengths[:, None]  # [n, T]
        pooled = (hidden.float() * response.unsqueeze(-1)).sum(1) / lengths.clamp(min=1).unsqueeze(-1)
    pooled = pooled.cpu()
    return [None if pooling == "mean" and not r else pooled[i] for i, (_, r) in enumerate(pairs)]


def _added(h: torch.Tensor, v: torch.Tensor, positions: str) -> torch.Tensor:
    """`h` with `v` added at every position (`all`, and each decoding step) or at the prompt's last position."""
    if positions == "all" or h.shape[1] == 1:
        return h + v
    return torch.cat([h[:, :-1], h[:, -1:] + v], dim=1)


def steering(vector: torch.Tensor, positions: str):
    """A forward hook adding `vector` to a decoder layer's output: at the last position of a prompt pass (left
    padding puts every row's last prompt token there) and at each decoding step, or everywhere (`all`)."""

    def hook(module, inputs, output):
        h = output[0] if isinstance(output, tuple) else output
        h = _added(h, vector.to(h.device, h.dtype), positions)
        return (h, *output[1:]) if isinstance(output, tuple) else h

    return hook


def row_steering(vectors: torch.Tensor, rows: Rows, positions: str):
    """`steering` with one vector per user (`vectors` [n_users, d]): row i gets user `rows.owners[i]`'s."""
    cache: dict[tuple, torch.Tensor] = {}

    def hook(module, inputs, output):
        h = output[0] if isinstance(output, tuple) else output
        key = (h.device, h.dtype)
        if key not in cache:  # moved and cast once, not at every token
            cache[key] = vectors.to(h.device, h.dtype)
        h = _added(h, rows.take(cache[key]).unsqueeze(1), positions)  # one [1, d] vector per row
        return (h, *output[1:]) if isinstance(output, tuple) else h

    return hook


class StyleVector(Method):
    """Contrastive activation steering: one vector per user, added to one layer's output while answering."""

    Config = StyleVectorConfig
    config: StyleVectorConfig

    def personalize(self, ctx: Context, user: User) -> torch.Tensor | None:
        cfg, clock, backbone = self.config, ctx.clock, ctx.backbone
        layer = resolve_layer(backbone, cfg.layer)
        items = item_examples(ctx, user)
        examples = _spread(items, cfg.max_items) if cfg.max_items else [items[i] for i in spread_order(len(items))]
        pace = clock.pace(ctx.user_deadline(user))
        total, used = None, 0
        for at in range(0, len(examples), ctx.batch_size):
            if not pace.next_fits():
                break
            chunk = examples[at : at + ctx.batch_size]
            prompts = [ex.prompt for ex in chunk]
            own = backbone.generate(prompts, max_new_tokens=ctx.task.max_new_tokens, batch_size=ctx.batch_size)
            real = response_states(backbone, layer, prompts, [ex.target for ex in chunk], cfg.pooling)
            model = response_states(backbone, layer, prompts, own, cfg.pooling)
            for a, b in zip(real, model, strict=True):
                if a is not None and b is not None:
                    total = a - b if total is None else total + (a - b)
                    used += 1
            pace.tick()
        _record(ctx, user, available=len(user.profile), planned=len(examples), used=used)
        return None if total is None else total / used

    def predict(self, ctx: Context, state: torch.Tensor | None, queries: Sequence[Query]) -> list[str]:
        return self.predict_batch(ctx, [(state, queries)])[0]

    def predict_batch(
        self, ctx: Context, items: Sequence[tuple[torch.Tensor | None, Sequence[Query]]]
    ) -> list[list[str]]:
        """Users share batches; each row is steered by its own user's vector (a user without one: zeros, the base)."""
        backbone, cfg = ctx.backbone, self.config
        layer = backbone.layer_module(resolve_layer(backbone, cfg.layer))
        prompts = [[fit_prompt(ctx, q.input) for q in queries] for _, queries in items]

        def install(chunk, rows):
            if all(v is None for v in chunk):
                return nullcontext()
            like = next(v for v in chunk if v is not None)
            return backbone.hooks({layer: row_steering(stack_rows(chunk, like) * cfg.scale, rows, cfg.positions)})

        return answer_rows(ctx, prompts, [state for state, _ in items], install)


def _spread(examples: list[Example], k: int) -> list[Example]:
    """At most `k` examples, evenly spread over the list (a profile is in time order: keep early and late items)."""
    if len(examples) <= k:
        return examples
    picks = np.linspace(0, len(examples) - 1, num=k).round().astype(int)
    return [examples[int(i)] for i in dict.fromkeys(picks.tolist())]


def spread_order(n: int) -> list[int]:
    """0..n-1 in an order whose every prefix is spread over the range: 1, 2, 4, ... evenly spaced picks in turn."""
    order: dict[int, None] = {}
    k = 1
    while len(order) < n:
        order.update(dict.fromkeys(np.linspace(0, n - 1, num=min(k, n)).round().astype(int).tolist()))
        k *= 2
    return list(order)


def _record(ctx: Context, user: User, *, available: int, planned: int, used: int) -> None:
    report = ctx.report
    report.setdefault("users", []).append({"user": user.id, "history": available, "planned": planned, "used": used})
    totals = report.setdefault("totals", {"steered_users": 0, "base_users": 0, "items_used": 0})
    totals["steered_users" if used else "base_users"] += 1
    totals["items_used"] += used
    ctx.personalized(user, used > 0, "" if used else "budget" if planned else "no_history")
