"""Loading, validating and selecting LaMP users from the official files (format: ``shared/LAMP.md``).

Every problem with a file is a `DataError` whose message is one line naming the file, the entry and what is
wrong, so a bad download or a wrong path reads as a sentence, not a traceback.
"""

from __future__ import annotations

import json
import os
import random
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lampbench.tasks.errors import DataError
from lampbench.tasks.files import cache_dir
from lampbench.tasks.longlamp import LongLaMPSpec
from lampbench.tasks.outputs import read_outputs
from lampbench.tasks.task import Query, TaskSpec, User, Warn, default_warn

SPLITS = ("train", "dev", "test")
SELECTIONS = ("most-active", "random")

_HTML_HINT = "looks like an HTML page (a wrong URL answers 200 with an error page)"


def _kind(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), type(value).__name__)


def _read_json(path: Path) -> Any:
    """Parse a JSON file, turning every failure into a one-line `DataError`."""
    try:
        f = path.open("rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as e:
        raise DataError(f"{path}: cannot open ({e.strerror or e})") from None
    with f:
        head = f.read(4096).lstrip()
        if not head:
            raise DataError(f"{path}: not JSON: the file is empty")
        if head.startswith(b"<"):
            raise DataError(f"{path}: not JSON: {_HTML_HINT}")
        f.seek(0)
        try:
            # json.load on the binary file reads it once; the parsed objects are the only other copy we keep.
            return json.load(f)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not valid JSON (not UTF-8: {e.reason} at byte {e.start})") from None


def _entry_id(entry: dict[str, Any], where: str) -> str:
    """The entry's id as a string (real files use strings; ints are accepted and converted)."""
    if "id" not in entry:
        raise DataError(f"{where}: missing field 'id'")
    value = entry["id"]
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(f"{where}: field 'id' must be a string or an int, got {_kind(value)}")
    return str(value)


def _field(entry: dict[str, Any], name: str, kind: type, where: str) -> Any:
    if name not in entry:
        raise DataError(f"{where}: missing field {name!r}")
    value = entry[name]
    if not isinstance(value, kind):
        raise DataError(f"{where}: field {name!r} must be {_kind(kind())}, got {_kind(value)}")
    return value


Row = tuple[str, str, list[dict[str, Any]], str | None]  # (question id, input, profile, user_id or None)


def _read_questions(task: TaskSpec, path: Path) -> list[Row]:
    """Validated (id, input, profile, user id) rows of a questions file, in file order."""
    data = _read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of questions, got {_kind(data)}")
    if not data:
        raise DataError(f"{path}: the list of questions is empty")
    # Items are keyed by their id when grouping users, so "id" is required even if a spec forgot it.
    required = tuple(dict.fromkeys(("id", *task.profile_fields)))
    seen: dict[str, int] = {}
    rows = []
    for i, entry in enumerate(data):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict):
            raise DataError(f"{where}: expected an object, got {_kind(entry)}")
        qid = _entry_id(entry, where)
        where = f"{where} (id {qid!r})"
        if qid in seen:
            raise DataError(f"{where}: duplicate id (first seen at entry {seen[qid]})")
        seen[qid] = i
        text = _field(entry, "input", str, where)
        profile = _field(entry, "profile", list, where)
        for j, item in enumerate(profile):
            if not isinstance(item, dict):
                raise DataError(f"{where}: profile item {j} must be an object, got {_kind(item)}")
            for name in required:
                if name not in item:
                    raise DataError(
                        f"{where}: profile item {j} has no field {name!r} ({task.name} needs "
                        f"{', '.join(task.profile_fields)})"
                    )
        user = entry.get("user_id")
        if user is not None and (isinstance(user, bool) or not isinstance(user, str | int)):
            raise DataError(f"{where}: field 'user_id' must be a string or an int, got {_kind(user)}")
        rows.append((qid, text, profile, None if user is None else str(user)))
    return rows


def _check_ids(questions: Path, outputs: Path, qids: list[str], golds: dict[str, str], named: str) -> None:
    asked = set(qids)
    missing = [q for q in qids if q not in golds]
    extra = [g for g in golds if g not in asked]
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} question id(s) have no gold (e.g. {', '.join(map(repr, missing[:3]))})")
    if extra:
        parts.append(f"{len(extra)} gold id(s) match no question (e.g. {', '.join(map(repr, extra[:3]))})")
    raise DataError(f"{outputs}: ids do not match {questions}{named}: {'; '.join(parts)}")


def _some(where: list[str]) -> str:
    """ "entry 4 (id '110')" or "3 entries (first: entry 4 (id '110'))", for a warning."""
    return where[0] if len(where) == 1 else f"{len(where)} entries (first: {where[0]})"


