"""Output parsers: raw generation -> the answer that is scored, read strictly.

LaMP's scorer only strips whitespace (``shared/LAMP.md``), so a chatty "**Comedy**" or "I would rate it 4
stars." scores as wrong. Reading the answer out of such text is post-processing that a task applies *before*
scoring; the harness reports how each answer was read (`Parsed.how`), so it never hides inside the metric.

A parser accepts an answer only when it is unambiguous, in this order:

1. the whole output, cleaned (markup, quotes, an "Answer:" prefix, trailing punctuation removed; lower-cased),
   is a label or a rating; or its first line is, and no later line is or gives another value ("4\n\nThe
   reviewer liked it" is 4);
2. an explicit answer pattern gives exactly one value ("Answer: X", "the answer is X", "I would rate it 4",
   "4 stars", "4/5");
3. exactly one label (one rating) is mentioned, and it is not negated ("not a comedy").

Anything else is unparsed: two different labels, an echo of the instruction's label list or scale, a negated
label, a range ("between 2 and 3", "3-4"), a negative or out-of-range number, a list enumerating the scale
("1. 1\\n2."). A numbered list is read by its first item only, never by its marker ("1. 5\\n\\nThe score" is 5).
An unparsed answer is the stripped raw text, so the official scorer applies its own fallback (a wrong label,
the worst-case rating). Every parser is total: any string gives a `Parsed` and nothing raises.

Every parser takes the task's label list as its second argument (`TaskSpec.parse` passes it); those of a fixed
answer set (citation, rating) and of free text ignore it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Parsed:
    """A raw generation turned into the string that is scored.

    Attributes:
        answer: what is scored.
        ok: False when nothing could be read (``answer`` is then the stripped raw text).
        how: ``"exact"`` (the stripped raw text already is the answer), ``"extracted"`` (read out of a longer
            or decorated text) or ``"unparsed"``; written per line to ``generations.jsonl``.
    """

    answer: str
    ok: bool
    how: str


def _found(raw: str, answer: str) -> Parsed:
    return Parsed(answer, True, "exact" if answer == raw.strip() else "extracted")


def _unparsed(raw: str) -> Parsed:
    return Parsed(raw.strip(), False, "unparsed")


# ---------------------------------------------------------------- shared cleaning

# Markdown emphasis, code marks and heading marks that chat models wrap answers in.
_MARKUP = re.compile(r"\*+|`+|(?<![a-z0-9])_+|_+(?![a-z0-9])|^[ \t]*#+[ \t]*", re.IGNORECASE | re.MULTILINE)
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb", "\u201e": "\u201c"}
_TRAILING_PUNCT = ".,;:!?\u3002 \t\n"
_PREFIX = re.compile(
    r"^(?:(?:the\s+)?(?:final\s+|correct\s+|my\s+)?(?:answer|tag|category|label|genre|rating|score|output)"
    r"\s*(?:is\b|would\s+be\b)?\s*[:\-=]?\s*)+",
)
# "1. ", "2) " at the start of a line: a list marker, never an answer by itself.
_MARKER = re.compile(r"^[ \t]*([0-9]{1,2})[.)][ \t]+(?=\S)", re.MULTILINE)
_NEXT_MARKER = re.compile(r"^[ \t]*[0-9]{1,2}[.)](?=[ \t]|$)", re.MULTILINE)
_NEGATOR = re.compile(
    r"\b(?:not|no|never|neither|nor|without|except|hardly|rather\s+than|instead\s+of|other\s+than)\b|n't\b"
)


def _text(raw: object) -> str:
    # Callers pass str, but a None or a number from a JSON file should not crash a whole run.
    return "" if raw is None else str(raw)


def _unquote(text: str) -> str:
    """Drop quote pairs (and stray whitespace) around the whole text, repeatedly."""
    # Index arithmetic rather than repeated slicing: a pathological '""""…' must stay linear, not quadratic.
    i, j = 0, len(text)
    while True:
        while i < j and text[i].isspace():
            i += 1
        while j > i and text[j - 1].isspace():
            j -= 1
        if j - i < 2 or _QUOTES.get(text[i]) != text[j - 1]:
            return text[i:j]
        i, j = i + 1, j - 1


