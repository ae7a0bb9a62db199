"""Synthetic LaMP data with a planted, documented per-user signal.

Real LaMP files cannot be downloaded everywhere, so the demo and the tests run on files made here. They use
the official layout and shape (``shared/LAMP.md``) and go through the same loader as real files. Each task
plants a per-user regularity that only a method reading the user's profile can exploit, so a personalized
method can beat a non-personalized one; simple oracles in ``tests/test_synthetic.py`` check it is there.

A user "acts in character" on each item with probability `IN_CHARACTER` (0.9), profile items and golds alike
(a gold is one more item of the same user); the rest is noise, described per task. A profile holds 8 to 30
items, drawn per user. Word banks live in ``tasks/_wordbanks.py``.

Planted signals:

- **lamp3 (rating)**: a review's adjectives come from one sentiment lexicon, giving a *base* score 1..5
  (`review_sentiment` reads it back). Each user has a bias in {-2, -1, 0, +1, +2} (harsh to generous
  raters); the score is clip(base + bias, 1, 5). Out of character it moves one more step up or down.
- **lamp2 (movie tagging)**: a description carries cue sentences for 2-3 *plausible* tags
  (`plausible_labels` reads them back). Each user has 2-3 favourite tags; every movie is plausible for exactly
  one of them, and that favourite is the tag. Out of character, the tag is any plausible one.
- **lamp2n (news categorization)**: the same with news categories: an article carries cue sentences for 2-3
  categories; its title names a random plausible one (so it does not leak the gold).
- **lamp1 (citation)**: each user works on one research topic (85% of their papers; the rest on random other
  topics). The question's paper bridges the user's topic and another one (a method of one applied to a
  problem of the other) and the two references are one paper from each topic: the gold is the one on the
  user's topic (`paper_topic` reads a text's topic). Paired users put the gold at opposite positions, so
  "[1]" and "[2]" are balanced.
- **lamp4 (headlines)**: an article states a neutral headline "<subject> <verb> <object>". Each user has a
  style: a form (plain, "Section: ..." colon form, "Will ...?" question), casing (title, sentence, lower),
  an optional signature tag ("Breaking: ...", "... (photos)") and a length habit (long adds "in <place>").
  The gold is the neutral headline in that style; out of character it is the neutral headline itself.
- **lamp5 (paper titles)**: an abstract says "We propose <method> for <problem>". Each user's title style has
  a form (plain, "ACRONYM: ..." colon form, "Can ... improve ...?", "Towards ..."), casing (title or
  sentence), an optional signature word ("Efficient ...", "... revisited") and a length habit (long adds
  "on <dataset>"). Gold and noise as for lamp4.
- **lamp7 (tweets)**: the input is a neutral tweet; the gold is the same words in the user's style: casing,
  word shortcuts (you -> u, and -> &), an ending ("!!!", "..."), an emoji, and two or three signature words
  that ROUGE sees, out of an opener ("ngl"), a closer ("lol") and a hashtag ("#grind"). The profile holds
  the user's past tweets in that style; out of character a tweet is left neutral.

Ids are strings of digits, unique across tasks and splits: a question id is
``<task digit><split digit><user index><3-digit query number>``; a profile item id is ``9`` followed by the
same with the 3-digit item number.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from lampbench.tasks.files import write_json
from lampbench.tasks import wordbanks as W
from lampbench.tasks.specs import MOVIE_TAGS, NEWS_CATEGORIES, TaskSpec

#: Bump when the generated files change (word banks included): the harness caches generated data by it.
SYNTHETIC_VERSION = 1

#: Probability that a user acts in character on an item (profile item or gold).
IN_CHARACTER = 0.9
#: Inclusive range of profile sizes; varied per user so that "most active user" selection means something.
PROFILE_SIZE = (8, 30)

# One digit per task and split makes ids unique across them; 9 is kept for profile item ids.
_TASK_DIGIT = {
    "lamp1": "1", "lamp2": "2", "lamp3": "3", "lamp4": "4", "lamp5": "5", "lamp7": "7", "lamp2n": "8",
}  # fmt: skip
_SPLIT_DIGIT = {"train": "1", "dev": "2", "test": "3"}
_MAX_QUERIES = 999  # the query number is written with 3 digits

_INPUT = {
    "lamp1": 'For an author who has written the paper with the title "{title}", which reference is related? '
    'Just answer with [1] or [2] without explanation. [1]: "{ref1}" [2]: "{ref2}"',
    "lamp2": "Which tag does this movie relate to among the following tags? Just answer with the tag name "
    "without further explanation. tags: [{labels}] description: {text}",
    # Not in LAMP.md's list: the wording of the original LaMP-2 (news) files, with their category order.
    "lamp2n": "Which category does this article relate to among the following categories? Just answer with "
    "the category name without further explanation. categories: [{labels}] article: {text}",
    "lamp3": "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, "
    "or 5 without further explanation. review: {text}",
    "lamp4": "Generate a headline for the following article: {text}",
    "lamp5": "Generate a title for the following abstract of a paper: {text}",
    "lamp7": "Paraphrase the following tweet without any explanation before or after it: {text}",
}

Item = dict[str, str]
Pair = tuple[str, str]  # (input, gold)
UserDraw = tuple[list[Item], list[Pair]]  # one user's profile items (ids not yet set) and questions


# ---- public API


def write_synthetic(
    task: TaskSpec,
    root: Path,
    *,
    split: str,
    n_users: int,
    seed: int = 0,
    queries_per_user: int = 1,
    real_quirks: bool = False,
) -> tuple[Path, Path]:
    """Write a synthetic split of `task` in LaMP's layout and shape.

    Users are generated independently (user ``u`` is the same whatever ``n_users`` is), from random generators
    seeded by (seed, task, split, user), so the same arguments give byte-identical files and splits never
    share users. The outputs file is written for every split, ``test`` included.

    Args:
        task: the task to generate.
        root: the data directory; files go under ``<root>/<task.path>/<split>/``.
        split: ``train``, ``dev`` or ``test``.
        n_users: number of users (at least 1).
        seed: changes every user's draw.
        queries_per_user: questions per user; a user's questions carry the identical profile list (with
            `real_quirks`, later questions carry more of it, as in LaMP's time split).
        real_quirks: write what real files have (`add_real_quirks`): dates in several formats, `user_id`
            on questions, non-ASCII text (UTF-8, not escaped), one question whose input lacks the instruction.
            The planted signals and every other value are those of the plain files.

    Returns:
        The paths of ``<split>_questions.json`` and ``<split>_outputs.json``.

    Raises:
        ValueError: for an unknown task or split, or counts out of range.
    """
    if task.name not in _TASK_DIGIT:
        raise ValueError(f"no synthetic generator for task {task.name!r}; known: {', '.join(_TASK_DIGIT)}")
    if split not in _SPLIT_DIGIT:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(_SPLIT_DIGIT)}")
    if n_users < 1:
        raise ValueError(f"n_users must be at least 1, got {n_users}")
    if not 1 <= queries_per_user <= _MAX_QUERIES:
        raise ValueError(f"queries_per_user must be in 1..{_MAX_QUERIES}, got {queries_per_user}")

    prefix = _TASK_DIGIT[task.name] + _SPLIT_DIGIT[split]
    questions: list[dict[str, Any]] = []
    golds: list[dict[str, str]] = []
    for u in range(n_users):
        rng = _rng(seed, task.name, split, "user", u)
        n_items = rng.randint(*PROFILE_SIZE)
        if task.name == "lamp1":
            # Users 2k and 2k+1 put the gold at opposite positions, so golds are balanced within the split.
            parity = _rng(seed, task.name, split, "pair", u // 2).randrange(2) ^ (u % 2)
            items, pairs = _lamp1_user(rng, n_items, queries_per_user, parity)
        else:
            items, pairs = _GENERATORS[task.name](rng, n_items, queries_per_user)
        profile = [{"id": f"9{prefix}{u}{i:03d}", **_ordered(item, task)} for i, item in enumerate(items)]
        for q, (inp, gold) in enumerate(pairs):
            qid = f"{prefix}{u}{q:03d}"
            questions.append({"id": qid, "input": inp, "profile": profile})
            golds.append({"id": qid, "output": gold})

    if real_quirks:
        add_real_quirks(task, questions, _rng(seed, task.name, split, "quirks"))
    folder = Path(root) / task.path / split
    q_path, o_path = folder / f"{split}_questions.json", folder / f"{split}_outputs.json"
    _write_json(q_path, questions, ascii_only=not real_quirks)
    _write_json(o_path, {"task": task.lamp, "golds": golds})
    return q_path, o_path


#: Date spellings seen by LaMP's rule ``tuple(map(int, str(date).split("-")))``: all read, none ISO-only.
_DATE_FORMATS = ("{y}-{m:02d}-{d:02d}", "{y}-{m}-{d}", "{y}", "int")
_NON_ASCII = " — café, naïve, 東京 ☕"


def add_real_quirks(task: TaskSpec, questions: list[dict[str, Any]], rng: random.Random) -> None:
    """Give generated questions (in place) what real LaMP files have, for the loader's tests.

    Each user's profile items get a ``date`` (in file order or not, spelled ``2013-05-02``, ``2013-5-2``,
    ``"2013"`` or the number ``2013``); each question a ``user_id``; a user's later questions a longer
    profile (the first keeps all but the newest items); the first profile item's text a non-ASCII tail; and
    the first question an input without the task's instruction (LaMP-2M dev id 110 is such an entry).
    """
    by_user: dict[str, list[dict[str, Any]]] = {}
    for question in questions:
        by_user.setdefault(question["profile"][0]["id"][:-3], []).append(question)
    for user, asked in by_user.items():
        full = [dict(item) for item in asked[0]["profile"]]
        for item in full:
            y, m, d = rng.randint(1998, 2018), rng.randint(1, 12), rng.randint(1, 28)
            spelling = rng.choice(_DATE_FORMATS)
            item["date"] = y if spelling == "int" else spelling.format(y=y, m=m, d=d)
        full[0][task.rag_truncate] += _NON_ASCII
        for q, question in enumerate(asked):
            question["user_id"] = user[1:]  # the user's digits, without the profile item marker "9"
            question["profile"] = full[: max(1, len(full) - (len(asked) - 1 - q))]
    first = questions[0]
    bare = "x " + task.query(first["input"])
    for mark in task.input_marks:
        bare = bare.replace(mark, " ")
    first["input"] = bare


def review_sentiment(text: str) -> int:
    """The base sentiment (1..5) planted in a synthetic review: the level whose adjectives it uses most.

    Args:
        text: a review (or a whole lamp3 input; the instruction has no lexicon words).

    Returns:
        The level with most lexicon hits; 3 when the text has none.
    """
    hits = Counter(_LEXICON[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _LEXICON)
    return hits.most_common(1)[0][0] if hits else 3


def plausible_labels(task: TaskSpec, text: str) -> list[str]:
    """The labels (lamp2 tags, lamp2n categories) whose cue strings occur in `text`, in label order.

    Args:
        task: lamp2 or lamp2n.
        text: a description/article, or a whole input (the label list in it holds no cue).

    Returns:
        The plausible labels; empty for a text without cues.

    Raises:
        ValueError: for a task other than lamp2 and lamp2n.
    """
    cues = {"lamp2": W.MOVIE_CUES, "lamp2n": W.NEWS_CUES}.get(task.name)
    if cues is None:
        raise ValueError(f"plausible_labels is defined for lamp2 and lamp2n, not {task.name!r}")
    return [label for label in task.labels or () if any(c in text for c in cues[label])]


def paper_topic(text: str) -> str | None:
    """The research topic (a key of the topic bank) whose vocabulary occurs most often in `text`.

    Args:
        text: paper titles and abstracts, one or many.

    Returns:
        The topic with most vocabulary hits (ties: bank order), or None when nothing matches.
    """
    hits = Counter(_TOPIC_OF[phrase] for phrase in _TOPIC_RX.findall(text.lower()))
    return max(W.TOPICS, key=lambda t: hits[t]) if hits else None


# ---- helpers

_LEXICON = {word: level for level, words in W.SENTIMENT.items() for word in words}
# Vocabulary phrase -> topic, matched as whole words in one pass (longest phrase first), so "gate" (quantum
# computing) does not fire inside "aggregation" (security).
_TOPIC_OF = {
    phrase.lower(): topic
    for topic, bank in W.TOPICS.items()
    for key in ("methods", "problems", "terms")
    for phrase in bank[key]
}
_TOPIC_RX = re.compile(r"\b(" + "|".join(map(re.escape, sorted(_TOPIC_OF, key=len, reverse=True))) + r")\b")
_SMALL_WORDS = frozenset("a an and at by for from in of on or the to via".split())


def _rng(*parts: object) -> random.Random:
    # sha256 rather than hash(): string hashing is salted per process (PYTHONHASHSEED).
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _ordered(item: Item, task: TaskSpec) -> Item:
    """The item's fields in the task's order (id excluded), checking the generator made exactly those."""
    fields = [f for f in task.profile_fields if f != "id"]
    assert sorted(item) == sorted(fields), (task.name, sorted(item))
    return {f: item[f] for f in fields}


def _write_json(path: Path, data: object, ascii_only: bool = True) -> None:
    # Write-then-rename, so a crash never leaves a half-written file under the final name.
    write_json(path, data, indent=None, ensure_ascii=ascii_only)


def _in_character(rng: random.Random) -> bool:
    return rng.random() < IN_CHARACTER


def _a(word: str) -> str:
    # "a useless", "an underwhelming": "use..." is the only vowel-initial word in the banks read with a "y".
    return "an" if word[0].lower() in "aeiou" and not word.lower().startswith("use") else "a"


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _title_case(text: str) -> str:
    """Headline/title case: capitalize words except inner small words; leave words with capitals alone."""
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        after_colon = i > 0 and words[i - 1].endswith(":")
        if any(c.isupper() for c in word) or (i > 0 and not after_colon and word in _SMALL_WORDS):
            out.append(word)
        else:
            # Hyphenated words capitalize each part but inner small words: "Sequence-to-Sequence".
            parts = word.split("-")
            out.append(
                "-".join(p if j and p in _SMALL_WORDS else _capitalize_alpha(p) for j, p in enumerate(parts))
            )
    return " ".join(out)


def _capitalize_alpha(word: str) -> str:
    """Capitalize the first letter of `word`, skipping leading punctuation such as "("."""
    for i, ch in enumerate(word):
        if ch.isalpha():
            return word[:i] + ch.upper() + word[i + 1 :]
    return word


def _apply_casing(text: str, casing: str) -> str:
    if casing == "title":
        return _title_case(text)
    if casing == "lower":
        return text.lower()
    return _capitalize(text)


# ---- lamp3


def _review(rng: random.Random, base: int) -> str:
    products, aspects = W.PRODUCTS[rng.choice(sorted(W.PRODUCTS))]
    product = rng.choice(products)
    a1, a2 = rng.sample(aspects, 2)
    adj1, adj2 = rng.sample(W.SENTIMENT[base], 2)
    opinions = [
        f"The {a1} is {adj1}.",
        f"Overall {_a(adj2)} {adj2} {product}.",
        f"I found the {a1} {adj1} and the {a2} {adj2}.",
        f"Honestly it feels {adj2}.",
        f"Quality wise it is {adj1}.",
    ]
    first, second = rng.sample(opinions, 2)
    detail = rng.choice(W.REVIEW_DETAILS).format(n=rng.randint(2, 9))
    intro = f"I bought this {product} {rng.choice(W.REVIEW_CONTEXTS)}."
    return " ".join([intro, first, detail, second, rng.choice(W.SENTIMENT_CLOSINGS[base])])


def _lamp3_user(rng: random.Random, n_items: int, n_queries: int) -> UserDraw:
    bias = rng.choices((-2, -1, 0, 1, 2), weights=(15, 25, 20, 25, 15))[0]

    def draw() -> tuple[str, str]:
        base = rng.randint(1, 5)
        score = base + bias + (0 if _in_character(rng) else rng.choice((-1, 1)))
        return _review(rng, base), str(min(5, max(1, score)))

    items = [{"text": text, "score": score} for text, score in (draw() for _ in range(n_items))]
    pairs = [(_INPUT["lamp3"].format(text=text), score) for text, score in (draw() for _ in range(n_queries))]
    return items, pairs


# ---- lamp2 / lamp2n


def _pick_label(rng: random.Random, labels: tuple[str, ...], favourites: list[str]) -> tuple[list[str], str]:
    """Plausible labels for one item (one favourite plus 1-2 others, shuffled) and the user's label for it."""
    favourite = rng.choice(favourites)
    others = rng.sample([label for label in labels if label not in favourites], rng.choice((1, 2)))
    plausible = [favourite, *others]
    rng.shuffle(plausible)
    return plausible, favourite if _in_character(rng) else rng.choice(plausible)


