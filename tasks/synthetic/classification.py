"""Synthetic LaMP-1 (citation), LaMP-2 (movie tagging) and LaMP-2N (news categorization) users.

- **lamp2**: a description carries cue sentences for 2-3 *plausible* tags (`plausible_labels` reads them back).
  Each user has 2-3 favourite tags; every movie is plausible for exactly one of them, and that favourite is the
  tag. Out of character, the tag is any plausible one.
- **lamp2n**: the same with news categories: an article carries cue sentences for 2-3 categories; its title names
  a random plausible one (so it does not leak the gold).
- **lamp1**: each user works on one research topic (85% of their papers; the rest on random other topics). The
  question's paper bridges the user's topic and another one (a method of one applied to a problem of the other)
  and the two references are one paper from each topic: the gold is the one on the user's topic (`paper_topic`
  reads a text's topic). Paired users put the gold at opposite positions, so "[1]" and "[2]" are balanced.
"""

from __future__ import annotations

import random
import re
from collections import Counter

from lampbench.tasks import wordbanks as W
from lampbench.tasks.synthetic.common import Draw, Synthetic, UserDraw, a, abstract, capitalize, in_character

LAMP1_INPUT = (
    'For an author who has written the paper with the title "{title}", which reference is related? '
    'Just answer with [1] or [2] without explanation. [1]: "{ref1}" [2]: "{ref2}"'
)
LAMP2_INPUT = (
    "Which tag does this movie relate to among the following tags? Just answer with the tag name "
    "without further explanation. tags: [{labels}] description: {text}"
)
# Not in LAMP.md's list: the wording of the original LaMP-2 (news) files, with their category order.
LAMP2N_INPUT = (
    "Which category does this article relate to among the following categories? Just answer with "
    "the category name without further explanation. categories: [{labels}] article: {text}"
)


# ---- lamp2 / lamp2n


def _pick_label(rng: random.Random, labels: tuple[str, ...], favourites: list[str]) -> tuple[list[str], str]:
    """Plausible labels for one item (one favourite plus 1-2 others, shuffled) and the user's label for it."""
    favourite = rng.choice(favourites)
    others = rng.sample([label for label in labels if label not in favourites], rng.choice((1, 2)))
    plausible = [favourite, *others]
    rng.shuffle(plausible)
    return plausible, favourite if in_character(rng) else rng.choice(plausible)


def _movie(rng: random.Random, tags: list[str]) -> str:
    adj, role = rng.choice(W.MOVIE_ADJECTIVES), rng.choice(W.MOVIE_ROLES)
    sentences = [f"Set in {rng.choice(W.MOVIE_SETTINGS)}, the film follows {a(adj)} {adj} {role}."]
    links = iter([W.MOVIE_LINKS[0], *rng.sample(W.MOVIE_LINKS[1:], len(W.MOVIE_LINKS) - 1)])
    for tag in tags:
        cue = rng.choice(W.MOVIE_CUES[tag])
        # Capitalized cues are whole sentences; the others are said of the protagonist.
        sentences.append(cue if cue[0].isupper() else f"{next(links).format(role=role)} {cue}.")
    return " ".join(sentences)


def _lamp2_user(d: Draw) -> UserDraw:
    rng, labels = d.rng, d.task.labels or ()
    favourites = rng.sample(labels, rng.choice((2, 3)))

    def draw() -> tuple[str, str]:
        plausible, tag = _pick_label(rng, labels, favourites)
        return _movie(rng, plausible), tag

    items = [{"description": desc, "tag": tag} for desc, tag in (draw() for _ in range(d.n_items))]
    prompt = LAMP2_INPUT.replace("{labels}", ", ".join(labels))
    pairs = [(prompt.format(text=desc), tag) for desc, tag in (draw() for _ in range(d.n_queries))]
    return items, pairs


