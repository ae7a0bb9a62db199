"""Output parsers: strict reading on hand-written adversarial generations, `how`, and that nothing ever raises."""

from __future__ import annotations

import pytest

from lampbench.tasks.parsers import Parsed, parse_citation, parse_generation, parse_label, parse_rating
from lampbench.tasks.specs import MOVIE_TAGS, NEWS_CATEGORIES, TASKS

MOVIE_LIST = ", ".join(MOVIE_TAGS)


def _read(parsed: Parsed) -> tuple[str, bool]:
    assert parsed.how in ("exact", "extracted", "unparsed")
    assert parsed.ok == (parsed.how != "unparsed")
    return parsed.answer, parsed.ok


def _unparsed(parsed: Parsed, raw: str) -> None:
    # An unreadable answer keeps the stripped raw text, so the official scorer applies its own fallback.
    assert parsed == Parsed(raw.strip(), False, "unparsed")


# ---------------------------------------------------------------- LaMP-1


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        ("[1]", "[1]"),
        ("1", "[1]"),
        ("reference 1", "[1]"),
        ("Answer: [2]", "[2]"),
        ("**[2]**", "[2]"),
        ("  [ 2 ]\n", "[2]"),
        ("\u201c[2]\u201d", "[2]"),
        ("The answer is 2.", "[2]"),
        ("Just answer with [1] or [2]. The answer is [2]", "[2]"),  # the instruction echo is not a choice
        ("Reference [2] is related, not [1].", "[2]"),  # an explicit claim
        ("I pick option #1 because [2] is off-topic", "[1]"),
        ('[1]: "Web 2.0 apps" [2]: "Deep nets". The answer is [2]', "[2]"),  # the option list is an echo
        ('Answer: [1]: "A study of nets"', "[1]"),
        ("[1] because it was published in 2015", "[1]"),  # a year is not a choice
        ("1. [2]\n2. [1]", "[2]"),  # a list is read by its first item
        ("\uff3b\uff12\uff3d", "[2]"),  # fullwidth brackets and digit
    ],
)
def test_citation_reads_unambiguous_choices(raw: str, answer: str) -> None:
    assert _read(parse_citation(raw)) == (answer, True)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "neither",
        "[3]",
        "1 of the 2 papers",  # two different choices
        "published in 2012",
        "Not [1]",  # negated
        "It is not [2].",
        "neither [1] nor [2]",
        "[1] or [2]",
        "Just answer with [1] or [2] without explanation.",  # an echo of the instruction alone
        "The answer is [1]. No wait, the answer is [2].",  # two explicit answers
        "1. 1\n2.",  # a list marker is not an answer
        "\u0661",  # an Arabic-Indic one is not read as 1
    ],
)
def test_citation_ambiguous_is_unparsed(raw: str) -> None:
    _unparsed(parse_citation(raw), raw)


# ---------------------------------------------------------------- LaMP-2


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        ("comedy", "comedy"),
        ("**Comedy**", "comedy"),
        ("_Comedy_", "comedy"),
        ("# Comedy", "comedy"),
        ("Tag: Dark Comedy.", "dark comedy"),
        ('Answer: "sci-fi"', "sci-fi"),
        ("\u201cclassic\u201d", "classic"),
        ("Category: twist ending!", "twist ending"),
        ("The movie is thought provoking", "thought-provoking"),  # one label mentioned
        ("SCI FI", "sci-fi"),
        ("I'd say dark comedy", "dark comedy"),  # "comedy" inside "dark comedy" is not a second label
        ("I would tag it as a classic.", "classic"),
        ("It could be action or fantasy. Answer: fantasy", "fantasy"),  # the explicit answer decides
        (f"tags: [{MOVIE_LIST}]\nThe answer is: romance", "romance"),  # the list echo, then an answer
        ("comedy comedy", "comedy"),  # the same label twice is still one label
        ("Yes, it is a comedy.", "comedy"),
    ],
)
def test_label_reads_unambiguous_tags(raw: str, answer: str) -> None:
    assert _read(parse_label(raw, MOVIE_TAGS)) == (answer, True)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "a western",
        "transaction thriller",  # "action" inside a word
        "This movie is not a comedy, it is a drama",  # negated
        "It isn't a comedy.",
        "Definitely no violence here.",
        "neither comedy nor action",
        "could be action or fantasy",  # two labels
        "It is a dark comedy, with some comedy.",
        "This is a true story about violence",
        f"Which tag does this movie relate to among the following tags? tags: [{MOVIE_LIST}]",  # list echo
        "Answer: comedy. Answer: action",  # two explicit answers
        "Com\u00e9die",  # not the label's spelling
        "sci-fi, action, comedy",
    ],
)
def test_label_ambiguous_is_unparsed(raw: str) -> None:
    _unparsed(parse_label(raw, MOVIE_TAGS), raw)
    _unparsed(parse_label(raw, ()), raw)


