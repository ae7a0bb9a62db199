"""LaMP's official scoring: hand-computed cases for each rule in shared/LAMP.md, and every bad-file error."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lampbench.tasks.metrics import Score, _worst_rating, lower_is_better, score, score_files
from lampbench.tasks.specs import MOVIE_TAGS, TASKS, DataError

LAMP1, LAMP2, LAMP2N, LAMP3, LAMP4 = (TASKS[n] for n in ("lamp1", "lamp2", "lamp2n", "lamp3", "lamp4"))


# ---------------------------------------------------------------- classification


def test_cleaning_is_strip_only() -> None:
    assert score(LAMP2, ["comedy"], ["  comedy \n"]).metrics["accuracy"] == 1.0
    result = score(LAMP2, ["comedy"], ["Comedy"])  # no lower-casing: not a label at all
    assert result.metrics["accuracy"] == 0.0
    assert result.unscorable == 1
    assert "1 prediction is not a label" in result.notes[0]
    assert "only in case" in result.notes[0]


def test_macro_f1_averages_over_all_labels() -> None:
    golds = list(MOVIE_TAGS[:6])  # 6 of the 15 tags, all predicted right: 6 * 1.0 + 9 * 0.0 over 15
    result = score(LAMP2, golds, golds)
    assert result.metrics == {"accuracy": 1.0, "f1": pytest.approx(0.4)}
    assert result == Score(result.metrics, n=6, unscorable=0, notes=())


def test_a_non_label_prediction_is_wrong_but_not_a_class() -> None:
    # [1]: P=1, R=1/2, F=2/3; [2]: no gold, no prediction, F=0; the junk is no third class.
    result = score(LAMP1, ["[1]", "[1]"], ["[1]", "[3]"])
    assert result.metrics["accuracy"] == 0.5
    assert result.metrics["f1"] == pytest.approx(1 / 3)
    # Both labels perfect except one -1: [1] F=1, [2] P=1 R=1/2 F=2/3.
    result = score(LAMP1, ["[1]", "[2]", "[2]"], ["[1]", "[2]", "I think [2]"])
    assert result.metrics["f1"] == pytest.approx((1 + 2 / 3) / 2)
    assert result.unscorable == 1


def test_news_and_numbers_as_strings() -> None:
    result = score(LAMP2N, ["food & drink ", "politics"], ["food & drink", "politics"])
    assert result.metrics["accuracy"] == 1.0


def test_classification_gold_not_a_label_is_a_data_error() -> None:
    with pytest.raises(DataError, match=r"golds\[1\] is 'Comedy', which is not a label of lamp2"):
        score(LAMP2, ["comedy", "Comedy"], ["comedy", "comedy"])


# ---------------------------------------------------------------- rating


@pytest.mark.parametrize(("gold", "worst"), [(1, 5.0), (2, 5.0), (3, 5.0), (4, 1.0), (5, 1.0)])
def test_rating_fallback_is_the_farther_end(gold: int, worst: float) -> None:
    assert _worst_rating(float(gold)) == worst


def test_unparseable_rating_scores_as_the_worst_case() -> None:
    result = score(LAMP3, ["3", "2", "4"], ["four", "", "Rating: 4"])  # 5.0, 5.0, 1.0 -> errors 2, 3, 3
    assert result.metrics["mae"] == pytest.approx(8 / 3)
    assert result.metrics["rmse"] == pytest.approx(math.sqrt((4 + 9 + 9) / 3))
    assert result.unscorable == 3
    assert result.notes == ("3 predictions are not a number and are scored as the rating farthest from the gold",)


def test_float_parses_like_python_and_is_not_clipped() -> None:
    result = score(LAMP3, ["4"] * 5, ["4.5", "10", "+5", ".5", " 4e0 "])  # errors .5, 6, 1, 3.5, 0
    assert result.metrics["mae"] == pytest.approx(11 / 5)
    assert result.metrics["rmse"] == pytest.approx(math.sqrt((0.25 + 36 + 1 + 12.25) / 5))
    assert result.unscorable == 0
    assert result.notes == ("2 predictions are outside 1..5 and are scored as is (LaMP does not clip)",)


def test_rating_values_are_float32() -> None:
    mae = score(LAMP3, ["4"], ["4.1"]).metrics["mae"]
    assert mae == float(np.float32(4.1) - 4)  # 0.099999905, not 0.1
    assert mae != pytest.approx(0.1, abs=1e-9)


def test_non_finite_ratings_fall_back_instead_of_crashing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from the float32 cast either
        result = score(LAMP3, ["4", "4", "4", "2"], ["nan", "inf", "1e40", "-Infinity"])
    assert result.metrics["mae"] == pytest.approx(3.0)  # all four become the worst case: 1.0, 1.0, 1.0, 5.0
    assert result.unscorable == 4
    assert "4 predictions are not finite in float32" in result.notes[0]
    assert "would crash" in result.notes[0]


@pytest.mark.parametrize("gold", ["four", "", "nan", "1e40"])
def test_rating_gold_not_a_number_is_a_data_error(gold: str) -> None:
    with pytest.raises(DataError, match="not a finite number"):
        score(LAMP3, ["4", gold], ["4", "4"])


# ---------------------------------------------------------------- generation


def test_rouge_identical_non_latin_and_empty() -> None:
    assert score(LAMP4, ["Storm Hits The Coast"], ["storm hits the coast"]).metrics == {
        "rouge-1": 1.0,
        "rouge-L": 1.0,
    }
    non_latin = score(LAMP4, ["你好 世界"], ["你好 世界"])
    assert non_latin.metrics == {"rouge-1": 0.0, "rouge-L": 0.0}
    assert non_latin.unscorable == 0
    assert "without any a-z or 0-9" in non_latin.notes[0]
    empty = score(LAMP4, [""], [""])
    assert empty.metrics == {"rouge-1": 0.0, "rouge-L": 0.0}
    assert empty.unscorable == 1


def test_rouge_is_the_mean_of_per_example_f_measures() -> None:
    # Example 1: 3 of 6 gold unigrams, all 3 predicted ones right: P=1, R=1/2, F=2/3 (LCS is 3 as well).
    # Example 2: "b a" vs "a b": unigrams all match (F=1), LCS is 1 (F=1/2).
    result = score(LAMP4, ["the cat sat on the mat", "a b"], ["the cat sat", "b a"])
    assert result.metrics["rouge-1"] == pytest.approx((2 / 3 + 1) / 2)
    assert result.metrics["rouge-L"] == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_lengths_must_match_and_not_be_empty() -> None:
    with pytest.raises(DataError, match="2 golds but 1 predictions"):
        score(LAMP4, ["a", "b"], ["a"])
    with pytest.raises(DataError, match="no golds"):
        score(LAMP4, [], [])


def test_lower_is_better() -> None:
    assert lower_is_better("mae") and lower_is_better("rmse")
    assert not any(lower_is_better(m) for m in ("accuracy", "f1", "rouge-1", "rouge-L"))


# ---------------------------------------------------------------- official-format files


def _write(path: Path, content: Any) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def _outputs(task: str, pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    return {"task": task, "golds": [{"id": k, "output": v} for k, v in pairs]}


def test_score_files_matches_by_id(tmp_path: Path) -> None:
    golds = _write(tmp_path / "g.json", _outputs("LaMP_3", [("a", "4"), ("b", "2")]))
    preds = _write(tmp_path / "p.json", _outputs("LaMP_3", [("b", 3), ("a", "4")]))  # a number output is fine
    assert score_files(LAMP3, golds, preds).metrics == {"mae": 0.5, "rmse": pytest.approx(math.sqrt(0.5))}
    # LaMP-2 movie and news files both say "LaMP_2"; a file without "task" is fine too.
    golds = _write(tmp_path / "g2.json", _outputs("LaMP_2", [("1", "politics")]))
    preds = _write(tmp_path / "p2.json", {"golds": [{"id": "1", "output": "politics"}]})
    assert score_files(LAMP2N, golds, preds).metrics["accuracy"] == 1.0


GOOD = _outputs("LaMP_3", [("a", "4"), ("b", "2")])
BAD_FILES = [
    ("not json", "{oops", "not JSON"),
    ("html", "<!DOCTYPE html>\n<html><body>404 Not Found</body></html>", "HTML page"),
    ("empty", "  \n", "empty"),
    ("list", [{"id": "a", "input": "x", "profile": []}], "questions file"),
    ("string", '"golds"', "is a JSON string, expected an object"),
    ("no golds", {"task": "LaMP_3", "outputs": []}, 'no "golds"'),
    ("golds not list", {"golds": {"a": "4"}}, '"golds" is a JSON object, expected a list'),
    ("golds empty", {"golds": []}, '"golds" is empty'),
    ("entry not object", {"golds": [["a", "4"]]}, "golds[0] is a JSON list"),
    ("no id", {"golds": [{"output": "4"}]}, 'golds[0] has no "id"'),
    ("no output", {"golds": [{"id": "a"}, {"id": "b", "pred": "4"}]}, "golds[0] (id 'a') has no \"output\""),
    ("bad id", {"golds": [{"id": ["a"], "output": "4"}]}, "has id ['a'], expected a string"),
    ("other task", _outputs("LaMP_4", [("a", "4"), ("b", "2")]), "is for task 'LaMP_4'"),
]


@pytest.mark.parametrize(("case", "content", "problem"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
@pytest.mark.parametrize("side", ["golds", "preds"])
def test_score_files_bad_input(tmp_path: Path, side: str, case: str, content: Any, problem: str) -> None:
    good = _write(tmp_path / "good.json", GOOD)
    bad = _write(tmp_path / "bad.json", content)
    paths = (bad, good) if side == "golds" else (good, bad)
    with pytest.raises(DataError) as err:
        score_files(LAMP3, *paths)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{bad}: ")
    assert problem in message


def test_score_files_missing_file(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.json", GOOD)
    with pytest.raises(DataError, match="cannot read the file") as err:
        score_files(LAMP3, good, tmp_path / "nowhere.json")
    assert str(err.value).startswith(f"{tmp_path / 'nowhere.json'}: ")


def test_score_files_id_sets_differ(tmp_path: Path) -> None:
    golds = _write(tmp_path / "g.json", _outputs("LaMP_3", [(k, "3") for k in "abcde"]))
    preds = _write(tmp_path / "p.json", _outputs("LaMP_3", [(k, "3") for k in "awxyz"]))
    with pytest.raises(DataError) as err:
        score_files(LAMP3, golds, preds)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{preds}: ids do not match {golds}")
    assert "4 gold ids have no prediction (e.g. 'b', 'c', 'd')" in message
    assert "4 predicted ids are not in the golds (e.g. 'w', 'x', 'y')" in message
    assert "'e'" not in message and "'z'" not in message  # at most three of each


def test_score_files_int_and_string_ids_differ(tmp_path: Path) -> None:
    golds = _write(tmp_path / "g.json", _outputs("LaMP_3", [("7", "3"), ("8", "3")]))
    preds = _write(tmp_path / "p.json", _outputs("LaMP_3", [(7, "3"), ("8", "3")]))
    with pytest.raises(DataError, match="1 differ only in type") as err:
        score_files(LAMP3, golds, preds)
    assert "1 gold id has no prediction (e.g. '7') and 1 predicted id is not in the golds (e.g. 7)" in str(err.value)


def test_score_files_invalid_gold_names_the_golds_file(tmp_path: Path) -> None:
    golds = _write(tmp_path / "g.json", _outputs("LaMP_2", [("1", "comedy"), ("2", "Comedy")]))
    preds = _write(tmp_path / "p.json", _outputs("LaMP_2", [("1", "comedy"), ("2", "comedy")]))
    with pytest.raises(DataError) as err:
        score_files(LAMP2, golds, preds)
    assert str(err.value) == f"{golds}: golds[1] is 'Comedy', which is not a label of lamp2"
