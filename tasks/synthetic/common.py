"""What every synthetic generator shares: the `Synthetic` a spec carries, seeded draws and text casing."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lampbench.tasks import wordbanks as W

if TYPE_CHECKING:
    from lampbench.tasks.task import TaskSpec

#: Probability that a user acts in character on an item (profile item or gold).
IN_CHARACTER = 0.9
#: Inclusive range of profile sizes; varied per user so that "most active user" selection means something.
PROFILE_SIZE = (8, 30)

Item = dict[str, str]
Pair = tuple[str, str]  # (input, gold)
UserDraw = tuple[list[Item], list[Pair]]  # one user's profile items (ids not yet set) and questions


@dataclass(frozen=True)
class Draw:
    """One user to generate: the task, the user's own random generator, and how much to draw.

    `parity` (0 or 1) is opposite for users 2k and 2k+1 of a split: a generator with a binary gold (LaMP-1's
    [1]/[2]) uses it to balance the golds within the split; the others ignore it.
    """

    task: TaskSpec
    rng: random.Random
    n_items: int
    n_queries: int
    parity: int


@dataclass(frozen=True)
class Synthetic:
    """How `tasks.synthetic.write_synthetic` makes users of a task (`TaskSpec.synthetic`).

    Attributes:
        digit: one digit unique to the task (9 excluded; LongLaMP's take two, 60 to 62), the first of its ids, so
            ids are unique across tasks.
        user: draws one user's profile items and questions.
        cues: label -> the cue strings planted in texts for it, read back by `plausible_labels` (label tasks).
    """

    digit: str
    user: Callable[[Draw], UserDraw]
    cues: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False)


def rng_for(*parts: object) -> random.Random:
    """A generator seeded by `parts`; sha256 rather than hash(): string hashing is salted per process."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def in_character(rng: random.Random) -> bool:
    return rng.random() < IN_CHARACTER


SMALL_WORDS = frozenset("a an and at by for from in of on or the to via".split())


def a(word: str) -> str:
    """The article for `word`: "use..." is the only vowel-initial word in the banks read with a "y"."""
    return "an" if word[0].lower() in "aeiou" and not word.lower().startswith("use") else "a"


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _title_case(text: str) -> str:
    """Headline/title case: capitalize words except inner small words; leave words with capitals alone."""
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        after_colon = i > 0 and words[i - 1].endswith(":")
        if any(c.isupper() for c in word) or (i > 0 and not after_colon and word in SMALL_WORDS):
            out.append(word)
        else:
            # Hyphenated words capitalize each part but inner small words: "Sequence-to-Sequence".
            parts = word.split("-")
            out.append("-".join(p if j and p in SMALL_WORDS else _capitalize_alpha(p) for j, p in enumerate(parts)))
    return " ".join(out)


def _capitalize_alpha(word: str) -> str:
    """Capitalize the first letter of `word`, skipping leading punctuation such as "("."""
    for i, ch in enumerate(word):
        if ch.isalpha():
            return word[:i] + ch.upper() + word[i + 1 :]
    return word


def apply_casing(text: str, casing: str) -> str:
    if casing == "title":
        return _title_case(text)
    if casing == "lower":
        return text.lower()
    return capitalize(text)


def abstract(rng: random.Random, topic: str) -> dict[str, Any]:
    """A paper on `topic`: its method, problem, dataset, a spare term, and an abstract that states them."""
    bank = W.TOPICS[topic]
    method, method2 = rng.sample(bank["methods"], 2)
    term, term1, term2, term3 = rng.sample(bank["terms"], 4)
    fill = {
        "problem": rng.choice(bank["problems"]), "method": method, "method2": method2, "term": term,
        "term1": term1, "term2": term2, "term3": term3, "dataset": rng.choice(bank["datasets"]),
        "n": rng.randint(2, 15),
    }  # fmt: skip
    fill["Problem"] = capitalize(fill["problem"])
    fill["abstract"] = " ".join(rng.choice(group).format(**fill) for group in W.ABSTRACT_PARTS)
    return fill
