"""Synthetic LongLaMP users: a long text (an abstract, a review, a Reddit post) written in the user's style.

Every task plants the same kind of per-user style, which only a method reading the user's history can copy:

- an **opener** the user starts every text with ("In this paper,", "Okay, so", "Honestly,");
- two **signature phrases** the user works into the text ("to the best of our knowledge", "for what it's worth");
- a **closer** the user ends with ("Code will be released.", "Hope this helps someone.");
- a **length habit**: short texts (two content sentences) or long ones (four).

The content comes from the input (the abstract's keyword items, the review's product, rating and summary, the
post's summary), stated in neutral sentences, so a method without history can get the content right and only
the style is personal. Out of character (`IN_CHARACTER`, 0.1 of texts) the text is the neutral sentences alone.
The inputs follow the shapes of LongLaMP's own (``Generate an abstract for the title "..." using the following
items: 1. ... 2. ...``); profile items carry the fields of the hub's rows (abstract: ``title``, ``abstract``;
review: ``overall``, ``summary``, ``description``, ``reviewText``; topic: ``summary``, ``content``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from lampbench.tasks import wordbanks as W
from lampbench.tasks.synthetic.common import Draw, Synthetic, UserDraw, abstract, capitalize, in_character

ABSTRACT_INPUT = 'Generate an abstract for the title "{title}" using the following items: {items}'
REVIEW_INPUT = (
    'Generate the review text written by a reviewer who has a given an overall rating of "{overall}" for a '
    'product with description "{description}". The summary of the review text is "{summary}".'
)
TOPIC_INPUT = 'Generate the content for a reddit post "{summary}".'

#: Per task: openers, signature phrases, closers (a user draws one opener, two phrases, one closer).
STYLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "abstract": (
        ("In this paper,", "In this work,", "This paper shows that", "We argue that", "Here,"),
        (
            "to the best of our knowledge",
            "in a principled way",
            "with strong empirical evidence",
            "at scale",
            "in a unified framework",
            "under realistic assumptions",
        ),
        (
            "Code will be released.",
            "Our findings open new directions for future work.",
            "Extensive experiments confirm these results.",
            "This closes a long-standing gap.",
        ),
    ),
    "review": (
        ("Okay, so", "Let me start by saying", "Honestly,", "Long story short,", "First things first:"),
        ("for what it's worth", "hands down", "no joke", "if I'm being picky", "by a mile", "in my humble opinion"),
        (
            "Would recommend to a friend.",
            "Five stars from me, for what that's worth.",
            "Buyer beware.",
            "Hope this helps someone.",
        ),
    ),
    "topic": (
        (
            "So here's the thing:",
            "Throwaway account, but",
            "Long time lurker, first post.",
            "TL;DR at the end.",
            "Bear with me here.",
        ),
        (
            "no offense to anyone",
            "believe it or not",
            "and I mean that",
            "as weird as it sounds",
            "for real",
            "at the end of the day",
        ),
        ("Thanks for reading.", "Any advice is welcome.", "Edit: thanks for the replies!", "Rant over."),
    ),
}

PRODUCTS = (
    ("stainless steel water bottle", "keeps drinks cold", "lid"), ("wireless earbuds", "sound", "battery"),
    ("cast iron skillet", "heats evenly", "handle"), ("yoga mat", "grip", "thickness"),
    ("paperback novel", "story", "ending"), ("desk lamp", "brightness", "switch"),
    ("phone case", "protection", "buttons"), ("coffee grinder", "grind size", "noise"),
)  # fmt: skip
PRODUCT_TRAITS = ("compact", "sturdy", "lightweight", "classic", "budget", "premium", "colorful", "foldable")
PRODUCT_USES = ("for everyday use", "for travel", "for the office", "for beginners", "for families", "as a gift")
VERDICTS = {1: "a waste of money", 2: "disappointing", 3: "okay but not great", 4: "a solid buy", 5: "excellent"}
POST_TOPICS = (
    ("my landlord kept my deposit", "the apartment", "a small claims letter"),
    ("I switched careers at thirty", "the bootcamp", "my first job offer"),
    ("my cat learned to open doors", "the kitchen door", "a child lock"),
    ("I ran my first marathon", "the last ten miles", "a better training plan"),
    ("my roommate never cleans", "the shared kitchen", "a chore chart"),
    ("I started learning the piano", "the first month", "a patient teacher"),
)  # fmt: skip


def _style(rng: random.Random, task: str) -> dict[str, Any]:
    openers, phrases, closers = STYLES[task]
    return {"opener": rng.choice(openers), "phrases": rng.sample(phrases, 2), "closer": rng.choice(closers),
            "sentences": rng.choice((2, 4))}  # fmt: skip


def _write(style: dict[str, Any] | None, sentences: list[str]) -> str:
    """The content sentences in `style` (None: neutral, the first three sentences as they are)."""
    if style is None:
        return " ".join(sentences[:3])
    body = sentences[: style["sentences"]]
    first, second = style["phrases"]
    head = body[0] if body[0].startswith("I ") else body[0][0].lower() + body[0][1:]
    body[0] = f"{style['opener']} {head}"
    body[-1] = f"{body[-1].rstrip('.')}, {first}."
    body.insert(1, f"{capitalize(second)}, this matters.")
    return " ".join([*body, style["closer"]])


Make = Callable[[random.Random], tuple[dict[str, str], str, list[str]]]


def _user(task: str, make: Make) -> Callable[[Draw], UserDraw]:
    """A user drawer: `make(rng)` gives an item's input-side fields, its task input and its content sentences."""
    field = {"abstract": "abstract", "review": "reviewText", "topic": "content"}[task]

    def user(d: Draw) -> UserDraw:
        rng = d.rng
        style = _style(rng, task)

        def draw() -> tuple[dict[str, str], str, str]:
            fields, inp, sentences = make(rng)
            return fields, inp, _write(style if in_character(rng) else None, sentences)

        items = [{**fields, field: text} for fields, _, text in (draw() for _ in range(d.n_items))]
        pairs = [(inp, text) for _, inp, text in (draw() for _ in range(d.n_queries))]
        return items, pairs

    return user


