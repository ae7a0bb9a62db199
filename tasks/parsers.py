"""Output parsers: raw generation -> the answer that is scored.

LaMP's scorer only strips whitespace (``shared/LAMP.md``), so a chatty "**Comedy**" or "I would rate it 4
stars." scores as wrong. Reading the answer out of such text is post-processing that a task applies *before*
scoring; the harness reports how often it was needed (``Parsed.ok``), so it never hides inside the metric.

Every parser is total: any string (empty, unicode, megabytes long) gives a `Parsed` and nothing raises. When
nothing can be read, the answer is the stripped raw text, so the official scorer treats it the official way
(a wrong label, or the worst-case rating).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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


# Markdown emphasis and code marks that chat models wrap answers in.
_MARKUP = re.compile(r"\*\*|__|`+")
# Quote pairs a model may put around a whole answer.
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb"}
_TRAILING_PUNCT = ".,;:!?\u3002"


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


# ---------------------------------------------------------------- LaMP-1: citation identification

# A bracketed choice, or a number right after a word that names the choice ("reference 1", "option #2").
_CITATION = re.compile(
    r"\[\s*([12])\s*\]"
    r"|\b(?:references?|refs?|options?|choices?|answers?|papers?|citations?)\s*(?:#|no\.?|number)?\s*[:=]?\s*"
    r"[\[(]?\s*([12])(?![\d.]\d|\d)",
    re.IGNORECASE,
)
_BARE_DIGIT = re.compile(r"(?<![\d.])([12])(?!\d|\.\d)")


def parse_citation(raw: str) -> Parsed:
    """Read LaMP-1's answer, ``"[1]"`` or ``"[2]"``, from a generation.

    The first clear mention wins: a bracketed ``[1]``, or a number after "reference", "option", "answer" and
    the like. Failing that, a bare 1 or 2 counts only when it is the only one of the two in the text (so
    "The answer is 2." reads as [2], while "1 of the 2 papers" reads as nothing).

    Args:
        raw: the model's generation.

    Returns:
        ``Parsed("[1]" or "[2]", True)``, or ``Parsed(raw.strip(), False)`` when no choice is found.
    """
    text = _text(raw)
    found = _CITATION.search(text)
    if found:
        return _found(text, f"[{found.group(1) or found.group(2)}]")
    bare = set(_BARE_DIGIT.findall(text))
    if len(bare) == 1:
        return _found(text, f"[{bare.pop()}]")
    return _unparsed(text)


# ---------------------------------------------------------------- LaMP-2: tags and categories

_LABEL_PREFIX = re.compile(
    r"^(?:(?:the\s+)?(?:final\s+)?(?:answer|tag|category|label)\b\s*(?:is\b\s*)?[:\-=]?\s*)+", re.IGNORECASE
)


def _normalize(text: str) -> str:
    return " ".join(text.lower().split())


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
def _label_patterns(labels: tuple[str, ...]) -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    # (canonical label, normalized label, pattern); compiled once per label list.
    return tuple((lab, _normalize(lab), re.compile(_label_regex(lab))) for lab in labels if lab.strip())


def parse_label(raw: str, labels: Sequence[str]) -> Parsed:
    """Read a LaMP-2 tag (or news category) from a generation.

    The text is cleaned (markdown ``**``, quotes, an "Answer:"/"Tag:"/"Category:" prefix, trailing
    punctuation) and compared with the labels case-insensitively. Without an exact match, the label mentioned
    earliest in the text wins; on a tie the longest one wins, so "dark comedy" beats "comedy".

    Args:
        raw: the model's generation.
        labels: the task's label list; the answer is returned spelled exactly as it appears here.

    Returns:
        ``Parsed(label, True)``, or ``Parsed(raw.strip(), False)`` when no label is mentioned.
    """
    text = _text(raw)
    patterns = _label_patterns(tuple(labels))
    cleaned = _unquote(_LABEL_PREFIX.sub("", _unquote(_MARKUP.sub("", text))))
    cleaned = _normalize(_unquote(cleaned.rstrip(_TRAILING_PUNCT)))
    for label, norm, _ in patterns:
        if cleaned == norm:
            return _found(text, label)
    lowered = text.lower()
    best: tuple[int, int, str] | None = None  # (position, -length, label): the smallest tuple wins
    for label, norm, pattern in patterns:
        hit = pattern.search(lowered)
        if hit and (best is None or (hit.start(), -len(norm)) < best[:2]):
            best = (hit.start(), -len(norm), label)
    if best is not None:
        return _found(text, best[2])
    return _unparsed(text)


# ---------------------------------------------------------------- LaMP-3: product rating

# "1 to 5" or "1-5" names the scale, not the rating; blanked out before reading numbers.
_SCALE = re.compile(r"(?<![\d.])1\s*(?:-|\u2013|to)\s*5(?![\d.]\d|\d)", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d])")
# A number right after "/" or "out of" is the scale's maximum ("4/5", "out of 5: 4").
_DENOMINATOR = re.compile(r"(?:/|\bout\s+of)\s*$", re.IGNORECASE)


def parse_rating(raw: str) -> Parsed:
    """Read a LaMP-3 rating (an integer 1..5) from a generation.

    The first number in the text that is a whole number from 1 to 5 wins ("4.0" reads as "4"). Numbers that
    name the scale ("1 to 5", the 5 in "4/5" or "out of 5") are skipped.

    Args:
        raw: the model's generation.

    Returns:
        ``Parsed("1".."5", True)``, or ``Parsed(raw.strip(), False)`` when no valid rating is found; the
        scorer then applies LaMP's fallback (a number such as "4.5" is still scored as is, anything else as
        the worst rating for that gold).
    """
    text = _text(raw)
    scanned = _SCALE.sub(lambda m: " " * len(m.group()), text)
    for hit in _NUMBER.finditer(scanned):
        if _DENOMINATOR.search(scanned[max(0, hit.start() - 12) : hit.start()]):
            continue
        value = float(hit.group())
        if value.is_integer() and 1 <= value <= 5:
            return _found(text, str(int(value)))
    return _unparsed(text)


# ---------------------------------------------------------------- LaMP-4/5/7: generation

_GEN_PREFIX = re.compile(
    r"^(?:(?:the|a|an|my|new|final|generated|suggested|paraphrased|personalized|rewritten|news|paper)\s+)*"
    r"(?:headline|title|tweet|paraphrase|answer|output|response)\s*:\s*",
    re.IGNORECASE,
)
_HEADING = re.compile(r"^#+\s*")


def _clean_line(line: str) -> str:
    line = _unquote(_MARKUP.sub("", line))
    line = _GEN_PREFIX.sub("", _HEADING.sub("", line), count=1)
    return _unquote(line)


def parse_generation(raw: str) -> Parsed:
    """Clean a LaMP-4/5/7 generation: the first non-empty line, without a label or quotes around it.

    Drops a leading "Headline:", "Title:", "Paraphrased tweet:" (and similar) label, markdown ``**`` and
    surrounding quotes. A line that only introduces the answer ("Here is a headline:") is skipped when more
    lines follow.

    Args:
        raw: the model's generation.

    Returns:
        ``Parsed(text, True)``, or ``Parsed("", False)`` when nothing is left.
    """
    text = _text(raw)
    lines = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if not last and _MARKUP.sub("", line).rstrip().endswith(":"):
            continue  # an introduction such as "Sure! Here is a title:"; the answer is on a later line
        cleaned = _clean_line(line)
        if cleaned:
            return _found(text, cleaned)
    return Parsed("", False, "unparsed")
