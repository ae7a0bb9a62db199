"""The `Method` contract every personalization method implements, and the `Context` the runner hands it.

A method is three stages, run by `harness/runner.py` under one wall-clock budget:

1. `fit(ctx, train)`: the collective stage on training users (optional). Charged to the budget.
2. `personalize(ctx, user) -> state`: the per-user stage. Charged to the budget. Everything the method learnt
   about the user lives in the returned state, never on `self`, so users cannot leak into each other and users
   can be spread across workers. The harness measures the state's bytes and parameters.
3. `predict(ctx, state, queries) -> raw generations`: answering. Timed, but not charged to the budget.

Methods read time only from `ctx.clock` (never `time.time()`): `ctx.clock.remaining()` and `ctx.clock.expired`.
An *anytime* method checks them and falls back to what it has when time runs out.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from lampbench.harness.backbone import Backbone
    from lampbench.harness.budget import Clock
    from lampbench.tasks.specs import Query, TaskSpec, User

#: Whatever `personalize` returns: tensors, strings, numbers and containers of them. Measured by the harness.
UserState = Any


@dataclass(frozen=True)
class MethodConfig:
    """Base of every method's config: a frozen dataclass whose fields carry defaults and `help` metadata.

    Values come from the defaults, then `--config file.yaml`, then `--set key=value`; an unknown key is an error.
    """


@dataclass
class Context:
    """What the runner gives a method: the task, the budget clock, the shared models and the run's settings.

    The backbone and the sentence embedder are loaded on first use, outside the budget (loading the shared base
    model is the same for every method, so it is not charged to any of them).
    """

    task: TaskSpec
    clock: Clock
    seed: int = 0
    max_prompt_tokens: int = 512
    batch_size: int = 8
    progress: bool = False
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("lampbench"))
    backbone_factory: Callable[[], Backbone] | None = None
    embedder_factory: Callable[[], Any] | None = None
    #: What the method wants recorded about itself in run.json (counts, losses, coverage...); plain JSON values.
    report: dict[str, Any] = field(default_factory=dict)
    #: The run's evaluation users in the order `personalize` will see them, so a method can split its per-user
    #: budget fairly (`user_deadline`); empty when the caller does not say. Like the users `personalize` and
    #: `predict` get, they carry no gold outputs: the runner removes them, only the harness scores.
    eval_users: tuple[User, ...] = ()
    _backbone: Backbone | None = None
    _embedder: Any = None

    @property
    def backbone(self) -> Backbone:
        """The shared language model (see `harness/backbone.py`)."""
        if self._backbone is None:
            if self.backbone_factory is None:
                raise RuntimeError("this context has no backbone")
            with self.clock.paused():
                self._backbone = self.backbone_factory()
        return self._backbone

    def user_deadline(self, user: User, split: str = "equal") -> float:
        """This user's deadline (on the clock's `spent` scale): their share of the time left to them and later users.

        Shares are equal (`split="equal"`) or proportional to history size (`"proportional"`); they are taken of
        the time *left*, so time a user does not need goes to the users after them, and the last user gets
        whatever remains. A user not in `eval_users` (or a context without it) may use all the time left.
        """
        ids = [u.id for u in self.eval_users]
        if user.id not in ids:
            return self.clock.share(1.0)
        rest = self.eval_users[ids.index(user.id) :]

        def weight(u: User) -> float:
            return max(1, len(u.profile)) if split == "proportional" else 1.0

        return self.clock.share(weight(user) / sum(weight(u) for u in rest))

    @property
    def embedder(self) -> Any:
        """The shared sentence-transformers embedder (`encode(texts) -> ndarray`)."""
        if self._embedder is None:
            if self.embedder_factory is None:
                raise RuntimeError("this context has no sentence embedder")
            with self.clock.paused():
                self._embedder = self.embedder_factory()
        return self._embedder


class Method(abc.ABC):
    """A personalization method. The runner makes one instance per run.

    A subclass provides:
        Config: its `MethodConfig` dataclass (class attribute).
        personalize: the per-user stage; returns the user's state.
        predict: answers a user's queries with raw generations (the task's parser reads them afterwards).
    and may provide:
        fit: the collective stage on training users (set `uses_train_users = True` so the runner loads them).
        collective_state: what `fit` learnt and `predict` needs for every user (measured like a user state).
    """

    Config: ClassVar[type[MethodConfig]] = MethodConfig
    #: Set to True when `fit` needs training users; the runner then loads the task's train split.
    uses_train_users: ClassVar[bool] = False

    def __init__(self, config: MethodConfig | None = None):
        self.config = config if config is not None else self.Config()

    def fit(self, ctx: Context, train: Sequence[User]) -> None:  # noqa: B027 - optional stage
        """Collective stage on training users. Optional; the default does nothing."""

    @abc.abstractmethod
    def personalize(self, ctx: Context, user: User) -> UserState:
        """Per-user stage. Return the user's state; never keep it on self."""

    @abc.abstractmethod
    def predict(self, ctx: Context, state: UserState, queries: Sequence[Query]) -> list[str]:
        """Answer the queries for this user: one raw generation per query, in order."""

    def collective_state(self) -> Any:
        """What `fit` learnt that is shared by all users (None when there is nothing)."""
        return None