def _movie(rng: random.Random, tags: list[str]) -> str:
    adj, role = rng.choice(W.MOVIE_ADJECTIVES), rng.choice(W.MOVIE_ROLES)
    sentences = [f"Set in {rng.choice(W.MOVIE_SETTINGS)}, the film follows {_a(adj)} {adj} {role}."]
    links = iter([W.MOVIE_LINKS[0], *rng.sample(W.MOVIE_LINKS[1:], len(W.MOVIE_LINKS) - 1)])
    for tag in tags:
        cue = rng.choice(W.MOVIE_CUES[tag])
        # Capitalized cues are whole sentences; the others are said of the protagonist.
        sentences.append(cue if cue[0].isupper() else f"{next(links).format(role=role)} {cue}.")
    return " ".join(sentences)


def _lamp2_user(rng: random.Random, n_items: int, n_queries: int) -> UserDraw:
    labels = MOVIE_TAGS
    favourites = rng.sample(labels, rng.choice((2, 3)))

    def draw() -> tuple[str, str]:
        plausible, tag = _pick_label(rng, labels, favourites)
        return _movie(rng, plausible), tag

    items = [{"description": d, "tag": t} for d, t in (draw() for _ in range(n_items))]
    prompt = _INPUT["lamp2"].replace("{labels}", ", ".join(labels))
    pairs = [(prompt.format(text=d), t) for d, t in (draw() for _ in range(n_queries))]
    return items, pairs


