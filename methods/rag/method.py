"""`rag`: LaMP's retrieval-augmented baseline. The user's top-k history items go into the prompt.

The retrieval itself (BM25 by default, as LaMP; `dense`, `recency`, `random`) is `methods/lib/retrieval.py`, which
the methods that add history to their prompts share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lampbench.methods.contract import Context, MethodConfig, PromptMethod
from lampbench.methods.lib.retrieval import HistoryIndex, Retrieval, Retriever, date_key, recent
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.specs import Query, User

#: rag's per-user state is the user's history index.
RagState = HistoryIndex


@dataclass(frozen=True)
class RagConfig(MethodConfig):
    k: int = field(default=1, metadata={"help": "how many history items to retrieve (the papers use 1, 2, 4)"})
    retriever: Retriever = field(
        default="bm25", metadata={"help": "how items are ranked: LaMP's BM25, dense embeddings, recency, random"}
    )

    def __post_init__(self) -> None:
        if self.k < 0:
            raise ConfigError(f"k must be >= 0 (0: no items), got {self.k}")


class Rag(PromptMethod):
    """Retrieval-augmented prompting: LaMP's RAG baseline (BM25, k=1 by default)."""

    Config = RagConfig
    config: RagConfig

    def _retrieval(self) -> Retrieval:
        return Retrieval(self.config.k, self.config.retriever)

    def personalize(self, ctx: Context, user: User) -> RagState:
        return self._retrieval().index(ctx, user)

    def retrieve(self, ctx: Context, state: RagState, query: str) -> list[dict[str, Any]]:
        """The top-k profile items for `query` (already extracted from the input), best first."""
        return self._retrieval().retrieve(ctx, state, query)

    def prompt(self, ctx: Context, state: RagState, query: Query) -> str:
        return self._retrieval().prompt(ctx, state, query)


__all__ = ["Rag", "RagConfig", "RagState", "date_key", "recent"]
