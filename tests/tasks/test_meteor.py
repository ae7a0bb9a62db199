"""METEOR as LongLaMP scores it (`tasks/meteor.py`), against the reference implementation's own published values.

The expected values are those nltk's ``meteor.doctest`` and evaluate's ``meteor`` card print (computed by them with
NLTK's WordNet 3.0), and values computed here by the reference pipeline, ``nltk.word_tokenize`` with NLTK's English
``punkt_tab`` and ``nltk.translate.meteor_score.meteor_score``, on fixed strings. They need WordNet 3.0 on the
machine (Debian's ``wordnet-base``: `make setup` and CI install it).
"""

from __future__ import annotations

import pytest

from lampbench.tasks import meteor as M
from lampbench.tasks.errors import ConfigError
from lampbench.tasks.metrics import score
from lampbench.tasks.specs import TASKS

#: (gold, prediction, METEOR) printed by nltk's meteor.doctest and evaluate's metric card.
PUBLISHED = [
    ("The candidate has no alignment to any of the references", "John loves Mary", 0.0),
    ("The cat sat on the mat", "on the mat sat the cat", 0.5),
    ("The cat sat on the mat", "The cat was sat on the mat", 0.9654),
    ("create or update a vm set", "creates or updates a virtual machine scale set", 0.7806),
    (
        "It is a guide to action that ensures that the military will forever heed Party commands",
        "It is a guide to action which ensures that the military always obeys the commands of the party",
        0.6944,
    ),
]
#: Several sentences and abbreviations: sentence splitting matters. (gold, prediction, with NLTK's English Punkt
#: model, with Punkt untrained), from the reference pipeline.
ABBREVIATIONS = (
    "We study e.g. transformers, i.e. attention models. Dr. Smith et al. found gains of 3.5 pts. in the U.S. and "
    "elsewhere.",
    "This paper studies attention models, e.g. transformers. Smith et al. report gains in the U.S. market. Results "
    "are strong.",
    0.553550,
    0.561035,
)
REVIEW = (
    "I bought this for my son. He loves it! Great value for the price... Would buy again.",
    "My son loves this. Great price! I would buy it again.",
    0.522394,
)


@pytest.mark.parametrize("gold, pred, expected", PUBLISHED)
def test_meteor_matches_the_reference_implementations_published_values(gold, pred, expected):
    assert round(M.meteor(gold, pred), 4) == expected


def test_wordnet_synonyms_count_as_matches():
    # "auto" is a lemma of car.n.01: 4 of 4 unigrams match in one chunk, so METEOR's formula gives Fmean 1 and a
    # penalty of 0.5 * (1/4)**3. Without the synonym stage: 3 matches in 2 chunks, 0.6389 -- what "automobile"
    # gets, since nltk looks synonyms up for the Porter stem ("automobil"), as evaluate's METEOR does.
    assert M.meteor("the car is red", "the auto is red") == pytest.approx(1 - 0.5 * (1 / 4) ** 3)
    assert M.meteor("the car is red", "the automobile is red") == pytest.approx(0.75 * (1 - 0.5 * (2 / 3) ** 3))
    assert M.wordnet().get_version() == "3.0"


def test_tokens_are_word_tokenizes_on_plain_sentences():
    assert M.tokenize(REVIEW[0]) == [
        "I", "bought", "this", "for", "my", "son", ".", "He", "loves", "it", "!", "Great", "value", "for", "the",
        "price", "...", "Would", "buy", "again", ".",
    ]  # fmt: skip
    assert round(M.meteor(REVIEW[0], REVIEW[1]), 6) == REVIEW[2]


def test_abbreviations_follow_the_punkt_model_found():
    gold, pred, exact, untrained = ABBREVIATIONS
    assert round(M.meteor(gold, pred), 6) == (exact if M.has_punkt_model() else untrained)
    assert (M.tokenizer_note() is None) == M.has_punkt_model()


def test_longlamp_tasks_score_rouge_and_meteor_per_query():
    task = TASKS["longlamp-review"]
    golds = [g for g, _, _ in PUBLISHED[1:3]] + [REVIEW[0]]
    preds = [p for _, p, _ in PUBLISHED[1:3]] + [REVIEW[1]]
    result = score(task, golds, preds)
    assert task.metrics == ("rouge-1", "rouge-L", "meteor") and task.primary_metric == "rouge-1"
    assert [round(o[2], 4) for o in result.outcomes] == [0.5, 0.9654, round(REVIEW[2], 4)]
    assert result.metrics["meteor"] == pytest.approx(sum(o[2] for o in result.outcomes) / 3)
    assert result.metrics["rouge-1"] == pytest.approx(sum(o[0] for o in result.outcomes) / 3)
    # LongLaMP strips golds and predictions before scoring, as LaMP does.
    assert score(task, ["  " + golds[0]], [preds[0] + "\n"]).metrics["meteor"] == pytest.approx(0.5)


def test_no_wordnet_is_one_line_saying_how_to_get_it(monkeypatch, tmp_path):
    import nltk.data

    def not_found(resource):
        raise LookupError(resource)

    monkeypatch.delenv("LAMPBENCH_WORDNET", raising=False)
    monkeypatch.setattr(nltk.data, "find", not_found)
    monkeypatch.setattr(M, "DEBIAN_WORDNET", tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="apt-get install wordnet-base") as err:
        M._wordnet_root()
    assert "\n" not in str(err.value)
    monkeypatch.setenv("LAMPBENCH_WORDNET", str(tmp_path))
    with pytest.raises(ConfigError, match="not a WordNet 3.0 folder"):
        M._wordnet_root()
