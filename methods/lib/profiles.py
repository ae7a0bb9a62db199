"""LLM-written user profiles (Richardson et al. 2023, as OPPU and Per-Pcs use them) and Per-Pcs' profile prompt layout.

What `pag` does, as shared code, so the PEFT methods' `+PAG` variants (`prompt_variants.py`) write and show the
profile exactly as `pag` does: Per-Pcs' per-task profile-generation prompts (Table 5, quoted verbatim, typos
included; only the `<...>` placeholders, garbled in the paper's text, are restored), written by the run's backbone
from a seeded random sample of the user's history, and Per-Pcs' answer layout (Table 6)::

    ### User Profile:
    <profile>
    ### User History:        (only when there are retrieved items)
    <items>
    ### User Instruction:
    <the task input>

Table 5 has no prompt for the news-categorization LaMP-2 (`lamp2n`); ours is LaMP-2's movie prompt with articles and
categories in place of movies and tags. A task with no prompt here gets `GENERIC_PROFILE_PROMPT`.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from typing import Any

from lampbench.methods.contract import Context
from lampbench.methods.lib.prompt_budget import render_history
from lampbench.tasks.prompts import Fitted, fit_personalized
from lampbench.tasks.specs import User

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


def write_profile(
    ctx: Context, user: User, *, n_items: int, item_words: int, max_new_tokens: int, prompt_tokens: int = 0
) -> str | None:
    """The backbone's profile of `user` from `n_items` random history items (each cut to `item_words` words).

    The profile prompt keeps within `prompt_tokens` (0: the run's prompt budget). None when the user has no history
    or not one item fits the prompt beside its instruction.
    """
    if not user.profile:
        return None
    backbone = ctx.backbone
    budget = prompt_tokens or ctx.max_prompt_tokens
    room = budget - backbone.count_tokens(profile_prompt(ctx.task.name, []))
    history = render_history(ctx, sample_items(user, n_items, ctx.seed), max(room, 0), item_words)
    prompt = profile_prompt(ctx.task.name, history)
    if not history or backbone.count_tokens(prompt) > budget:
        return None
    (profile,) = backbone.generate([prompt], max_new_tokens=max_new_tokens, batch_size=1)
    return profile


def pag_fit(ctx: Context, profile: str, items: Sequence[dict[str, Any]], inp: str) -> Fitted:
    """The task input under the profile and the rendered `items`, within the run's prompt budget.

    The input is cut as every method cuts it; what the profile layout adds gives way first, the items before the
    profile (the profile is the method); `cut` when not even a piece of the profile fits.
    """
    backbone = ctx.backbone
    count, truncate = backbone.count_tokens, backbone.truncate

    def build(cut_input: str, room: int) -> str | None:
        text = truncate(profile, room - count(pag_prompt("", [], "")))
        if not text.strip():
            return None
        history = render_history(ctx, items, max(room - count(pag_prompt(text, [""], "")), 0))
        return pag_prompt(text, history, cut_input)

    return fit_personalized(inp, ctx.max_prompt_tokens, count, truncate, build)
