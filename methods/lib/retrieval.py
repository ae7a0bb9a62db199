"""Retrieval from a user's history, as LaMP's RAG does it: `rag` is this alone; `pag`, `llm-rec`, ALOE and DPO use it.

The default is LaMP's own: BM25Okapi over whitespace tokens of the task's corpus fields, queried with the part
of the input LaMP extracts, items rendered with LaMP's templates and cut to fit `ctx.max_prompt_tokens`.
Other retrievers (METHODS.md): `dense` (cosine over the run's sentence embedder), `recency` (the newest items
by `date` when every item has one, dates ordered as LaMP orders them, by their "-"-separated numbers; else the
last in file order), `random` (k items drawn with replacement, as LaMP's `random.choices`; seeded per query).
The input is cut to the budget as every method's is; the items get what it leaves (`tasks/prompts.py`), and a
query whose items did not fit at all counts in `personalization_cut`.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lampbench.methods.contract import Context
from lampbench.methods.lib.prompt_budget import counted, fit_query, special_tokens
from lampbench.tasks.prompts import rag_fit
from lampbench.tasks.specs import Query, TaskSpec, User

Retriever = Literal["bm25", "dense", "recency", "random"]


@dataclass(frozen=True)
class HistoryIndex:
    """A user's profile to retrieve from, and its index (tokens or embeddings); rag's per-user state."""

    items: tuple[dict[str, Any], ...]
    tokens: tuple[tuple[str, ...], ...] | None = None
    embeddings: np.ndarray | None = None
    user_id: str = ""


@dataclass(frozen=True)
class Retrieval:
    """The top `k` history items by `retriever`, and LaMP's RAG prompt around them."""

    k: int
    retriever: Retriever = "bm25"

    def index(self, ctx: Context, user: User) -> HistoryIndex:
        """What retrieving from `user`'s history needs: BM25's tokens, the dense embeddings, or the items alone."""
        corpus = [ctx.task.corpus(item) for item in user.profile]
        if self.retriever == "bm25":
            return HistoryIndex(user.profile, tokens=tuple(tuple(doc.split()) for doc in corpus), user_id=user.id)
        if self.retriever == "dense":
            vectors = ctx.embedder.encode(corpus, normalize_embeddings=True, convert_to_numpy=True)
            return HistoryIndex(user.profile, embeddings=np.asarray(vectors, dtype=np.float32), user_id=user.id)
        return HistoryIndex(user.profile, user_id=user.id)

    def retrieve(self, ctx: Context, index: HistoryIndex, query: str) -> list[dict[str, Any]]:
        """The top-k profile items for `query` (already extracted from the input), best first."""
        k = min(self.k, len(index.items))
        if k <= 0:
            return []
        if self.retriever == "random":  # LaMP's random.choices: with replacement, k items
            rng = random.Random(zlib.crc32(f"{ctx.seed}:{index.user_id}:{query}".encode()))
            return rng.choices(list(index.items), k=self.k)
        if self.retriever == "bm25":
            from rank_bm25 import BM25Okapi

            scores = BM25Okapi([list(t) for t in index.tokens]).get_scores(query.split())
            # np.argsort(...)[::-1] is rank_bm25's own get_top_n order, ties included.
            return [index.items[i] for i in np.argsort(scores)[::-1][:k]]
        if self.retriever == "dense":
            q = ctx.embedder.encode([query], normalize_embeddings=True, convert_to_numpy=True)[0]
            return [index.items[i] for i in np.argsort(-(index.embeddings @ q), kind="stable")[:k]]
        if self.retriever == "recency":
            return recent(list(index.items))[::-1][:k]
        raise ValueError(f"unknown retriever {self.retriever!r}")

    def prompt(self, ctx: Context, index: HistoryIndex, query: Query) -> str:
        """LaMP's RAG prompt: the retrieved items, then the input, within the run's prompt budget."""
        task: TaskSpec = ctx.task
        items = self.retrieve(ctx, index, task.query(query.input))
        if not items:
            return fit_query(ctx, query.input)
        b = ctx.backbone
        return counted(ctx, rag_fit(task, query.input, items, ctx.max_prompt_tokens, b.count_tokens, b.truncate,
                                    special_tokens(b)))  # fmt: skip


def date_key(item: dict[str, Any]) -> tuple[int, ...]:
    """LaMP's order of dates: `tuple(map(int, str(date).split("-")))`, so "2019-9-30" comes before "2019-10-01"."""
    return tuple(map(int, str(item["date"]).split("-")))


def recent(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`items` oldest first by LaMP's date order; file order when an item has no date or one LaMP cannot read."""
    try:
        return sorted(items, key=date_key)
    except (KeyError, ValueError):
        return items
