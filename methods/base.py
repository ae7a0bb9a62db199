"""`base`: the non-personalized baseline (LaMP's k=0). The task input alone; the user's history is unused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lampbench.methods.api import Context, Method, MethodConfig
from lampbench.tasks.specs import Query, User


@dataclass(frozen=True)
class BaseConfig(MethodConfig):
    """`base` has nothing to set."""


class Base(Method):
    """Answers every query from the task input alone: the floor every personalization method must beat."""

    Config = BaseConfig

    def personalize(self, ctx: Context, user: User) -> None:
        return None

    def predict(self, ctx: Context, state: None, queries: Sequence[Query]) -> list[str]:
        return ctx.backbone.generate(
            [q.input for q in queries], max_new_tokens=ctx.task.max_new_tokens, batch_size=ctx.batch_size
        )