def _content_quirks(task: TaskSpec, path: Path, rows: list[Row], patch: bool, warn: Warn) -> list[Row]:
    """Warn about entries that load anyway (empty profile, input off LaMP's pattern); patch the known ones."""
    empty = [f"entry {i} (id {qid!r})" for i, (qid, _, profile, _) in enumerate(rows) if not profile]
    if empty:
        warn(
            f"{path}: {_some(empty)} with an empty profile: kept, the user has no history (methods answer "
            "such users from the input alone)"
        )
    off = [i for i, (_, text, _, _) in enumerate(rows) if not task.follows_pattern(text)]
    if off:
        names = [f"entry {i} (id {rows[i][0]!r})" for i in off]
        marks = " and ".join(map(repr, task.input_marks))
        if patch and task.instruction:
            for i in off:
                qid, text, profile, user = rows[i]
                rows[i] = (qid, task.instruction + text.strip(), profile, user)
            how = f"patched: LaMP's instruction for {task.name} is put before the text"
        elif task.instruction:
            how = "kept as is (--patch-known-defects puts LaMP's instruction before the text)"
        else:
            how = "kept as is"
        warn(f"{path}: {_some(names)} with an input that lacks {marks} (not LaMP's {task.name} pattern): {how}")
    dates = [
        f"entry {i} (id {qid!r})"
        for i, (qid, _, profile, _) in enumerate(rows)
        if any("date" in item and lamp_date(item["date"]) is None for item in profile)
    ]
    if dates:
        warn(
            f"{path}: {_some(dates)} with a profile date LaMP's rule (year-month-day numbers) cannot read: "
            "--max-profile keeps those profiles' first items in file order"
        )
    return rows


def load_users(
    task: TaskSpec,
    questions: Path,
    outputs: Path | None,
    *,
    patch_known_defects: bool = False,
    warn: Warn | None = None,
) -> list[User]:
    """Load and validate an official LaMP split, as LaMP's own code reads it.

    Questions that carry a ``user_id`` (the time-based split) are grouped by it, as LaMP's PEFT loader does:
    the user's profile is that of their first question. Without ``user_id``, questions with identical
    profiles (same item ids, same order) are one user. The user's id is the ``user_id``, else its first
    question's id. Profile items are kept as they are in the file (values may be numbers, `date` may be absent).

    Structure errors stop the load. Content quirks load, each with one warning naming the entry: an outputs
    file whose "task" string is another task's but whose ids match (read as this task); an empty profile
    (the user has no history); an input that lacks the task's pattern (LaMP-2M dev id 110 has no
    instruction: kept as is, or with `patch_known_defects` prefixed with LaMP's instruction); a profile date
    LaMP's rule cannot read. Golds found verbatim in the profile load silently.

    Args:
        task: the task the files belong to.
        questions: the `*_questions.json` file.
        outputs: the `*_outputs.json` file, read strictly (`tasks.outputs`), or None when golds are unknown
            (test split; golds are None).
        patch_known_defects: rewrite inputs that lack the task's pattern (see above).
        warn: called with each one-line warning (default: the ``lampbench.data`` logger).

    Returns:
        The users in file order (order of their first question).

    Raises:
        DataError: one line naming the file, the entry and the problem.
    """
    warn = warn or default_warn
    rows = _content_quirks(task, questions, _read_questions(task, questions), patch_known_defects, warn)
    golds = None if outputs is None else _golds(task, questions, outputs, [row[0] for row in rows], warn)
    return _group(rows, golds)


def _group(rows: list[Row], golds: dict[str, str] | None) -> list[User]:
    """Questions grouped into users, by `user_id` or else by identical profiles, in order of first question."""
    groups: dict[Any, tuple[str, list[dict[str, Any]], list[Query]]] = {}
    for qid, text, profile, user in rows:
        key = ("user", user) if user is not None else tuple(str(item["id"]) for item in profile)
        if key not in groups:
            groups[key] = (qid if user is None else user, profile, [])
        groups[key][2].append(Query(id=qid, input=text, gold=None if golds is None else golds[qid]))
    return [User(id=uid, profile=tuple(profile), queries=tuple(qs)) for uid, profile, qs in groups.values()]


def _golds(task: TaskSpec, questions: Path, outputs: Path, qids: list[str], warn: Warn) -> dict[str, str]:
    """The gold output of each question, read strictly (`tasks.outputs`); its ids must be the questions' ids.

    A "task" string of another task is read as this task when the ids match, with a warning.
    """
    read = read_outputs(outputs, task, mode="strict", warn=warn)
    golds, name = dict(read.pairs), read.task
    named = "" if name in (None, *task.file_names) else f" (and they say task {name!r}, not {task.lamp!r})"
    _check_ids(questions, outputs, qids, golds, named)
    if named:
        warn(
            f"{outputs}: the file says task {name!r} but {task.name} expects {task.lamp!r}; read as "
            f"{task.lamp} since its ids match {questions.name}"
        )
    return golds


def lamp_date(value: Any) -> tuple[int, ...] | None:
    """LaMP's sort key for a `date`, ``tuple(map(int, str(date).split("-")))``; None where it fails.

    Accepts what LaMP accepts: ``2004``, ``"2013-5-2"``, ``"2013-05-02"``; a datetime with a time of day, a
    month name or a bool is None (LaMP's code would crash on them).
    """
    if isinstance(value, bool):
        return None
    try:
        return tuple(map(int, str(value).split("-")))
    except ValueError:
        return None