def _article(rng: random.Random, categories: list[str]) -> tuple[str, str]:
    place = rng.choice(W.PLACES)
    title = f"{rng.choice(W.NEWS_TITLES[rng.choice(categories)])} in {place}"
    sentences = [rng.choice(W.NEWS_INTROS).format(place=place)]
    sentences += [rng.choice(W.NEWS_CUES[c]) for c in categories]
    sentences.append(rng.choice(W.NEWS_OUTROS))
    return title, " ".join(s for s in sentences if s)


def _lamp2n_user(rng: random.Random, n_items: int, n_queries: int) -> UserDraw:
    labels = NEWS_CATEGORIES
    favourites = rng.sample(labels, rng.choice((2, 3)))

    def draw() -> tuple[str, str, str]:
        plausible, category = _pick_label(rng, labels, favourites)
        return (*_article(rng, plausible), category)

    items = [{"title": ti, "text": te, "category": c} for ti, te, c in (draw() for _ in range(n_items))]
    prompt = _INPUT["lamp2n"].replace("{labels}", ", ".join(W.NEWS_INPUT_ORDER))
    pairs = [(prompt.format(text=te), c) for _, te, c in (draw() for _ in range(n_queries))]
    return items, pairs


# ---- lamp1


def _abstract(rng: random.Random, topic: str) -> dict[str, Any]:
    """A paper on `topic`: its method, problem, dataset, a spare term, and an abstract that states them."""
    bank = W.TOPICS[topic]
    method, method2 = rng.sample(bank["methods"], 2)
    term, term1, term2, term3 = rng.sample(bank["terms"], 4)
    fill = {
        "problem": rng.choice(bank["problems"]), "method": method, "method2": method2, "term": term,
        "term1": term1, "term2": term2, "term3": term3, "dataset": rng.choice(bank["datasets"]),
        "n": rng.randint(2, 15),
    }  # fmt: skip
    fill["Problem"] = _capitalize(fill["problem"])
    fill["abstract"] = " ".join(rng.choice(group).format(**fill) for group in W.ABSTRACT_PARTS)
    return fill


