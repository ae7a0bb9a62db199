"""LaMP's official scoring, reimplemented to the letter (``shared/LAMP.md``, LaMP's ``eval/evaluation.py``).

- Cleaning is ``str(x).strip()`` and nothing else. Reading a label out of a chatty answer is the parser's
  job (`tasks/parsers.py`), done and reported before scoring, never here.
- LaMP-1/2: each string maps to its index in the label list, anything else to -1 (always wrong, never a
  class); accuracy and macro F1 over all labels, so a label absent from golds and predictions adds 0.
- LaMP-3: ``float(x)``; on failure the rating farthest from the gold (1.0 or 5.0). No clipping. Values are
  held in float32 as LaMP's evaluator does (it goes through ``evaluate``'s float32 features, then sklearn
  averages the widened values in float64, which is what we do). Where the official code crashes ("nan",
  "inf", "1e40") we apply the fallback and say so.
- LaMP-4/5/7: ROUGE-1 and ROUGE-L F-measure from ``rouge_score`` without stemming. LaMP reports the mid value
  of a ``BootstrapAggregator`` (random resampling, so it moves by up to ~0.008 between runs on small sets);
  we report the plain mean per-example F-measure, which that mid estimate scatters around.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from lampbench.tasks.specs import LOWER_IS_BETTER, DataError, TaskSpec, Warn, default_warn


@dataclass(frozen=True)
class Score:
    """The metrics of one set of predictions.

    Attributes:
        metrics: metric name -> value, names as LaMP prints them (`accuracy`, `f1`, `mae`, `rmse`, `rouge-1`,
            `rouge-L`).
        n: number of scored examples.
        unscorable: predictions the official rules could not map: not a label (classification), not a finite
            number (rating, scored as the worst case), empty (generation).
        notes: sentences for a person, about what was unusual in the predictions.
        outcomes: per example, in order, what the metrics are computed from (`tasks/stats.py` sums them per user
            for intervals): (gold, predicted) label index (-1: not a label) for classification, (gold,
            predicted) rating as scored (after the fallback) for LaMP-3, (ROUGE-1, ROUGE-L) F for generation.
    """

    metrics: dict[str, float]
    n: int
    unscorable: int
    notes: tuple[str, ...] = ()
    outcomes: tuple[tuple[float, float], ...] = field(default=(), compare=False, repr=False)


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of `metric` is better (MAE, RMSE); every other metric is higher-is-better."""
    return metric in LOWER_IS_BETTER


def _short(value: Any, width: int = 60) -> str:
    """A repr for error messages: one line, at most `width` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _count(count: int, noun: str) -> tuple[str, str]:
    """("1 prediction", "is") or ("3 predictions", "are"): subject and verb for a note."""
    return (f"1 {noun}", "is") if count == 1 else (f"{count} {noun}s", "are")


def score(task: TaskSpec, golds: Sequence[str], preds: Sequence[str]) -> Score:
    """Score predictions against golds, pair by pair, with LaMP's official rules.

    Args:
        task: the task, which picks the metrics (and the label list for classification).
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
    golds_c = [str(g).strip() for g in golds]
    preds_c = [str(p).strip() for p in preds]
    if task.kind == "classification":
        return _classification(task, golds_c, preds_c)
    if task.kind == "rating":
        return _rating(golds_c, preds_c)
    return _generation(golds_c, preds_c)


def _classification(task: TaskSpec, golds: list[str], preds: list[str]) -> Score:
    from sklearn.metrics import f1_score  # imported here: sklearn is slow to import and only scoring needs it

    labels = list(task.labels or ())
    index = {label: i for i, label in enumerate(labels)}
    for i, gold in enumerate(golds):
        if gold not in index:
            raise DataError(f"golds[{i}] is {_short(gold)}, which is not a label of {task.name}")
    y_true = [index[g] for g in golds]
    y_pred = [index.get(p, -1) for p in preds]  # -1: wrong for every gold, and not a class of its own in F1
    f1 = f1_score(y_true, y_pred, labels=list(range(len(labels))), average="macro", zero_division=0)
    accuracy = sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(golds)
    misses = [p for p, y in zip(preds, y_pred, strict=True) if y == -1]
    notes = []
    if misses:
        lowered = {label.lower() for label in labels}
        near = sum(m.lower() in lowered for m in misses)
        hint = (
            f" ({near} of them differ from a label only in case: parse answers before scoring)"
            if near
            else ""
        )
        who, be = _count(len(misses), "prediction")
        notes.append(f"{who} {be} not a label and {be} scored as wrong{hint}")
    outcomes = tuple(zip(y_true, y_pred, strict=True))
    return Score({"accuracy": float(accuracy), "f1": float(f1)}, len(golds), len(misses), tuple(notes), outcomes)


def _float32(text: str) -> float | None:
    """LaMP's ``float(x)``, as a float32 value; None where the official code fails or crashes."""
    try:
        value = float(text)
    except ValueError:
        return None
    with np.errstate(over="ignore"):  # 1e40 overflows float32 to inf: handled just below
        value32 = np.float32(value)
    return float(value32) if math.isfinite(value32) else None


