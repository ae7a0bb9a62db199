"""What a task is, as one object: `TaskSpec`, and the data types a method sees (`User`, `Query`).

A spec carries everything the harness knows about its task: the label list, the profile fields, LaMP's RAG pieces
(the item template, the item's fixed frame and the reserved text its prompt budget takes off), the parser that
reads a generation, the metric kind that scores it, and the synthetic generator that makes toy data for it. The
LaMP tasks are specs in `tasks/lamp.py`; `tasks/specs.py` registers them (and third-party ones, by entry point).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lampbench.tasks.kinds import MetricKind
    from lampbench.tasks.parsers import Parsed
    from lampbench.tasks.synthetic.common import Synthetic


@dataclass(frozen=True)
class Query:
    """One LaMP question: its id, the task input, and the gold output when known (None for test splits)."""

    id: str
    input: str
    gold: str | None = None


@dataclass(frozen=True)
class User:
    """A user: their history (profile items, as in the file) and the queries asked for them.

    In LaMP's user split each question carries its own profile; questions whose profiles are identical belong
    to the same user, so a user can have several queries (the loader groups them).
    """

    id: str
    profile: tuple[dict[str, Any], ...]
    queries: tuple[Query, ...]


#: Receives one-line warnings about input that is read anyway (a content quirk, a repeated id).
Warn = Callable[[str], None]

#: `parser(raw, labels) -> Parsed`: a raw generation read into the answer that is scored (`tasks/parsers.py`);
#: `labels` is the task's label list (empty for free text).
Parser = Callable[[str, Sequence[str]], "Parsed"]


def default_warn(message: str) -> None:
    """Log a data warning on the ``lampbench.data`` logger (a run's log.txt; the CLI prints its own)."""
    logging.getLogger("lampbench.data").warning(message)


@dataclass(frozen=True)
class TaskSpec:
    """A task: a LaMP task, or one of the same shape.

    Attributes:
        name: the name used here (`lamp3`).
        lamp: LaMP's own name, written in outputs files (`LaMP_3`).
        path: the folder of the official URLs and of the data directory (`LaMP_2/new` for movie tagging).
        metric: the metric kind (`tasks/kinds.py`): classification, rating or generation. It names the metrics,
            computes them and says which are better lower.
        labels: the label list in LaMP's order (classification and rating), else None.
        profile_fields: fields every profile item must have.
        profile_target: the field of a profile item that plays the role of the task's output.
        corpus_fields: fields joined with a space to make a profile item's BM25 document.
        query: extracts the retrieval query from a task input.
        rag_item: template of one retrieved item; `{<rag_truncate>}` is the part shortened to fit the budget.
        rag_truncate: the field shortened when the prompt is over budget.
        rag_prompt: joins the rendered items (already joined with ", and ") and the input into the prompt.
        parser: reads a raw generation into the answer that is scored (`tasks/parsers.py`).
        max_new_tokens: generation length for this task's answers.
        item_frame: LaMP's `needed_part_len` of an item, its fixed part: a template measured with the item's
            fields (the cut field left as LaMP leaves it), or a fixed number of tokens (LaMP-1's 2). Required:
            a spec without one is refused at registration (no task borrows another's frame).
        description: one line for `bench tasks`.
        aliases: other names `get_task` accepts.
        input_marks: strings every LaMP input of the task contains (``description:`` for movie tagging); an
            input without them is a known defect of real files (LaMP-2M dev id 110 has no instruction).
        instruction: LaMP's input text before the item's own text; ``patch_known_defects`` prepends it to an
            input without its marks, and methods that make task inputs from history items (the fine-tuning
            examples) start them with it. Empty where the input cannot be rebuilt (LaMP-1's references).
        reserved_tokens: tokens LaMP takes off the items' budget before splitting it (1; LaMP-1's code takes 0).
        reserved_text: text whose tokens LaMP also takes off it (LaMP-5's "Following the given patterns").
        other_file_names: "task" strings other than `lamp` that an outputs file of this task may carry (OPPU
            writes LaMP_2M and LaMP_2N).
        synthetic: how `tasks/synthetic` makes toy users of this task; None when it cannot.
    """

    name: str
    lamp: str
    path: str
    metric: MetricKind
    labels: tuple[str, ...] | None
    profile_fields: tuple[str, ...]
    profile_target: str | None
    corpus_fields: tuple[str, ...]
    query: Callable[[str], str]
    rag_item: str
    rag_truncate: str
    rag_prompt: Callable[[str, str], str]
    parser: Parser
    max_new_tokens: int
    item_frame: str | int | None = None
    description: str = ""
    aliases: tuple[str, ...] = field(default=())
    input_marks: tuple[str, ...] = ()
    instruction: str = ""
    reserved_tokens: int = 1
    reserved_text: str = ""
    other_file_names: tuple[str, ...] = ()
    synthetic: Synthetic | None = None

    @property
    def kind(self) -> str:
        """The metric kind's name: `classification`, `rating` or `generation`."""
        return self.metric.name

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names, in LaMP's evaluator's spelling; the first is the headline metric."""
        return self.metric.metrics

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    @property
    def choices(self) -> tuple[str, ...]:
        """The answers `--answer choice` picks from: the labels, each as the task's parser reads it back (LaMP-1's
        `[1]`, LaMP-3's `1` to `5`); empty for a free-text task."""
        return tuple(self.labels or ())

    @property
    def file_names(self) -> tuple[str, ...]:
        """The "task" strings an official-format file of this task may carry."""
        return (self.lamp, *self.other_file_names)

    def follows_pattern(self, inp: str) -> bool:
        """Whether a task input carries every mark of LaMP's input pattern (`input_marks`)."""
        return all(mark in inp for mark in self.input_marks)

    def corpus(self, item: dict[str, Any]) -> str:
        """The BM25 document of a profile item."""
        return " ".join(str(item.get(f, "")) for f in self.corpus_fields)

    def parse(self, raw: str) -> Parsed:
        """Turn a raw generation into the answer that is scored (see `tasks/parsers.py`)."""
        return self.parser(raw, self.labels or ())