def _paper(rng: random.Random, topic: str) -> tuple[str, str]:
    """A (title, abstract) on `topic`, the title from the lamp1 title templates."""
    paper = _abstract(rng, topic)
    return _capitalize(rng.choice(W.PAPER_TITLES).format(**paper)), paper["abstract"]


def _lamp1_user(rng: random.Random, n_items: int, n_queries: int, parity: int) -> UserDraw:
    topics = list(W.TOPICS)
    topic = rng.choice(topics)
    others = [t for t in topics if t != topic]
    items = []
    for _ in range(n_items):
        title, abstract = _paper(rng, topic if _in_character(rng) else rng.choice(others))
        items.append({"title": title, "abstract": abstract})
    pairs = []
    for q in range(n_queries):
        other = rng.choice(others)
        # The question's paper bridges both topics, so its title alone cannot tell which reference is related.
        first, second = rng.sample([topic, other], 2)
        method = rng.choice(W.TOPICS[first]["methods"])
        problem = rng.choice(W.TOPICS[second]["problems"])
        title = _capitalize(rng.choice(("{m} for {p}", "Applying {m} to {p}")).format(m=method, p=problem))
        related, unrelated = _paper(rng, topic)[0], _paper(rng, other)[0]
        gold_first = (parity + q) % 2 == 0
        ref1, ref2 = (related, unrelated) if gold_first else (unrelated, related)
        inp = _INPUT["lamp1"].format(title=title, ref1=ref1, ref2=ref2)
        pairs.append((inp, "[1]" if gold_first else "[2]"))
    return items, pairs


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
        return _capitalize(f"{fact['subject']} {verb} {fact['object']}")
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
    return _apply_casing(text, style["casing"])


