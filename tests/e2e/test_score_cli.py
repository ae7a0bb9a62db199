"""`bench score` scores what LaMP's official evaluator scores: console lines and exit status as a user sees them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lampbench.harness.entrypoints.cli import app

runner = CliRunner()


def _write(path: Path, task: str | None, pairs: list[tuple[Any, Any]]) -> Path:
    content: dict[str, Any] = {"golds": [{"id": k, "output": v} for k, v in pairs]}
    if task is not None:
        content["task"] = task
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def _score(task: str, golds: Path, preds: Path, *extra: str):
    return runner.invoke(app, ["score", "--task", task, str(golds), str(preds), *extra])


@pytest.mark.parametrize(("task", "name", "label"), [("lamp2", "LaMP_2M", "comedy"), ("lamp2n", "LaMP_2N", "crime")])
def test_oppu_task_names_are_accepted(tmp_path: Path, task: str, name: str, label: str) -> None:
    golds = _write(tmp_path / "g.json", name, [("1", label), ("2", label)])
    preds = _write(tmp_path / "p.json", name, [("1", label), ("2", "nope")])
    result = _score(task, golds, preds, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert json.loads(result.stdout)["accuracy"] == 0.5


def test_a_repeated_id_keeps_the_last_output_with_a_warning(tmp_path: Path) -> None:
    golds = _write(tmp_path / "g.json", "LaMP_3", [("a", "4"), ("b", "2")])
    preds = _write(tmp_path / "p.json", "LaMP_3", [("a", "1"), ("b", "2"), ("a", "4")])
    result = _score("lamp3", golds, preds, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["mae"] == 0.0  # the last "a" (4) is scored, not the first (1)
    warnings = result.stderr.splitlines()
    assert warnings == [
        f"warning: {preds}: 1 id is repeated (first: golds[2] (id 'a')); the last output of each id is scored, "
        "as LaMP's evaluator does"
    ]


def test_null_and_non_string_outputs_are_scored_as_str_with_one_warning(tmp_path: Path) -> None:
    golds = _write(tmp_path / "g.json", "LaMP_2", [("1", "comedy"), ("2", "action"), ("3", "classic")])
    preds = _write(tmp_path / "p.json", "LaMP_2", [("1", None), ("2", ["action"]), ("3", "classic")])
    result = _score("lamp2", golds, preds)
    assert result.exit_code == 0
    assert "accuracy: 0.3333" in result.stdout.splitlines()  # None and ['action'] are wrong, as str(x) is
    (warning,) = result.stderr.splitlines()
    assert warning.startswith(f"warning: {preds}: 2 outputs are not a string (first: golds[0] (id '1') is None")
    assert "scored as str(x)" in warning


def test_a_numeric_rating_output_is_scored_as_its_string(tmp_path: Path) -> None:
    golds = _write(tmp_path / "g.json", "LaMP_3", [("a", "4")])
    preds = _write(tmp_path / "p.json", "LaMP_3", [("a", 4)])
    result = _score("lamp3", golds, preds, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["mae"] == 0.0
    assert "1 output is not a string" in result.stderr


@pytest.mark.parametrize(
    ("case", "write", "problem"),
    [
        ("not json", lambda p: p.write_text("{oops"), "is not JSON"),
        ("wrong shape", lambda p: p.write_text("[]"), "is a JSON list"),
        ("other task", lambda p: _write(p, "LaMP_4", [("a", "4")]), "is for task 'LaMP_4'"),
        ("ids differ", lambda p: _write(p, "LaMP_3", [("z", "4")]), "ids do not match"),
        ("bad id", lambda p: _write(p, "LaMP_3", [(["a"], "4")]), "has id ['a']"),
    ],
)
def test_broken_structure_still_stops_with_one_line(tmp_path: Path, case: str, write, problem: str) -> None:
    golds = _write(tmp_path / "g.json", "LaMP_3", [("a", "4")])
    preds = tmp_path / "p.json"
    write(preds)
    result = _score("lamp3", golds, preds)
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {preds}: ") and problem in line


def test_lamp2m_name_is_refused_for_news(tmp_path: Path) -> None:
    golds = _write(tmp_path / "g.json", "LaMP_2M", [("1", "crime")])
    result = _score("lamp2n", golds, golds)
    assert result.exit_code == 2
    assert "expects 'LaMP_2' or 'LaMP_2N'" in result.stderr