def _worst_rating(gold: float) -> float:
    """LaMP's fallback for an unreadable rating: the end of the scale farther from the gold (3 -> 5.0)."""
    return 1.0 if abs(1 - gold) > abs(5 - gold) else 5.0


def _rating(golds: list[str], preds: list[str]) -> Score:
    gold_values = []
    for i, gold in enumerate(golds):
        value = _float32(gold)
        if value is None:
            raise DataError(
                f"golds[{i}] is {_short(gold)}, which is not a finite number (LaMP-3 golds are 1..5)"
            )
        gold_values.append(value)
    pred_values = []
    not_numbers = not_finite = out_of_range = 0
    for pred, gold in zip(preds, gold_values, strict=True):
        value = _float32(pred)
        if value is None:
            try:
                float(pred)
                not_finite += 1  # parses in Python, but is nan/inf or overflows float32
            except ValueError:
                not_numbers += 1
            value = _worst_rating(gold)
        elif not 1 <= value <= 5:
            out_of_range += 1
        pred_values.append(value)
    # The values are exact float32 numbers; the averaging is done in float64, as sklearn does in LaMP's code.
    diff = np.asarray(pred_values, dtype=np.float64) - np.asarray(gold_values, dtype=np.float64)
    mae = float(np.mean(np.abs(diff)))
    rmse = float(np.sqrt(np.mean(diff**2)))
    notes = []
    if not_numbers:
        who, be = _count(not_numbers, "prediction")
        notes.append(f"{who} {be} not a number and {be} scored as the rating farthest from the gold")
    if not_finite:
        who, be = _count(not_finite, "prediction")
        notes.append(
            f"{who} {be} not finite in float32 (nan, inf, 1e40) and {be} scored as the rating farthest from "
            "the gold; LaMP's own scorer would crash on them"
        )
    if out_of_range:
        who, be = _count(out_of_range, "prediction")
        notes.append(f"{who} {be} outside 1..5 and {be} scored as is (LaMP does not clip)")
    metrics = {"mae": mae, "rmse": rmse}
    outcomes = tuple(zip(gold_values, pred_values, strict=True))
    return Score(metrics, len(golds), not_numbers + not_finite, tuple(notes), outcomes)