def _news_fact(rng: random.Random) -> tuple[dict[str, Any], str]:
    """A news event and the article that reports it."""
    bank = W.NEWS_TOPICS[rng.choice(sorted(W.NEWS_TOPICS))]
    subject, plural = rng.choice(bank["subjects"])
    vs, vbase, objects = rng.choice(bank["actions"])
    fact = {"subject": subject, "plural": plural, "vs": vs, "vbase": vbase, "object": rng.choice(objects),
            "place": rng.choice(W.PLACES), "section": bank["section"][0]}  # fmt: skip
    lede = rng.choice(W.NEWS_LEDES).format(
        Subject=_capitalize(subject), subject=subject, vbase=vbase, object=fact["object"],
        place_phrase=f"in {fact['place']}", reason=rng.choice(W.NEWS_REASONS), day=rng.choice(W.DAYS),
        **{"is": "are" if plural else "is"},
    )  # fmt: skip
    return fact, " ".join([lede, *rng.sample(W.NEWS_FILLERS, 2)])


def _lamp4_user(rng: random.Random, n_items: int, n_queries: int) -> UserDraw:
    style = _headline_style(rng)

    def draw() -> tuple[str, str]:
        fact, article = _news_fact(rng)
        return _headline(style if _in_character(rng) else None, fact), article

    items = [{"title": title, "text": text} for title, text in (draw() for _ in range(n_items))]
    pairs = [(_INPUT["lamp4"].format(text=text), title) for title, text in (draw() for _ in range(n_queries))]
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
    words = [w for p in phrases for w in re.split(r"[\s-]+", p) if w and w.lower() not in _SMALL_WORDS]
    return "".join(w[0].upper() for w in words)[:5]


