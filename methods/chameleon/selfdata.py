"""Self-generated preference data (Section 3.1): history selection, insights, and personal/neutral answer pairs.

Nothing here reads a query's gold: the pairs are the model's own answers to the user's queries, once guided by
the personalized insight and once by the neutral one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lampbench.methods.chameleon.prompts import (
    Templates,
    clean_insight,
    format_item,
    insight_prompt,
    pair_prompt,
    render_history,
)

#: Tokens kept free for the chat template's wrapping around a prompt.
_TEMPLATE_TOKENS = 16


def select_history(embeddings: np.ndarray, k: int) -> list[int]:
    """Indices (ascending) of the `k` history items whose projections onto the top-k PCs are longest (Eq. 2).

    W_u holds the top-k principal components of the user's embedding matrix E_u (found, as PCA does, on the
    centred matrix) and, as Eq. 2 writes it, z_u^i = e_u^i W_u; the k items with the largest ||z_u^i|| are kept.
    """
    n = len(embeddings)
    if n <= k:
        return list(range(n))
    e = np.asarray(embeddings, dtype=np.float64)
    _, _, vt = np.linalg.svd(e - e.mean(axis=0), full_matrices=False)
    z = e @ vt[:k].T
    top = np.argsort(-np.linalg.norm(z, axis=1), kind="stable")[:k]
    return sorted(int(i) for i in top)


def history_budget(ctx, t: Templates, query_tokens: int, insight_tokens: int) -> int:
    """Tokens left for the history in the longest prompt CHAMELEON writes (a pair prompt with its insight, or an
    insight prompt), within the run's prompt budget; 0 when the query leaves none."""
    count = ctx.backbone.count_tokens
    pair = max(count(pair_prompt(t, "", "", "", personal=p)) for p in (True, False)) + query_tokens + insight_tokens
    insight = max(count(insight_prompt(t, "", personal=p)) for p in (True, False))
    return max(0, ctx.max_prompt_tokens - max(pair, insight) - _TEMPLATE_TOKENS)


def selected_history(
    ctx, t: Templates, profile: Sequence[dict[str, Any]], k: int, budget: int
) -> tuple[str, tuple[str, ...]]:
    """The user's PCA-selected history, rendered to fit `budget` tokens, and the selected items' ids.

    Each item is embedded as the history line the prompts show (its text with its output: score, tag, title),
    since that pair is what the user's behaviour is.
    """
    items = list(profile)
    if not items:
        return "", ()
    lines = [format_item(t, item) for item in items]
    vectors = ctx.embedder.encode(lines, normalize_embeddings=True, convert_to_numpy=True)
    chosen = [items[i] for i in select_history(np.asarray(vectors), k)]
    backbone = ctx.backbone
    text = render_history(ctx.task, t, chosen, budget, backbone.count_tokens, backbone.truncate)
    return text, tuple(str(item.get("id", "")) for item in chosen)


def insights(ctx, t: Templates, history: str, max_new_tokens: int) -> tuple[str, str]:
    """(c^P, c^N): the personalized insight about the user and the neutral one, cleaned to fit their slots.

    Each is kept within `max_new_tokens` tokens (decoded text can encode to more tokens than were generated), so
    the pair prompts stay within the budget `history_budget` planned for them.
    """
    backbone = ctx.backbone
    prompts = [insight_prompt(t, history, personal=True), insight_prompt(t, history, personal=False)]
    raw_p, raw_n = backbone.generate(prompts, max_new_tokens=max_new_tokens, batch_size=ctx.batch_size)
    insight_p = backbone.truncate(clean_insight(raw_p, personal=True), max_new_tokens)
    insight_n = backbone.truncate(clean_insight(raw_n, personal=False), max_new_tokens)
    return insight_p, insight_n


def preference_answers(
    ctx, t: Templates, history: str, queries: Sequence[str], insight_p: str, insight_n: str
) -> tuple[list[str], list[str]]:
    """(y^P, y^N) for every query: the answers guided by c^P and by c^N (Appendix A.3's prompts)."""
    prompts = [pair_prompt(t, history, q, insight_p, personal=True) for q in queries]
    prompts += [pair_prompt(t, history, q, insight_n, personal=False) for q in queries]
    out = ctx.backbone.generate(prompts, max_new_tokens=ctx.task.max_new_tokens, batch_size=ctx.batch_size)
    return out[: len(queries)], out[len(queries) :]


@dataclass(frozen=True)
class SelfData:
    """One user's self-generated preference data, kept for the run's record (what the model "thought")."""

    history: str
    history_ids: tuple[str, ...]
    insight_p: str
    insight_n: str
    query_ids: tuple[str, ...]
    queries: tuple[str, ...]
    personal: tuple[str, ...]
    neutral: tuple[str, ...]

    @property
    def kept(self) -> list[int]:
        """Indices of the pairs kept: those whose two answers differ (identical pairs carry no direction)."""
        return [i for i, (a, b) in enumerate(zip(self.personal, self.neutral, strict=True)) if a.strip() != b.strip()]

    def record(self) -> dict[str, Any]:
        """A readable, JSON-ready account of the data."""
        kept = set(self.kept)
        return {
            "history_ids": list(self.history_ids),
            "insight_personal": self.insight_p,
            "insight_neutral": self.insight_n,
            "pairs": [
                {"query": qid, "personal": yp, "neutral": yn, "kept": i in kept}
                for i, (qid, yp, yn) in enumerate(zip(self.query_ids, self.personal, self.neutral, strict=True))
            ],
            "pairs_kept": len(kept),
            "pairs_dropped": len(self.personal) - len(kept),
        }