def _article(rng: random.Random, categories: list[str]) -> tuple[str, str]:
    place = rng.choice(W.PLACES)
    title = f"{rng.choice(W.NEWS_TITLES[rng.choice(categories)])} in {place}"
    sentences = [rng.choice(W.NEWS_INTROS).format(place=place)]
    sentences += [rng.choice(W.NEWS_CUES[c]) for c in categories]
    sentences.append(rng.choice(W.NEWS_OUTROS))
    return title, " ".join(s for s in sentences if s)


def _lamp2n_user(d: Draw) -> UserDraw:
    rng, labels = d.rng, d.task.labels or ()
    favourites = rng.sample(labels, rng.choice((2, 3)))

    def draw() -> tuple[str, str, str]:
        plausible, category = _pick_label(rng, labels, favourites)
        return (*_article(rng, plausible), category)

    items = [{"title": ti, "text": te, "category": c} for ti, te, c in (draw() for _ in range(d.n_items))]
    prompt = LAMP2N_INPUT.replace("{labels}", ", ".join(W.NEWS_INPUT_ORDER))
    pairs = [(prompt.format(text=te), c) for _, te, c in (draw() for _ in range(d.n_queries))]
    return items, pairs


# ---- lamp1

# Vocabulary phrase -> topic, matched as whole words in one pass (longest phrase first), so "gate" (quantum
# computing) does not fire inside "aggregation" (security).
_TOPIC_OF = {
    phrase.lower(): topic
    for topic, bank in W.TOPICS.items()
    for key in ("methods", "problems", "terms")
    for phrase in bank[key]
}
_TOPIC_RX = re.compile(r"\b(" + "|".join(map(re.escape, sorted(_TOPIC_OF, key=len, reverse=True))) + r")\b")


def paper_topic(text: str) -> str | None:
    """The research topic (a key of the topic bank) whose vocabulary occurs most often in `text`.

    Args:
        text: paper titles and abstracts, one or many.

    Returns:
        The topic with most vocabulary hits (ties: bank order), or None when nothing matches.
    """
    hits = Counter(_TOPIC_OF[phrase] for phrase in _TOPIC_RX.findall(text.lower()))
    return max(W.TOPICS, key=lambda t: hits[t]) if hits else None


def _paper(rng: random.Random, topic: str) -> tuple[str, str]:
    """A (title, abstract) on `topic`, the title from the lamp1 title templates."""
    paper = abstract(rng, topic)
    return capitalize(rng.choice(W.PAPER_TITLES).format(**paper)), paper["abstract"]


def _lamp1_question(rng: random.Random, topic: str, others: list[str], gold_first: bool) -> tuple[str, str]:
    other = rng.choice(others)
    # The question's paper bridges both topics, so its title alone cannot tell which reference is related.
    first, second = rng.sample([topic, other], 2)
    method = rng.choice(W.TOPICS[first]["methods"])
    problem = rng.choice(W.TOPICS[second]["problems"])
    title = capitalize(rng.choice(("{m} for {p}", "Applying {m} to {p}")).format(m=method, p=problem))
    related, unrelated = _paper(rng, topic)[0], _paper(rng, other)[0]
    ref1, ref2 = (related, unrelated) if gold_first else (unrelated, related)
    return LAMP1_INPUT.format(title=title, ref1=ref1, ref2=ref2), "[1]" if gold_first else "[2]"


def _lamp1_user(d: Draw) -> UserDraw:
    rng, topics = d.rng, list(W.TOPICS)
    topic = rng.choice(topics)
    others = [t for t in topics if t != topic]
    items = []
    for _ in range(d.n_items):
        title, text = _paper(rng, topic if in_character(rng) else rng.choice(others))
        items.append({"title": title, "abstract": text})
    pairs = [_lamp1_question(rng, topic, others, (d.parity + q) % 2 == 0) for q in range(d.n_queries)]
    return items, pairs


LAMP1 = Synthetic(digit="1", user=_lamp1_user)
LAMP2 = Synthetic(digit="2", user=_lamp2_user, cues=W.MOVIE_CUES)
LAMP2N = Synthetic(digit="8", user=_lamp2n_user, cues=W.NEWS_CUES)
