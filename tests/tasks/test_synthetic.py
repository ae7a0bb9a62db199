"""Tests of the synthetic LaMP generator: official shape, determinism, and that the planted signals are real.

The signal checks use small oracles (no LLM): each reads the user's profile the way a personalized method
could, and must clearly beat the same guess made without the profile.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from lampbench.tasks import synthetic as S
from lampbench.tasks.specs import TASKS, TaskSpec

# The start of each task's input, as LaMP phrases it (shared/LAMP.md).
PREFIXES = {
    "lamp1": 'For an author who has written the paper with the title "',
    "lamp2": "Which tag does this movie relate to among the following tags? Just answer with the tag name "
    "without further explanation. tags: [sci-fi, based on a book, comedy, action, twist ending, dystopia, "
    "dark comedy, classic, psychology, fantasy, romance, thought-provoking, social commentary, violence, "
    "true story] description: ",
    "lamp2n": "Which category does this article relate to among the following categories? Just answer with "
    "the category name without further explanation. categories: [",
    "lamp3": "What is the score of the following review on a scale of 1 to 5? just answer with 1, 2, 3, 4, "
    "or 5 without further explanation. review: ",
    "lamp4": "Generate a headline for the following article: ",
    "lamp5": "Generate a title for the following abstract of a paper: ",
    "lamp7": "Paraphrase the following tweet without any explanation before or after it: ",
    "longlamp-abstract": 'Generate an abstract for the title "',
    "longlamp-review": 'Generate the review text written by a reviewer who has a given an overall rating of "',
    "longlamp-topic": 'Generate the content for a reddit post "',
}

Row = tuple[dict[str, Any], str]  # (question, gold)


def _generate(task: TaskSpec, root: Path, **kwargs: Any) -> list[Row]:
    q_path, o_path = S.write_synthetic(task, root, **kwargs)
    questions = json.loads(q_path.read_text(encoding="utf-8"))
    golds = {g["id"]: g["output"] for g in json.loads(o_path.read_text(encoding="utf-8"))["golds"]}
    return [(q, golds[q["id"]]) for q in questions]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Row]]:
    """200 dev users per task, shared by the signal tests."""
    root = tmp_path_factory.mktemp("synthetic")
    return {name: _generate(task, root, split="dev", n_users=200) for name, task in TASKS.items()}


# ---- shape


@pytest.mark.parametrize("name", sorted(TASKS))
def test_official_layout_and_shape(tmp_path: Path, name: str) -> None:
    task = TASKS[name]
    q_path, o_path = S.write_synthetic(task, tmp_path, split="train", n_users=12, queries_per_user=2)
    assert q_path == tmp_path / task.path / "train" / "train_questions.json"
    assert o_path == tmp_path / task.path / "train" / "train_outputs.json"

    questions = json.loads(q_path.read_text(encoding="utf-8"))
    outputs = json.loads(o_path.read_text(encoding="utf-8"))
    assert isinstance(questions, list) and len(questions) == 24
    assert set(outputs) == {"task", "golds"} and outputs["task"] == task.lamp
    assert [g["id"] for g in outputs["golds"]] == [q["id"] for q in questions]
    assert len({q["id"] for q in questions}) == len(questions)

    for q, gold in zip(questions, outputs["golds"], strict=True):
        assert set(q) == {"id", "input", "profile"}
        assert isinstance(q["id"], str) and q["id"].isdigit()
        assert q["input"].startswith(PREFIXES[name])
        assert task.query(q["input"]).strip()
        assert (task.query(q["input"]) != q["input"]) == bool(task.input_marks)  # LongLaMP's review, topic: whole
        assert set(gold) == {"id", "output"} and isinstance(gold["output"], str) and gold["output"].strip()
        if task.labels is not None:
            assert gold["output"] in task.labels
        lo, hi = S.PROFILE_SIZE
        assert lo <= len(q["profile"]) <= hi
        for item in q["profile"]:
            assert tuple(item) == task.profile_fields  # exactly the fields, in the official order
            assert all(isinstance(v, str) and v for v in item.values())
            assert item["id"].isdigit()
            if task.profile_target is not None and task.labels is not None:
                assert item[task.profile_target] in task.labels


def test_lamp2n_input_lists_every_category_once(dev: dict[str, list[Row]]) -> None:
    listed = re.search(r"categories: \[(.*?)\] article: ", dev["lamp2n"][0][0]["input"])
    assert listed is not None
    names = listed.group(1).split(", ")
    assert len(names) == 15 and set(names) == set(TASKS["lamp2n"].labels or ())


def test_lamp1_input_has_title_and_two_quoted_references(dev: dict[str, list[Row]]) -> None:
    for q, _ in dev["lamp1"][:20]:
        assert re.fullmatch(
            r'For an author who has written the paper with the title "[^"]+", which reference is related\? '
            r'Just answer with \[1\] or \[2\] without explanation\. \[1\]: "[^"]+" \[2\]: "[^"]+"',
            q["input"],
        )


def test_texts_are_short_and_varied(dev: dict[str, list[Row]]) -> None:
    reviews = [q["input"].split("review: ", 1)[1] for q, _ in dev["lamp3"]]
    assert all(18 <= len(r.split()) <= 45 for r in reviews)
    assert len(set(reviews)) == len(reviews)
    for name, rows in dev.items():
        inputs = [q["input"] for q, _ in rows]
        assert len(set(inputs)) > 0.95 * len(inputs), name
        assert max(len(i.split()) for i in inputs) < 150, name


def test_profile_sizes_vary(dev: dict[str, list[Row]]) -> None:
    sizes = {len(q["profile"]) for q, _ in dev["lamp3"]}
    assert len(sizes) > 10


# ---- determinism, ids, grouping


@pytest.mark.parametrize("name", sorted(TASKS))
def test_same_arguments_same_bytes(tmp_path: Path, name: str) -> None:
    task = TASKS[name]
    first = S.write_synthetic(task, tmp_path / "a", split="dev", n_users=10, seed=3)
    second = S.write_synthetic(task, tmp_path / "b", split="dev", n_users=10, seed=3)
    other = S.write_synthetic(task, tmp_path / "c", split="dev", n_users=10, seed=4)
    for x, y, z in zip(first, second, other, strict=True):
        assert x.read_bytes() == y.read_bytes()
        assert x.read_bytes() != z.read_bytes()


def test_users_do_not_depend_on_n_users(tmp_path: Path) -> None:
    small = _generate(TASKS["lamp7"], tmp_path / "a", split="train", n_users=4)
    large = _generate(TASKS["lamp7"], tmp_path / "b", split="train", n_users=9)
    assert small == large[:4]


def test_ids_unique_across_tasks_and_splits(tmp_path: Path) -> None:
    question_ids: list[str] = []
    item_ids: list[str] = []
    profiles: dict[str, set[str]] = {}
    for name, task in TASKS.items():
        for split in ("train", "dev", "test"):
            rows = _generate(task, tmp_path, split=split, n_users=15, queries_per_user=2)
            question_ids += [q["id"] for q, _ in rows]
            unique = {json.dumps(q["profile"]): q["profile"] for q, _ in rows}
            item_ids += [item["id"] for profile in unique.values() for item in profile]
            profiles[f"{name}/{split}"] = {json.dumps([i | {"id": ""} for i in p]) for p in unique.values()}
    assert len(set(question_ids)) == len(question_ids)
    assert len(set(item_ids)) == len(item_ids)
    assert not set(question_ids) & set(item_ids)
    for name in TASKS:  # no user (profile content, ids aside) is shared between splits
        assert not profiles[f"{name}/train"] & profiles[f"{name}/dev"]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_queries_per_user_share_one_profile(tmp_path: Path, name: str) -> None:
    rows = _generate(TASKS[name], tmp_path, split="train", n_users=6, queries_per_user=3)
    assert len(rows) == 18
    groups = [rows[i : i + 3] for i in range(0, 18, 3)]
    for group in groups:
        assert all(q["profile"] == group[0][0]["profile"] for q, _ in group)
        assert len({q["input"] for q, _ in group}) == 3
    assert len({json.dumps(g[0][0]["profile"]) for g in groups}) == 6


@pytest.mark.parametrize("name", sorted(TASKS))
def test_real_quirks_go_through_the_loader_as_real_files_do(tmp_path: Path, name: str) -> None:
    from lampbench.tasks.data import lamp_date, load_users, select_users

    task = TASKS[name]
    args = {"split": "dev", "n_users": 5, "queries_per_user": 3, "real_quirks": True}
    q_path, o_path = S.write_synthetic(task, tmp_path, **args)
    raw = q_path.read_bytes()
    assert "caf\u00e9".encode() in raw and b"\\u" not in raw  # UTF-8 text, not escapes
    assert raw == S.write_synthetic(task, tmp_path / "again", **args)[0].read_bytes()  # deterministic
    questions = json.loads(raw)
    assert all("user_id" in q for q in questions)
    assert len({len(q["profile"]) for q in questions[:3]}) == 3  # later questions see more history
    warnings: list[str] = []
    users = load_users(task, q_path, o_path, warn=warnings.append)
    assert len(users) == 5 and all(len(u.queries) == 3 for u in users)  # grouped by user_id
    assert len(warnings) == bool(task.input_marks)  # the one defective entry, named (a task with marks)
    if task.input_marks:
        assert f"entry 0 (id {questions[0]['id']!r}) with an input that lacks" in warnings[0]
    dates = [lamp_date(item["date"]) for u in users for item in u.profile]
    assert None not in dates and {type(item["date"]) for u in users for item in u.profile} == {str, int}
    by_id = {u.id: u for u in users}
    for cut in select_users(users, None, max_profile=3):
        user = by_id[cut.id]
        newest = sorted((lamp_date(item["date"]) for item in user.profile), reverse=True)[:3]
        assert sorted((lamp_date(item["date"]) for item in cut.profile), reverse=True) == newest
    patched = load_users(task, q_path, o_path, patch_known_defects=True, warn=warnings.append)
    assert task.follows_pattern(patched[0].queries[0].input) == bool(task.instruction)


def test_bad_arguments(tmp_path: Path) -> None:
    task = TASKS["lamp3"]
    with pytest.raises(ValueError, match="split"):
        S.write_synthetic(task, tmp_path, split="validation", n_users=2)
    with pytest.raises(ValueError, match="n_users"):
        S.write_synthetic(task, tmp_path, split="dev", n_users=0)
    with pytest.raises(ValueError, match="queries_per_user"):
        S.write_synthetic(task, tmp_path, split="dev", n_users=2, queries_per_user=0)
    with pytest.raises(ValueError, match="lamp2"):
        S.plausible_labels(task, "any text")


# ---- planted signals


def test_lamp3_user_bias_beats_base_sentiment(dev: dict[str, list[Row]]) -> None:
    base_err, personal_err = [], []
    for q, gold in dev["lamp3"]:
        base = S.review_sentiment(q["input"])
        bias = mean(int(i["score"]) - S.review_sentiment(i["text"]) for i in q["profile"])
        base_err.append(abs(base - int(gold)))
        personal_err.append(abs(min(5, max(1, round(base + bias))) - int(gold)))
    assert mean(base_err) > 0.7  # users really are biased
    assert mean(personal_err) < 0.5 * mean(base_err)


def test_lamp3_every_review_carries_a_sentiment(dev: dict[str, list[Row]]) -> None:
    levels = Counter(S.review_sentiment(i["text"]) for q, _ in dev["lamp3"] for i in q["profile"])
    assert set(levels) == {1, 2, 3, 4, 5}
    assert S.review_sentiment("no opinion words here") == 3


@pytest.mark.parametrize("name", ["lamp2", "lamp2n"])
def test_lamp2_profile_favourites_beat_plausible_guess(dev: dict[str, list[Row]], name: str) -> None:
    task = TASKS[name]
    target, text = task.profile_target, "description" if name == "lamp2" else "text"
    oracle, blind = [], []
    for q, gold in dev[name]:
        plausible = S.plausible_labels(task, task.query(q["input"]))
        assert 2 <= len(plausible) <= 3 and gold in plausible
        seen = Counter(i[target] for i in q["profile"])
        oracle.append(max(plausible, key=lambda label: seen[label]) == gold)
        blind.append(1 / len(plausible))  # expected accuracy of any profile-free pick among the plausible
        assert all(i[target] in S.plausible_labels(task, i[text]) for i in q["profile"])
    assert mean(oracle) > 0.85
    assert mean(oracle) > mean(blind) + 0.35
    assert len({gold for _, gold in dev[name]}) == 15  # every label occurs, so macro F1 is meaningful


def test_lamp1_profile_topic_picks_the_reference(dev: dict[str, list[Row]]) -> None:
    correct, golds = [], Counter()
    for q, gold in dev["lamp1"]:
        title, ref1, ref2 = re.findall(r'"(.*?)"', q["input"])
        topic = S.paper_topic(" ".join(f"{i['title']} {i['abstract']}" for i in q["profile"]))
        guess = "[1]" if S.paper_topic(ref1) == topic else "[2]" if S.paper_topic(ref2) == topic else None
        correct.append(guess == gold)
        golds[gold] += 1
        # The title alone is no help: it draws on both references' topics.
        assert S.paper_topic(ref1) != S.paper_topic(ref2)
    assert mean(correct) > 0.9
    assert golds["[1]"] == golds["[2]"] == 100


def _shape(title: str) -> tuple[bool, bool, bool, bool]:
    """Style features a title shows: question, colon form, all lowercase, title case."""
    words = [w for w in title.split() if w[:1].isalpha() and len(w) > 3]
    return (title.endswith("?"), ":" in title, title == title.lower(), all(w[0].isupper() for w in words))


@pytest.mark.parametrize("name", ["lamp4", "lamp5"])
def test_title_style_follows_profile(dev: dict[str, list[Row]], name: str) -> None:
    from_profile, neutral = [], []
    for q, gold in dev[name]:
        modal = Counter(_shape(i["title"]) for i in q["profile"]).most_common(1)[0][0]
        from_profile.append(modal == _shape(gold))
        neutral.append(_shape(gold) == (False, False, False, False))
    assert mean(from_profile) > 0.8
    assert mean(from_profile) > mean(neutral) + 0.4


def _tokens(text: str) -> list[str]:
    # rouge_score's default tokenizer: lower-case, keep [a-z0-9] runs.
    return re.findall(r"[a-z0-9]+", text.lower())


def _f1(pred: list[str], gold: list[str]) -> float:
    overlap = sum((Counter(pred) & Counter(gold)).values())
    return 0.0 if not overlap else 2 * overlap / (len(pred) + len(gold))


def test_lamp7_profile_markers_bring_prediction_closer(dev: dict[str, list[Row]]) -> None:
    plain, restyled = [], []
    for q, gold in dev["lamp7"]:
        tweet = _tokens(TASKS["lamp7"].query(q["input"]))
        counts = Counter(t for i in q["profile"] for t in set(_tokens(i["text"])))
        markers = [t for t, n in counts.items() if n >= 0.6 * len(q["profile"]) and t not in tweet]
        assert markers, "every user has a signature word"
        plain.append(_f1(tweet, _tokens(gold)))
        restyled.append(_f1(tweet + markers, _tokens(gold)))
    assert mean(r > p for r, p in zip(restyled, plain, strict=True)) > 0.8
    assert mean(restyled) > mean(plain) + 0.03  # a few signature words in a ~17-token tweet
