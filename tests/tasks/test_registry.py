"""Tasks are registered like methods: a spec carries all of its task, registration refuses an incomplete one, and a
task defined outside lampbench is found through a `lampbench.tasks` entry point."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from importlib.metadata import EntryPoint

import pytest

from lampbench.tasks import specs
from lampbench.tasks.errors import InvalidTask, UnknownTask
from lampbench.tasks.lamp import LAMP_TASKS
from lampbench.tasks.metrics import score
from lampbench.tasks.specs import TASKS, TaskRegistry, get_task

#: A rating task written as a third party would, importing only lampbench's public names.
PLUGIN = """
from lampbench.tasks.kinds import RATING
from lampbench.tasks.lamp import after, then
from lampbench.tasks.parsers import parse_rating
from lampbench.tasks.task import TaskSpec

STARS = TaskSpec(
    name="stars", lamp="Stars_1", path="Stars_1", metric=RATING, labels=("1", "2", "3", "4", "5"),
    profile_fields=("id", "text", "score"), profile_target="score", corpus_fields=("text",), query=after("review:"),
    rag_item='{score} stars for "{text}" ', rag_truncate="text", rag_prompt=then(". "),
    item_frame='{score} stars for " " ', parser=parse_rating, max_new_tokens=8, description="hotel stars",
    input_marks=("review:",), instruction="How many stars (1 to 5) does this hotel review give? review: ",
)
NOT_A_TASK = 42
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A package `stars_plugin` outside lampbench, announced by entry points (one of them broken)."""
    (tmp_path / "stars_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    found = [
        EntryPoint(name="stars", value="stars_plugin:STARS", group=specs.GROUP),
        EntryPoint(name="broken", value="stars_plugin:NOT_A_TASK", group=specs.GROUP),
        EntryPoint(name="missing", value="no_such_module:TASK", group=specs.GROUP),
        EntryPoint(name="renamed", value="stars_plugin:STARS", group=specs.GROUP),
    ]
    # The lookup `importlib.metadata` would make for an installed package, without installing one.
    monkeypatch.setattr(specs, "entry_points", lambda group: [ep for ep in found if ep.group == group])
    registry = TaskRegistry(LAMP_TASKS)
    monkeypatch.setattr(specs, "TASKS", registry)  # get_task (and so the CLI) reads this registry
    return registry


def test_a_task_outside_lampbench_is_found_by_its_entry_point(plugin):
    stars = get_task("stars")
    assert stars.name == "stars" and stars.metrics == ("mae", "rmse") and stars.kind == "rating"
    assert plugin["stars"] is stars and "stars" in plugin
    assert stars.parse("I would give it 4 stars").answer == "4"
    assert score(stars, ["4", "2"], ["4", "3"]).metrics["mae"] == 0.5
    with pytest.raises(UnknownTask, match="did you mean stars"):
        get_task("strs")


def test_a_broken_entry_point_is_one_line_naming_it(plugin):
    with pytest.raises(InvalidTask, match=r"task 'broken' is 42, not a lampbench TaskSpec"):
        get_task("broken")
    with pytest.raises(InvalidTask, match=r"task 'missing' \(no_such_module:TASK\): cannot load its entry point"):
        get_task("missing")
    with pytest.raises(InvalidTask, match="registered under another name than its spec's"):
        get_task("renamed")


def test_a_plugin_task_runs_through_bench_run(plugin, cache, tmp_path):
    from typer.testing import CliRunner

    from lampbench.harness.entrypoints.cli import app

    stars = get_task("stars")
    folder = tmp_path / "data" / stars.path / "dev"
    folder.mkdir(parents=True)
    profile = [{"id": f"p{i}", "text": f"room {i} was fine", "score": str(1 + i % 5)} for i in range(3)]
    questions = [{"id": f"q{u}", "input": stars.instruction + f"hotel {u}", "profile": profile} for u in range(2)]
    golds = {"task": stars.lamp, "golds": [{"id": f"q{u}", "output": "4"} for u in range(2)]}
    (folder / "dev_questions.json").write_text(json.dumps(questions))
    (folder / "dev_outputs.json").write_text(json.dumps(golds))
    result = CliRunner().invoke(app, [
        "run", "--method", "base", "--task", "stars", "--budget", "30s", "--data", "lamp",
        "--data-dir", str(tmp_path / "data"), "--model", "tiny-random", "--out", str(tmp_path / "runs"), "--quiet",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/run.json")]
    assert record["task"] == "stars" and set(record["metrics"]) >= {"mae", "rmse"}


def test_a_task_without_an_item_frame_is_refused_at_registration(monkeypatch):
    frameless = dataclasses.replace(TASKS["lamp3"], name="frameless", item_frame=None)
    with pytest.raises(InvalidTask, match="task 'frameless' has no item frame"):
        TaskRegistry().register(frameless)
    with pytest.raises(InvalidTask, match="no item frame"):
        monkeypatch.setitem(TASKS, "frameless", frameless)
    for frame in ("", 0, True):
        with pytest.raises(InvalidTask, match="no item frame"):
            TaskRegistry([dataclasses.replace(frameless, item_frame=frame)])
    assert "frameless" not in TASKS


def test_registration_checks_what_the_metric_kind_needs_and_refuses_a_taken_name():
    with pytest.raises(InvalidTask, match="classification task without labels"):
        TaskRegistry([dataclasses.replace(TASKS["lamp2"], name="tagless", labels=None)])
    with pytest.raises(InvalidTask, match="not a MetricKind"):
        TaskRegistry([dataclasses.replace(TASKS["lamp3"], metric="rating")])
    registry = TaskRegistry(LAMP_TASKS)
    assert registry.register(TASKS["lamp3"]) is TASKS["lamp3"]  # the same spec again: nothing to refuse
    with pytest.raises(InvalidTask, match="'lamp3' is already registered"):
        registry.register(dataclasses.replace(TASKS["lamp3"], description="another"))


def test_every_lamp_task_carries_its_own_frame_parser_and_kind():
    assert list(TASKS) == ["lamp1", "lamp2", "lamp2n", "lamp3", "lamp4", "lamp5", "lamp7", "longlamp-abstract",
                           "longlamp-review", "longlamp-topic"]  # fmt: skip
    assert get_task(" LAMP2M ") is TASKS["lamp2"]  # an alias, case and spaces aside
    frames = {name: task.item_frame for name, task in TASKS.items()}
    assert frames["lamp1"] == 2 and len(set(frames.values())) == len(frames)  # nobody borrows another's frame
    assert [t.reserved_tokens for t in TASKS.values()] == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert {t.kind for t in TASKS.values()} == {"classification", "rating", "generation"}
    assert TASKS["lamp1"].parse("I pick [2]").answer == "[2]"
    assert TASKS["lamp2n"].parse("Politics.").answer == "politics"  # the parser reads the spec's own labels
