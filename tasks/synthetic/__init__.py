"""Synthetic LaMP data with a planted, documented per-user signal.

Real LaMP files cannot be downloaded everywhere, so the demo and the tests run on files made here. They use
the official layout and shape (``shared/LAMP.md``) and go through the same loader as real files. Each task
plants a per-user regularity that only a method reading the user's profile can exploit, so a personalized
method can beat a non-personalized one; simple oracles in ``tests/tasks/test_synthetic.py`` check it is there.

A user "acts in character" on each item with probability `IN_CHARACTER` (0.9), profile items and golds alike
(a gold is one more item of the same user); the rest is noise, described per task. A profile holds 8 to 30
items, drawn per user. Word banks live in ``tasks/wordbanks.py``.

A task's generator is its spec's `synthetic` (a `Synthetic`: an id digit and a function that draws one user),
written per kind of task: `classification.py` (lamp1, lamp2, lamp2n), `rating.py` (lamp3) and `generation.py`
(lamp4, lamp5, lamp7), each describing its planted signals; `writer.py` lays the users out as LaMP files.

Ids are strings of digits, unique across tasks and splits: a question id is
``<task digit><split digit><user index><3-digit query number>``; a profile item id is ``9`` followed by the
same with the 3-digit item number.
"""

from __future__ import annotations

from lampbench.tasks.synthetic.classification import paper_topic
from lampbench.tasks.synthetic.common import IN_CHARACTER, PROFILE_SIZE, Draw, Synthetic
from lampbench.tasks.synthetic.rating import review_sentiment
from lampbench.tasks.synthetic.writer import add_real_quirks, write_synthetic
from lampbench.tasks.task import TaskSpec

#: Bump when the generated files change (word banks included): the harness caches generated data by it.
SYNTHETIC_VERSION = 1

__all__ = [
    "IN_CHARACTER", "PROFILE_SIZE", "SYNTHETIC_VERSION", "Draw", "Synthetic", "add_real_quirks", "paper_topic",
    "plausible_labels", "review_sentiment", "write_synthetic",
]  # fmt: skip


def plausible_labels(task: TaskSpec, text: str) -> list[str]:
    """The labels (lamp2 tags, lamp2n categories) whose cue strings occur in `text`, in label order.

    Args:
        task: a task whose synthetic texts carry label cues (lamp2, lamp2n).
        text: a description/article, or a whole input (the label list in it holds no cue).

    Returns:
        The plausible labels; empty for a text without cues.

    Raises:
        ValueError: for a task whose generator plants no label cues.
    """
    cues = task.synthetic.cues if task.synthetic is not None else {}
    if not cues:
        raise ValueError(f"plausible_labels is defined for tasks with label cues (lamp2, lamp2n), not {task.name!r}")
    return [label for label in task.labels or () if any(c in text for c in cues[label])]
