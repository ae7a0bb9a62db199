"""CHAMELEON's prompts: the history format, the two insight prompts and the preference-pair prompts, per task.

LaMP-2 (movies), LaMP-3 and LaMP-7 are the paper's Appendix A.3 templates, word for word (OCR slips such as
"shoulds" and "scifi" corrected). The paper measured only those three tasks, so the templates of lamp1,
lamp2n, lamp4 and lamp5 are ours, written in the same spirit: the same "Suppose you are a user with the
following user profile history ..." frame, a history line that shows each item's output next to its text,
the same personalized and neutral role sentences around `[INSIGHT]`, and "Your answer:" at the end.

The paper prints the pair prompts but not the prompts that *write* the insights; it only says the personalized
agent concludes "the user's preferences, behaviors, and style" from the selected history and the neutral agent
gives "characteristics of impersonal and general responses". The two insight prompts below ask for exactly that,
phrased to complete the slots the pair prompts leave for them ("The user prefers [INSIGHT]." and
"Your answer should [INSIGHT].").

A task this module does not list gets `generic_templates`, built from its `TaskSpec` in the same frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lampbench.tasks.specs import TaskSpec

_GENERIC = (
    "You are a generic and impersonal assistant. You do not consider the user's preferences or profile history "
    "when responding."
)
_HELPFUL = "You are a helpfully personalized assistant."


@dataclass(frozen=True)
class Templates:
    """One task's prompt pieces. `{insight}` marks the insight slot; `item` is formatted with a profile item."""

    intro: str  # opens every prompt, followed by the numbered history
    item: str  # one history line
    query_intro: str  # introduces the new query
    question: str
    personal: str  # the personalized role sentence, with {insight}
    neutral: str  # the neutral role sentence, with {insight}
    activity: str  # what the user does, for the insight prompts ("tagging movies")
    whole_input: bool = False  # the query is the whole task input (lamp1), not the part LaMP retrieves with


def _labels(task_labels: Sequence[str]) -> str:
    return ", ".join(task_labels)


def templates(task: TaskSpec) -> Templates:
    """The templates of `task` (see the module docstring for which are the paper's)."""
    labels = _labels(task.labels or ())
    one_tag = f"Answer only with one tag name ({labels})."
    one_category = f"Answer only with one category name ({labels})."
    rate = "Just answer with 1, 2, 3, 4, or 5 without further explanation."
    cite = "Just answer with [1] or [2] without explanation."
    table = {
        "lamp2": Templates(  # Appendix A.3
            intro="Suppose you are a user with the following user profile history of movie tagging:",
            item='The tag for movie: "{description}" is "{tag}".',
            query_intro="Now, given a new description:",
            question="Question: Which tag does this movie relate to among the following tags? Just answer with "
            f"only ONE tag name without further explanation. tags: [{labels}]",
            personal=f"{_HELPFUL} You try to predict the movie tagging that the user preferred based on their "
            f"history. The user prefers {{insight}}. {one_tag}",
            neutral=f"{_GENERIC} Your answer should {{insight}}. {one_tag}",
            activity="tagging movies",
        ),
        "lamp3": Templates(  # Appendix A.3
            intro="Suppose you are a user with the following user profile history of product rating based on the "
            "user's review of the product:",
            item='{score} is the rating score for product: "{text}".',
            query_intro="Now, given a new review by the user:",
            question=f"Question: What is the rating score of the following review on a scale of 1 to 5? {rate}",
            personal=f"{_HELPFUL} You try to predict the rating of the product based on the user history ratings. "
            f"The user prefers {{insight}}. {rate}",
            neutral=f"{_GENERIC} Your answer should {{insight}}.",
            activity="rating products from their reviews",
        ),
        "lamp7": Templates(  # Appendix A.3
            intro="Suppose you are a twitter user with the following user profile history that shows their "
            "preferred way of speaking:",
            item="{text}",
            query_intro="Now, given a new twitter post:",
            question="Question: Paraphrase the tweet in the style the user likes without any explanation before "
            "or after it.",
            personal=f"{_HELPFUL} You try to paraphrase the tweet in the style the user likes based on the "
            "history. The user prefers {insight}.",
            neutral=f"{_GENERIC} Your answer should {{insight}}.",
            activity="writing tweets",
        ),
        "lamp2n": Templates(  # ours, after LaMP-2
            intro="Suppose you are a user with the following user profile history of news article categorization:",
            item='The category for the article: "{text}" is "{category}".',
            query_intro="Now, given a new article:",
            question="Question: Which category does this article relate to among the following categories? Just "
            f"answer with only ONE category name without further explanation. categories: [{labels}]",
            personal=f"{_HELPFUL} You try to predict the category that the user preferred based on their history. "
            f"The user prefers {{insight}}. {one_category}",
            neutral=f"{_GENERIC} Your answer should {{insight}}. {one_category}",
            activity="categorizing news articles",
        ),
        "lamp1": Templates(  # ours, after LaMP-2/3
            intro="Suppose you are a researcher with the following user profile history of papers you have written:",
            item='"{title}"',
            query_intro="Now, given a new question:",
            question=f"Question: Which reference is related to this author's papers? {cite}",
            personal=f"{_HELPFUL} You try to predict the reference the user would cite based on the topics of their "
            f"papers. The user prefers {{insight}}. {cite}",
            neutral=f"{_GENERIC} Your answer should {{insight}}. {cite}",
            activity="choosing which references to cite",
            whole_input=True,
        ),
        "lamp4": Templates(  # ours, after LaMP-7
            intro="Suppose you are a journalist with the following user profile history of headlines you wrote for "
            "news articles:",
            item='"{title}" is the headline for the article: "{text}".',
            query_intro="Now, given a new article:",
            question="Question: Generate a headline for the article in the style the user likes without any "
            "explanation before or after it.",
            personal=f"{_HELPFUL} You try to write the headline in the style the user likes based on the history. "
            "The user prefers {insight}.",
            neutral=f"{_GENERIC} Your answer should {{insight}}.",
            activity="writing news headlines",
        ),
        "lamp5": Templates(  # ours, after LaMP-7
            intro="Suppose you are a researcher with the following user profile history of titles you wrote for "
            "your papers:",
            item='"{title}" is the title for the paper: "{abstract}".',
            query_intro="Now, given a new paper abstract:",
            question="Question: Generate a title for the paper in the style the user likes without any explanation "
            "before or after it.",
            personal=f"{_HELPFUL} You try to write the title in the style the user likes based on the history. "
            "The user prefers {insight}.",
            neutral=f"{_GENERIC} Your answer should {{insight}}.",
            activity="writing titles for papers",
        ),
    }
    return table[task.name] if task.name in table else generic_templates(task)


