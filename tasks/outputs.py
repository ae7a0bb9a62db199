"""The one reader of LaMP outputs files, ``{"task": "LaMP_3", "golds": [{"id": "310", "output": "4"}, ...]}``.

Two modes share every check of the structure (one-line `DataError`s naming the file and the entry):

- ``strict``, for the files a run loads (`tasks.data.load_users`): ids become strings (questions' ids are read
  the same way), a repeated id and an output that is not a string are errors, and a "task" string of another
  task is returned for the caller to judge (it warns when the ids match the questions);
- ``evaluator``, for `bench score`, which scores what LaMP's official evaluator scores: ids keep their JSON type
  (the string "7" and the number 7 differ), a repeated id keeps its last output (the evaluator builds a dict)
  and an output that is not a string is scored as ``str(x)`` (so ``null`` is the wrong answer "None"), each
  with one warning; a "task" string of another task is refused.

Both accept `TaskSpec.file_names` (OPPU's ``LaMP_2M`` and ``LaMP_2N`` for the two LaMP-2 tasks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lampbench.tasks.errors import DataError
from lampbench.tasks.task import TaskSpec, Warn, default_warn
from lampbench.tasks.wording import counted, short

Mode = Literal["strict", "evaluator"]
MODES = ("strict", "evaluator")


@dataclass(frozen=True)
class Outputs:
    """An outputs file as read: its (id, output) pairs in file order and its "task" string (None when absent)."""

    pairs: list[tuple[Any, str]]
    task: Any = None


def fail(path: Path, problem: str) -> DataError:
    """A `DataError` on one line whatever the content: a path or a JSON error could hold a newline."""
    return DataError(" ".join(f"{path}: {problem}".splitlines()))


def json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", int: "number", float: "number", bool: "boolean"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def read_outputs(path: Path, task: TaskSpec, *, mode: Mode = "strict", warn: Warn | None = None) -> Outputs:
    """Read an outputs file of `task` (see the module docstring for the two modes).

    Raises:
        DataError: unreadable or non-JSON file (an HTML page is named as such), wrong shape, missing
            "golds"/"id"/"output", an id that is not a string or an int; in strict mode a repeated id or an
            output that is not a string; in evaluator mode a "task" string of another task.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    path = Path(path)
    data = _read_json(path)
    if isinstance(data, list):
        raise fail(path, 'is a JSON list, expected an object with "golds" (is this a questions file?)')
    if not isinstance(data, dict):
        raise fail(path, f'is a JSON {json_type(data)}, expected an object with "golds"')
    named = data.get("task")
    if mode == "evaluator" and "task" in data and named not in task.file_names:
        expected = " or ".join(map(repr, task.file_names))
        raise fail(path, f"is for task {short(named)}, but {task.name} expects {expected}")
    return Outputs(_pairs(path, _entries(path, data), mode, warn or default_warn), named)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise fail(path, f"cannot read the file ({err})") from err
    if not text.strip():
        raise fail(path, 'the file is empty, expected JSON like {"task": ..., "golds": [...]}')
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        head = text.lstrip()[:512].lower()
        if head.startswith(("<!doctype html", "<html", "<?xml", "<head", "<body")) or "<html" in head:
            raise fail(path, "is an HTML page, not JSON (a wrong download URL can answer with one)") from err
        raise fail(path, f"is not JSON ({err})") from err


def _entries(path: Path, data: dict[str, Any]) -> list[Any]:
    if "golds" not in data:
        keys = ", ".join(short(k, 30) for k in list(data)[:5]) or "none"
        raise fail(path, f'has no "golds" list (keys: {keys})')
    entries = data["golds"]
    if not isinstance(entries, list):
        raise fail(path, f'"golds" is a JSON {json_type(entries)}, expected a list')
    if not entries:
        raise fail(path, '"golds" is empty: nothing to read')
    return entries


def _entry(path: Path, i: int, entry: Any) -> tuple[Any, Any, str]:
    """(id, output, where) of one entry, its structure checked."""
    where = f"golds[{i}]"
    if not isinstance(entry, dict):
        raise fail(path, f'{where} is a JSON {json_type(entry)}, expected {{"id": ..., "output": ...}}')
    if "id" not in entry:
        raise fail(path, f'{where} has no "id"')
    key = entry["id"]
    # bool is an int in Python; float ids would compare equal to ints (1.0 == 1) unlike in JSON's eyes.
    if not isinstance(key, str | int) or isinstance(key, bool):
        raise fail(path, f"{where} has id {short(key)}, expected a string")
    where = f"{where} (id {short(key)})"
    if "output" not in entry:
        raise fail(path, f'{where} has no "output"')
    return key, entry["output"], where


def _pairs(path: Path, entries: list[Any], mode: Mode, warn: Warn) -> list[tuple[Any, str]]:
    outputs: dict[Any, str] = {}
    first: dict[Any, str] = {}
    repeated: list[str] = []
    not_strings: list[str] = []
    for i, entry in enumerate(entries):
        key, output, where = _entry(path, i, entry)
        key = str(key) if mode == "strict" else key
        if not isinstance(output, str):
            if mode == "strict":
                raise fail(path, f"{where} has output {short(output, 30)} ({json_type(output)}), expected a string")
            not_strings.append(f"{where} is {short(output, 30)}, scored as {short(str(output), 30)}")
        if key in outputs:
            if mode == "strict":
                raise fail(path, f"{where} is a duplicate id (first seen at {first[key]})")
            repeated.append(where)
            del outputs[key]  # the evaluator's dict keeps the last value, at the last position
        first.setdefault(key, where)
        outputs[key] = str(output)
    if repeated:
        who, be = counted(len(repeated), "id")
        warn(
            f"{path}: {who} {be} repeated (first: {repeated[0]}); the last output of each id is scored, "
            "as LaMP's evaluator does"
        )
    if not_strings:
        who, be = counted(len(not_strings), "output")
        warn(f"{path}: {who} {be} not a string (first: {not_strings[0]}); scored as str(x), as LaMP's evaluator does")
    return list(outputs.items())
