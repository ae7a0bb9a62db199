"""Per-Pcs' sharers (papers/per-pcs-personalized-pieces.txt, §2.3, Table 3), shared by `per-pcs` and `peft-retrieval`.

- `select_sharers`: k-means over the training users' mean history embeddings, the most active user per cluster.
- `mean_embeddings`: a user's mean history embedding (the sentence embedder over up to `embed_items` items
  spread over the profile), the same vector k-means clusters and PEFT Retrieval compares by cosine.
- `PAPER`: Table 3, per task, the sharers' LoRA recipe (batch, epochs, learning rate), the gates' and the top-k.
- `fit_sharers`: the collective stage both methods run (sharers, the merged task LoRA on the others, then each
  sharer's own training in an equal share of the pool's time); the methods differ in what a sharer trains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol, TypeVar

import numpy as np

from lampbench.methods.contract import Context
from lampbench.methods.lib.outcome import seed_for
from lampbench.methods.lib.task_lora import merge_task_lora
from lampbench.methods.lib.train_config import LoraTrain, TaskStage
from lampbench.tasks.specs import User

#: What one sharer's training gives the pool (Per-Pcs: pieces and gates; PEFT Retrieval: the LoRA's weights).
Trained = TypeVar("Trained")


class Table3(NamedTuple):
    """One task's row of Per-Pcs' Table 3."""

    top_k: int
    gate_steps: int
    gate_learning_rate: float
    gate_batch_size: int
    sharer_batch_size: int
    sharer_epochs: float
    sharer_learning_rate: float


#: Table 3 of the paper, per task (sharer PEFT: batch, epochs, lr; gate: batch, steps, lr; assembly: top-k). The
#: table as extracted from the PDF is partly garbled (stray digits on a second line per task); the values are those
#: of each task's first line, which fill every column. LaMP-2N follows LaMP-2 (ours).
PAPER = {
    "lamp1": Table3(1, 100, 1e-5, 6, 16, 1.0, 1e-5),
    "lamp2": Table3(3, 100, 2e-5, 6, 6, 3.0, 2e-5),
    "lamp2n": Table3(3, 100, 2e-5, 6, 6, 3.0, 2e-5),
    "lamp3": Table3(1, 100, 1e-5, 4, 2, 2.0, 1e-5),
    "lamp4": Table3(1, 50, 2e-5, 6, 10, 3.0, 2e-5),
    "lamp5": Table3(1, 50, 2e-5, 6, 3, 2.0, 2e-5),
    "lamp7": Table3(2, 50, 2e-5, 6, 16, 2.0, 1e-5),
}
#: A task the paper did not run: the generation tasks' row (ours).
OTHER = Table3(1, 50, 2e-5, 6, 16, 2.0, 2e-5)


def paper_row(task: str) -> Table3:
    """Table 3's row for `task` (`OTHER` for a task the paper did not run)."""
    return PAPER.get(task, OTHER)


def sharer_lora_train(train: LoraTrain, task: str, batch_size: int, learning_rate: float) -> LoraTrain:
    """A sharer LoRA's optimisation: `train` with its batch and learning rate for `task` (0s: Table 3's)."""
    row = paper_row(task)
    return dataclasses.replace(
        train, batch_size=batch_size or row.sharer_batch_size, learning_rate=learning_rate or row.sharer_learning_rate
    )


def spread(items: Sequence, k: int) -> list:
    """At most `k` of `items`, evenly spread (all of them when k is 0)."""
    if k <= 0 or len(items) <= k:
        return list(items)
    return [items[int(i)] for i in dict.fromkeys(np.linspace(0, len(items) - 1, num=k).round().astype(int))]


def mean_embeddings(ctx: Context, users: Sequence[User], embed_items: int) -> np.ndarray:
    """[len(users), dim]: each user's mean history embedding over at most `embed_items` items (one encode call).

    A user without history gets zeros (cosine 0 with everyone).
    """
    task = ctx.task
    texts_of = [[task.corpus(item) for item in spread(u.profile, embed_items)] for u in users]
    flat = [t for texts in texts_of for t in texts]
    vectors = np.asarray(ctx.embedder.encode(flat)) if flat else np.zeros((0, 1))
    dim = vectors.shape[1] if len(flat) else 1
    out, at = np.zeros((len(users), dim), dtype=np.float32), 0
    for i, texts in enumerate(texts_of):
        if texts:
            out[i] = vectors[at : at + len(texts)].mean(0)
        at += len(texts)
    return out


