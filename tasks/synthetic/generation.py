"""Synthetic LaMP-4 (headlines), LaMP-5 (paper titles) and LaMP-7 (tweets) users: a neutral text in a user's style.

- **lamp4**: an article states a neutral headline "<subject> <verb> <object>". Each user has a style: a form
  (plain, "Section: ..." colon form, "Will ...?" question), casing (title, sentence, lower), an optional signature
  tag ("Breaking: ...", "... (photos)") and a length habit (long adds "in <place>"). The gold is the neutral
  headline in that style; out of character it is the neutral headline itself.
- **lamp5**: an abstract says "We propose <method> for <problem>". Each user's title style has a form (plain,
  "ACRONYM: ..." colon form, "Can ... improve ...?", "Towards ..."), casing (title or sentence), an optional
  signature word ("Efficient ...", "... revisited") and a length habit (long adds "on <dataset>"). Gold and noise
  as for lamp4.
- **lamp7**: the input is a neutral tweet; the gold is the same words in the user's style: casing, word shortcuts
  (you -> u, and -> &), an ending ("!!!", "..."), an emoji, and two or three signature words that ROUGE sees, out
  of an opener ("ngl"), a closer ("lol") and a hashtag ("#grind"). The profile holds the user's past tweets in
  that style; out of character a tweet is left neutral.
"""

from __future__ import annotations

import random
import re
from typing import Any

from lampbench.tasks import wordbanks as W
from lampbench.tasks.synthetic.common import (
    SMALL_WORDS,
    Draw,
    Synthetic,
    UserDraw,
    abstract,
    apply_casing,
    capitalize,
    in_character,
)

LAMP4_INPUT = "Generate a headline for the following article: {text}"
LAMP5_INPUT = "Generate a title for the following abstract of a paper: {text}"
LAMP7_INPUT = "Paraphrase the following tweet without any explanation before or after it: {text}"


# ---- lamp4


def _headline_style(rng: random.Random) -> dict[str, Any]:
    form = rng.choice(("plain", "colon", "question"))
    # A colon-form headline takes no prefix tag, which would read "Breaking: Sports: ...".
    kind = rng.choice(("none", "suffix") if form == "colon" else ("none", "prefix", "suffix"))
    tag = {"none": None, "prefix": rng.choice(W.HEADLINE_PREFIXES), "suffix": rng.choice(W.HEADLINE_SUFFIXES)}
    return {"form": form, "casing": rng.choice(("title", "sentence", "lower")), "sig_kind": kind,
            "sig": tag[kind], "long": rng.random() < 0.5}  # fmt: skip


def _headline(style: dict[str, Any] | None, fact: dict[str, Any]) -> str:
    """The fact's headline in `style`; None gives the neutral headline (plain, short, sentence case)."""
    verb = fact["vbase"] if fact["plural"] else fact["vs"]
    if style is None:
        return capitalize(f"{fact['subject']} {verb} {fact['object']}")
    where = f" in {fact['place']}" if style["long"] else ""
    if style["form"] == "question":
        text = f"Will {fact['subject']} {fact['vbase']} {fact['object']}{where}?"
    else:
        text = f"{fact['subject']} {verb} {fact['object']}{where}"
        if style["form"] == "colon":
            text = f"{fact['section']}: {text}"
    if style["sig_kind"] == "prefix":
        text = f"{style['sig']}: {text}"
    elif style["sig_kind"] == "suffix":
        text = f"{text} {style['sig']}"
    return apply_casing(text, style["casing"])


def _news_fact(rng: random.Random) -> tuple[dict[str, Any], str]:
    """A news event and the article that reports it."""
    bank = W.NEWS_TOPICS[rng.choice(sorted(W.NEWS_TOPICS))]
    subject, plural = rng.choice(bank["subjects"])
    vs, vbase, objects = rng.choice(bank["actions"])
    fact = {"subject": subject, "plural": plural, "vs": vs, "vbase": vbase, "object": rng.choice(objects),
            "place": rng.choice(W.PLACES), "section": bank["section"][0]}  # fmt: skip
    lede = rng.choice(W.NEWS_LEDES).format(
        Subject=capitalize(subject), subject=subject, vbase=vbase, object=fact["object"],
        place_phrase=f"in {fact['place']}", reason=rng.choice(W.NEWS_REASONS), day=rng.choice(W.DAYS),
        **{"is": "are" if plural else "is"},
    )  # fmt: skip
    return fact, " ".join([lede, *rng.sample(W.NEWS_FILLERS, 2)])


def _lamp4_user(d: Draw) -> UserDraw:
    rng = d.rng
    style = _headline_style(rng)

    def draw() -> tuple[str, str]:
        fact, article = _news_fact(rng)
        return _headline(style if in_character(rng) else None, fact), article

    items = [{"title": title, "text": text} for title, text in (draw() for _ in range(d.n_items))]
    pairs = [(LAMP4_INPUT.format(text=text), title) for title, text in (draw() for _ in range(d.n_queries))]
    return items, pairs


# ---- lamp5