def _abstract(rng: random.Random) -> tuple[dict[str, str], str, list[str]]:
    paper = abstract(rng, rng.choice(list(W.TOPICS)))
    title = capitalize(f"{paper['method']} for {paper['problem']}")
    keywords = [paper["method"], paper["problem"], paper["dataset"], paper["term1"]]
    sentences = [
        f"We propose {paper['method']} for {paper['problem']}.",
        f"It builds on {paper['term1']} and {paper['term2']}.",
        f"We evaluate it on {paper['dataset']} against {paper['method2']}.",
        f"It improves {paper['term3']} by {paper['n']} points.",
        f"The analysis explains when {paper['term']} helps.",
    ]
    items = " ".join(f"{i}. {k}" for i, k in enumerate(keywords, 1))
    return {"title": title}, ABSTRACT_INPUT.format(title=title, items=items), sentences


def _review(rng: random.Random) -> tuple[dict[str, str], str, list[str]]:
    product, good, part = rng.choice(PRODUCTS)
    overall = rng.randint(1, 5)
    description = f"A {rng.choice(PRODUCT_TRAITS)} {product} {rng.choice(PRODUCT_USES)}, model {rng.randint(100, 999)}."
    summary = capitalize(f"{VERDICTS[overall]} {product}")
    sentences = [
        f"I bought this {product} a month ago.",
        f"Overall it is {VERDICTS[overall]}.",
        f"The {good} part {'works' if overall >= 3 else 'does not work'} as described.",
        f"The {part} {'holds up' if overall >= 4 else 'could be better'}.",
        f"I rate it {overall} out of 5.",
    ]
    fields = {"overall": f"{overall}.0", "summary": summary, "description": description}
    return fields, REVIEW_INPUT.format(**fields), sentences


def _topic(rng: random.Random) -> tuple[dict[str, str], str, list[str]]:
    what, where, fix = rng.choice(POST_TOPICS)
    when = rng.choice(("last week", "this year", "after {n} years", "at {n}am", "{n} days ago"))
    when = when.format(n=rng.randint(2, 12))
    ending = rng.choice(("it went fine", "I need advice", "here is what I learned", "AITA?", "update inside"))
    summary = capitalize(f"{what} {when} in {rng.choice(W.PLACES)} and {ending}")
    sentences = [
        f"This is about how {what}.",
        f"It started with {where}.",
        f"In the end I tried {fix}.",
        f"It took {rng.randint(2, 9)} weeks to sort out.",
        "I learned a lot from it.",
    ]
    return {"summary": summary}, TOPIC_INPUT.format(summary=summary), sentences


ABSTRACT = Synthetic(digit="60", user=_user("abstract", _abstract))
REVIEW = Synthetic(digit="61", user=_user("review", _review))
TOPIC = Synthetic(digit="62", user=_user("topic", _topic))
