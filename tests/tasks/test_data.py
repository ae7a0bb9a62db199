"""Loading, validating and selecting LaMP users from small official-format files written here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lampbench.tasks.data import describe, lamp_date, load_users, resolve_data_dir, select_users, split_files
from lampbench.tasks.specs import TASKS, DataError, User

LAMP3 = TASKS["lamp3"]
LAMP2 = TASKS["lamp2"]


def _item(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"p{i}", "text": f"review {i}", "score": str(1 + i % 5), **extra}


def _questions() -> list[dict[str, Any]]:
    shared = [_item(1), _item(2)]
    return [
        {"id": "q1", "input": "review: great", "profile": shared},
        {"id": 2, "input": "review: bad", "profile": [_item(3, score=4)]},  # int id, numeric score
        {"id": "q3", "input": "review: fine", "profile": list(shared)},  # same profile as q1: same user
    ]


def _outputs(task: str = "LaMP_3") -> dict[str, Any]:
    golds = [{"id": "q1", "output": "5"}, {"id": "2", "output": "1"}, {"id": "q3", "output": "3"}]
    return {"task": task, "golds": golds}


def _write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _files(tmp_path: Path, questions: Any = None, outputs: Any = None) -> tuple[Path, Path]:
    q = _write(tmp_path / "dev_questions.json", _questions() if questions is None else questions)
    o = _write(tmp_path / "dev_outputs.json", _outputs() if outputs is None else outputs)
    return q, o


def _error(tmp_path: Path, questions: Any = None, outputs: Any = None) -> str:
    q, o = _files(tmp_path, questions, outputs)
    with pytest.raises(DataError) as err:
        load_users(LAMP3, q, o)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_valid_file_loads_and_groups_identical_profiles(tmp_path):
    q, o = _files(tmp_path)
    users = load_users(LAMP3, q, o)
    assert [u.id for u in users] == ["q1", "2"]
    assert [[(x.id, x.input, x.gold) for x in u.queries] for u in users] == [
        [("q1", "review: great", "5"), ("q3", "review: fine", "3")],
        [("2", "review: bad", "1")],
    ]
    assert [it["id"] for it in users[0].profile] == ["p1", "p2"]
    assert users[1].profile[0]["score"] == 4  # values are kept as in the file


def test_without_outputs_golds_are_none(tmp_path):
    q, _ = _files(tmp_path)
    users = load_users(LAMP3, q, None)
    assert all(x.gold is None for u in users for x in u.queries)


def test_known_defects_load(tmp_path):
    movie = {"id": "d1", "description": "a movie", "tag": "comedy"}
    q = [{"id": "110", "input": "x a movie with no instruction", "profile": [movie]}]
    o = {"task": "LaMP_2", "golds": [{"id": "110", "output": "comedy"}]}
    warnings: list[str] = []
    users = load_users(LAMP2, *_files(tmp_path, q, o), warn=warnings.append)
    assert users[0].queries[0].input.startswith("x ")
    assert warnings == [
        f"{tmp_path / 'dev_questions.json'}: entry 0 (id '110') with an input that lacks 'description:' (not "
        "LaMP's lamp2 pattern): kept as is (--patch-known-defects puts LaMP's instruction before the text)"
    ]
    warnings.clear()
    (user,) = load_users(LAMP2, *_files(tmp_path, q, o), patch_known_defects=True, warn=warnings.append)
    patched = user.queries[0].input
    assert patched == LAMP2.instruction + "x a movie with no instruction"
    assert LAMP2.query(patched) == "x a movie with no instruction"  # RAG's query is the description again
    assert len(warnings) == 1 and warnings[0].endswith("patched: LaMP's instruction for lamp2 is put before the text")

    paper = {"id": "1", "title": "T", "abstract": "t"}
    q = [{"id": "a", "input": "paper: t", "profile": [paper]}]
    o = {"task": "LaMP_5", "golds": [{"id": "a", "output": "T"}]}
    users = load_users(TASKS["lamp5"], *_files(tmp_path, q, o))
    assert users[0].queries[0].gold == users[0].profile[0]["title"]


def _set(path: list, value: Any) -> list[dict[str, Any]]:
    """`_questions()` with the value at `path` (index, key, ...) replaced, or deleted when value is `...`."""
    data: Any = _questions()
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    "questions, expected",
    [
        ("not json {", "not valid JSON"),
        ("  <html><body>Not Found</body></html>", "looks like an HTML page"),
        ("", "empty"),
        ({"id": "q1"}, "expected a JSON list of questions, got an object"),
        ([], "list of questions is empty"),
        (_set([1], "oops"), "entry 1: expected an object, got a string"),
        (_set([1, "id"], ...), "entry 1: missing field 'id'"),
        (_set([1, "id"], 2.5), "entry 1: field 'id' must be a string or an int, got a number"),
        (_set([1, "input"], ...), "entry 1 (id '2'): missing field 'input'"),
        (_set([1, "input"], None), "entry 1 (id '2'): field 'input' must be a string, got null"),
        (_set([1, "profile"], "x"), "entry 1 (id '2'): field 'profile' must be a list, got a string"),
        (_set([1, "profile", 0], 3), "entry 1 (id '2'): profile item 0 must be an object"),
        (_set([1, "profile", 0, "score"], ...), "entry 1 (id '2'): profile item 0 has no field 'score'"),
        (_set([2, "id"], "q1"), "entry 2 (id 'q1'): duplicate id (first seen at entry 0)"),
    ],
)
def test_bad_questions_give_one_line_naming_file_and_entry(tmp_path, questions, expected):
    message = _error(tmp_path, questions=questions)
    assert message.startswith(str(tmp_path / "dev_questions.json"))
    assert expected in message


@pytest.mark.parametrize(
    "outputs, expected",
    [
        # The wording of `tasks/outputs.py`, the one reader of outputs files (strict mode here, as a run reads).
        ([], 'is a JSON list, expected an object with "golds"'),
        ({"task": "LaMP_3"}, 'has no "golds" list'),
        ({"task": "LaMP_4", "golds": [{"id": "q1", "output": "5"}]}, "(and they say task 'LaMP_4', not 'LaMP_3')"),
        ({"golds": [{"id": "q1"}]}, "golds[0] (id 'q1') has no \"output\""),
        ({"golds": [{"id": "q1", "output": 5}]}, "golds[0] (id 'q1') has output 5 (number), expected a string"),
        ({"golds": [{"id": "q1", "output": "5"}] * 2}, "golds[1] (id 'q1') is a duplicate id (first seen at golds[0]"),
    ],
)
def test_bad_outputs_give_one_line(tmp_path, outputs, expected):
    message = _error(tmp_path, outputs=outputs)
    assert message.startswith(str(tmp_path / "dev_outputs.json"))
    assert expected in message


def test_ids_that_do_not_match_are_named_with_counts(tmp_path):
    golds = [{"id": f"x{i}", "output": "1"} for i in range(5)] + [{"id": "q1", "output": "5"}]
    message = _error(tmp_path, outputs={"task": "LaMP_3", "golds": golds})
    assert "2 question id(s) have no gold (e.g. '2', 'q3')" in message
    assert "5 gold id(s) match no question (e.g. 'x0', 'x1', 'x2')" in message
    assert "x3" not in message


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_users(LAMP3, tmp_path / "nope.json", None)


def test_both_lamp2_variants_accept_lamp_2(tmp_path):
    article = {"id": "1", "title": "t", "text": "x", "category": "women"}
    q = [{"id": "n", "input": "article: a", "profile": [article]}]
    o = {"task": "LaMP_2", "golds": [{"id": "n", "output": "women"}]}
    users = load_users(TASKS["lamp2n"], *_files(tmp_path, q, o))
    assert users[0].queries[0].gold == "women"


def _user(uid: str, size: int, dates: list[Any] | None = None) -> User:
    profile = tuple({"id": f"{uid}-{i}"} | ({"date": dates[i]} if dates else {}) for i in range(size))
    return User(id=uid, profile=profile, queries=())


def test_select_most_active_ties_keep_file_order():
    users = [_user("a", 2), _user("b", 5), _user("c", 2), _user("d", 7)]
    assert [u.id for u in select_users(users, 3)] == ["d", "b", "a"]
    assert [u.id for u in select_users(users, None)] == ["d", "b", "a", "c"]
    assert select_users(users, 0) == []


def test_select_random_is_seeded():
    users = [_user(str(i), 1) for i in range(20)]
    first = [u.id for u in select_users(users, 5, select="random", seed=3)]
    assert first == [u.id for u in select_users(users, 5, select="random", seed=3)]
    assert first != [u.id for u in select_users(users, 5, select="random", seed=4)]
    assert len(select_users(users, 50, select="random")) == 20


def test_select_rejects_unknown_choice():
    with pytest.raises(ValueError, match="most-active, random"):
        select_users([], 1, select="busiest")


def test_max_profile_keeps_the_newest_by_lamps_date_rule():
    # LaMP sorts by tuple(map(int, str(date).split("-"))): "2013-5-2" and a bare 2004 are dates.
    dated = _user("a", 5, ["2013-5-2", "2013-05-10", 2004, "2013-12-1", "2012"])
    (cut,) = select_users([dated], None, max_profile=2)
    assert [it["id"] for it in cut.profile] == ["a-1", "a-3"]  # the two newest, in file order
    (cut,) = select_users([_user("b", 3, [5, 9, 1])], None, max_profile=1)
    assert [it["id"] for it in cut.profile] == ["b-1"]
    assert lamp_date("2013-5-2") == (2013, 5, 2) and lamp_date(2004) == (2004,)
    assert lamp_date("2021-07-04T10:00:00") is None and lamp_date(True) is None


def test_max_profile_keeps_first_items_without_readable_dates():
    undated = _user("a", 4)
    partly = User("b", ({"id": 1, "date": "2024-01-01"}, {"id": 2}, {"id": 3, "date": "2025-01-01"}), ())
    odd = _user("c", 3, ["Mon Apr 06 2009", "Tue Apr 07 2009", "Wed Apr 08 2009"])
    iso = _user("d", 3, ["2020-01-01T10:00", "2021-01-01T10:00", "2022-01-01T10:00"])
    cut = select_users([undated, partly, odd, iso], None, max_profile=2)
    assert [[it["id"] for it in u.profile] for u in cut] == [["a-0", "a-1"], [1, 2], ["c-0", "c-1"], ["d-0", "d-1"]]
    assert select_users([undated], None, max_profile=10)[0] is undated


def test_resolve_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("LAMPBENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "cli") == tmp_path / "cli"
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("LAMPBENCH_DATA")
    default = resolve_data_dir(None)
    assert default.name == "data" and "lampbench" in default.parts


def test_split_files_layout(tmp_path):
    assert split_files(LAMP3, "dev", tmp_path) == (
        tmp_path / "LaMP_3/dev/dev_questions.json",
        tmp_path / "LaMP_3/dev/dev_outputs.json",
    )
    q, o = split_files(LAMP2, "train", tmp_path, time_split=True)
    assert q == tmp_path / "time/LaMP_2/new/train/train_questions.json"
    assert o == tmp_path / "time/LaMP_2/new/train/train_outputs.json"
    news_test = split_files(TASKS["lamp2n"], "test", tmp_path)
    assert news_test == (tmp_path / "LaMP_2/test/test_questions.json", None)
    with pytest.raises(ValueError, match="train, dev, test"):
        split_files(LAMP3, "val", tmp_path)


def test_describe_lists_splits_on_disk(tmp_path):
    q, o = split_files(LAMP3, "dev", tmp_path)
    _write(q, _questions())
    _write(o, _outputs())
    _write(split_files(LAMP3, "test", tmp_path)[0], _questions()[:2])
    rows = describe(LAMP3, tmp_path)
    assert [r["split"] for r in rows] == ["dev", "test"]
    dev, test = rows
    assert (dev["users"], dev["queries"], dev["has_golds"]) == (2, 3, True)
    sizes = (dev["profile_min"], dev["profile_median"], dev["profile_max"], dev["profile_mean"])
    assert sizes == (1, 1.5, 2, 1.5)
    assert dev["bytes"] == q.stat().st_size + o.stat().st_size
    assert dev["path"] == str(q.parent)
    assert (test["queries"], test["has_golds"]) == (2, False)


def test_time_split_questions_are_grouped_by_user_id(tmp_path):
    # A user whose questions carry different profiles (more history later) is one user, as in LaMP's PEFT code.
    early, late = [_item(1)], [_item(1), _item(2)]
    q = [
        {"id": "t1", "user_id": 7, "input": "review: a", "profile": early},
        {"id": "t2", "user_id": "8", "input": "review: b", "profile": early},  # same profile, another user
        {"id": "t3", "user_id": "7", "input": "review: c", "profile": late},
    ]
    o = {"task": "LaMP_3", "golds": [{"id": i, "output": "3"} for i in ("t1", "t2", "t3")]}
    users = load_users(LAMP3, *_files(tmp_path, q, o))
    assert [(u.id, [x.id for x in u.queries]) for u in users] == [("7", ["t1", "t3"]), ("8", ["t2"])]
    assert [it["id"] for it in users[0].profile] == ["p1"]  # the first question's profile
    message = _error(tmp_path, questions=[{**q[0], "user_id": [7]}], outputs={"golds": [{"id": "t1", "output": "3"}]})
    assert "entry 0 (id 't1'): field 'user_id' must be a string or an int, got a list" in message


def test_content_quirks_load_with_one_warning_each(tmp_path):
    q = _questions()
    q[1]["profile"] = []
    q[2]["profile"] = [_item(5, date="May 2004"), _item(6, date="2004-5-1")]
    q, o = _files(tmp_path, q, _outputs("LaMP_4"))  # another task's name, but the ids match
    warnings: list[str] = []
    users = load_users(LAMP3, q, o, warn=warnings.append)
    assert [len(u.profile) for u in users] == [2, 0, 2]
    assert warnings == [
        f"{q}: entry 1 (id '2') with an empty profile: kept, the user has no history (methods answer such users "
        "from the input alone)",
        f"{q}: entry 2 (id 'q3') with a profile date LaMP's rule (year-month-day numbers) cannot read: "
        "--max-profile keeps those profiles' first items in file order",
        f"{o}: the file says task 'LaMP_4' but lamp3 expects 'LaMP_3'; read as LaMP_3 since its ids match "
        "dev_questions.json",
    ]
    assert all("\n" not in w for w in warnings)


def test_oppu_task_names_are_accepted_silently(tmp_path):
    movie = {"id": "d1", "description": "a movie", "tag": "comedy"}
    q = [{"id": "m1", "input": "description: a movie", "profile": [movie]}]
    warnings: list[str] = []
    load_users(LAMP2, *_files(tmp_path, q, {"task": "LaMP_2M", "golds": [{"id": "m1", "output": "comedy"}]}),
               warn=warnings.append)  # fmt: skip
    assert warnings == []


def test_data_info_prints_warnings_on_stderr(tmp_path):
    from typer.testing import CliRunner

    from lampbench.harness.entrypoints.cli import app

    q, o = split_files(LAMP3, "dev", tmp_path)
    questions = _questions()
    questions[0]["input"] = "no pattern here"
    _write(q, questions)
    _write(o, _outputs())
    result = CliRunner().invoke(app, ["data", "info", "lamp3", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"warning: {q}: entry 0 (id 'q1') with an input that lacks 'review:' (not LaMP's lamp3 pattern): kept as "
        "is (--patch-known-defects puts LaMP's instruction before the text)"
    ]
    assert result.stdout.startswith("lamp3 dev    users=2  queries=3")
