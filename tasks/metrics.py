"""LaMP's official scoring, reimplemented to the letter (``shared/LAMP.md``, LaMP's ``eval/evaluation.py``), and
LongLaMP's (ROUGE with METEOR, `tasks/meteor.py`).

Cleaning is ``str(x).strip()`` and nothing else: reading a label out of a chatty answer is the parser's job
(`tasks/parsers.py`), done and reported before scoring, never here. What each kind of task scores and how is
its metric kind (`tasks/kinds.py`), which also gives the bootstrap its statistics (`tasks/stats.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lampbench.tasks.errors import DataError
from lampbench.tasks.kinds import LOWER_IS_BETTER
from lampbench.tasks.kinds import worst_rating as _worst_rating  # noqa: F401 - imported from here by tests
from lampbench.tasks.outputs import fail, read_outputs
from lampbench.tasks.task import TaskSpec, Warn
from lampbench.tasks.wording import counted, short


@dataclass(frozen=True)
class Score:
    """The metrics of one set of predictions.

    Attributes:
        metrics: metric name -> value, names as LaMP prints them (`accuracy`, `f1`, `mae`, `rmse`, `rouge-1`,
            `rouge-L`, and LongLaMP's `meteor`).
        n: number of scored examples.
        unscorable: predictions the official rules could not map: not a label (classification), not a finite
            number (rating, scored as the worst case), empty (generation).
        notes: sentences for a person, about what was unusual in the predictions.
        outcomes: per example, in order, what the metrics are computed from (`tasks/stats.py` sums them per user
            for intervals): (gold, predicted) label index (-1: not a label) for classification, (gold,
            predicted) rating as scored (after the fallback) for LaMP-3, (ROUGE-1, ROUGE-L) F for generation, and
            (ROUGE-1 F, ROUGE-L F, METEOR) for LongLaMP's tasks.
    """

    metrics: dict[str, float]
    n: int
    unscorable: int
    notes: tuple[str, ...] = ()
    outcomes: tuple[tuple[float, ...], ...] = field(default=(), compare=False, repr=False)


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of `metric` is better (MAE, RMSE); every other metric is higher-is-better."""
    return metric in LOWER_IS_BETTER


def score(task: TaskSpec, golds: Sequence[str], preds: Sequence[str]) -> Score:
    """Score predictions against golds, pair by pair, with LaMP's official rules.

    Args:
        task: the task, whose metric kind scores (with its label list for classification).
        golds: gold outputs, as in LaMP's outputs files.
        preds: predictions in the same order (already parsed: nothing is extracted here).

    Returns:
        The `Score`.

    Raises:
        DataError: the lists differ in length or are empty, or a gold is invalid for the task (a label not in
            the list, a rating that is not a number).
    """
    if len(golds) != len(preds):
        raise DataError(f"{len(golds)} golds but {len(preds)} predictions: they must pair up one to one")
    if not golds:
        raise DataError(f"nothing to score for {task.name}: no golds")
    # LaMP's only cleaning: str() then strip(); str() because outputs files may hold numbers (a rating of 4).
    reading = task.metric.read(task, [str(g).strip() for g in golds], [str(p).strip() for p in preds])
    metrics = task.metric.point(task, reading.outcomes)
    return Score(metrics, len(golds), reading.unscorable, reading.notes, reading.outcomes)


def score_files(task: TaskSpec, golds_path: Path, preds_path: Path, *, warn: Warn | None = None) -> Score:
    """Score an official-format predictions file against an official-format golds file, as LaMP's evaluator does.

    Both files are read by `tasks.outputs.read_outputs` in its evaluator mode: pairs are matched by id, every
    gold id needs a prediction and ids are compared with their type (the string "7" and the number 7 differ); a
    repeated id (the last one wins) and an output that is not a string (scored as ``str(x)``) are scored, with a
    warning. OPPU's task names ``LaMP_2M`` and ``LaMP_2N`` are accepted for lamp2 and lamp2n.

    Args:
        task: the task being scored; a file whose "task" field names another LaMP task is refused.
        golds_path: the outputs file with the gold answers.
        preds_path: the predictions file.
        warn: called with each one-line warning (default: the ``lampbench.data`` logger).

    Returns:
        The `Score`, computed in the golds file's order.

    Raises:
        DataError: one line naming the file, the entry and the problem (`read_outputs`), id sets that differ,
            or an invalid gold.
    """
    golds_path, preds_path = Path(golds_path), Path(preds_path)
    golds = read_outputs(golds_path, task, mode="evaluator", warn=warn).pairs
    preds = dict(read_outputs(preds_path, task, mode="evaluator", warn=warn).pairs)
    gold_ids = {key for key, _ in golds}
    if gold_ids != preds.keys():
        raise _id_mismatch(golds_path, preds_path, gold_ids, set(preds))
    try:
        return score(task, [out for _, out in golds], [preds[key] for key, _ in golds])
    except DataError as err:
        raise fail(golds_path, str(err)) from err


def _id_mismatch(golds_path: Path, preds_path: Path, gold_ids: set[Any], pred_ids: set[Any]) -> DataError:
    missing = [k for k in gold_ids if k not in pred_ids]
    extra = [k for k in pred_ids if k not in gold_ids]

    def examples(keys: list[Any]) -> str:
        shown = ", ".join(short(k, 30) for k in sorted(keys, key=str)[:3])
        return f" (e.g. {shown})" if keys else ""

    (lost, _), (added, added_be) = counted(len(missing), "gold id"), counted(len(extra), "predicted id")
    has = "has" if len(missing) == 1 else "have"
    problem = (
        f"ids do not match {golds_path}: {lost} {has} no prediction{examples(missing)} and "
        f"{added} {added_be} not in the golds{examples(extra)}"
    )
    typed = {str(k) for k in missing} & {str(k) for k in extra}
    if typed:
        problem += (
            f"; {len(typed)} differ only in type (e.g. {sorted(typed)[0]!r} is a number in one file and a "
            "string in the other; ids are compared with their type, as LaMP's scorer does)"
        )
    return fail(preds_path, problem)
