"""`rag`: LaMP's retrieval-augmented baseline. The user's top-k history items go into the prompt.

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
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lampbench.methods.lib.prompt_budget import counted, fit_query, special_tokens
from lampbench.methods.contract import Context, MethodConfig, PromptMethod
from lampbench.tasks.prompts import rag_fit
from lampbench.tasks.specs import Query, TaskSpec, User


@dataclass(frozen=True)
class RagConfig(MethodConfig):
    k: int = field(default=1, metadata={"help": "how many history items to retrieve (the papers use 1, 2, 4)"})
    retriever: Literal["bm25", "dense", "recency", "random"] = field(
        default="bm25", metadata={"help": "how items are ranked: LaMP's BM25, dense embeddings, recency, random"}
    )


@dataclass(frozen=True)
class RagState:
    """What rag keeps per user: the profile it retrieves from, and its index (tokens or embeddings)."""

    items: tuple[dict[str, Any], ...]
    tokens: tuple[tuple[str, ...], ...] | None = None
    embeddings: np.ndarray | None = None
    user_id: str = ""


class Rag(PromptMethod):
    """Retrieval-augmented prompting: LaMP's RAG baseline (BM25, k=1 by default)."""

    Config = RagConfig
    config: RagConfig

    def personalize(self, ctx: Context, user: User) -> RagState:
        corpus = [ctx.task.corpus(item) for item in user.profile]
        if self.config.retriever == "bm25":
            return RagState(user.profile, tokens=tuple(tuple(doc.split()) for doc in corpus), user_id=user.id)
        if self.config.retriever == "dense":
            vectors = ctx.embedder.encode(corpus, normalize_embeddings=True, convert_to_numpy=True)
            return RagState(user.profile, embeddings=np.asarray(vectors, dtype=np.float32), user_id=user.id)
        return RagState(user.profile, user_id=user.id)

    def retrieve(self, ctx: Context, state: RagState, query: str) -> list[dict[str, Any]]:
        """The top-k profile items for `query` (already extracted from the input), best first."""
        k = min(self.config.k, len(state.items))
        if k <= 0:
            return []
        if self.config.retriever == "random":  # LaMP's random.choices: with replacement, k items
            rng = random.Random(zlib.crc32(f"{ctx.seed}:{state.user_id}:{query}".encode()))
            return rng.choices(list(state.items), k=self.config.k)
        if self.config.retriever == "bm25":
            from rank_bm25 import BM25Okapi

            scores = BM25Okapi([list(t) for t in state.tokens]).get_scores(query.split())
            # np.argsort(...)[::-1] is rank_bm25's own get_top_n order, ties included.
            return [state.items[i] for i in np.argsort(scores)[::-1][:k]]
        if self.config.retriever == "dense":
            q = ctx.embedder.encode([query], normalize_embeddings=True, convert_to_numpy=True)[0]
            return [state.items[i] for i in np.argsort(-(state.embeddings @ q), kind="stable")[:k]]
        if self.config.retriever == "recency":
            return recent(list(state.items))[::-1][:k]
        raise ValueError(f"rag: unknown retriever {self.config.retriever!r}")

    def prompt(self, ctx: Context, state: RagState, query: Query) -> str:
        task: TaskSpec = ctx.task
        items = self.retrieve(ctx, state, task.query(query.input))
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
