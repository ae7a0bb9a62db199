"""Write a synthetic split in LaMP's layout and shape, with what real files have when asked (`add_real_quirks`)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from lampbench.tasks.files import write_json
from lampbench.tasks.synthetic.common import PROFILE_SIZE, Draw, Item, Synthetic, rng_for
from lampbench.tasks.task import TaskSpec

_SPLIT_DIGIT = {"train": "1", "dev": "2", "test": "3"}
_MAX_QUERIES = 999  # the query number is written with 3 digits


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
        task: the task to generate; its spec's `synthetic` says how.
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
        ValueError: for a task without a generator, an unknown split, or counts out of range.
    """
    synthetic = _check(task, split, n_users, queries_per_user)
    questions, golds = _draw(task, synthetic, split, n_users, seed, queries_per_user)
    if real_quirks:
        add_real_quirks(task, questions, rng_for(seed, task.name, split, "quirks"))
    folder = Path(root) / task.path / split
    q_path, o_path = folder / f"{split}_questions.json", folder / f"{split}_outputs.json"
    # write_json writes then renames, so a crash never leaves a half-written file under the final name.
    write_json(q_path, questions, indent=None, ensure_ascii=not real_quirks)
    write_json(o_path, {"task": task.lamp, "golds": golds}, indent=None, ensure_ascii=True)
    return q_path, o_path


def _draw(
    task: TaskSpec, synthetic: Synthetic, split: str, n_users: int, seed: int, queries_per_user: int
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The questions and golds of `n_users` users, each drawn from its own seeded generator."""
    prefix = synthetic.digit + _SPLIT_DIGIT[split]
    questions: list[dict[str, Any]] = []
    golds: list[dict[str, str]] = []
    for u in range(n_users):
        rng = rng_for(seed, task.name, split, "user", u)
        n_items = rng.randint(*PROFILE_SIZE)
        # Users 2k and 2k+1 get opposite parities, so a binary gold can be balanced within the split.
        parity = rng_for(seed, task.name, split, "pair", u // 2).randrange(2) ^ (u % 2)
        items, pairs = synthetic.user(Draw(task, rng, n_items, queries_per_user, parity))
        profile = [{"id": f"9{prefix}{u}{i:03d}", **_ordered(item, task)} for i, item in enumerate(items)]
        for q, (inp, gold) in enumerate(pairs):
            qid = f"{prefix}{u}{q:03d}"
            questions.append({"id": qid, "input": inp, "profile": profile})
            golds.append({"id": qid, "output": gold})
    return questions, golds


def _check(task: TaskSpec, split: str, n_users: int, queries_per_user: int) -> Synthetic:
    """The task's generator, once the arguments are known to be usable."""
    if task.synthetic is None:
        raise ValueError(f"no synthetic generator for task {task.name!r}: its spec has no `synthetic`")
    if split not in _SPLIT_DIGIT:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(_SPLIT_DIGIT)}")
    if n_users < 1:
        raise ValueError(f"n_users must be at least 1, got {n_users}")
    if not 1 <= queries_per_user <= _MAX_QUERIES:
        raise ValueError(f"queries_per_user must be in 1..{_MAX_QUERIES}, got {queries_per_user}")
    return task.synthetic


def _ordered(item: Item, task: TaskSpec) -> Item:
    """The item's fields in the task's order (id excluded), checking the generator made exactly those."""
    fields = [f for f in task.profile_fields if f != "id"]
    assert sorted(item) == sorted(fields), (task.name, sorted(item))
    return {f: item[f] for f in fields}


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
