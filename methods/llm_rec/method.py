"""`llm-rec`: LLM-REC's prompt augmentation (Lyu et al., NAACL 2024 Findings), CHAMELEON's prompting baseline.

LLM-REC enriches text with what the LLM writes about it under one of four prompting strategies; CHAMELEON uses
it to personalize by "summaries of selected top user history data". Here, in `personalize`, the user's top
`n_history` history items are selected, rendered with LaMP's item template (so the user's own score, tag or
title shows beside each text; each cut to `item_words` words) and given to the backbone under the configured
strategy. Its answer is the user's summary, put before the task input when answering::

    ### User History Summary:
    <summary>
    ### User Instruction:
    <the task input, exactly as `base` sees it>

The strategy prompts are LLM-REC's own wording (Section 2 of the paper, its `p_para`, `p_rec`, `p_eng` and
`p_rec+eng`), with "description(s)" filled by the rendered history items, joined with "; ":
- `basic` (p_para): "The description of an item is as follows: ..., paraphrase it." Pluralized, since it
  covers the n items at once.
- `recommendation` (p_rec): "..., what else should I say if I want to recommend it to others?" Pluralized.
- `engagement` (p_eng): "Summarize the commonalities among the following descriptions: ...". Verbatim.
- `recommendation+engagement` (p_rec+eng): the top item is the item and the others its engaged-with
  neighbours: "The description of an item is as follows: .... What else should I say if I want to recommend
  it to others? This content is considered to hold some similar attractive characteristics as the following
  descriptions: ...". Verbatim. With a single item it reduces to `recommendation`.
LLM-REC writes one text per item; one text over the n selected items is ours, so that every strategy costs one
generation per selection and "summary of the top history" is literal.

Selection (ours; neither paper fixes it for LaMP): `bm25` by default, LaMP's retriever queried with each query
(one summary per distinct selection), so `llm-rec` and `rag` see the same items and differ only by the LLM's
rewriting of them. `dense` does the same with the sentence embedder; `recency` and `random` select once per
user. The default strategy is the combined one, the most complete of the four; CHAMELEON does not say which it
ran. Users the budget does not reach (or with no history) are answered from the plain input, as `base`, and
counted in `ctx.report`. The answer prompt keeps the run's prompt budget (`tasks/prompts.py`): the task input
is cut as every method's is and the summary gets the tokens left; a query left with no summary at all counts in
`personalization_cut` and is answered from the cut input alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lampbench.methods.contract import Context, MethodConfig, PromptMethod
from lampbench.methods.lib.checks import at_least
from lampbench.methods.lib.prompt_budget import fit_query, fit_with, record_coverage, render_history
from lampbench.methods.lib.retrieval import Retrieval
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.specs import Query, User

Strategy = Literal["basic", "recommendation", "engagement", "recommendation+engagement"]

#: LLM-REC's prompts; `{items}` is the rendered history joined with "; ", `{first}`/`{rest}` split it.
TEMPLATES: dict[str, str] = {
    "basic": "The descriptions of items are as follows: {items}, paraphrase them.",
    "recommendation": "The descriptions of items are as follows: {items}, what else should I say if I want to "
    "recommend them to others?",
    "engagement": "Summarize the commonalities among the following descriptions: {items}.",
    "recommendation+engagement": "The description of an item is as follows: {first}. What else should I say if I "
    "want to recommend it to others? This content is considered to hold some similar attractive characteristics "
    "as the following descriptions: {rest}.",
}
#: The one-item form of `recommendation+engagement`, when there are no neighbours (LLM-REC's p_rec).
SINGLE_ITEM = (
    "The description of an item is as follows: {first}, what else should I say if I want to recommend it to others?"
)


@dataclass(frozen=True)
class LlmRecConfig(MethodConfig):
    strategy: Strategy = field(
        default="recommendation+engagement",
        metadata={"help": "LLM-REC prompting strategy: basic, recommendation, engagement, recommendation+engagement"},
    )
    n_history: int = field(default=5, metadata={"help": "top history items the summary is written from"})
    select: Literal["bm25", "dense", "recency", "random"] = field(
        default="bm25", metadata={"help": "how the top items are chosen: per query (bm25, dense) or per user"}
    )
    item_words: int = field(default=200, metadata={"help": "each history item is cut to this many words"})
    summary_max_new_tokens: int = field(default=128, metadata={"help": "length limit of a written summary"})
    summary_prompt_tokens: int = field(
        default=0,
        metadata={"help": "token budget of the history in the summary prompt (0: the run's max_prompt_tokens)"},
    )

    def __post_init__(self) -> None:
        if self.strategy not in TEMPLATES:
            raise ConfigError(f"strategy must be one of {', '.join(TEMPLATES)}, not {self.strategy!r}")
        at_least(self, 1, "n_history", "item_words", "summary_max_new_tokens")
        at_least(self, 0, "summary_prompt_tokens")


@dataclass(frozen=True)
class LlmRecState:
    """Query id -> the summary its answer is conditioned on (queries sharing a selection share the string)."""

    summaries: dict[str, str] = field(default_factory=dict)


def strategy_prompt(strategy: str, history: Sequence[str]) -> str:
    """LLM-REC's prompt for `strategy` over the rendered history items, best first."""
    if strategy == "recommendation+engagement":
        if len(history) < 2:
            return SINGLE_ITEM.format(first=history[0] if history else "")
        return TEMPLATES[strategy].format(first=history[0], rest="; ".join(history[1:]))
    return TEMPLATES[strategy].format(items="; ".join(history))


