"""The task registry: the LaMP and LongLaMP tasks, tasks registered in code, and the `lampbench.tasks` entry points.

A third-party package adds a task without editing lampbench: it defines a `TaskSpec` (of an existing metric kind,
or with its own `MetricKind`) and names it in its ``pyproject.toml``::

    [project.entry-points."lampbench.tasks"]
    stars = "my_package.tasks:STARS"

The entry point's name is the task's name. Entry points are loaded when a name is not found among the tasks
already registered, or when every task is listed. Registration checks what a task must carry: its item frame
(no task borrows LaMP-1's), and what its metric kind needs (labels for classification).

This module is also where callers find what a task is (`TaskSpec`, `User`, `Query`, `LOWER_IS_BETTER`, the
LaMP label lists), whichever module under `tasks/` defines it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, MutableMapping
from importlib.metadata import EntryPoint, entry_points

from lampbench.tasks.errors import DataError, InvalidTask, UnknownTask  # noqa: F401 - imported from here by callers
from lampbench.tasks.kinds import LOWER_IS_BETTER, MetricKind  # noqa: F401 - imported from here by callers
from lampbench.tasks.lamp import LAMP_TASKS, MOVIE_TAGS, NEWS_CATEGORIES  # noqa: F401 - imported from here by callers
from lampbench.tasks.longlamp import LONGLAMP_TASKS, LongLaMPSpec  # noqa: F401 - imported from here by callers
from lampbench.tasks.task import Query, TaskSpec, User, Warn, default_warn  # noqa: F401 - imported from here by callers

GROUP = "lampbench.tasks"


def check_spec(spec: object, name: str | None = None) -> TaskSpec:
    """`spec`, once it is known to be a task that can be registered (under `name`, when given).

    Raises:
        InvalidTask: not a `TaskSpec`, a name that differs from the spec's, no item frame, or something its metric
            kind needs (`MetricKind.check`).
    """
    if not isinstance(spec, TaskSpec):
        raise InvalidTask(f"task {name!r} is {spec!r}, not a lampbench TaskSpec")
    if name is not None and name != spec.name:
        raise InvalidTask(f"task {name!r} is registered under another name than its spec's ({spec.name!r})")
    if not _is_frame(spec.item_frame):
        raise InvalidTask(
            f"task {spec.name!r} has no item frame: set `item_frame` to the fixed part of one retrieved item "
            "(its `rag_item` template as LaMP measures it, or a number of tokens)"
        )
    if not isinstance(spec.metric, MetricKind):
        raise InvalidTask(f"task {spec.name!r} has metric {spec.metric!r}, not a MetricKind")
    spec.metric.check(spec)
    return spec


def _is_frame(frame: object) -> bool:
    """A non-empty template, or a positive number of tokens."""
    if isinstance(frame, str):
        return bool(frame)
    return isinstance(frame, int) and not isinstance(frame, bool) and frame > 0


class TaskRegistry(MutableMapping[str, TaskSpec]):
    """Task names -> specs: those given, those registered in code, and the entry points of `group`.

    A mapping (`TASKS["lamp3"]`, `TASKS.items()`); setting an item registers a spec under its own name (a test
    may `monkeypatch.setitem` one in).
    """

    def __init__(self, specs: Iterable[TaskSpec] = (), group: str = GROUP):
        self.group = group
        self._specs: dict[str, TaskSpec] = {}
        for spec in specs:
            self[spec.name] = spec

    def register(self, spec: TaskSpec) -> TaskSpec:
        """Register `spec` under its name; refuses a name taken by another spec."""
        known = self._specs.get(spec.name)
        if known is not None and known is not spec:
            raise InvalidTask(f"task {spec.name!r} is already registered")
        self[spec.name] = spec
        return spec

    def get_task(self, name: str) -> TaskSpec:
        """The task called `name` (or one of its aliases), or `UnknownTask` with a "did you mean" hint.

        Raises:
            UnknownTask: no task has that name or alias.
            InvalidTask: the entry point of that name cannot be loaded or is not a task that can be registered.
        """
        key = name.strip().lower()
        if key not in self._specs:
            self._load(ep for ep in self._entry_points() if ep.name == key)
        if key in self._specs:
            return self._specs[key]
        self._load(self._entry_points(), skip_broken=True)  # aliases are known once loaded; not asked for: skipped
        for task in self._specs.values():
            if key in task.aliases:
                return task
        names = sorted({*self._specs, *(a for t in self._specs.values() for a in t.aliases)})
        close = difflib.get_close_matches(key, names, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else f"; known tasks: {', '.join(names)}"
        raise UnknownTask(f"unknown task {name!r}{hint}")

    def _entry_points(self) -> list[EntryPoint]:
        return list(entry_points(group=self.group))

    def _load(self, found: Iterable[EntryPoint], *, skip_broken: bool = False) -> None:
        for ep in found:
            if ep.name in self._specs:
                continue
            try:
                self[ep.name] = self._spec_of(ep)
            except InvalidTask:
                if not skip_broken:
                    raise

    @staticmethod
    def _spec_of(ep: EntryPoint) -> object:
        try:
            return ep.load()
        except Exception as err:  # a plugin's import error of any kind: one line naming the entry point
            raise InvalidTask(f"task {ep.name!r} ({ep.value}): cannot load its entry point ({err})") from err

    def _all(self) -> dict[str, TaskSpec]:
        self._load(self._entry_points())
        return self._specs

    def __getitem__(self, name: str) -> TaskSpec:
        if name not in self._specs:
            self._load(ep for ep in self._entry_points() if ep.name == name)
        return self._specs[name]

    def __setitem__(self, name: str, spec: TaskSpec) -> None:
        self._specs[name] = check_spec(spec, name)

    def __delitem__(self, name: str) -> None:
        del self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


#: Every task: LaMP's, LongLaMP's, then those registered in code or found by entry point.
TASKS = TaskRegistry((*LAMP_TASKS, *LONGLAMP_TASKS))
register_task = TASKS.register


def get_task(name: str) -> TaskSpec:
    """The task called `name` (or one of its aliases), or `UnknownTask` with a "did you mean" hint."""
    return TASKS.get_task(name)
