"""`pag`: profile-augmented generation (Richardson et al. 2023), as OPPU and Per-Pcs run it.

In `personalize` the backbone writes a short profile of the user from `n_items` random items of their history
(seeded by the run's seed and the user id; each item cut to `item_words` words, rendered with LaMP's item
template), prompted with Per-Pcs' per-task profile-generation prompt (Per-Pcs Table 5, quoted verbatim, typos
included; only the `<...>` placeholders, garbled in the paper's text, are restored). Answering prepends
the profile to the task input in Per-Pcs' layout (Table 6)::

    ### User Profile:
    <profile>
    ### User History:        (only when k > 0: the BM25 top-k items, LaMP's templates, fitted to the budget)
    <items>
    ### User Instruction:
    <the task input, exactly as `base` sees it>

Choices of ours, where the papers are silent or our setting differs:
- Table 5 has no prompt for the news-categorization LaMP-2 (`lamp2n`); ours is LaMP-2's movie prompt with
  articles and categories in place of movies and tags. A task with no prompt here gets `GENERIC_PROFILE_PROMPT`.
- The User Instruction is the LaMP task input (as for `base` and `rag`), not Table 6's rewording of it, so
  `pag` differs from `base` only by what it adds.
- Per-Pcs writes profiles with a separate Mistral-7B; here the run's own backbone writes them (one shared
  model per run), greedily, within `profile_max_new_tokens`.
- Users whose profile is not written because the budget has run out (or who have no history, or whose
  history does not fit the profile prompt's token budget: `prompt_budget`) are answered from the plain task
  input, as `base`; `ctx.report` counts them and keeps every profile written.
- The answer prompt keeps the run's prompt budget (`tasks/prompts.py`): the task input is cut as every method's
  is, then the retrieved items and then the profile give way; a query left with no profile at all counts in
  `personalization_cut` and is answered from the cut input alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lampbench.methods.contract import Context, MethodConfig, PromptMethod
from lampbench.methods.lib.checks import at_least
from lampbench.methods.lib.profiles import pag_fit, write_profile
from lampbench.methods.lib.prompt_budget import counted, fit_query, record_coverage
from lampbench.methods.lib.retrieval import HistoryIndex, Retrieval
from lampbench.tasks.specs import Query, User


@dataclass(frozen=True)
class PagConfig(MethodConfig):
    k: int = field(
        default=0,
        metadata={"help": "BM25 history items added under '### User History' (0: profile only; Per-Pcs uses 1)"},
    )
    n_items: int = field(default=10, metadata={"help": "random history items the profile is written from"})
    item_words: int = field(default=200, metadata={"help": "each history item is cut to this many words"})
    profile_max_new_tokens: int = field(default=128, metadata={"help": "length limit of the written profile"})
    profile_prompt_tokens: int = field(
        default=0,
        metadata={"help": "token budget of the history in the profile prompt (0: the run's max_prompt_tokens)"},
    )

    def __post_init__(self) -> None:
        at_least(self, 0, "k", "profile_prompt_tokens")
        at_least(self, 1, "n_items", "item_words", "profile_max_new_tokens")


@dataclass(frozen=True)
class PagState:
    """A user's profile text (None: answer from the plain input) and, when k > 0, what rag retrieves from."""

    profile: str | None
    rag: HistoryIndex | None = None


class Pag(PromptMethod):
    """Profile-augmented generation: an LLM-written user profile before the task input (optionally RAG k)."""

    Config = PagConfig
    config: PagConfig

    def __init__(self, config: PagConfig | None = None):
        super().__init__(config)
        self._rag = Retrieval(self.config.k)

    def personalize(self, ctx: Context, user: User) -> PagState:
        if ctx.clock.expired or not user.profile:
            record_coverage(ctx, personalized=False, reason="budget" if user.profile else "no_history")
            return PagState(None)
        profile = self.write_profile(ctx, user)
        if profile is None:
            record_coverage(ctx, personalized=False, reason="prompt_budget")
            return PagState(None)
        ctx.report.setdefault("profiles", {})[user.id] = profile
        record_coverage(ctx, personalized=True)
        rag = self._rag.index(ctx, user) if self.config.k > 0 else None
        return PagState(profile, rag)

    def write_profile(self, ctx: Context, user: User) -> str | None:
        """The backbone's profile of `user` from a seeded random sample of their history (`lib/profiles.py`)."""
        cfg = self.config
        return write_profile(
            ctx, user, n_items=cfg.n_items, item_words=cfg.item_words, max_new_tokens=cfg.profile_max_new_tokens,
            prompt_tokens=cfg.profile_prompt_tokens,
        )  # fmt: skip

    def prompt(self, ctx: Context, state: PagState, query: Query) -> str:
        """The prompt for one query: the plain input without a profile, else Per-Pcs' layout fitted to the budget."""
        if state.profile is None:
            return fit_query(ctx, query.input)
        items = self._rag.retrieve(ctx, state.rag, ctx.task.query(query.input)) if state.rag is not None else []
        return counted(ctx, pag_fit(ctx, state.profile, items, query.input))
