"""Synthetic LaMP-3 (product rating): reviews whose adjectives give a base score, shifted by each user's bias.

A review's adjectives come from one sentiment lexicon, giving a *base* score 1..5 (`review_sentiment` reads it
back). Each user has a bias in {-2, -1, 0, +1, +2} (harsh to generous raters); the score is clip(base + bias, 1,
5). Out of character it moves one more step up or down.
"""

from __future__ import annotations

import random
import re
from collections import Counter

from lampbench.tasks import wordbanks as W
from lampbench.tasks.synthetic.common import Draw, Synthetic, UserDraw, a, in_character

INPUT = (
    "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, "
    "or 5 without further explanation. review: {text}"
)

_LEXICON = {word: level for level, words in W.SENTIMENT.items() for word in words}


def review_sentiment(text: str) -> int:
    """The base sentiment (1..5) planted in a synthetic review: the level whose adjectives it uses most.

    Args:
        text: a review (or a whole lamp3 input; the instruction has no lexicon words).

    Returns:
        The level with most lexicon hits; 3 when the text has none.
    """
    hits = Counter(_LEXICON[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _LEXICON)
    return hits.most_common(1)[0][0] if hits else 3


def _review(rng: random.Random, base: int) -> str:
    products, aspects = W.PRODUCTS[rng.choice(sorted(W.PRODUCTS))]
    product = rng.choice(products)
    a1, a2 = rng.sample(aspects, 2)
    adj1, adj2 = rng.sample(W.SENTIMENT[base], 2)
    opinions = [
        f"The {a1} is {adj1}.",
        f"Overall {a(adj2)} {adj2} {product}.",
        f"I found the {a1} {adj1} and the {a2} {adj2}.",
        f"Honestly it feels {adj2}.",
        f"Quality wise it is {adj1}.",
    ]
    first, second = rng.sample(opinions, 2)
    detail = rng.choice(W.REVIEW_DETAILS).format(n=rng.randint(2, 9))
    intro = f"I bought this {product} {rng.choice(W.REVIEW_CONTEXTS)}."
    return " ".join([intro, first, detail, second, rng.choice(W.SENTIMENT_CLOSINGS[base])])


def _user(d: Draw) -> UserDraw:
    rng = d.rng
    bias = rng.choices((-2, -1, 0, 1, 2), weights=(15, 25, 20, 25, 15))[0]

    def draw() -> tuple[str, str]:
        base = rng.randint(1, 5)
        score = base + bias + (0 if in_character(rng) else rng.choice((-1, 1)))
        return _review(rng, base), str(min(5, max(1, score)))

    items = [{"text": text, "score": score} for text, score in (draw() for _ in range(d.n_items))]
    pairs = [(INPUT.format(text=text), score) for text, score in (draw() for _ in range(d.n_queries))]
    return items, pairs


LAMP3 = Synthetic(digit="3", user=_user)
