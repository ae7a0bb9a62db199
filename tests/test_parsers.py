"""Output parsers: every example from the task briefs, the ambiguous cases, and that nothing ever raises."""

from __future__ import annotations

import pytest

from lampbench.tasks.parsers import Parsed, parse_citation, parse_generation, parse_label, parse_rating
from lampbench.tasks.specs import MOVIE_TAGS, NEWS_CATEGORIES, TASKS


def _ao(parsed: Parsed) -> tuple[str, bool]:
    assert parsed.how == ("unparsed" if not parsed.ok else "exact" if parsed.how == "exact" else "extracted")
    return (parsed.answer, parsed.ok)


def _p(answer: str, ok: bool) -> tuple[str, bool]:
    return (answer, ok)


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        ("[1]", "[1]"),
        ("1", "[1]"),
        ("reference 1", "[1]"),
        ("Answer: [2]", "[2]"),
        ("**[2]**", "[2]"),
        ("  [ 2 ]\n", "[2]"),
        ("The answer is 2.", "[2]"),
        ("Reference [2] is related, not [1].", "[2]"),  # the first clear mention wins
        ("I pick option #1 because [2] is off-topic", "[1]"),
    ],
)
def test_parse_citation_reads_the_choice(raw: str, answer: str) -> None:
    assert _ao(parse_citation(raw)) == _p(answer, True)


@pytest.mark.parametrize("raw", ["", "   ", "1 of the 2 papers", "[3]", "published in 2012", "neither"])
def test_parse_citation_without_a_clear_choice_keeps_the_text(raw: str) -> None:
    assert _ao(parse_citation(raw)) == _p(raw.strip(), False)


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        ("comedy", "comedy"),
        ("**Comedy**", "comedy"),
        ("Tag: Dark Comedy.", "dark comedy"),
        ('Answer: "sci-fi"', "sci-fi"),
        ("Category: twist ending!", "twist ending"),
        ("It is a dark comedy, with some comedy.", "dark comedy"),  # earliest mention
        ("comedy, or maybe a dark comedy", "comedy"),  # earliest mention beats the longer label
        ("The movie is thought provoking", "thought-provoking"),
        ("SCI FI", "sci-fi"),
        ("This is a true story about violence", "true story"),
    ],
)
def test_parse_label_movie_tags(raw: str, answer: str) -> None:
    assert _ao(parse_label(raw, MOVIE_TAGS)) == _p(answer, True)


def test_parse_label_longest_label_wins_a_tie_at_the_same_position() -> None:
    assert parse_label("science & technology news", ["science", "science & technology"]).answer == (
        "science & technology"
    )
    assert _ao(parse_label("I'd say dark comedy", ["comedy", "dark comedy"])) == _p("dark comedy", True)


def test_parse_label_news_categories_and_canonical_spelling() -> None:
    assert _ao(parse_label("Category: Food and Drink", NEWS_CATEGORIES)) == _p("food & drink", True)
    assert _ao(parse_label("'Science & Technology'", NEWS_CATEGORIES)) == _p("science & technology", True)
    assert _ao(parse_label("Tag: Comedy", ["Comedy", "Drama"])) == _p("Comedy", True)


@pytest.mark.parametrize("raw", ["", "  ", "transaction thriller", "a western", "tagged nothing"])
def test_parse_label_without_a_label_keeps_the_text(raw: str) -> None:
    assert _ao(parse_label(raw, MOVIE_TAGS)) == _p(raw.strip(), False)
    assert _ao(parse_label(raw, ())) == _p(raw.strip(), False)


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        ("Answer: 4", "4"),
        ("I would rate it 4 stars.", "4"),
        ("4/5", "4"),
        ("4 out of 5", "4"),
        ("Rating: 3.", "3"),
        ("5", "5"),
        ("4.0", "4"),
        ("On a scale of 1 to 5, I'd give it a 2", "2"),
        ("Out of 5: 3", "3"),
        ("10/10, though really 5", "5"),
    ],
)
def test_parse_rating_reads_the_first_valid_rating(raw: str, answer: str) -> None:
    assert _ao(parse_rating(raw)) == _p(answer, True)


@pytest.mark.parametrize("raw", ["", "great product!", "4.5", "0", "10/10", " 7 "])
def test_parse_rating_without_a_valid_rating_keeps_the_text_for_the_official_fallback(raw: str) -> None:
    assert _ao(parse_rating(raw)) == _p(raw.strip(), False)


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        ("  Headline: Storm hits the coast  ", "Storm hits the coast"),
        ('Title: "Deep Nets for Everyone"', "Deep Nets for Everyone"),
        ("**Title:** Deep Nets", "Deep Nets"),
        ("Paraphrased tweet: off to the beach!", "off to the beach!"),
        ("Tweet: hello", "hello"),
        ("**A bold headline**", "A bold headline"),
        ("\u201cCurly quotes\u201d", "Curly quotes"),
        ("\n\nFirst line\nSecond line", "First line"),
        ('Sure! Here is a paraphrased tweet:\n\n"so tired today"', "so tired today"),
        ("Title:\nThe Real Title", "The Real Title"),
        ("Why: a study of causes", "Why: a study of causes"),
    ],
)
def test_parse_generation_cleans_the_first_line(raw: str, answer: str) -> None:
    assert _ao(parse_generation(raw)) == _p(answer, True)


@pytest.mark.parametrize("raw", ["", "   \n\t ", "Title:", '""', "** **"])
def test_parse_generation_empty_result_is_not_ok(raw: str) -> None:
    assert _ao(parse_generation(raw)) == _p("", False)


NASTY = [
    "",
    " ",
    "\x00\x01",
    "\u200b",
    "\u0130\u0131 ß \ufb01",  # case mappings that change length
    "\U0001f642" * 1000,
    '"' * 100_001,
    "[" * 100_000 + "1",
    "1" * 5000,
    "9" * 400 + ".5",
    "4" + "." * 10_000,
    "**" * 50_000,
    "Title:" * 20_000,
    "a " * 500_000,
    "\u0664",  # Arabic-Indic four
    "\r\n\r\n",
]


@pytest.mark.parametrize("raw", NASTY)
def test_parsers_never_raise(raw: str) -> None:
    for parsed in (
        parse_citation(raw),
        parse_label(raw, MOVIE_TAGS),
        parse_label(raw, ()),
        parse_rating(raw),
        parse_generation(raw),
    ):
        assert isinstance(parsed, Parsed)
        assert isinstance(parsed.answer, str)


def test_task_spec_dispatches_to_the_parsers() -> None:
    assert _ao(TASKS["lamp1"].parse("Answer: [2]")) == _p("[2]", True)
    assert _ao(TASKS["lamp2"].parse("**Comedy**")) == _p("comedy", True)
    assert _ao(TASKS["lamp2n"].parse("Politics.")) == _p("politics", True)
    assert _ao(TASKS["lamp3"].parse("Rating: 3.")) == _p("3", True)
    assert _ao(TASKS["lamp7"].parse("Tweet: hi")) == _p("hi", True)


def test_how_says_whether_the_answer_was_read_out_of_the_text() -> None:
    assert parse_rating(" 4\n").how == "exact"
    assert parse_rating("I would rate it 4 stars.").how == "extracted"
    assert parse_rating("great product!").how == "unparsed"
    assert parse_label("comedy", MOVIE_TAGS).how == "exact"
    assert parse_label("**Comedy**", MOVIE_TAGS).how == "extracted"
    assert parse_generation("Title: Deep Nets").how == "extracted"
    assert parse_generation("Deep Nets").how == "exact"
