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

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lampbench.methods.contract import Context, MethodConfig, PromptMethod
from lampbench.methods.lib.checks import at_least
from lampbench.methods.lib.prompt_budget import fit_query, fit_with, record_coverage, render_history
from lampbench.methods.lib.retrieval import HistoryIndex, Retrieval
from lampbench.tasks.specs import Query, User

#: Per-Pcs Table 5, per task; `lamp2n` is ours (see the module docstring).
PROFILE_PROMPTS: dict[str, str] = {
    "lamp1": "Write a summary, in English, of the research interests and topics of a researcher who has published "
    "the following papers. Only generate the summary, no other text.",
    "lamp2": "Look at the following past movies this user has watched and determine the most popular tag they "
    "labeled. Answer in the following form: most popular tag: <tag>.",
    "lamp2n": "Look at the following past articles this journalist has written and determine the most popular "
    "category they assigned. Answer in the following form: most popular category: <category>.",
    "lamp3": "Based on this users' past reviews, what are the most common scores they give for positive and "
    "negative reviews? Answer in the following form: most common positive score: <most common positive score>, "
    "most common negative score: <most common negative score>.",
    "lamp4": "Given this authors previous articles, try to describe a template for their headlines. I want to be "
    "able to accurately predict the headline gives one of their articles. Be specific about their style and "
    "wording, don't tell me anything generic.",
    "lamp5": "Given this authors previous publications, try to describe a template for their titles. I want to be "
    "able to accurately predict the title of one of the papers from the abstract. Only generate the template "
    "description, nothing else.",
    "lamp7": "Given this persons previous tweets, try to describe a template for their tweets. I want to take a "
    "generic sentence and rephrase it to sound like one of their tweets, with the same "
    "style/punctuation/capitalization/wording/tone/etc. as them. Only give me the template description, "
    "nothing else.",
}
#: A task Table 5 does not cover (one added later) gets this prompt: the same request, phrased for any task.
GENERIC_PROFILE_PROMPT = (
    "Look at the following past items of this user and describe, in one or two sentences, the preferences and "
    "the style that would best predict their next answer. Only generate the description, nothing else."
)


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


def sample_items(user: User, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` random items of the user's history, seeded by the run's seed and the user id, in history order."""
    rng = random.Random(zlib.crc32(f"{seed}:{user.id}".encode()))
    picked = rng.sample(range(len(user.profile)), min(n, len(user.profile)))
    return [user.profile[i] for i in sorted(picked)]


def profile_prompt(task: str, history: Sequence[str]) -> str:
    """Per-Pcs' profile-generation prompt for `task` around the rendered history items."""
    return f"{PROFILE_PROMPTS.get(task, GENERIC_PROFILE_PROMPT)}\nUser History:\n" + "\n".join(history) + "\nAnswer:"


def pag_prompt(profile: str, history: Sequence[str], inp: str) -> str:
    """Per-Pcs' personalized prompt: the profile, the history section when there are items, the instruction."""
    parts = ["### User Profile:", profile]
    if history:
        parts += ["### User History:", "\n".join(history)]
    return "\n".join([*parts, "### User Instruction:", inp])


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
        """The backbone's profile of `user` from a seeded random sample of their history.

        None when not one history item fits the profile prompt's budget beside its instruction.
        """
        backbone = ctx.backbone
        budget = self.config.profile_prompt_tokens or ctx.max_prompt_tokens
        room = budget - backbone.count_tokens(profile_prompt(ctx.task.name, []))
        items = sample_items(user, self.config.n_items, ctx.seed)
        history = render_history(ctx, items, max(room, 0), self.config.item_words)
        prompt = profile_prompt(ctx.task.name, history)
        if not history or backbone.count_tokens(prompt) > budget:
            return None
        (profile,) = backbone.generate([prompt], max_new_tokens=self.config.profile_max_new_tokens, batch_size=1)
        return profile

    def prompt(self, ctx: Context, state: PagState, query: Query) -> str:
        """The prompt for one query: the plain input without a profile, else Per-Pcs' layout fitted to the budget."""
        if state.profile is None:
            return fit_query(ctx, query.input)
        count, truncate = ctx.backbone.count_tokens, ctx.backbone.truncate
        items = self._rag.retrieve(ctx, state.rag, ctx.task.query(query.input)) if state.rag is not None else []

        def build(inp: str, room: int) -> str | None:
            # What pag adds is cut first, the retrieved items before the profile (the profile is the method).
            profile = truncate(state.profile, room - count(pag_prompt("", [], "")))
            if not profile.strip():
                return None
            history = render_history(ctx, items, max(room - count(pag_prompt(profile, [""], "")), 0))
            return pag_prompt(profile, history, inp)

        return fit_with(ctx, query.input, build)