def _flat(text: str) -> str:
    """Lower-cased, NFKC-normalized (fullwidth digits become ASCII), markup removed, one kind of apostrophe."""
    return _MARKUP.sub("", unicodedata.normalize("NFKC", text).lower()).replace("\u2019", "'")


def _whole(flat: str) -> str:
    """The whole answer as a bare value: quotes, an "Answer:" prefix and trailing punctuation removed."""
    cleaned = _unquote(_PREFIX.sub("", _unquote(flat.rstrip(_TRAILING_PUNCT))))
    return " ".join(_unquote(cleaned.rstrip(_TRAILING_PUNCT)).split())


def _negated(flat: str, start: int) -> bool:
    """Whether a negation precedes position `start` in its clause ("not a comedy", "neither [1] nor")."""
    clause = re.split(r"[.;!?,\n]|\bbut\b", flat[max(0, start - 40) : start])[-1]
    return bool(_NEGATOR.search(clause))


def _blank(pattern: re.Pattern[str], text: str) -> str:
    """`text` with every match of `pattern` replaced by spaces, so positions stay put."""
    return pattern.sub(lambda m: " " * len(m.group()), text)


def _first_item(flat: str) -> tuple[str, bool] | None:
    """For text that opens with a numbered list: (its first item, whether the item only repeats its marker).

    "1. 1\\n2." enumerates the scale (the item is its own marker): the caller reads nothing from it.
    """
    marker = _MARKER.match(flat)
    if marker is None:
        return None
    rest = flat[marker.end() :]
    nxt = _NEXT_MARKER.search(rest)
    item = rest[: nxt.start()] if nxt else rest
    item = re.split(r"\n\s*\n", item, maxsplit=1)[0]
    return item, _whole(item) in (marker.group(1), f"[{marker.group(1)}]")


def _decide(raw: str, values: Sequence[str | None]) -> Parsed | None:
    """One distinct valid value: that answer; any invalid or two distinct: unparsed; none: None (look further)."""
    if not values:
        return None
    if None in values or len(set(values)) != 1:
        return _unparsed(raw)
    return _found(raw, values[0])  # type: ignore[arg-type]


#: Returned by a task's `bare` reader for text that is not a bare value at all.
_NOT_BARE = object()
Mention = tuple[int, str | None]  # (position, value; None for a value that is not a valid answer)


@dataclass(frozen=True)
class _Task:
    """How one task reads values: a whole text as a bare value, explicit answers, and mentions."""

    bare: Callable[[str], object]  # a value, None (bare but invalid), or _NOT_BARE
    explicit: Callable[[str], list[str | None]]
    mentions: Callable[[str], tuple[str, list[Mention]]]  # (the text scanned, the mentions in it)


def _read(raw: object, task: _Task) -> Parsed:
    """The rules of this module's docstring, in order, for one task's readers."""
    text = _text(raw)
    flat = _flat(text)
    item = _first_item(flat)
    if item is not None:
        if item[1]:
            return _unparsed(text)
        flat = item[0]
    value = task.bare(flat)
    if value is not _NOT_BARE:
        return _found(text, value) if isinstance(value, str) else _unparsed(text)
    lines = [line for line in flat.splitlines() if line.strip()]
    first = task.bare(lines[0]) if len(lines) > 1 else None
    if isinstance(first, str):
        # A bare answer on the first line, then an explanation: it stands unless a later line says otherwise.
        later = [v for line in lines[1:] if (v := task.bare(line)) is not _NOT_BARE]
        later += task.explicit("\n".join(lines[1:]))
        return _found(text, first) if all(v == first for v in later) else _unparsed(text)
    decided = _decide(text, task.explicit(flat))
    if decided:
        return decided
    scan, mentions = task.mentions(flat)
    return _single(text, scan, mentions)


def _single(raw: str, flat: str, mentions: Sequence[Mention]) -> Parsed:
    """Exactly one distinct, valid, non-negated value among the mentions, or unparsed."""
    values = {value for _, value in mentions}
    if len(values) != 1 or None in values or any(_negated(flat, start) for start, _ in mentions):
        return _unparsed(raw)
    return _found(raw, values.pop())  # type: ignore[arg-type]


