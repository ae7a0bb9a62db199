"""Metric kinds: each metric written once, its point value and its bootstrap value from the same statistics.

A kind does three things (LaMP's ``eval/evaluation.py``, ``shared/LAMP.md``):

1. `read`: what LaMP's official evaluator makes of each (gold, prediction) pair, its *outcome*: (gold, predicted)
   label index for classification, (gold, predicted) rating as scored for rating, (ROUGE-1, ROUGE-L) F for
   generation (and their METEOR for LongLaMP's kind), with notes on what was unusual;
2. `columns`: each outcome's sufficient statistics, one row per query (column 0 is 1, the query count);
3. `values`: the metrics from summed statistics, vectorised over leading axes.

The point value of a set of predictions is `values` of all its rows summed (`point`); the bootstrap in
`tasks/stats.py` sums the rows per user and calls the same `values` on each resample's totals, so the two cannot
disagree. A new metric kind is a subclass here (and a spec that names it).

The official rules, to the letter:

- Cleaning is ``str(x).strip()`` and nothing else (done by `tasks.metrics.score` before `read`).
- Classification: each string maps to its index in the label list, anything else to -1 (always wrong, never a
  class); accuracy and macro F1 over all labels, so a label absent from golds and predictions adds 0.
- Rating: ``float(x)``; on failure the rating farthest from the gold (1.0 or 5.0). No clipping. Values are held
  in float32 as LaMP's evaluator does, then averaged in float64. Where the official code crashes ("nan", "inf",
  "1e40") we apply the fallback and say so.
- Generation: ROUGE-1 and ROUGE-L F-measure from ``rouge_score`` without stemming. LaMP reports the mid value of a
  ``BootstrapAggregator`` (random resampling, so it moves by up to ~0.008 between runs on small sets); we report
  the plain mean per-example F-measure, which that mid estimate scatters around.
- LongLaMP's generation (``LONG_GENERATION``): ROUGE-1 and ROUGE-L as above (LongLaMP calls `evaluate`'s rouge,
  the same `rouge_score` without stemming), and METEOR as `evaluate`'s meteor computes it (`tasks/meteor.py`),
  each the mean over examples.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from lampbench.tasks import meteor
from lampbench.tasks.errors import DataError, InvalidTask
from lampbench.tasks.wording import counted, short

if TYPE_CHECKING:
    from lampbench.tasks.task import TaskSpec

Outcome = tuple[float, ...]  # a pair for the built-in kinds, a triple for LongLaMP's generation


@dataclass(frozen=True)
class Reading:
    """What the official evaluator makes of a list of predictions.

    Attributes:
        outcomes: per example, in order (see the module docstring).
        unscorable: predictions the official rules could not map (not a label, not a finite number, empty).
        notes: sentences for a person, about what was unusual in the predictions.
    """

    outcomes: tuple[Outcome, ...]
    unscorable: int
    notes: tuple[str, ...]


class MetricKind(abc.ABC):
    """A family of metrics computed from per-query sufficient statistics. A subclass provides:

    - `name` and `metrics` (LaMP's evaluator's spelling, headline first), and `lower_is_better` where it applies;
    - `read`, `columns` and `values` (module docstring); `check` when a spec needs something of this kind.
    """

    name: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    lower_is_better: ClassVar[frozenset[str]] = frozenset()

    @abc.abstractmethod
    def read(self, task: TaskSpec, golds: list[str], preds: list[str]) -> Reading:
        """The outcomes of cleaned golds and predictions, pair by pair. Raises `DataError` for an invalid gold."""

    @abc.abstractmethod
    def columns(self, task: TaskSpec, outcomes: np.ndarray) -> np.ndarray:
        """(queries, 2) outcomes -> (queries, columns) sufficient statistics; column 0 is 1."""

    @abc.abstractmethod
    def values(self, task: TaskSpec, totals: np.ndarray) -> dict[str, np.ndarray]:
        """The metrics from summed statistics: `totals` is (..., columns), each result has shape (...)."""

    def check(self, task: TaskSpec) -> None:  # noqa: B027 - optional: most kinds need nothing of a spec
        """Raise `InvalidTask` when `task` lacks what this kind needs (called at registration)."""

    def ready(self) -> None:  # noqa: B027 - optional: most kinds need nothing of the machine
        """Raise a `UserError` (one line: how to fix it) when this machine cannot score this kind; a run calls it
        before its folder exists, so a missing resource (METEOR's WordNet) is said before any work is done."""

    def point(self, task: TaskSpec, outcomes: Sequence[Sequence[float]]) -> dict[str, float]:
        """The metrics of these outcomes: `values` of their statistics summed in query order."""
        totals = self.columns(task, as_pairs(outcomes)).sum(axis=0)
        return {m: float(v) for m, v in self.values(task, totals).items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def as_pairs(outcomes: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Outcomes as a (queries, width) float64 array: pairs for the built-in kinds, triples for LongLaMP's (an
    empty list gives (0, 2); a kind's `columns` reshapes it to its own width)."""
    array = np.asarray(outcomes, dtype=np.float64)
    return array if array.ndim == 2 else array.reshape(-1, 2)


class Classification(MetricKind):
    """Accuracy and macro F1 over the task's whole label list (LaMP-1, LaMP-2)."""

    name = "classification"
    metrics = ("accuracy", "f1")

    def check(self, task: TaskSpec) -> None:
        if not task.labels:
            raise InvalidTask(f"task {task.name!r} is a classification task without labels")

    def read(self, task: TaskSpec, golds: list[str], preds: list[str]) -> Reading:
        labels = list(task.labels or ())
        index = {label: i for i, label in enumerate(labels)}
        for i, gold in enumerate(golds):
            if gold not in index:
                raise DataError(f"golds[{i}] is {short(gold)}, which is not a label of {task.name}")
        y_true = [index[g] for g in golds]
        y_pred = [index.get(p, -1) for p in preds]  # -1: wrong for every gold, and not a class of its own in F1
        misses = [p for p, y in zip(preds, y_pred, strict=True) if y == -1]
        notes = []
        if misses:
            lowered = {label.lower() for label in labels}
            near = sum(m.lower() in lowered for m in misses)
            hint = f" ({near} of them differ from a label only in case: parse answers before scoring)" if near else ""
            who, be = counted(len(misses), "prediction")
            notes.append(f"{who} {be} not a label and {be} scored as wrong{hint}")
        return Reading(tuple(zip(y_true, y_pred, strict=True)), len(misses), tuple(notes))

    def columns(self, task: TaskSpec, outcomes: np.ndarray) -> np.ndarray:
        """Count, correct, then per label true positives, false positives and false negatives."""
        labels = len(task.labels or ())
        gold, pred = outcomes[:, 0].astype(np.int64), outcomes[:, 1].astype(np.int64)
        rows = np.arange(len(outcomes))
        hit = gold == pred
        table = np.zeros((len(outcomes), 2 + 3 * labels))
        table[:, 0] = 1.0
        table[:, 1] = hit
        table[rows[hit], 2 + gold[hit]] = 1.0  # true positives
        wrong = ~hit & (pred >= 0)  # a -1 prediction is no class: never a false positive
        table[rows[wrong], 2 + labels + pred[wrong]] = 1.0
        table[rows[~hit], 2 + 2 * labels + gold[~hit]] = 1.0  # false negatives
        return table

    def values(self, task: TaskSpec, totals: np.ndarray) -> dict[str, np.ndarray]:
        labels = len(task.labels or ())
        tp, fp, fn = (totals[..., 2 + k * labels : 2 + (k + 1) * labels] for k in range(3))
        denom = 2 * tp + fp + fn  # sklearn's F1, (1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp) with b = 1
        f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0).mean(axis=-1)
        return {"accuracy": totals[..., 1] / totals[..., 0], "f1": f1}


def _float32(text: str) -> float | None:
    """LaMP's ``float(x)``, as a float32 value; None where the official code fails or crashes."""
    try:
        value = float(text)
    except ValueError:
        return None
    with np.errstate(over="ignore"):  # 1e40 overflows float32 to inf: handled just below
        value32 = np.float32(value)
    return float(value32) if math.isfinite(value32) else None


def worst_rating(gold: float) -> float:
    """LaMP's fallback for an unreadable rating: the end of the scale farther from the gold (3 -> 5.0)."""
    return 1.0 if abs(1 - gold) > abs(5 - gold) else 5.0


def _parses_in_python(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Rating(MetricKind):
    """MAE and RMSE of ratings on LaMP-3's 1..5 scale, lower is better."""

    name = "rating"
    metrics = ("mae", "rmse")
    lower_is_better = frozenset(metrics)

    def read(self, task: TaskSpec, golds: list[str], preds: list[str]) -> Reading:
        gold_values = []
        for i, gold in enumerate(golds):
            value = _float32(gold)
            if value is None:
                raise DataError(f"golds[{i}] is {short(gold)}, which is not a finite number (LaMP-3 golds are 1..5)")
            gold_values.append(value)
        pred_values = []
        not_numbers = not_finite = out_of_range = 0
        for pred, gold in zip(preds, gold_values, strict=True):
            value = _float32(pred)
            if value is None:
                if _parses_in_python(pred):
                    not_finite += 1  # parses in Python, but is nan/inf or overflows float32
                else:
                    not_numbers += 1
                value = worst_rating(gold)
            elif not 1 <= value <= 5:
                out_of_range += 1
            pred_values.append(value)
        notes = _rating_notes(not_numbers, not_finite, out_of_range)
        return Reading(tuple(zip(gold_values, pred_values, strict=True)), not_numbers + not_finite, notes)

    def columns(self, task: TaskSpec, outcomes: np.ndarray) -> np.ndarray:
        """Count, absolute error, squared error (float32 values, widened to float64 as sklearn does)."""
        diff = outcomes[:, 1] - outcomes[:, 0]
        return np.stack([np.ones(len(outcomes)), np.abs(diff), diff**2], axis=1)

    def values(self, task: TaskSpec, totals: np.ndarray) -> dict[str, np.ndarray]:
        n = totals[..., 0]
        return {"mae": totals[..., 1] / n, "rmse": np.sqrt(totals[..., 2] / n)}


def _rating_notes(not_numbers: int, not_finite: int, out_of_range: int) -> tuple[str, ...]:
    notes = []
    if not_numbers:
        who, be = counted(not_numbers, "prediction")
        notes.append(f"{who} {be} not a number and {be} scored as the rating farthest from the gold")
    if not_finite:
        who, be = counted(not_finite, "prediction")
        notes.append(
            f"{who} {be} not finite in float32 (nan, inf, 1e40) and {be} scored as the rating farthest from "
            "the gold; LaMP's own scorer would crash on them"
        )
    if out_of_range:
        who, be = counted(out_of_range, "prediction")
        notes.append(f"{who} {be} outside 1..5 and {be} scored as is (LaMP does not clip)")
    return tuple(notes)


@cache
def _rouge() -> Any:
    """The shared ROUGE scorer, built on first use: construction is costly and scoring runs per example."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)


class Generation(MetricKind):
    """Mean per-example ROUGE-1 and ROUGE-L F-measure (LaMP-4, 5, 7)."""

    name = "generation"
    metrics = ("rouge-1", "rouge-L")

    def read(self, task: TaskSpec, golds: list[str], preds: list[str]) -> Reading:
        from rouge_score.tokenizers import DefaultTokenizer  # rouge_score is imported only where scoring needs it

        scorer = _rouge()
        tokenizer = DefaultTokenizer(use_stemmer=False)  # the scorer's own default, to explain zero scores
        outcomes = []
        for gold, pred in zip(golds, preds, strict=True):
            result = scorer.score(gold, pred)  # rouge_score's order: target first, then prediction
            outcomes.append((result["rouge1"].fmeasure, result["rougeL"].fmeasure))
        empty = sum(not p for p in preds)
        tokenless = sum(bool(p) and not tokenizer.tokenize(p) for p in preds)
        return Reading(tuple(outcomes), empty, _generation_notes(empty, tokenless, sum(not g for g in golds)))

    def columns(self, task: TaskSpec, outcomes: np.ndarray) -> np.ndarray:
        """Count, ROUGE-1 F, ROUGE-L F."""
        return np.column_stack([np.ones(len(outcomes)), outcomes])

    def values(self, task: TaskSpec, totals: np.ndarray) -> dict[str, np.ndarray]:
        n = totals[..., 0]
        return {"rouge-1": totals[..., 1] / n, "rouge-L": totals[..., 2] / n}


def _generation_notes(empty: int, tokenless: int, empty_golds: int) -> tuple[str, ...]:
    notes = []
    if empty:
        who, be = counted(empty, "prediction")
        notes.append(f"{who} {be} empty and {be} scored 0")
    if tokenless:
        who, be = counted(tokenless, "prediction")
        notes.append(
            f"{who} {be} without any a-z or 0-9 character and {be} scored 0 (ROUGE's tokenizer keeps only those)"
        )
    if empty_golds:
        who, be = counted(empty_golds, "gold")
        notes.append(f"{who} {be} empty: every prediction for {'it' if empty_golds == 1 else 'them'} scores 0")
    return tuple(notes)


class LongGeneration(Generation):
    """LongLaMP's scores: mean per-example ROUGE-1, ROUGE-L and METEOR (``longLaMP/metrics/generation_metrics.py``,
    which calls `evaluate`'s rouge and meteor). Outcomes are (ROUGE-1, ROUGE-L, METEOR) triples."""

    metrics = ("rouge-1", "rouge-L", "meteor")

    def ready(self) -> None:
        meteor.require_wordnet()

    def read(self, task: TaskSpec, golds: list[str], preds: list[str]) -> Reading:
        rouge = super().read(task, golds, preds)
        outcomes = tuple(
            (*pair, meteor.meteor(gold, pred)) for pair, gold, pred in zip(rouge.outcomes, golds, preds, strict=True)
        )
        note = meteor.tokenizer_note()
        return Reading(outcomes, rouge.unscorable, rouge.notes + ((note,) if note else ()))

    def columns(self, task: TaskSpec, outcomes: np.ndarray) -> np.ndarray:
        """Count, ROUGE-1 F, ROUGE-L F, METEOR."""
        return np.column_stack([np.ones(len(outcomes)), outcomes.reshape(-1, 3)])

    def values(self, task: TaskSpec, totals: np.ndarray) -> dict[str, np.ndarray]:
        n = totals[..., 0]
        return {**super().values(task, totals), "meteor": totals[..., 3] / n}


CLASSIFICATION, RATING, GENERATION = Classification(), Rating(), Generation()
LONG_GENERATION = LongGeneration()
#: The built-in kinds; a task may bring its own `MetricKind`.
KINDS = (CLASSIFICATION, RATING, GENERATION, LONG_GENERATION)
#: Metrics of the built-in kinds where a smaller number is better; every other metric is "higher is better".
LOWER_IS_BETTER = frozenset().union(*(kind.lower_is_better for kind in KINDS))
