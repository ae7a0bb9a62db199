"""`base`: the non-personalized baseline (LaMP's k=0). The task input alone; the user's history is unused."""

from __future__ import annotations

from dataclasses import dataclass

from lampbench.methods.contract import Context, MethodConfig, PromptMethod
from lampbench.methods.lib.prompt_budget import fit_query
from lampbench.tasks.specs import Query, User


@dataclass(frozen=True)
class BaseConfig(MethodConfig):
    """`base` has nothing to set."""


class Base(PromptMethod):
    """Answers every query from the task input alone: the floor every personalization method must beat."""

    Config = BaseConfig

    def personalize(self, ctx: Context, user: User) -> None:
        return None

    def prompt(self, ctx: Context, state: None, query: Query) -> str:
        return fit_query(ctx, query.input)  # the one prompt budget, as every method cuts its input
