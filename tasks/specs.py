"""What each LaMP task *is*: labels, profile fields, RAG pieces, parser and metrics.

Everything here follows ``shared/LAMP.md`` (the LaMP paper's code): the label lists are in the official order
(scores are label indices), the RAG corpus/query/templates are LaMP's own, and the metric names are the ones
LaMP's evaluator prints. The data types a method sees (`User`, `Query`) live here too, so ``tasks/`` is the
one place that knows the file format.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from lampbench.tasks import parsers
from lampbench.tasks.errors import DataError, UnknownTask  # noqa: F401 - raised here, imported from here by callers
from lampbench.tasks.parsers import Parsed

Kind = Literal["classification", "rating", "generation"]

#: Metrics where a smaller number is better; every other metric is "higher is better".
LOWER_IS_BETTER = frozenset({"mae", "rmse"})


@dataclass(frozen=True)
class Query:
    """One LaMP question: its id, the task input, and the gold output when known (None for test splits)."""

    id: str
    input: str
    gold: str | None = None


@dataclass(frozen=True)
class User:
    """A user: their history (profile items, as in the file) and the queries asked for them.

    In LaMP's user split each question carries its own profile; questions whose profiles are identical belong
    to the same user, so a user can have several queries (the loader groups them).
    """

    id: str
    profile: tuple[dict[str, Any], ...]
    queries: tuple[Query, ...]


#: Receives one-line warnings about input that is read anyway (a content quirk, a repeated id).
Warn = Callable[[str], None]


def default_warn(message: str) -> None:
    """Log a data warning on the ``lampbench.data`` logger (a run's log.txt; the CLI prints its own)."""
    import logging

    logging.getLogger("lampbench.data").warning(message)


_OTHER_FILE_NAMES = {"lamp2": ("LaMP_2M",), "lamp2n": ("LaMP_2N",)}


def _after(keyword: str) -> Callable[[str], str]:
    """LaMP's `extract_after_*`: the text after the first `keyword`, or the whole input when it is missing."""

    def query(inp: str) -> str:
        at = inp.find(keyword)
        return inp if at == -1 else inp[at + len(keyword) :].strip()

    return query


def _citation_query(inp: str) -> str:
    """LaMP-1: the two quoted reference titles (LaMP joins quoted strings 1 and 2 with a space)."""
    quoted = re.findall(r'"(.*?)"', inp)
    return " ".join(quoted[1:3]) if len(quoted) >= 3 else inp


def _insert_after_title(inp: str, items: str) -> str:
    """LaMP-1's RAG prompt: the retrieved titles go right after the word "title" of the question."""
    at = inp.find("title")
    if at == -1:
        return inp
    return inp[: at + 5] + ", and " + items + inp[at + 5 :]


@dataclass(frozen=True)
class TaskSpec:
    """A LaMP task.

    Attributes:
        name: the name used here (`lamp3`).
        lamp: LaMP's own name, written in outputs files (`LaMP_3`).
        path: the folder of the official URLs and of the data directory (`LaMP_2/new` for movie tagging).
        kind: classification, rating or generation.
        labels: the label list in LaMP's order (classification and rating), else None.
        profile_fields: fields every profile item must have.
        profile_target: the field of a profile item that plays the role of the task's output.
        corpus_fields: fields joined with a space to make a profile item's BM25 document.
        query: extracts the retrieval query from a task input.
        rag_item: template of one retrieved item; `{<rag_truncate>}` is the part shortened to fit the budget.
        rag_truncate: the field shortened when the prompt is over budget.
        rag_prompt: joins the rendered items (already joined with ", and ") and the input into the prompt.
        max_new_tokens: generation length for this task's answers.
        metrics: metric names, in LaMP's evaluator's spelling; the first is the headline metric.
        input_marks: strings every LaMP input of the task contains (``description:`` for movie tagging); an
            input without them is a known defect of real files (LaMP-2M dev id 110 has no instruction).
        instruction: LaMP's input text before the item's own text; ``patch_known_defects`` prepends it to an
            input without its marks, and methods that make task inputs from history items (the fine-tuning
            examples) start them with it. Empty where the input cannot be rebuilt (LaMP-1's references).
    """

    name: str
    lamp: str
    path: str
    kind: Kind
    labels: tuple[str, ...] | None
    profile_fields: tuple[str, ...]
    profile_target: str | None
    corpus_fields: tuple[str, ...]
    query: Callable[[str], str]
    rag_item: str
    rag_truncate: str
    rag_prompt: Callable[[str, str], str]
    max_new_tokens: int
    metrics: tuple[str, ...]
    description: str = ""
    aliases: tuple[str, ...] = field(default=())
    input_marks: tuple[str, ...] = ()
    instruction: str = ""

    @property
    def file_names(self) -> tuple[str, ...]:
        """The "task" strings an official-format file of this task may carry (OPPU writes LaMP_2M, LaMP_2N)."""
        return (self.lamp, *_OTHER_FILE_NAMES.get(self.name, ()))

    def follows_pattern(self, inp: str) -> bool:
        """Whether a task input carries every mark of LaMP's input pattern (`input_marks`)."""
        return all(mark in inp for mark in self.input_marks)

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    def corpus(self, item: dict[str, Any]) -> str:
        """The BM25 document of a profile item."""
        return " ".join(str(item.get(f, "")) for f in self.corpus_fields)

    def parse(self, raw: str) -> Parsed:
        """Turn a raw generation into the answer that is scored (see `tasks/parsers.py`)."""
        if self.name == "lamp1":
            return parsers.parse_citation(raw)
        if self.kind == "classification":
            return parsers.parse_label(raw, self.labels or ())
        if self.kind == "rating":
            return parsers.parse_rating(raw)
        return parsers.parse_generation(raw)


MOVIE_TAGS = (
    "sci-fi", "based on a book", "comedy", "action", "twist ending", "dystopia", "dark comedy", "classic",
    "psychology", "fantasy", "romance", "thought-provoking", "social commentary", "violence", "true story",
)  # fmt: skip
NEWS_CATEGORIES = (
    "food & drink", "sports", "education", "parents", "religion", "travel", "business", "crime",
    "science & technology", "culture & arts", "entertainment", "politics", "women", "style & beauty",
    "healthy living",
)  # fmt: skip


_LAMP2M_INSTRUCTION = (
    "Which tag does this movie relate to among the following tags? Just answer with the tag name without "
    f"further explanation. tags: [{', '.join(MOVIE_TAGS)}] description: "
)


_LAMP2N_INSTRUCTION = (
    "Which category does this article relate to among the following categories? Just answer with the category "
    f"name without further explanation. categories: [{', '.join(NEWS_CATEGORIES)}] article: "
)


def _then(suffix: str) -> Callable[[str, str], str]:
    return lambda inp, items: f"{items}{suffix}{inp}"


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in [
        TaskSpec(
            name="lamp1", lamp="LaMP_1", path="LaMP_1", kind="classification", labels=("[1]", "[2]"),
            profile_fields=("id", "title", "abstract"), profile_target=None, corpus_fields=("title", "abstract"),
            query=_citation_query, rag_item='"{title}"', rag_truncate="title", rag_prompt=_insert_after_title,
            max_new_tokens=8, metrics=("accuracy", "f1"), description="citation identification",
            input_marks=("[1]", "[2]"),
        ),
        TaskSpec(
            name="lamp2", lamp="LaMP_2", path="LaMP_2/new", kind="classification", labels=MOVIE_TAGS,
            profile_fields=("id", "description", "tag"), profile_target="tag", corpus_fields=("description",),
            query=_after("description:"), rag_item='the tag for the movie: "{description}" is "{tag}" ',
            rag_truncate="description", rag_prompt=_then(". "), max_new_tokens=12,
            metrics=("accuracy", "f1"), description="movie tagging (the new LaMP-2)", aliases=("lamp2m",),
            input_marks=("description:",), instruction=_LAMP2M_INSTRUCTION,
        ),
        TaskSpec(
            name="lamp2n", lamp="LaMP_2", path="LaMP_2", kind="classification", labels=NEWS_CATEGORIES,
            profile_fields=("id", "title", "text", "category"), profile_target="category",
            corpus_fields=("title", "text"), query=_after("article:"),
            rag_item='the category for the article: "{text}" is "{category}" ', rag_truncate="text",
            rag_prompt=_then(". "), max_new_tokens=12, metrics=("accuracy", "f1"),
            description="news categorization (the original LaMP-2)", input_marks=("article:",),
            instruction=_LAMP2N_INSTRUCTION,
        ),
        TaskSpec(
            name="lamp3", lamp="LaMP_3", path="LaMP_3", kind="rating", labels=("1", "2", "3", "4", "5"),
            profile_fields=("id", "text", "score"), profile_target="score", corpus_fields=("text",),
            query=_after("review:"), rag_item='{score} is the score for "{text}" ', rag_truncate="text",
            rag_prompt=_then(". "), max_new_tokens=8, metrics=("mae", "rmse"), description="product rating",
            input_marks=("review:",), instruction="What is the score of the following review on a scale of 1 "
            "to 5? just answer with 1, 2, 3, 4, or 5 without further explanation. review: ",
        ),
        TaskSpec(
            name="lamp4", lamp="LaMP_4", path="LaMP_4", kind="generation", labels=None,
            profile_fields=("id", "title", "text"), profile_target="title", corpus_fields=("title", "text"),
            query=_after("article:"), rag_item='"{title}" is the title for "{text}" ', rag_truncate="text",
            rag_prompt=_then(". "), max_new_tokens=32, metrics=("rouge-1", "rouge-L"),
            description="news headline generation", input_marks=("article:",),
            instruction="Generate a headline for the following article: ",
        ),
        TaskSpec(
            name="lamp5", lamp="LaMP_5", path="LaMP_5", kind="generation", labels=None,
            profile_fields=("id", "title", "abstract"), profile_target="title", corpus_fields=("title", "abstract"),
            query=_after("paper:"), rag_item='"{title}" is a title for "{abstract}" ', rag_truncate="abstract",
            rag_prompt=_then(". Following the given patterns "), max_new_tokens=32,
            metrics=("rouge-1", "rouge-L"), description="scholarly title generation", input_marks=("paper:",),
            instruction="Generate a title for the following abstract of a paper: ",
        ),
        TaskSpec(
            name="lamp7", lamp="LaMP_7", path="LaMP_7", kind="generation", labels=None,
            profile_fields=("id", "text"), profile_target="text", corpus_fields=("text",), query=_after(":"),
            rag_item='"{text}" ', rag_truncate="text",
            rag_prompt=_then(" are written by a person. Following the given patterns "), max_new_tokens=64,
            metrics=("rouge-1", "rouge-L"), description="tweet paraphrasing", input_marks=(":",),
            instruction="Paraphrase the following tweet without any explanation before or after it: ",
        ),
    ]
}  # fmt: skip


def get_task(name: str) -> TaskSpec:
    """The task called `name` (or one of its aliases), or `UnknownTask` with a "did you mean" hint."""
    key = name.strip().lower()
    for task in TASKS.values():
        if key == task.name or key in task.aliases:
            return task
    names = sorted([*TASKS, *(a for t in TASKS.values() for a in t.aliases)])
    close = difflib.get_close_matches(key, names, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; known tasks: {', '.join(names)}"
    raise UnknownTask(f"unknown task {name!r}{hint}")