# ---------------------------------------------------------------- LaMP-1: citation identification

_CHOICE = r"\[?\s*#?\s*([0-9]+)\s*\]?(?![0-9]|\.[0-9])"
# The instruction's own words ("Just answer with [1] or [2]") and its option list (`[1]: "title"`).
_CITATION_ECHO = re.compile(
    r"(?:just\s+)?answer\s+with\s+\[1\]\s+or\s+\[2\](?:\s+without\s+(?:any\s+|further\s+)?explanation)?"
    r"|\[[12]\]\s*(?:or|and)\s*\[[12]\]"
)
_CITATION_OPTIONS = re.compile(r"\[[12]\]\s*:\s*\"[^\"\n]*\"?")
_CITATION_CUE = re.compile(
    r"(?:\banswer\s*(?:is|would\s+be|:|-|=)|\b(?:i\s+(?:would\s+|'d\s+)?(?:choose|pick|select|go\s+with)"
    r"|my\s+choice\s+is|(?:correct|related|relevant)\s+(?:reference|one)\s+is))\s*"
    r"(?:(?:reference|option|choice|paper|citation|number)\s*)?" + _CHOICE
)
_CITATION_CLAIM = re.compile(
    r"(?<![0-9])\[\s*([0-9]+)\s*\]\s+is\s+(?:the\s+)?(?:more\s+|most\s+)?(?:related|relevant|correct|right)"
)
_CITATION_WHOLE = re.compile(r"^(?:(?:reference|option|choice|paper|citation)\s*)?" + _CHOICE + "$")
_CITATION_MENTION = re.compile(r"(?<![0-9.])\[\s*([0-9]+)\s*\]|(?<![0-9.\[\w-])([0-9]+)(?![0-9]|\.[0-9]|\])")


def parse_citation(raw: str, labels: Sequence[str] = ()) -> Parsed:
    """Read LaMP-1's answer, ``"[1]"`` or ``"[2]"``, from a generation.

    Accepted: the whole text is a choice ("[2]", "2", "Reference 1"); an explicit answer ("The answer is [2]",
    "I pick option #1"), the instruction's "Just answer with [1] or [2]" and option list being ignored; or
    exactly one of 1 and 2 mentioned, not negated. Quoted titles are not read.

    Args:
        raw: the model's generation.
        labels: unused (the answer set is fixed, or free text).

    Returns:
        ``"[1]"`` or ``"[2]"``, or the stripped raw text with ``ok=False``.
    """
    return _read(raw, _CITATION)


def _choice(number: str) -> str | None:
    return f"[{number}]" if number in ("1", "2") else None


def _citation_bare(flat: str) -> object:
    whole = _CITATION_WHOLE.match(_whole(flat))
    return _choice(whole.group(1)) if whole else _NOT_BARE


def _citation_explicit(flat: str) -> list[str | None]:
    scan = _blank(_CITATION_ECHO, flat)
    return [_choice(m.group(1)) for m in (*_CITATION_CUE.finditer(scan), *_CITATION_CLAIM.finditer(scan))]


def _citation_mentions(flat: str) -> tuple[str, list[Mention]]:
    # Quoted text is a title being repeated ("Web 2.0"), unless it is itself just a choice.
    scan = _blank(_CITATION_OPTIONS, _blank(_CITATION_ECHO, flat))
    scan = re.sub(r'"[^"\n]{4,}"', lambda m: " " * len(m.group()), scan)
    mentions = [
        (m.start(), _choice(m.group(1) or m.group(2)))
        for m in _CITATION_MENTION.finditer(scan)
        if m.group(1) or m.group(2) in ("1", "2")  # a bare 2015 is a year, a bracketed [3] a wrong choice
    ]
    return scan, mentions


_CITATION = _Task(_citation_bare, _citation_explicit, _citation_mentions)


# ---------------------------------------------------------------- LaMP-2: tags and categories


