"""The `Method` contract every personalization method implements, and the `Context` the runner hands it.

A method is three stages, run by `harness/runner.py` under one wall-clock budget:

1. `fit(ctx, train)`: the collective stage on training users (optional). Charged to the budget: with `--budget`
   alone, to the run's one budget, of which the stage takes its share (`ctx.clock.fit_deadline(fraction)`); with
   `--fit-budget`, to a clock of its own, whose `fit_deadline` is all of it. The method asks the same in both.
   What `fit` learnt, saved by `save_collective` and read back by `load_collective`, is reused by every run that
   asks for the same collective stage (`harness/run/fit_store.py`) and by the shards of a run.
2. `personalize(ctx, user) -> state`: the per-user stage. Charged to the budget. Everything the method learnt
   about the user lives in the returned state, never on `self`, so users cannot leak into each other and users
   can be spread across workers. The harness measures the state's bytes and parameters.
3. `predict(ctx, state, queries) -> raw generations`: answering. Timed, but not charged to the budget. The runner
   answers users in batches of about `batch_size` queries through `predict_batch`, whose default calls `predict`.

Methods read time only from `ctx.clock` (never `time.time()`): `ctx.clock.remaining()`, and
`ctx.clock.expired_by(deadline)` for "time is up" (the budget, or a stage's own deadline such as
`ctx.user_deadline(user)`); a loop of costly steps asks `ctx.clock.pace(deadline).next_fits()` before each step.
An *anytime* method checks them and falls back to what it has when time runs out, and says per user whether it
personalized them with `ctx.personalized(user, done, reason)` (the leaderboard's coverage).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lampbench.tasks.errors import ConfigError

if TYPE_CHECKING:
    from lampbench.harness.services.backbone import Backbone
    from lampbench.harness.services.budget import Clock
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
    #: How final answers are read (`--answer`): `generate` (decoded, then parsed) or `choice` (see `answering`).
    answer: str = "generate"
    _backbone: Backbone | None = None
    _embedder: Any = None
    #: user id -> whether `personalize` gave that user a personalized state (see `personalized`).
    coverage: dict[str, bool] = field(default_factory=dict)
    #: user id -> the reason given with it (see `personalized`). A resumed run restores both from its kept users.
    fallbacks: dict[str, str] = field(default_factory=dict)

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

    def personalized(self, user: User | str | None, done: bool = True, reason: str = "") -> None:
        """Record whether `user` got a personalized state; `reason` says why not (or how a user cut short was served).

        The one place coverage is computed: `report["personalized_fraction"]` (the leaderboard's coverage column),
        `personalized_users`, `fallback_users` and `fallback_reasons` (e.g. `budget`, `no_history`) are rewritten
        after every call, so a run cut short still reports its coverage so far. A user recorded again (a resumed
        run restoring its kept users) counts once, with the last word; `None` is a user without an id.
        """
        if not self.coverage:
            self._resume_coverage()
        key = user if isinstance(user, str) else getattr(user, "id", None)
        key = key if key is not None else f"#{len(self.coverage)}"
        self.coverage[key] = bool(done)
        self.fallbacks.pop(key, None)
        if reason:
            self.fallbacks[key] = reason
        done_users = sum(self.coverage.values())
        report = self.report
        report["personalized_users"] = done_users
        report["fallback_users"] = len(self.coverage) - done_users
        reasons: dict[str, int] = {}
        for why in self.fallbacks.values():
            reasons[why] = reasons.get(why, 0) + 1
        if reasons or "fallback_reasons" in report:
            report["fallback_reasons"] = reasons
        report["personalized_fraction"] = done_users / len(self.coverage)

    def _resume_coverage(self) -> None:
        """Counts a resumed run's report already holds (its kept users, whom no method call will record again)."""
        report = self.report
        reasons = [why for why, n in report.get("fallback_reasons", {}).items() for _ in range(n)]
        for i in range(report.get("personalized_users", 0) + report.get("fallback_users", 0)):
            key = f"#kept{i}"
            self.coverage[key] = i < report.get("personalized_users", 0)
            if i < len(reasons):
                self.fallbacks[key] = reasons[i]

    @contextmanager
    def answering(self, queries: int) -> Iterator[None]:
        """The mode the runner answers `queries` queries in, around `predict_batch` only.

        With `answer="choice"` every `backbone.generate` inside it answers with the most likely of the task's
        choices (`Backbone.choosing`), under the method's own prompt, adapters, edits and hooks, so any method that
        answers through the backbone (a plugin's `predict` too) answers by choice with no code of its own;
        generations in `fit` and `personalize` (PAG's profile, LLM-REC's rewrites) are never affected.

        Raises:
            ConfigError: with `choice`, the method answered fewer queries than asked through `backbone.generate`
                (it answers some other way, which cannot be read by choice).
        """
        if self.answer != "choice":
            yield
            return
        with self.backbone.choosing(self.task.choices) as chosen:
            yield
        if chosen.answers < queries:
            raise ConfigError(
                f"--answer choice: the method answered {queries - chosen.answers} of {queries} queries without "
                "ctx.backbone.generate, so they cannot be read by choice; use --answer generate"
            )

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
        predict_batch: answers several users at once (the runner's path; the default loops over `predict`).
        save_collective / load_collective: what `fit` learnt (its fit state), to a folder and back, so a resumed
            run, another run asking for the same collective stage, or a shard skips `fit`. The defaults save
            nothing: such a method's `fit` is run again wherever it is needed (and `--shards` refuses it).
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

    def predict_batch(self, ctx: Context, items: Sequence[tuple[UserState, Sequence[Query]]]) -> list[list[str]]:
        """Answer several users at once: one list of raw generations per `(state, queries)` item, in order.

        The runner calls this with about `ctx.batch_size` queries across users, so a method whose users share one
        model answers them in one batched `generate`. The default answers user by user with `predict`.
        """
        return [self.predict(ctx, state, queries) for state, queries in items]

    def collective_state(self) -> Any:
        """What `fit` learnt that is shared by all users (None when there is nothing)."""
        return None

    def save_collective(self, ctx: Context, path: Path) -> bool:
        """Save what `fit` learnt into the folder `path` (it exists), so a resumed run, a run reusing this fit or a
        shard can skip `fit`; True if saved. What `fit` put in `ctx.report` is saved beside it by the harness."""
        return False

    def load_collective(self, ctx: Context, path: Path) -> bool:
        """Restore what `save_collective` wrote into `path` in place of `fit` (the backbone is fresh); True if done."""
        return False


class PromptMethod(Method):
    """A method that answers each query with one prompt to a model shared by every user (base, rag, lora-c...).

    A subclass provides `prompt` (and, when answering needs the model in some state, `answering`); `predict` and
    `predict_batch` then put the prompts of all users of a batch through one `generate`, so batching across users
    needs no code of its own. Greedy answers are the same whichever batch a prompt lands in.
    """

    @abc.abstractmethod
    def prompt(self, ctx: Context, state: UserState, query: Query) -> str:
        """The user prompt for one query (before the chat template)."""

    def answering(self, ctx: Context) -> AbstractContextManager[Any]:
        """The model state to answer in (an adapter swapped in, an edit installed); nothing by default."""
        return nullcontext()

    def predict(self, ctx: Context, state: UserState, queries: Sequence[Query]) -> list[str]:
        return self._answer(ctx, [(state, queries)])[0]

    def predict_batch(self, ctx: Context, items: Sequence[tuple[UserState, Sequence[Query]]]) -> list[list[str]]:
        if type(self).predict is not PromptMethod.predict:  # a subclass (a plugin) that answers its own way
            return Method.predict_batch(self, ctx, items)
        return self._answer(ctx, items)

    def _answer(self, ctx: Context, items: Sequence[tuple[UserState, Sequence[Query]]]) -> list[list[str]]:
        prompts = [[self.prompt(ctx, state, q) for q in queries] for state, queries in items]
        with self.answering(ctx):
            return generate_per_user(ctx, prompts)


def generate_per_user(ctx: Context, prompts: Sequence[Sequence[str]]) -> list[list[str]]:
    """Greedy answers to several users' prompts through one batched `generate`, split back per user."""
    flat = [p for user in prompts for p in user]
    answers = ctx.backbone.generate(flat, max_new_tokens=ctx.task.max_new_tokens, batch_size=ctx.batch_size)
    out, start = [], 0
    for user in prompts:
        out.append(answers[start : start + len(user)])
        start += len(user)
    return out