def _paper_style(rng: random.Random) -> dict[str, Any]:
    form = rng.choice(("plain", "colon", "question", "towards"))
    # A question title takes no suffix word, which would read "Can ...? revisited".
    kind = rng.choice(("none", "prefix") if form == "question" else ("none", "prefix", "suffix"))
    sig = {"none": None, "prefix": rng.choice(W.PAPER_PREFIXES), "suffix": rng.choice(W.PAPER_SUFFIXES)}[kind]
    return {"form": form, "casing": rng.choice(("title", "sentence")), "sig_kind": kind, "sig": sig,
            "long": rng.random() < 0.5}  # fmt: skip


def _acronym(*phrases: str) -> str:
    words = [w for p in phrases for w in re.split(r"[\s-]+", p) if w and w.lower() not in SMALL_WORDS]
    return "".join(w[0].upper() for w in words)[:5]


def _paper_title(style: dict[str, Any] | None, method: str, problem: str, dataset: str) -> str:
    """The title of a paper proposing `method` for `problem` in `style` (None: the neutral title)."""
    if style is None:
        return capitalize(f"{method} for {problem}")
    m = f"{style['sig']} {method}" if style["sig_kind"] == "prefix" else method
    on = f" on {dataset}" if style["long"] else ""
    if style["form"] == "question":
        return apply_casing(f"Can {m} improve {problem}{on}?", style["casing"])
    core = f"{m} for {problem}{on}"
    if style["sig_kind"] == "suffix":
        core = f"{core} {style['sig']}"
    if style["form"] == "colon":
        core = f"{_acronym(method, problem)}: {core}"
    elif style["form"] == "towards":
        core = f"Towards {core}"
    return apply_casing(core, style["casing"])


def _lamp5_user(d: Draw) -> UserDraw:
    rng = d.rng
    style = _paper_style(rng)
    topic = rng.choice(list(W.TOPICS))

    def draw() -> tuple[str, str]:
        paper = abstract(rng, topic if rng.random() < 0.8 else rng.choice(list(W.TOPICS)))
        title = _paper_title(style if in_character(rng) else None, paper["method"], paper["problem"],
                             paper["dataset"])  # fmt: skip
        return title, paper["abstract"]

    items = [{"title": title, "abstract": text} for title, text in (draw() for _ in range(d.n_items))]
    pairs = [(LAMP5_INPUT.format(text=text), title) for title, text in (draw() for _ in range(d.n_queries))]
    return items, pairs


# ---- lamp7


def _tweet_style(rng: random.Random) -> dict[str, Any]:
    # Two or three signature words per user (opener, closer, hashtag), so the profile always shows something
    # ROUGE can see: it drops emoji and punctuation.
    slots = {"opener": W.TWEET_OPENERS, "closer": W.TWEET_CLOSERS, "hashtag": W.TWEET_HASHTAGS}
    chosen = rng.sample(sorted(slots), rng.choice((2, 2, 3)))
    markers = {slot: rng.choice(bank) if slot in chosen else None for slot, bank in slots.items()}
    return {**markers, "casing": rng.choice(("lower", "sentence")), "abbreviate": rng.random() < 0.5,
            "ending": rng.choice(W.TWEET_ENDINGS),
            "emoji": rng.choice(W.TWEET_EMOJIS) if rng.random() < 0.6 else None}  # fmt: skip


def _styled_tweet(neutral: str, style: dict[str, Any]) -> str:
    body = neutral.rstrip(".")
    if style["abbreviate"]:
        body = " ".join(W.TWEET_ABBREVIATIONS.get(w.lower(), w) for w in body.split(" "))
    if style["opener"]:
        first, _, rest = body.partition(" ")
        body = f"{style['opener']} {first if first == 'I' else first.lower()} {rest}"
    if style["closer"]:
        body = f"{body} {style['closer']}"
    body = body.lower() if style["casing"] == "lower" else capitalize(body)
    parts = [body + style["ending"], style["emoji"], style["hashtag"]]
    return " ".join(p for p in parts if p)


def _neutral_tweet(rng: random.Random) -> str:
    return rng.choice(W.TWEET_TEMPLATES).format(
        act=rng.choice(W.TWEET_ACTS),
        fol=rng.choice(W.TWEET_FOLLOWS),
        part=rng.choice(W.TWEET_PARTS),
        when=rng.choice(W.TWEET_WHENS),
    )


def _lamp7_user(d: Draw) -> UserDraw:
    rng = d.rng
    style = _tweet_style(rng)

    def draw() -> tuple[str, str]:
        neutral = _neutral_tweet(rng)
        return neutral, _styled_tweet(neutral, style) if in_character(rng) else neutral

    items = [{"text": styled} for _, styled in (draw() for _ in range(d.n_items))]
    pairs = [(LAMP7_INPUT.format(text=neutral), gold) for neutral, gold in (draw() for _ in range(d.n_queries))]
    return items, pairs


LAMP4 = Synthetic(digit="4", user=_lamp4_user)
LAMP5 = Synthetic(digit="5", user=_lamp5_user)
LAMP7 = Synthetic(digit="7", user=_lamp7_user)
