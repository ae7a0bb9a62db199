"""PEFT Retrieval (Per-Pcs App. G, after Jang et al. 2023 and LoraRetriever): PEFT-level composition of sharers' LoRAs.

`fit` builds the pool exactly as Per-Pcs builds its sharers (`methods/lib/sharers.py`, `task_lora.py`), without gates:

1. Sharers: k-means over the training users' mean history embeddings, the most active user of each cluster.
2. Base task adaptation: OPPU's task LoRA on the training users that are not sharers, merged into the base.
3. Each sharer's LoRA (r 8, alpha 8, q/k/v/o) on that sharer's history items as task examples, Table 3's recipe.

`personalize` trains nothing: it embeds the user's history (the mean of its items' sentence embeddings), takes the
top-k sharers by cosine with theirs and stores only their indices and weights (`Retrieved`). Answering sums those
sharers' LoRAs with the weights, ΔW = Σ w_s B_s A_s, as one LoRA of rank k·r: A' = [A_1; ...; A_k],
B' = [w_1 B_1 ... w_k B_k] and alpha' = k·alpha, so alpha'/r' = alpha/r and B'A' scaled is exactly the weighted sum
(`compose`); users share batches through PEFT's mixed adapter batches, each row with its own composed LoRA.

Anytime: the sharers share the pool's time; a sharer whose LoRA took no step is left out. With no sharer trained,
or a user who has no history or no time left, the user is answered by the (task-adapted) base.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lampbench.methods.contract import Context, Method
from lampbench.methods.lib.adapters import generate_users, lora_config, train_adapter
from lampbench.methods.lib.examples import item_examples
from lampbench.methods.lib.outcome import seed_for
from lampbench.methods.lib.prompt_variants import Prompted, answer_prompt, prepare, unwrap, wrap
from lampbench.methods.lib.saved import load_tensors, save_tensors
from lampbench.methods.lib.sharers import fit_sharers, mean_embeddings
from lampbench.methods.lib.task_lora import restore_task_lora
from lampbench.methods.peft_retrieval.config import PeftRetrievalConfig
from lampbench.tasks.specs import Query, User

#: The adapter a sharer's LoRA trains in, and the one a user's composed LoRA answers in.
SHARER, COMPOSED = "sharer", "composed"


@dataclass(frozen=True)
class Pool:
    """The sharers' LoRAs (the method's collective state): their ids, mean history embeddings and weights."""

    sharers: tuple[str, ...]
    embeddings: torch.Tensor  # [S, dim], unit rows
    loras: tuple[dict[str, torch.Tensor], ...]  # each `Backbone.adapter_state(SHARER)`


@dataclass(frozen=True)
class Retrieved:
    """A user's adapter, as stored: which sharers (indices into the pool) and with which weights."""

    index: tuple[int, ...]
    weight: tuple[float, ...]


def unit(vectors: np.ndarray) -> torch.Tensor:
    """Rows scaled to unit length (a zero row stays zero: cosine 0 with everyone)."""
    return torch.nn.functional.normalize(torch.as_tensor(vectors, dtype=torch.float32), dim=-1)


def weights(cosines: np.ndarray, k: int, weighting: str) -> Retrieved:
    """The top-k sharers by cosine and their weights: cosines clipped at 0 and normalised (equal when all are 0)."""
    top = np.argsort(-cosines, kind="stable")[: min(k, len(cosines))]
    w = np.clip(cosines[top], 0.0, None) if weighting == "cosine" else np.ones(len(top))
    w = w / w.sum() if w.sum() > 0 else np.full(len(top), 1.0 / len(top))
    return Retrieved(tuple(int(i) for i in top), tuple(float(x) for x in w))


def compose(pool: Pool, user: Retrieved, width: int) -> dict[str, torch.Tensor]:
    """The user's LoRA as one adapter of rank `width`·r in `COMPOSED`: ΔW = Σ w_s B_s A_s (zeros pad fewer sharers)."""
    out: dict[str, torch.Tensor] = {}
    for key, like in pool.loras[0].items():
        scaled = ".lora_B." in key  # the weights scale B (B' = [w_1 B_1 ... w_k B_k]), A is stacked as it is
        parts = [pool.loras[i][key] * (w if scaled else 1.0) for i, w in zip(user.index, user.weight, strict=True)]
        parts += [torch.zeros_like(like)] * (width - len(parts))
        out[key.replace(f".{SHARER}.", f".{COMPOSED}.")] = torch.cat(parts, dim=1 if scaled else 0)
    return out


