"""One reader of outputs files, two modes: strict (a run's files) and evaluator (`bench score`, as LaMP's scorer)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lampbench.tasks.errors import DataError
from lampbench.tasks.outputs import read_outputs
from lampbench.tasks.specs import TASKS

LAMP2, LAMP3 = TASKS["lamp2"], TASKS["lamp3"]


def _file(tmp_path: Path, golds: list[tuple[Any, Any]], task: str | None = "LaMP_3") -> Path:
    content: dict[str, Any] = {"golds": [{"id": k, "output": v} for k, v in golds]}
    if task is not None:
        content["task"] = task
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(content))
    return path


def test_both_modes_read_a_clean_file_alike(tmp_path):
    path = _file(tmp_path, [("a", "4"), ("b", "2")])
    for mode in ("strict", "evaluator"):
        read = read_outputs(path, LAMP3, mode=mode)
        assert read.pairs == [("a", "4"), ("b", "2")] and read.task == "LaMP_3"


def test_a_repeated_id_is_an_error_strictly_and_the_last_one_for_the_evaluator(tmp_path):
    path = _file(tmp_path, [("a", "1"), ("b", "2"), ("a", "4")])
    with pytest.raises(DataError, match=r"golds\[2\] \(id 'a'\) is a duplicate id \(first seen at golds\[0\]"):
        read_outputs(path, LAMP3, mode="strict")
    warnings: list[str] = []
    assert read_outputs(path, LAMP3, mode="evaluator", warn=warnings.append).pairs == [("b", "2"), ("a", "4")]
    assert len(warnings) == 1 and "1 id is repeated (first: golds[2] (id 'a'))" in warnings[0]


def test_a_non_string_output_is_an_error_strictly_and_str_for_the_evaluator(tmp_path):
    path = _file(tmp_path, [("a", None), ("b", 4)])
    with pytest.raises(DataError, match=r"golds\[0\] \(id 'a'\) has output None \(null\), expected a string"):
        read_outputs(path, LAMP3, mode="strict")
    warnings: list[str] = []
    assert read_outputs(path, LAMP3, mode="evaluator", warn=warnings.append).pairs == [("a", "None"), ("b", "4")]
    assert len(warnings) == 1 and "2 outputs are not a string" in warnings[0] and "str(x)" in warnings[0]


def test_ids_are_strings_strictly_and_keep_their_type_for_the_evaluator(tmp_path):
    path = _file(tmp_path, [(7, "3"), ("8", "3")])
    assert read_outputs(path, LAMP3, mode="strict").pairs == [("7", "3"), ("8", "3")]
    assert read_outputs(path, LAMP3, mode="evaluator").pairs == [(7, "3"), ("8", "3")]
    assert "duplicate id" in _error(_file(tmp_path, [(7, "3"), ("7", "3")]), LAMP3, "strict")  # the same string


def test_another_tasks_name_is_returned_strictly_and_refused_by_the_evaluator(tmp_path):
    path = _file(tmp_path, [("a", "4")], task="LaMP_4")
    assert read_outputs(path, LAMP3, mode="strict").task == "LaMP_4"  # the loader warns when the ids match
    assert "is for task 'LaMP_4', but lamp3 expects 'LaMP_3'" in _error(path, LAMP3, "evaluator")
    oppu = _file(tmp_path, [("a", "comedy")], task="LaMP_2M")
    assert all(read_outputs(oppu, LAMP2, mode=mode).task == "LaMP_2M" for mode in ("strict", "evaluator"))


@pytest.mark.parametrize("mode", ["strict", "evaluator"])
def test_broken_structure_stops_both_modes_with_the_same_line(tmp_path, mode):
    path = tmp_path / "outputs.json"
    for content, problem in [
        ("{oops", "is not JSON"), ("[]", "is a JSON list"), ('{"golds": {}}', '"golds" is a JSON object'),
        ('{"golds": [{"output": "4"}]}', 'golds[0] has no "id"'),
        ('{"golds": [{"id": true, "output": "4"}]}', "has id True"),
    ]:  # fmt: skip
        path.write_text(content)
        message = _error(path, LAMP3, mode)
        assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def _error(path: Path, task, mode) -> str:
    with pytest.raises(DataError) as err:
        read_outputs(path, task, mode=mode)
    return str(err.value)