@cache
def _rouge() -> Any:
    """The shared ROUGE scorer, built on first use: construction is costly and scoring runs per example."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)


def _generation(golds: list[str], preds: list[str]) -> Score:
    from rouge_score.tokenizers import DefaultTokenizer

    scorer = _rouge()
    tokenizer = DefaultTokenizer(use_stemmer=False)  # the scorer's own default, to explain zero scores
    r1 = rl = 0.0
    empty = tokenless = 0
    outcomes = []
    for gold, pred in zip(golds, preds, strict=True):
        result = scorer.score(gold, pred)  # rouge_score's order: target first, then prediction
        r1 += result["rouge1"].fmeasure
        rl += result["rougeL"].fmeasure
        outcomes.append((result["rouge1"].fmeasure, result["rougeL"].fmeasure))
        if not pred:
            empty += 1
        elif not tokenizer.tokenize(pred):
            tokenless += 1
    notes = []
    if empty:
        who, be = _count(empty, "prediction")
        notes.append(f"{who} {be} empty and {be} scored 0")
    if tokenless:
        who, be = _count(tokenless, "prediction")
        notes.append(
            f"{who} {be} without any a-z or 0-9 character and {be} scored 0 "
            "(ROUGE's tokenizer keeps only those)"
        )
    empty_golds = sum(not g for g in golds)
    if empty_golds:
        who, be = _count(empty_golds, "gold")
        notes.append(
            f"{who} {be} empty: every prediction for {'it' if empty_golds == 1 else 'them'} scores 0"
        )
    metrics = {"rouge-1": r1 / len(golds), "rouge-L": rl / len(golds)}
    return Score(metrics, len(golds), empty, tuple(notes), tuple(outcomes))


# ---------------------------------------------------------------- official-format files

_ID_TYPES = (str, int)


def _fail(path: Path, problem: str) -> DataError:
    # One line whatever the content: values are repr()'d, but a path or a JSON error could hold a newline.
    return DataError(" ".join(f"{path}: {problem}".splitlines()))


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", int: "number", float: "number", bool: "boolean"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def _read_outputs_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise _fail(path, f"cannot read the file ({err})") from err
    if not text.strip():
        raise _fail(path, 'the file is empty, expected JSON like {"task": ..., "golds": [...]}')
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        head = text.lstrip()[:512].lower()
        if head.startswith(("<!doctype html", "<html", "<?xml", "<head", "<body")) or "<html" in head:
            raise _fail(path, "is an HTML page, not JSON (a wrong download URL can answer with one)") from err
        raise _fail(path, f"is not JSON ({err})") from err


def _load_outputs(path: Path, task: TaskSpec, warn: Warn | None = None) -> list[tuple[Any, str]]:
    """The (id, output) pairs of an official-format outputs file, read as LaMP's evaluator reads it.

    Broken structure raises; what the evaluator tolerates is scored its way, with one warning per kind: a
    repeated id keeps its last output (the evaluator builds a dict), an output that is not a string is
    scored as ``str(x)`` (so ``null`` is the wrong answer "None").
    """
    warn = warn or default_warn
    data = _read_outputs_json(path)
    if isinstance(data, list):
        raise _fail(path, 'is a JSON list, expected an object with "golds" (is this a questions file?)')
    if not isinstance(data, dict):
        raise _fail(path, f'is a JSON {_json_type(data)}, expected an object with "golds"')
    accepted = task.file_names
    if "task" in data and data["task"] not in accepted:
        raise _fail(
            path, f"is for task {_short(data['task'])}, but {task.name} expects {' or '.join(map(repr, accepted))}"
        )
    if "golds" not in data:
        keys = ", ".join(_short(k, 30) for k in list(data)[:5]) or "none"
        raise _fail(path, f'has no "golds" list (keys: {keys})')
    entries = data["golds"]
    if not isinstance(entries, list):
        raise _fail(path, f'"golds" is a JSON {_json_type(entries)}, expected a list')
    if not entries:
        raise _fail(path, '"golds" is empty: nothing to score')
    outputs: dict[Any, str] = {}
    repeated: list[str] = []
    not_strings: list[str] = []
    for i, entry in enumerate(entries):
        where = f"golds[{i}]"
        if not isinstance(entry, dict):
            raise _fail(path, f'{where} is a JSON {_json_type(entry)}, expected {{"id": ..., "output": ...}}')
        if "id" not in entry:
            raise _fail(path, f'{where} has no "id"')
        key = entry["id"]
        # bool is an int in Python; float ids would compare equal to ints (1.0 == 1) unlike in JSON's eyes.
        if not isinstance(key, _ID_TYPES) or isinstance(key, bool):
            raise _fail(path, f"{where} has id {_short(key)}, expected a string")
        where = f"{where} (id {_short(key)})"
        if "output" not in entry:
            raise _fail(path, f'{where} has no "output"')
        output = entry["output"]
        if not isinstance(output, str):
            not_strings.append(f"{where} is {_short(output, 30)}, scored as {_short(str(output), 30)}")
        if key in outputs:
            repeated.append(where)
            del outputs[key]  # the evaluator's dict keeps the last value, at the last position
        outputs[key] = str(output)
    if repeated:
        who, be = _count(len(repeated), "id")
        warn(
            f"{path}: {who} {be} repeated (first: {repeated[0]}); the last output of each id is scored, "
            "as LaMP's evaluator does"
        )
    if not_strings:
        who, be = _count(len(not_strings), "output")
        warn(f"{path}: {who} {be} not a string (first: {not_strings[0]}); scored as str(x), as LaMP's evaluator does")
    return list(outputs.items())


def _id_mismatch(golds_path: Path, preds_path: Path, gold_ids: set[Any], pred_ids: set[Any]) -> DataError:
    missing = [k for k in gold_ids if k not in pred_ids]
    extra = [k for k in pred_ids if k not in gold_ids]

    def examples(keys: list[Any]) -> str:
        shown = ", ".join(_short(k, 30) for k in sorted(keys, key=str)[:3])
        return f" (e.g. {shown})" if keys else ""

    (lost, _), (added, added_be) = _count(len(missing), "gold id"), _count(len(extra), "predicted id")
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
    return _fail(preds_path, problem)


def score_files(task: TaskSpec, golds_path: Path, preds_path: Path, *, warn: Warn | None = None) -> Score:
    """Score an official-format predictions file against an official-format golds file.

    Both files look like ``{"task": "LaMP_3", "golds": [{"id": "310", "output": "4"}, ...]}``. Pairs are
    matched by id; as in LaMP's scorer, every gold id needs a prediction and ids are compared with their type
    (the string "7" and the number 7 differ). What the official evaluator scores is scored, with a warning:
    a repeated id (the last one wins), an output that is not a string (scored as ``str(x)``). OPPU's task
    names ``LaMP_2M`` and ``LaMP_2N`` are accepted for lamp2 and lamp2n.

    Args:
        task: the task being scored; a file whose "task" field names another LaMP task is refused.
        golds_path: the outputs file with the gold answers.
        preds_path: the predictions file.
        warn: called with each one-line warning (default: the ``lampbench.data`` logger).

    Returns:
        The `Score`, computed in the golds file's order.

    Raises:
        DataError: one line naming the file, the entry and the problem: unreadable or non-JSON file (an HTML
            page is named as such), wrong shape, missing "golds"/"id"/"output", id sets that differ, a
            "task" field for another task, or an invalid gold.
    """
    golds_path, preds_path = Path(golds_path), Path(preds_path)
    golds = _load_outputs(golds_path, task, warn)
    preds = dict(_load_outputs(preds_path, task, warn))
    gold_ids = {key for key, _ in golds}
    if gold_ids != preds.keys():
        raise _id_mismatch(golds_path, preds_path, gold_ids, set(preds))
    try:
        return score(task, [out for _, out in golds], [preds[key] for key, _ in golds])
    except DataError as err:
        raise _fail(golds_path, str(err)) from err