def test_label_news_categories_and_canonical_spelling() -> None:
    assert _read(parse_label("Category: Food and Drink", NEWS_CATEGORIES)) == ("food & drink", True)
    assert _read(parse_label("'Science & Technology'", NEWS_CATEGORIES)) == ("science & technology", True)
    assert _read(parse_label("Tag: Comedy", ["Comedy", "Drama"])) == ("Comedy", True)
    assert _read(parse_label("science & technology news", ["science", "science & technology"])) == (
        "science & technology",
        True,
    )
    _unparsed(parse_label("politics, not sports", NEWS_CATEGORIES), "politics, not sports")


# ---------------------------------------------------------------- LaMP-3


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        ("5", "5"),
        ("Answer: 4", "4"),
        ("I would rate it 4 stars.", "4"),
        ("4/5", "4"),
        ("4 out of 5", "4"),
        ("5/5 stars", "5"),
        ("4 stars out of 5", "4"),
        ("Rating: 3.", "3"),
        ("rating: 3", "3"),
        ("score of 4", "4"),
        ("4.0", "4"),
        ("four", "4"),
        ("Four stars", "4"),
        ("I'd give it a four.", "4"),
        ("**4**", "4"),
        ("\uff13", "3"),  # a fullwidth digit
        ("On a scale of 1 to 5, I'd give it a 2", "2"),  # the scale echo is not a rating
        ("Out of 5: 3", "3"),
        ("I bought it in 2012 and give it 4 stars", "4"),  # the explicit rating decides
        ("1. 5\n\nThe score", "5"),  # a list is read by its first item, not its marker
        ("1. 4 is the score for", "4"),
        ("just answer with 1, 2, 3, 4, or 5: 3", "3"),
    ],
)
def test_rating_reads_unambiguous_ratings(raw: str, answer: str) -> None:
    assert _read(parse_rating(raw)) == (answer, True)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "great product!",
        "4.5",
        "0",
        " 7 ",
        "-2",  # negative
        "rated -2",
        "between 2 and 3",  # ranges
        "3-4",
        "2 or 3",
        "10/10",  # another scale
        "8/10",
        "10/10, though really 5",
        "I would rate it 7",  # explicit but out of range
        "It's not a 5",  # negated
        "1. 1\n2.",  # SmolLM2's numbered-list echo of the scale
        "1. 1\n2. 2\n3. 3",
        "1 2 3 4 5",
        "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, or 5",
        "Rating: 4. Actually, rating: 2.",  # two explicit ratings
        "\u0664",  # an Arabic-Indic four is not read
        "one of the best products",  # a number word outside a rating pattern
    ],
)
def test_rating_ambiguous_is_unparsed(raw: str) -> None:
    _unparsed(parse_rating(raw), raw)


# ---------------------------------------------------------------- LaMP-4/5/7