class PeftRetrieval(Method):
    """Sharers' whole LoRAs; each user's adapter the cosine-weighted sum of the top-k most similar sharers'."""

    Config = PeftRetrievalConfig
    config: PeftRetrievalConfig
    uses_train_users = True

    def __init__(self, config: PeftRetrievalConfig | None = None):
        super().__init__(config)
        self._pool: Pool | None = None
        self._task: dict | None = None

    def fit(self, ctx: Context, train: Sequence[User]) -> None:
        cfg = self.config
        self._pool = None
        train_cfg, epochs = cfg.sharer_train(ctx.task.name)

        def train_sharer(sharer: User, deadline: float) -> tuple[dict, dict | None]:
            state, outcome = train_adapter(
                ctx, SHARER, lora_config(cfg.train), item_examples(ctx, sharer), train_cfg, deadline=deadline,
                seed=seed_for(ctx.seed, f"peft-retrieval-sharer-{sharer.id}"), epochs=epochs,
            )  # fmt: skip
            return {"user": sharer.id, "history": len(sharer.profile), "lora": outcome.report()}, state

        self._task, kept = fit_sharers(
            ctx, train, cfg, name="peft-retrieval", adapter=SHARER, train_sharer=train_sharer
        )
        if kept:
            vectors = unit(mean_embeddings(ctx, [sharer for sharer, _ in kept], cfg.embed_items))
            self._pool = Pool(tuple(sharer.id for sharer, _ in kept), vectors, tuple(lora for _, lora in kept))
        ctx.report["pool"] = {"sharers": len(kept)}

    def personalize(self, ctx: Context, user: User) -> Retrieved | Prompted | None:
        cfg, pool = self.config, self._pool
        reason = "no_pool" if pool is None else "no_history" if not user.profile else ""
        if not reason and ctx.clock.expired_by(ctx.user_deadline(user, cfg.budget_split)):
            reason = "budget"
        state = None
        if not reason:
            vector = unit(mean_embeddings(ctx, [user], cfg.embed_items))[0]
            state = weights((pool.embeddings @ vector).numpy(), cfg.k_for(ctx.task.name), cfg.weighting)
            pairs = zip(state.index, state.weight, strict=True)
            chosen = [{"sharer": pool.sharers[i], "weight": round(w, 6)} for i, w in pairs]
            ctx.report.setdefault("users", []).append({"user": user.id, "sharers": chosen})
        ctx.personalized(user, state is not None, reason)
        return wrap(cfg.prompt, state, prepare(ctx, cfg.prompt, user))  # +RAG / +PAG: what the prompts show

    def predict(self, ctx: Context, state: Retrieved | Prompted | None, queries: Sequence[Query]) -> list[str]:
        return self.predict_batch(ctx, [(state, queries)])[0]

    def predict_batch(
        self, ctx: Context, items: Sequence[tuple[Retrieved | Prompted | None, Sequence[Query]]]
    ) -> list[list[str]]:
        """Users share batches, each row with its own composed LoRA (`compose`; none: the base)."""
        cfg, pool = self.config, self._pool
        width = 1 if pool is None else min(len(pool.sharers), cfg.k_for(ctx.task.name))
        loras, prompts = [], []
        for state, queries in items:
            retrieved, prompt = unwrap(state)
            loras.append(None if pool is None or retrieved is None else compose(pool, retrieved, width))
            prompts.append([answer_prompt(ctx, cfg.prompt, prompt, q) for q in queries])
        train = cfg.train  # rank width·r, alpha width·alpha: the sharers' own scaling alpha / r
        composed = lora_config(dataclasses.replace(train, r=train.r * width, alpha=train.alpha * width))
        return generate_users(ctx, prompts, COMPOSED, loras, composed)

    def collective_state(self) -> dict | None:
        """The pool and the merged task LoRA's weights (what every user's answers depend on)."""
        if self._pool is None and self._task is None:
            return None
        return {"pool": self._pool, "task_lora": self._task}

    def save_collective(self, ctx: Context, path: Path) -> bool:
        """The sharers' LoRAs, their embeddings and the merged task LoRA, in one safetensors file."""
        pool, tensors = self._pool, {f"task/{k}": v for k, v in (self._task or {}).items()}
        if pool is not None:
            tensors["embeddings"] = pool.embeddings
            for i, lora in enumerate(pool.loras):
                tensors.update({f"lora{i}/{k}": v for k, v in lora.items()})
        header = {"task": self._task is not None, "sharers": list(pool.sharers) if pool else []}
        save_tensors(path, "peft-retrieval", tensors, header)
        return True

    def load_collective(self, ctx: Context, path: Path) -> bool:
        got = load_tensors(path, "peft-retrieval")
        if got is None:
            return False
        tensors, header = got
        cfg = self.config
        self._task = {k[5:]: v for k, v in tensors.items() if k.startswith("task/")} if header["task"] else None
        restore_task_lora(ctx, self._task, lora_config(cfg.train, cfg.task.target_modules), merge=True)
        sharers = tuple(header["sharers"])
        self._pool = None
        if sharers:
            loras = tuple(
                {k[len(f"lora{i}/") :]: v for k, v in tensors.items() if k.startswith(f"lora{i}/")}
                for i in range(len(sharers))
            )
            self._pool = Pool(sharers, tensors["embeddings"], loras)
        return True