def select_sharers(
    ctx: Context, users: Sequence[User], k: int, *, embed_items: int, seed: int, deadline: float | None = None,
    chunk_texts: int = 256,
) -> list[User]:  # fmt: skip
    """The most active user of each of `k` k-means clusters of mean history embeddings (§2.3).

    Embedding every candidate's items is the costly part (200 LaMP users x 32 items took a 30-s budget and more on
    a busy CPU), so candidates are embedded in chunks of about `chunk_texts` texts, in order, while the measured
    pace says the next chunk ends by `deadline`; the clusters are those of the candidates embedded in time (all of
    them are sharers when that is at most `k`).
    """
    from sklearn.cluster import KMeans

    candidates = [u for u in users if u.profile]
    if len(candidates) <= k:
        return candidates
    pace = ctx.clock.pace(deadline)
    means: list[np.ndarray] = []
    while len(means) < len(candidates) and pace.next_fits():
        chunk, texts = [], 0
        for u in candidates[len(means) :]:
            chunk.append(u)
            texts += len(spread(u.profile, embed_items))
            if texts >= chunk_texts:
                break
        means.extend(mean_embeddings(ctx, chunk, embed_items))
        pace.tick()
    candidates = candidates[: len(means)]
    if len(candidates) <= k:
        return candidates
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(np.stack(means))
    chosen = []
    for cluster in range(k):
        members = [u for u, label in zip(candidates, labels, strict=True) if label == cluster]
        if members:
            chosen.append(max(members, key=lambda u: len(u.profile)))  # first of the most active on a tie
    return chosen


class SharerStage(Protocol):
    """The config fields `fit_sharers` reads (`PerPcsConfig` and `PeftRetrievalConfig` both have them)."""

    train: LoraTrain
    task: TaskStage
    sharers: int
    embed_items: int
    task_adapt: bool
    task_fraction: float
    select_fraction: float
    pool_fraction: float


def fit_sharers(
    ctx: Context, train: Sequence[User], cfg: SharerStage, *, name: str, adapter: str,
    train_sharer: Callable[[User, float], tuple[dict, Trained | None]],
) -> tuple[dict | None, list[tuple[User, Trained]]]:  # fmt: skip
    """Per-Pcs' collective stage (§2.2-2.3): sharers, the task LoRA on the other users, then each sharer trained.

    1. Sharers (`select_sharers`) in at most `select_fraction` of `task_fraction` of the budget.
    2. With `task_adapt`, OPPU's task LoRA on the training users that are not sharers, merged into the base, by the
       end of `task_fraction`.
    3. `train_sharer(sharer, deadline)` for each sharer in turn, each with an equal share of the pool's time left
       (`pool_fraction` of what is left, `clock.fit_deadline`); it returns its report row and what it trained, or
       None for a sharer that took no step (left out of the pool). The sharers' `adapter` is removed after.

    The report gets `sharers`, `task_adaptation` and `sharer_training`; seeds are `name`'s (`<name>-task`).

    Returns:
        The merged task LoRA's weights (None without `task_adapt` or when it took no step), and the sharers kept
        with what each trained, in the sharers' order.
    """
    clock, report = ctx.clock, ctx.report
    task_deadline = clock.share(cfg.task_fraction)
    sharers = select_sharers(
        ctx, train, cfg.sharers, embed_items=cfg.embed_items, seed=ctx.seed,
        deadline=clock.share(cfg.task_fraction * (cfg.select_fraction if cfg.task_adapt else 1.0)),
    )  # fmt: skip
    report["sharers"] = {"candidates": len(train), "selected": [u.id for u in sharers], "spent_s": clock.spent}
    task = None
    if cfg.task_adapt:
        ids = {u.id for u in sharers}
        rest = [u for u in train if u.id not in ids]
        task, report["task_adaptation"] = merge_task_lora(
            ctx, rest, cfg.train, cfg.task, deadline=task_deadline, seed=seed_for(ctx.seed, f"{name}-task")
        )
    pool_deadline = clock.fit_deadline(cfg.pool_fraction)
    kept, rows = [], []
    for i, sharer in enumerate(sharers):
        row, trained = train_sharer(sharer, clock.spent + (pool_deadline - clock.spent) / (len(sharers) - i))
        rows.append(row)
        if trained is not None:
            kept.append((sharer, trained))
    if adapter in ctx.backbone.adapters:
        ctx.backbone.remove_lora(adapter)
    report["sharer_training"] = rows
    return task, kept
