"""The LaMP tasks, one `TaskSpec` each (``shared/LAMP.md``: the LaMP paper's code).

The label lists are in the official order (scores are label indices), the RAG corpus/query/templates/item frames
are LaMP's own, and the metric names are the ones LaMP's evaluator prints. A task of an existing kind is one more
spec: here for lampbench's own, in a package's `lampbench.tasks` entry point for anyone else's (`tasks/specs.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lampbench.tasks.kinds import CLASSIFICATION, GENERATION, RATING
from lampbench.tasks.parsers import parse_citation, parse_generation, parse_label, parse_rating
from lampbench.tasks.synthetic import classification as synthetic_labels
from lampbench.tasks.synthetic import generation as synthetic_text
from lampbench.tasks.synthetic import rating as synthetic_rating
from lampbench.tasks.task import TaskSpec

MOVIE_TAGS = (
    "sci-fi", "based on a book", "comedy", "action", "twist ending", "dystopia", "dark comedy", "classic",
    "psychology", "fantasy", "romance", "thought-provoking", "social commentary", "violence", "true story",
)  # fmt: skip
NEWS_CATEGORIES = (
    "food & drink", "sports", "education", "parents", "religion", "travel", "business", "crime",
    "science & technology", "culture & arts", "entertainment", "politics", "women", "style & beauty",
    "healthy living",
)  # fmt: skip


def after(keyword: str) -> Callable[[str], str]:
    """LaMP's `extract_after_*`: the text after the first `keyword`, or the whole input when it is missing."""

    def query(inp: str) -> str:
        at = inp.find(keyword)
        return inp if at == -1 else inp[at + len(keyword) :].strip()

    return query


def then(suffix: str) -> Callable[[str, str], str]:
    """LaMP's RAG prompt for most tasks: the items, `suffix`, then the input."""
    return lambda inp, items: f"{items}{suffix}{inp}"


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


LAMP1 = TaskSpec(
    name="lamp1", lamp="LaMP_1", path="LaMP_1", metric=CLASSIFICATION, labels=("[1]", "[2]"),
    profile_fields=("id", "title", "abstract"), profile_target=None, corpus_fields=("title", "abstract"),
    query=_citation_query, rag_item='"{title}"', rag_truncate="title", rag_prompt=_insert_after_title,
    item_frame=2, reserved_tokens=0, parser=parse_citation, max_new_tokens=8,
    description="citation identification", input_marks=("[1]", "[2]"), synthetic=synthetic_labels.LAMP1,
)  # fmt: skip

LAMP2 = TaskSpec(
    name="lamp2", lamp="LaMP_2", path="LaMP_2/new", metric=CLASSIFICATION, labels=MOVIE_TAGS,
    profile_fields=("id", "description", "tag"), profile_target="tag", corpus_fields=("description",),
    query=after("description:"), rag_item='the tag for the movie: "{description}" is "{tag}" ',
    rag_truncate="description", rag_prompt=then(". "), item_frame='the tag for the movie: " " is "{tag}" ',
    parser=parse_label, max_new_tokens=12, description="movie tagging (the new LaMP-2)", aliases=("lamp2m",),
    input_marks=("description:",), other_file_names=("LaMP_2M",), synthetic=synthetic_labels.LAMP2,
    instruction="Which tag does this movie relate to among the following tags? Just answer with the tag name "
    f"without further explanation. tags: [{', '.join(MOVIE_TAGS)}] description: ",
)  # fmt: skip

LAMP2N = TaskSpec(
    name="lamp2n", lamp="LaMP_2", path="LaMP_2", metric=CLASSIFICATION, labels=NEWS_CATEGORIES,
    profile_fields=("id", "title", "text", "category"), profile_target="category", corpus_fields=("title", "text"),
    query=after("article:"), rag_item='the category for the article: "{text}" is "{category}" ',
    rag_truncate="text", rag_prompt=then(". "), item_frame='the category for the article: " " is "{category}" ',
    parser=parse_label, max_new_tokens=12, description="news categorization (the original LaMP-2)",
    input_marks=("article:",), other_file_names=("LaMP_2N",), synthetic=synthetic_labels.LAMP2N,
    instruction="Which category does this article relate to among the following categories? Just answer with the "
    f"category name without further explanation. categories: [{', '.join(NEWS_CATEGORIES)}] article: ",
)  # fmt: skip

LAMP3 = TaskSpec(
    name="lamp3", lamp="LaMP_3", path="LaMP_3", metric=RATING, labels=("1", "2", "3", "4", "5"),
    profile_fields=("id", "text", "score"), profile_target="score", corpus_fields=("text",),
    query=after("review:"), rag_item='{score} is the score for "{text}" ', rag_truncate="text",
    rag_prompt=then(". "), item_frame='{score} is the score for " " ', parser=parse_rating, max_new_tokens=8,
    description="product rating", input_marks=("review:",), synthetic=synthetic_rating.LAMP3,
    instruction="What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, "
    "or 5 without further explanation. review: ",
)  # fmt: skip

LAMP4 = TaskSpec(
    name="lamp4", lamp="LaMP_4", path="LaMP_4", metric=GENERATION, labels=None,
    profile_fields=("id", "title", "text"), profile_target="title", corpus_fields=("title", "text"),
    query=after("article:"), rag_item='"{title}" is the title for "{text}" ', rag_truncate="text",
    rag_prompt=then(". "), item_frame='"{title}" is the title for " " ', parser=parse_generation,
    max_new_tokens=32, description="news headline generation", input_marks=("article:",),
    instruction="Generate a headline for the following article: ", synthetic=synthetic_text.LAMP4,
)  # fmt: skip

LAMP5 = TaskSpec(
    name="lamp5", lamp="LaMP_5", path="LaMP_5", metric=GENERATION, labels=None,
    profile_fields=("id", "title", "abstract"), profile_target="title", corpus_fields=("title", "abstract"),
    query=after("paper:"), rag_item='"{title}" is a title for "{abstract}" ', rag_truncate="abstract",
    rag_prompt=then(". Following the given patterns "), item_frame='"{title}" is a title " " ',
    reserved_text="Following the given patterns", parser=parse_generation, max_new_tokens=32,
    description="scholarly title generation", input_marks=("paper:",), synthetic=synthetic_text.LAMP5,
    instruction="Generate a title for the following abstract of a paper: ",
)  # fmt: skip

LAMP7 = TaskSpec(
    name="lamp7", lamp="LaMP_7", path="LaMP_7", metric=GENERATION, labels=None,
    profile_fields=("id", "text"), profile_target="text", corpus_fields=("text",), query=after(":"),
    rag_item='"{text}" ', rag_truncate="text",
    rag_prompt=then(" are written by a person. Following the given patterns "), item_frame='"" ',
    reserved_text="are written by user. Following the given patterns",  # LaMP's wording, not its prompt's
    parser=parse_generation, max_new_tokens=64, description="tweet paraphrasing", input_marks=(":",),
    instruction="Paraphrase the following tweet without any explanation before or after it: ",
    synthetic=synthetic_text.LAMP7,
)  # fmt: skip

#: In the order `bench tasks` lists them.
LAMP_TASKS = (LAMP1, LAMP2, LAMP2N, LAMP3, LAMP4, LAMP5, LAMP7)