def _truncate(profile: tuple[dict[str, Any], ...], n: int) -> tuple[dict[str, Any], ...]:
    if len(profile) <= n:
        return profile
    keys = [lamp_date(item.get("date")) for item in profile]
    if all(k is not None for k in keys):
        # Stable sort: equal dates keep file order; the kept items then go back to file order.
        recent = sorted(range(len(profile)), key=lambda i: keys[i], reverse=True)[:n]  # type: ignore
        return tuple(profile[i] for i in sorted(recent))
    return profile[:n]


def select_users(
    users: Sequence[User],
    n: int | None,
    *,
    select: str = "most-active",
    seed: int = 0,
    max_profile: int | None = None,
) -> list[User]:
    """Pick the users a run evaluates.

    Args:
        users: all users of the split.
        n: how many to keep; None keeps all (in the order `select` gives).
        select: `most-active` (largest profiles first, ties in file order) or `random`
            (`random.Random(seed).sample`).
        seed: the seed of `random`.
        max_profile: cap each profile at this many items. When every item has a `date` that LaMP's rule
            reads (`lamp_date`: ``2004``, ``2013-5-2``) the newest items are kept, else the first ones in
            file order; either way the kept items stay in file order.

    Returns:
        The selected users.

    Raises:
        ValueError: unknown `select`, negative `n`, or `max_profile` below 1.
    """
    if select not in SELECTIONS:
        raise ValueError(f"unknown select {select!r}; choose one of {', '.join(SELECTIONS)}")
    if n is not None and n < 0:
        raise ValueError(f"n must be >= 0 or None, got {n}")
    if max_profile is not None and max_profile < 1:
        raise ValueError(f"max_profile must be >= 1 or None, got {max_profile}")
    k = len(users) if n is None else min(n, len(users))
    if select == "most-active":
        chosen = sorted(users, key=lambda u: -len(u.profile))[:k]
    else:
        chosen = random.Random(seed).sample(list(users), k)
    if max_profile is None:
        return chosen
    return [
        u if len(u.profile) <= max_profile else User(u.id, _truncate(u.profile, max_profile), u.queries) for u in chosen
    ]


def resolve_data_dir(cli_value: Path | None) -> Path:
    """Where LaMP files live: `--data-dir`, else `$LAMPBENCH_DATA`, else `data/` in the cache folder.

    The cache folder is `$LAMPBENCH_CACHE`, else the user cache (`harness.files.cache_dir`).
    """
    if cli_value is not None:
        return Path(cli_value).expanduser()
    env = os.environ.get("LAMPBENCH_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    return cache_dir() / "data"


def split_files(task: TaskSpec, split: str, root: Path, *, time_split: bool = False) -> tuple[Path, Path | None]:
    """The paths of a split's files, laid out like the official URLs.

    `root/[time/]<task.path>/<split>/<split>_questions.json` and `..._outputs.json`; the outputs path is None
    for LaMP's `test`, whose golds are held back (LongLaMP publishes its test golds). The files need not exist.

    Raises:
        ValueError: `split` is not train, dev or test.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    folder = Path(root)
    if time_split:
        folder = folder / "time"
    folder = folder.joinpath(*task.path.split("/"), split)
    held_back = split == "test" and not isinstance(task, LongLaMPSpec)
    outputs = None if held_back else folder / f"{split}_outputs.json"
    return folder / f"{split}_questions.json", outputs


def describe(task: TaskSpec, root: Path, *, time_split: bool = False, warn: Warn | None = None) -> list[dict[str, Any]]:
    """Summaries of the splits on disk, for `bench data info` (loads and validates each file, one at a time).

    Args:
        task: the task.
        root: the data directory.
        time_split: LaMP's time-based split.
        warn: receives the loader's warnings (`load_users`).

    Returns:
        One dict per split whose questions file exists, with keys `split`, `path` (the split folder),
        `users`, `queries`, `profile_min`, `profile_median`, `profile_max`, `profile_mean` (items per user),
        `has_golds` and `bytes` (size of the questions and outputs files together).
    """
    rows = []
    for split in SPLITS:
        questions, outputs = split_files(task, split, root, time_split=time_split)
        if not questions.exists():
            continue
        if outputs is not None and not outputs.exists():
            outputs = None
        users = load_users(task, questions, outputs, warn=warn)
        sizes = [len(u.profile) for u in users]
        rows.append({
            "split": split,
            "path": str(questions.parent),
            "users": len(users),
            "queries": sum(len(u.queries) for u in users),
            "profile_min": min(sizes),
            "profile_median": statistics.median(sizes),
            "profile_max": max(sizes),
            "profile_mean": statistics.fmean(sizes),
            "has_golds": outputs is not None,
            "bytes": sum(p.stat().st_size for p in (questions, outputs) if p is not None),
        })  # fmt: skip
    return rows