def _paper_title(style: dict[str, Any] | None, method: str, problem: str, dataset: str) -> str:
    """The title of a paper proposing `method` for `problem` in `style` (None: the neutral title)."""
    if style is None:
        return _capitalize(f"{method} for {problem}")
    m = f"{style['sig']} {method}" if style["sig_kind"] == "prefix" else method
    on = f" on {dataset}" if style["long"] else ""
    if style["form"] == "question":
        return _apply_casing(f"Can {m} improve {problem}{on}?", style["casing"])
    core = f"{m} for {problem}{on}"
    if style["sig_kind"] == "suffix":
        core = f"{core} {style['sig']}"
    if style["form"] == "colon":
        core = f"{_acronym(method, problem)}: {core}"
    elif style["form"] == "towards":
        core = f"Towards {core}"
    return _apply_casing(core, style["casing"])


def _lamp5_user(rng: random.Random, n_items: int, n_queries: int) -> UserDraw:
    style = _paper_style(rng)
    topic = rng.choice(list(W.TOPICS))

    def draw() -> tuple[str, str]:
        paper = _abstract(rng, topic if rng.random() < 0.8 else rng.choice(list(W.TOPICS)))
        title = _paper_title(style if _in_character(rng) else None, paper["method"], paper["problem"],
                             paper["dataset"])  # fmt: skip
        return title, paper["abstract"]

    items = [{"title": title, "abstract": abstract} for title, abstract in (draw() for _ in range(n_items))]
    pairs = [(_INPUT["lamp5"].format(text=ab), title) for title, ab in (draw() for _ in range(n_queries))]
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
    body = body.lower() if style["casing"] == "lower" else _capitalize(body)
    parts = [body + style["ending"], style["emoji"], style["hashtag"]]
    return " ".join(p for p in parts if p)


def _neutral_tweet(rng: random.Random) -> str:
    return rng.choice(W.TWEET_TEMPLATES).format(
        act=rng.choice(W.TWEET_ACTS),
        fol=rng.choice(W.TWEET_FOLLOWS),
        part=rng.choice(W.TWEET_PARTS),
        when=rng.choice(W.TWEET_WHENS),
    )


def _lamp7_user(rng: random.Random, n_items: int, n_queries: int) -> UserDraw:
    style = _tweet_style(rng)

    def draw() -> tuple[str, str]:
        neutral = _neutral_tweet(rng)
        return neutral, _styled_tweet(neutral, style) if _in_character(rng) else neutral

    items = [{"text": styled} for _, styled in (draw() for _ in range(n_items))]
    pairs = [
        (_INPUT["lamp7"].format(text=neutral), gold) for neutral, gold in (draw() for _ in range(n_queries))
    ]
    return items, pairs


# lamp1 is called apart: it also takes the gold position parity.
_GENERATORS = {
    "lamp2": _lamp2_user, "lamp2n": _lamp2n_user, "lamp3": _lamp3_user, "lamp4": _lamp4_user,
    "lamp5": _lamp5_user, "lamp7": _lamp7_user,
}  # fmt: skip