def llm_rec_prompt(summary: str, inp: str) -> str:
    """The answer prompt: the user's summary, then the task input."""
    return f"### User History Summary:\n{summary}\n### User Instruction:\n{inp}"


class LlmRec(PromptMethod):
    """LLM-REC: the backbone rewrites the user's top history under a prompting strategy, before the input."""

    Config = LlmRecConfig
    config: LlmRecConfig

    def __init__(self, config: LlmRecConfig | None = None):
        super().__init__(config)
        self._rag = Retrieval(self.config.n_history, self.config.select)

    def selections(self, ctx: Context, user: User) -> dict[str, list[dict[str, Any]]]:
        """Query id -> the history items its summary is written from, best first."""
        index = self._rag.index(ctx, user)
        if self.config.select in ("bm25", "dense"):
            return {q.id: self._rag.retrieve(ctx, index, ctx.task.query(q.input)) for q in user.queries}
        shared = self._rag.retrieve(ctx, index, "")  # recency and random do not look at the query
        return {q.id: shared for q in user.queries}

    def personalize(self, ctx: Context, user: User) -> LlmRecState:
        if ctx.clock.expired or not user.profile:
            record_coverage(ctx, personalized=False, reason="budget" if user.profile else "no_history")
            return LlmRecState()
        backbone = ctx.backbone
        budget = self.config.summary_prompt_tokens or ctx.max_prompt_tokens
        prompts: dict[str, str] = {}
        for qid, items in self.selections(ctx, user).items():
            # The frame is measured with the strategy's own wording, so the items get what is left of the budget.
            room = budget - backbone.count_tokens(strategy_prompt(self.config.strategy, [""] * len(items)))
            history = render_history(ctx, items, max(room, 0), self.config.item_words)
            prompt = strategy_prompt(self.config.strategy, history)
            if history and backbone.count_tokens(prompt) <= budget:  # else this query gets no summary
                prompts[qid] = prompt
        if not prompts:
            record_coverage(ctx, personalized=False, reason="prompt_budget")
            return LlmRecState()
        unique = list(dict.fromkeys(prompts.values()))  # queries with the same selection share one generation
        written = backbone.generate(
            unique, max_new_tokens=self.config.summary_max_new_tokens, batch_size=ctx.batch_size
        )
        by_prompt = dict(zip(unique, written, strict=True))
        summaries = {qid: by_prompt[p] for qid, p in prompts.items()}
        ctx.report.setdefault("summaries", {})[user.id] = summaries
        record_coverage(ctx, personalized=True)
        return LlmRecState(summaries)

    def prompt(self, ctx: Context, state: LlmRecState, query: Query) -> str:
        """The plain input when the query has no summary, else the summary (cut to the budget) and the input."""
        summary = state.summaries.get(query.id)
        if summary is None:
            return fit_query(ctx, query.input)
        count, truncate = ctx.backbone.count_tokens, ctx.backbone.truncate

        def build(inp: str, room: int) -> str | None:
            cut = truncate(summary, room - count(llm_rec_prompt("", "")))
            return llm_rec_prompt(cut, inp) if cut.strip() else None

        return fit_with(ctx, query.input, build)