def generic_templates(task: TaskSpec) -> Templates:
    """Templates for a task the table does not list (one added later), in the same frame, from its `TaskSpec`.

    The history line is the task's LaMP item template, and the query is the whole task input (so the model sees
    the task's own instruction).
    """
    what = task.description or task.name
    if task.labels:
        rule = f"Answer only with one of: {_labels(task.labels)}."
    else:
        rule = "Answer without any explanation before or after it."
    return Templates(
        intro=f"Suppose you are a user with the following user profile history of {what}:",
        item=task.rag_item.strip(),
        query_intro="Now, given a new input:",
        question=f"Question: Answer the input as this user would. {rule}",
        personal=f"{_HELPFUL} You try to answer as the user would based on their history. The user prefers "
        f"{{insight}}. {rule}",
        neutral=f"{_GENERIC} Your answer should {{insight}}. {rule}",
        activity=what,
        whole_input=True,
    )


def query_text(task: TaskSpec, t: Templates, inp: str) -> str:
    """The `[QUERY]` of the templates: the part of the input LaMP retrieves with (lamp1: the whole input)."""
    return inp if t.whole_input else task.query(inp)


def render_history(
    task: TaskSpec,
    t: Templates,
    items: Sequence[dict[str, Any]],
    max_tokens: int,
    count: Callable[[str], int],
    truncate: Callable[[str, int], str],
) -> str:
    """The numbered history lines, each item's long field cut so that all of them fit in `max_tokens`.

    Each item gets an even share; what one item does not use passes to the next (as LaMP's RAG prompts do).
    """
    if not items:
        return ""
    share, saved, lines = max_tokens // len(items), 0, []
    for n, item in enumerate(items, 1):
        frame = count(f"{n}. " + format_item(t, item, {task.rag_truncate: ""})) + 1
        text = truncate(str(item.get(task.rag_truncate, "")), max(0, share + saved - frame))
        saved += share - frame - count(text)
        lines.append(f"{n}. " + format_item(t, item, {task.rag_truncate: text}))
    return "\n".join(lines)


class _Blank(dict):
    """Formats a missing field as empty rather than failing on an odd profile item."""

    def __missing__(self, key: str) -> str:
        return ""


def format_item(t: Templates, item: dict[str, Any], replace: dict[str, str] | None = None) -> str:
    """One history item as its task's history line (`replace` overrides fields, e.g. a shortened text)."""
    return t.item.format_map(_Blank({**{k: str(v) for k, v in item.items()}, **(replace or {})}))


def answer_prompt(t: Templates, history: str, query: str) -> str:
    """The prompt CHAMELEON answers with: history and query, no insight (Section 4.1's shared prompt format)."""
    return f"{t.intro}\n{history}\n\n{t.query_intro} {query}\n\n{t.question}\n\nYour answer:"


def pair_prompt(t: Templates, history: str, query: str, insight: str, *, personal: bool) -> str:
    """The Appendix A.3 prompt that generates y^P (personal) or y^N (neutral) for one query."""
    role = (t.personal if personal else t.neutral).format(insight=insight)
    return f"{t.intro}\n{history}\n\n{t.query_intro} {query}\n\n{t.question}\n\n{role}\n\nYour answer:"


def insight_prompt(t: Templates, history: str, *, personal: bool) -> str:
    """The prompt that writes c^P (the user's preferences and style) or c^N (an impersonal answer's traits)."""
    if personal:
        ask = (
            f"{_HELPFUL} Based on this history, describe in one sentence what this user prefers when "
            f'{t.activity}: their preferences, behaviors and style. Complete the sentence "The user prefers ..." '
            "without further explanation."
        )
    else:
        ask = (
            f"{_GENERIC} Describe in one sentence the characteristics of an impersonal and general answer when "
            f'{t.activity}. Complete the sentence "Your answer should ..." without further explanation.'
        )
    return f"{t.intro}\n{history}\n\n{ask}"


_LEADS = {
    True: re.compile(r"^\W*(the user|this user|they)\s+prefers?\s*(:|to)?\s*", re.IGNORECASE),
    False: re.compile(r"^\W*(your )?answers?\s+should\s*(:)?\s*", re.IGNORECASE),
}
_FALLBACK = {True: "answers consistent with their history", False: "be generic and impersonal"}


def clean_insight(text: str, *, personal: bool) -> str:
    """The generated insight made to fit its slot: first line, the echoed lead words and end punctuation removed."""
    line = next((s for s in text.strip().splitlines() if s.strip()), "")
    line = _LEADS[personal].sub("", line.strip()).strip().rstrip(" .!")
    if line.count('"') % 2:  # a quote left unmatched where the lead words or the end were cut off
        line = line.strip('"').rstrip(" .!")
    return line or _FALLBACK[personal]