@pytest.mark.parametrize(
    ("raw", "answer", "how"),
    [
        ("Deep Nets for Everyone", "Deep Nets for Everyone", "exact"),
        ("  Headline: Storm hits the coast  ", "Storm hits the coast", "extracted"),
        ('Title: "Deep Nets for Everyone"', "Deep Nets for Everyone", "extracted"),
        ("**Title:** Deep Nets", "Deep Nets", "extracted"),
        ("Paraphrased tweet: off to the beach!", "off to the beach!", "extracted"),
        ("**A bold headline**", "A bold headline", "extracted"),
        ("\u201cCurly quotes\u201d", "Curly quotes", "extracted"),
        ("\n\nFirst line\nSecond line", "First line", "extracted"),
        ('Sure! Here is a paraphrased tweet:\n\n"so tired today"', "so tired today", "extracted"),
        ("Title:\nThe Real Title", "The Real Title", "extracted"),
        ("Why: a study of causes", "Why: a study of causes", "exact"),
        ("caf\u00e9 \u2615 \u00fcber alles", "caf\u00e9 \u2615 \u00fcber alles", "exact"),
    ],
)
def test_generation_cleans_the_first_line(raw: str, answer: str, how: str) -> None:
    assert parse_generation(raw) == Parsed(answer, True, how)


@pytest.mark.parametrize(
    "raw",
    ["", "   \n\t ", "Title:", '""', "** **", "Generate a headline for the following article: storms"],
)
def test_generation_with_nothing_left_is_unparsed_and_keeps_the_text(raw: str) -> None:
    _unparsed(parse_generation(raw), raw)


@pytest.mark.parametrize(
    ("parse", "raw", "answer"),
    [
        (parse_rating, "4\n\nThe reviewer seems satisfied, apart from 2 scratches.", "4"),
        (parse_rating, "Answer: 4\nExplanation: the review is positive.", "4"),
        (parse_label, "comedy\n\nThe film is funny and has some action.", "comedy"),
        (parse_label, "1. comedy\n2. action", "comedy"),  # a list: its first item
        (parse_citation, "[2]\nReference [1] is about vision.", "[2]"),
    ],
)
def test_a_bare_first_line_then_an_explanation_is_read(parse, raw: str, answer: str) -> None:
    parsed = parse(raw, MOVIE_TAGS) if parse is parse_label else parse(raw)
    assert _read(parsed) == (answer, True)


@pytest.mark.parametrize(
    ("parse", "raw"),
    [
        (parse_rating, "1\n2\n3\n4\n5"),  # the scale, one value a line
        (parse_rating, "4\nActually, I'd rate it 2."),  # a later line answers otherwise
        (parse_rating, "4\n\n5 stars for the shipping though"),
        (parse_label, "comedy\naction"),
        (parse_citation, "[1]\nThe answer is [2]"),
    ],
)
def test_a_first_line_contradicted_later_is_unparsed(parse, raw: str) -> None:
    _unparsed(parse(raw, MOVIE_TAGS) if parse is parse_label else parse(raw), raw)


def test_how_says_whether_the_answer_was_read_out_of_the_text() -> None:
    assert parse_rating(" 4\n").how == "exact"
    assert parse_rating("I would rate it 4 stars.").how == "extracted"
    assert parse_rating("great product!").how == "unparsed"
    assert parse_label("comedy", MOVIE_TAGS).how == "exact"
    assert parse_label("Comedy", MOVIE_TAGS).how == "extracted"  # the scorer is case-sensitive
    assert parse_citation("[2]").how == "exact"
    assert parse_citation("2").how == "extracted"


NASTY = [
    "",
    " ",
    "\x00\x01",
    "\u200b",
    "\u0130\u0131 \u00df \ufb01",  # case mappings that change length
    "\U0001f642" * 1000,
    '"' * 100_001,
    "[" * 100_000 + "1",
    "1" * 5000,
    "9" * 400 + ".5",
    "4" + "." * 10_000,
    "**" * 50_000,
    "Title:" * 20_000,
    "a " * 500_000,
    "comedy " * 20_000,
    "1. " * 20_000,
    "not " * 50_000 + "4",
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
        assert parsed.how in ("exact", "extracted", "unparsed")


def test_task_spec_dispatches_to_the_parsers() -> None:
    assert _read(TASKS["lamp1"].parse("Answer: [2]")) == ("[2]", True)
    assert _read(TASKS["lamp2"].parse("**Comedy**")) == ("comedy", True)
    assert _read(TASKS["lamp2n"].parse("Politics.")) == ("politics", True)
    assert _read(TASKS["lamp3"].parse("Rating: 3.")) == ("3", True)
    assert _read(TASKS["lamp7"].parse("Tweet: hi")) == ("hi", True)