def _label_regex(label: str) -> str:
    """A pattern for `label` that tolerates "sci fi" for "sci-fi" and "food and drink" for "food & drink"."""
    parts = []
    for token in re.split(r"([\s\-&]+)", label.lower()):
        if not token:
            continue
        if token.strip() == "&":
            parts.append(r"\s*(?:&|and)\s*")
        elif re.fullmatch(r"[\s\-]+", token):
            parts.append(r"[\s\-]*")
        else:
            parts.append(re.escape(token))
    # No letter or digit may touch the label, so "action" is not found inside "transaction".
    return r"(?<![a-z0-9])" + "".join(parts) + r"(?![a-z0-9])"


@lru_cache(maxsize=64)
def _label_patterns(labels: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    # (canonical label, pattern); compiled once per label list.
    return tuple((lab, re.compile(_label_regex(lab))) for lab in labels if lab.strip())


_LABEL_CUE = re.compile(
    r"(?:\banswer\s*(?:is|would\s+be|:|-|=)|\b(?:tag|category|label|genre)\s*(?:is|would\s+be|:|-|=)"
    r"|\bi(?:\s+would|'d)\s+(?:tag|categorize|classify|label|say)(?:\s+(?:it|this(?:\s+\w+)?))?(?:\s+as)?"
    r"|\b(?:tagged|categorized|classified|labell?ed)\s+as)"
    r"[\s:\"'\u201c\[(]*(?:(?:a|an|the)\s+)?"
)


def _mentions(flat: str, patterns: Sequence[tuple[str, re.Pattern[str]]]) -> list[tuple[int, str]]:
    """(position, label) of every label mention; a mention inside a longer one ("dark comedy") is dropped."""
    hits = sorted(
        ((m.start(), -m.end(), label) for label, pattern in patterns for m in pattern.finditer(flat)),
    )
    kept, end = [], -1
    for start, neg_end, label in hits:
        if start >= end:
            kept.append((start, label))
            end = -neg_end
    return kept


def parse_label(raw: str, labels: Sequence[str]) -> Parsed:
    """Read a LaMP-2 tag (or news category) from a generation.

    Accepted: the whole cleaned text is a label ("**Comedy**", "Tag: Dark Comedy."); an explicit answer
    ("Answer: comedy", "I would tag it as sci-fi"); or exactly one label mentioned, not negated. Labels match
    case-insensitively, "sci fi" for "sci-fi", "food and drink" for "food & drink".

    Args:
        raw: the model's generation.
        labels: the task's label list; the answer is returned spelled exactly as it appears here.

    Returns:
        The label, or the stripped raw text with ``ok=False``.
    """
    return _read(raw, _label_task(tuple(labels)))


@lru_cache(maxsize=64)
def _label_task(labels: tuple[str, ...]) -> _Task:
    patterns = _label_patterns(labels)

    def bare(flat: str) -> object:
        whole = _whole(flat)
        for label, pattern in patterns:
            hit = pattern.match(whole)
            if hit and hit.end() == len(whole):
                return label
        return _NOT_BARE

    def explicit(flat: str) -> list[str | None]:
        found: list[str | None] = []
        for cue in _LABEL_CUE.finditer(flat):
            at_start = [(m.end(), lab) for lab, p in patterns if (m := p.match(flat, cue.end()))]
            if at_start:
                found.append(max(at_start)[1])  # the longest label starting right after the cue
        return found

    def mentions(flat: str) -> tuple[str, list[Mention]]:
        return flat, list(_mentions(flat, patterns))

    return _Task(bare, explicit, mentions)


# ---------------------------------------------------------------- LaMP-3: product rating

_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
_NUM = r"(-?[0-9]+(?:\.[0-9]+)?|" + "|".join(_WORDS) + r")(?![0-9a-z])"
# The instruction's scale and its "1, 2, 3, 4, or 5", or an echo of them: names of the scale, not ratings.
_SCALE_ECHO = re.compile(
    r"(?:(?:on\s+)?(?:a\s+)?scale\s+(?:of|from)\s+)?(?<![0-9.])1\s*(?:-|\u2013|to)\s*5(?![0-9])"
    r"|(?<![0-9.])1\s*,\s*2\s*,\s*3\s*,\s*4\s*,?\s*(?:or|and)?\s*5(?![0-9])"
    r"|between\s+1\s+and\s+5(?![0-9])"
)
_RATING_CUE = re.compile(
    r"(?:\b(?:answer|rating|score|grade)\s*(?:is|would\s+be|of|:|=|-)?"
    r"|\b(?:rate|rated|give|gave|giving|score|scored)(?:\s+(?:it|this(?:\s+\w+)?|the\s+\w+))?(?:\s+(?:a|an|as))?)"
    r"\s*[\"'\[(]?\s*" + _NUM
)
_RATING_UNIT = re.compile(
    r"(?<![0-9.\-])" + _NUM + r"\s*(?:stars?\b|(?:/|out\s+of)\s*(?:([0-9]+)|(five|ten))(?![0-9]))"
)
_RATING_MENTION = re.compile(r"(?<![0-9.a-z])(-?[0-9]+(?:\.[0-9]+)?)(?![0-9])")
_DENOMINATOR = re.compile(r"(?:/|\bout\s+of)\s*$")


def _rating(value: str, scale: int | None = 5) -> str | None:
    """A valid rating "1".."5" from a number or number word ("4.0" -> "4"), else None."""
    number = float(_WORDS[value]) if value in _WORDS else float(value)
    if scale != 5 or not number.is_integer() or not 1 <= number <= 5:
        return None
    return str(int(number))


def parse_rating(raw: str, labels: Sequence[str] = ()) -> Parsed:
    """Read a LaMP-3 rating (an integer 1..5) from a generation.

    Accepted: the whole cleaned text is a rating ("4", "4.0", "four", "Rating: 3."); an explicit rating
    ("I would rate it 4", "4 stars", "4/5", "4 out of 5", "rating: 3"), the instruction's "1 to 5" and
    "1, 2, 3, 4, or 5" being ignored; or exactly one number mentioned and it is 1..5. Unparsed: ranges,
    two numbers, negative or out-of-range numbers ("-2", "7", "8/10"), a negated rating.

    Args:
        raw: the model's generation.
        labels: unused (the answer set is fixed, or free text).

    Returns:
        ``"1"``..``"5"``, or the stripped raw text with ``ok=False``; the scorer then applies LaMP's fallback
        (a number such as "4.5" is still scored as is, anything else as the worst rating for that gold).
    """
    return _read(raw, _RATING)


def _rating_bare(flat: str) -> object:
    whole = re.fullmatch(_NUM + r"(?:\s*stars?)?", _whole(flat))
    return _rating(whole.group(1)) if whole else _NOT_BARE


def _after_denominator(scan: str, at: int) -> bool:
    """Whether the number at `at` is a scale's maximum, the 5 of "4/5" or "out of 5"."""
    return bool(_DENOMINATOR.search(scan[max(0, at - 12) : at]))


def _rating_explicit(flat: str) -> list[str | None]:
    scan = _blank(_SCALE_ECHO, flat)
    found: dict[int, str | None] = {}
    for m in _RATING_UNIT.finditer(scan):
        scale = None if m.group(3) == "ten" else 5 if m.group(3) else int(m.group(2)) if m.group(2) else 5
        found[m.start(1)] = _rating(m.group(1), scale)
    for m in _RATING_CUE.finditer(scan):
        if not _after_denominator(scan, m.start(1)):
            found.setdefault(m.start(1), _rating(m.group(1)))
    return list(found.values())


def _rating_mentions(flat: str) -> tuple[str, list[Mention]]:
    scan = _blank(_SCALE_ECHO, flat)
    mentions = [
        (m.start(), _rating(m.group(1)))
        for m in _RATING_MENTION.finditer(scan)
        if not _after_denominator(scan, m.start())
    ]
    return scan, mentions


_RATING = _Task(_rating_bare, _rating_explicit, _rating_mentions)


# ---------------------------------------------------------------- LaMP-4/5/7: generation

_GEN_PREFIX = re.compile(
    r"^(?:(?:the|a|an|my|new|final|generated|suggested|paraphrased|personalized|rewritten|news|paper)\s+)*"
    r"(?:headline|title|tweet|paraphrase|answer|output|response)\s*:\s*",
    re.IGNORECASE,
)
_GEN_MARKUP = re.compile(r"\*\*|__|`+")
_HEADING = re.compile(r"^#+\s*")
# A repeat of a LaMP-4/5/7 instruction: the model echoing its prompt, not answering it.
_GEN_ECHO = re.compile(
    r"^(?:generate\s+a\s+(?:headline|title)\s+for\s+the\s+following|paraphrase\s+the\s+following\s+tweet)",
    re.IGNORECASE,
)


def _clean_line(line: str) -> str:
    line = _unquote(_GEN_MARKUP.sub("", line))
    line = _GEN_PREFIX.sub("", _HEADING.sub("", line), count=1)
    return _unquote(line)


def parse_generation(raw: str, labels: Sequence[str] = ()) -> Parsed:
    """Clean a LaMP-4/5/7 generation: the first non-empty line, without a label or quotes around it.

    The answer is the text itself: "exact" when the stripped generation is one clean line, "extracted" when a
    leading "Headline:"/"Title:"/"Paraphrased tweet:" label, markdown ``**``, surrounding quotes, an
    introduction line ("Here is a headline:") or later lines were dropped. Unparsed when nothing is left or
    the only line repeats the instruction ("Generate a headline for the following article: ...").

    Args:
        raw: the model's generation.
        labels: unused (the answer set is fixed, or free text).

    Returns:
        The cleaned text, or the stripped raw text with ``ok=False``.
    """
    text = _text(raw)
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if not last and _GEN_MARKUP.sub("", line).rstrip().endswith(":"):
            continue  # an introduction such as "Sure! Here is a title:"; the answer is on a later line
        if _GEN_ECHO.match(_clean_line(line)):
            continue
        cleaned = _clean_line(line)
        if cleaned:
            return _found(text, cleaned)
    return _unparsed(text)


# ---------------------------------------------------------------- LongLaMP: long texts

_LONG_PREFIX = re.compile(
    r"^(?:(?:the|a|an|my|generated|personalized|product|paper)\s+)*"
    r"(?:abstract|review(?:\s+text)?|post|content|text|answer|output|response)(?:\s+is)?\s*:\s*",
    re.IGNORECASE,
)
# An introduction line of a chat model ("Sure! Here is the abstract:", "Here's a review in the user's style:").
_LONG_INTRO = re.compile(r"^\W*(?:sure|certainly|of course|okay|ok)?\W*here(?:'s|\s+is)\b.*:\s*$", re.IGNORECASE)


def parse_long_text(raw: str, labels: Sequence[str] = ()) -> Parsed:
    """Clean a LongLaMP generation (an abstract, a review, a post): the whole text, every paragraph kept.

    Dropped, and the answer then "extracted": an introduction line ending in a colon ("Here is the abstract:"),
    a leading label ("Abstract:", "The review text is:"), markdown ``**``/headings, quotes around the whole text
    and an opening quote left unclosed (the text was cut at the length limit). The
    lines are otherwise kept as they are: LongLaMP scores the full output. Unparsed when nothing is left.

    Args:
        raw: the model's generation.
        labels: unused (free text).

    Returns:
        The cleaned text, or the stripped raw text with ``ok=False``.
    """
    text = _text(raw).strip()
    lines = text.splitlines()
    while lines and (not lines[0].strip() or (len(lines) > 1 and _LONG_INTRO.match(_GEN_MARKUP.sub("", lines[0])))):
        lines = lines[1:]
    if not lines:
        return _unparsed(text)
    first = _LONG_PREFIX.sub("", _HEADING.sub("", _GEN_MARKUP.sub("", lines[0]).strip()), count=1)
    body = _unquote(_GEN_MARKUP.sub("", "\n".join([first, *lines[1:]])).strip())
    if body[:1] in _QUOTES and _QUOTES[body[0]] not in body[1:]:
        body = body[1:].lstrip()  # an opening quote whose text was cut off by the length limit
    return _found(text, body) if body else _unparsed(text)
